# The connleak command (tools/*.c), its unit tests and its fuzz target. Included by the
# top-level Makefile in place of the old single-file build/connleak rule, before the
# build/unit-tests rule (it takes the report tests out of UNIT_SRC, see below):
#
#   make build/connleak              the command: run + report (jansson, libdw, libelf;
#                                    libstdc++ for __cxa_demangle)
#   make build/report-unit-tests     criterion tests of tools/ (tests/unit/test_report_*.c)
#   make report-unit                 builds and runs them
#   make cli-tests                   tests/cli/run.py: `connleak report` over real reports
#   make fuzz                        libFuzzer on the report reader, FUZZ_TIME seconds
#
# Needs: libjansson-dev libdw-dev libelf-dev libcriterion-dev libexpat1-dev (the tests check
# that JUnit output is well-formed XML); clang and its libFuzzer
# runtime (Debian: clang libclang-rt-dev) for `make fuzz`.

TOOLS_SRC     := $(sort $(wildcard tools/*.c))
TOOLS_HDR     := $(wildcard tools/*.h) include/connleak/connleak.h
# Everything but main() and `run`: what the report unit tests link.
TOOLS_LIB_SRC := $(filter-out tools/main.c tools/run.c,$(TOOLS_SRC))
TOOLS_CFLAGS  := $(WARN) -D_GNU_SOURCE -Iinclude -Itools -Isrc
# Pure helpers shared with the preload (escaping names for terminals and XML).
TOOLS_SHARED  := src/util/escape.c
TOOLS_HDR     += src/util/escape.h
TOOLS_LIBS    := -ljansson -ldw -lelf -lstdc++ -lncurses

# The report tests link tools/, not the preload's objects: keep them out of
# build/unit-tests (whose sources are tests/unit/*.c).
REPORT_TEST_SRC := $(sort $(wildcard tests/unit/test_report_*.c))
UNIT_SRC := $(filter-out $(REPORT_TEST_SRC),$(UNIT_SRC))

FUZZ_CC   ?= clang
FUZZ_TIME ?= 30
FUZZ_SRC  := tests/fuzz/fuzz_report_read.c tools/report_read.c tools/report_group.c \
	     tools/suppress.c $(wildcard tools/fmt_*.c) $(TOOLS_SHARED)

.PHONY: report-unit cli-tests fuzz

# One object per source: a change to one file recompiles that file, then links (what
# `make mutate` does once per mutant).
TOOLS_OBJ       := $(patsubst %.c,build/tools-obj/%.o,$(TOOLS_SRC) $(TOOLS_SHARED))
TOOLS_LIB_OBJ   := $(patsubst %.c,build/tools-obj/%.o,$(TOOLS_LIB_SRC) $(TOOLS_SHARED))
REPORT_TEST_OBJ := $(patsubst %.c,build/tools-obj/%.o,$(REPORT_TEST_SRC))

build/tools-obj/%.o: %.c $(TOOLS_HDR) $(wildcard tests/unit/report_test.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TOOLS_CFLAGS) -Itests/unit -c -o $@ $<

build/connleak: $(TOOLS_OBJ)
	$(CC) $(CFLAGS) -o $@ $(TOOLS_OBJ) $(TOOLS_LIBS)

build/report-unit-tests: $(TOOLS_LIB_OBJ) $(REPORT_TEST_OBJ)
	$(CC) $(CFLAGS) -o $@ $(TOOLS_LIB_OBJ) $(REPORT_TEST_OBJ) $(TOOLS_LIBS) -lexpat -lcriterion

report-unit: build/report-unit-tests
	./build/report-unit-tests --jobs 1

cli-tests: build/libconnleak.so build/connleak fixtures
	python3 tests/cli/run.py

build/fuzz-report-read: $(FUZZ_SRC) $(TOOLS_HDR)
	@mkdir -p build
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(TOOLS_CFLAGS) -o $@ $(FUZZ_SRC) -ljansson -lexpat

# The seed corpus stays as it is; what the fuzzer finds goes to build/fuzz-corpus.
fuzz: build/fuzz-report-read
	@mkdir -p build/fuzz-corpus
	./build/fuzz-report-read -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
		-print_final_stats=1 build/fuzz-corpus tests/fuzz/corpus
