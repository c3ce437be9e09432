# Sanitizer builds (issue 8): the preload, its unit tests and the report command's unit
# tests built with clang under ASan+UBSan, the model under TSan (tests/tsan), and the
# integration suites run against the ASan+UBSan preload. Included by the Makefile:
#
#   make sanitize          builds and runs all of it; fails on any sanitizer report
#   make build/asan/libconnleak.so   the preload under ASan+UBSan (-shared-libasan)
#   make clang-O0          the preload built by clang at -O0 (no sibling calls unless forced:
#                          the dlsym and vfork hooks must still leave no frame), run
#                          through the fork/vfork/exec, passthrough and dlopen/dlsym tests
#
# The uninstrumented programs under test need the ASan runtime preloaded before the library
# (CONNLEAK_TEST_PRELOAD, read by the runners; `connleak run` keeps it first). Their own
# leaks are not ours (detect_leaks=0 there); every report goes to a file under
# build/asan/logs, and the run fails when one exists. SAN_SUITES picks the runners.

SAN_CC    ?= clang
SAN_RT    := $(shell $(SAN_CC) -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
ASAN_CF   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	     -fno-sanitize-recover=undefined
# Two shards of descriptor numbers (sock.h) instead of 32: the model test's threads then
# run their per-descriptor sections on a shared shard all the time.
TSAN_CF   := -O1 -g -fno-omit-frame-pointer -fsanitize=thread -DSOCK_SHARDS=2
SAN_HDRS  := $(wildcard src/*/*.h include/connleak/*.h)
SAN_LOGS  := build/asan/logs
# Left out: curl deadlocks in setlocale, and GnuTLS programs (wget even over plain HTTP,
# the gnutls fixtures) hang, under the ASan runtime alone, without connleak loaded.
# nginx over TLS under ab: ASan's slowdown holds a closing connection past the test's
# 200 ms close_wait_ms (a finding, not a sanitizer report).
SAN_SKIP  ?= curl,gnutls,wget,nginx_tls_preloaded_under_ab
SAN_SUITES ?= tests/integration/run.py tests/integration/run_tls.py tests/cli/run.py \
	      tests/cli/run_hygiene.py

ASAN_LIB_OBJ  := $(patsubst src/%.c,build/asan/obj/%.o,$(LIB_SRC))
ASAN_CORE_OBJ := $(filter-out build/asan/obj/hooks/%,$(ASAN_LIB_OBJ))
TSAN_CORE_OBJ := $(patsubst build/asan/%,build/tsan/%,$(ASAN_CORE_OBJ))

.PHONY: sanitize sanitize-unit sanitize-integration clang-O0

CLANG0_OBJ := $(patsubst src/%.c,build/clang0/obj/%.o,$(LIB_SRC))

build/clang0/obj/%.o: src/%.c $(SAN_HDRS)
	@mkdir -p $(dir $@)
	$(SAN_CC) -O0 -g $(LIBFLAGS) -c -o $@ $<

build/clang0/libconnleak.so: $(CLANG0_OBJ)
	$(SAN_CC) -O0 -g -shared -Wl,-z,defs -Wl,-z,now -o $@ $^ $(LIBLIBS)

clang-O0: build/clang0/libconnleak.so all fixtures
	CONNLEAK_LIB=$(CURDIR)/build/clang0/libconnleak.so python3 tests/integration/run.py \
		-k fork -k exec -k passthrough
	CONNLEAK_LIB=$(CURDIR)/build/clang0/libconnleak.so python3 tests/integration/run_tls.py \
		-k dlopen

build/asan/obj/%.o: src/%.c $(SAN_HDRS)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(ASAN_CF) $(LIBFLAGS) -c -o $@ $<

build/tsan/obj/%.o: src/%.c $(SAN_HDRS)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(TSAN_CF) $(LIBFLAGS) -c -o $@ $<

build/asan/libconnleak.so: $(ASAN_LIB_OBJ)
	$(SAN_CC) $(ASAN_CF) -shared-libasan -shared -Wl,-z,defs -Wl,-z,now \
		-Wl,-rpath,$(dir $(SAN_RT)) -o $@ $^ $(LIBLIBS)

build/asan/unit-tests: $(UNIT_SRC) $(ASAN_CORE_OBJ)
	$(SAN_CC) $(ASAN_CF) $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc -o $@ $(UNIT_SRC) \
		$(ASAN_CORE_OBJ) $(LIBLIBS) -ljansson -lcriterion

# Criterion cannot run under TSan (its arena allocator): the model's concurrency is
# checked by a plain program, threads running the hooks' model calls on real sockets.
build/tsan/model-threads: tests/tsan/model_threads.c $(TSAN_CORE_OBJ)
	$(SAN_CC) $(TSAN_CF) $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc -o $@ $< \
		$(TSAN_CORE_OBJ) $(LIBLIBS) -ljansson

build/asan/report-unit-tests: $(TOOLS_LIB_SRC) $(TOOLS_SHARED) $(REPORT_TEST_SRC) $(TOOLS_HDR) \
		$(wildcard tests/unit/report_test.h)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(ASAN_CF) $(TOOLS_CFLAGS) -Itests/unit -o $@ $(TOOLS_LIB_SRC) $(TOOLS_SHARED) \
		$(REPORT_TEST_SRC) $(TOOLS_LIBS) -lexpat -lcriterion

sanitize-unit: build/asan/unit-tests build/asan/report-unit-tests build/tsan/model-threads
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ./build/asan/unit-tests --jobs 1
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ./build/asan/report-unit-tests --jobs 1
	TSAN_OPTIONS=halt_on_error=1 ./build/tsan/model-threads

sanitize-integration: build/asan/libconnleak.so all fixtures
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
	@set -e; for s in $(SAN_SUITES); do \
		echo "== $$s (ASan+UBSan preload)"; \
		CONNLEAK_LIB=$(CURDIR)/build/asan/libconnleak.so CONNLEAK_TEST_PRELOAD=$(SAN_RT) \
		CONNLEAK_TEST_SKIP=$(SAN_SKIP) \
		ASAN_OPTIONS=detect_leaks=0:log_path=$(CURDIR)/$(SAN_LOGS)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(SAN_LOGS)/ubsan \
		python3 $$s; done
	@if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
		echo "sanitizer reports:"; head -n 60 $(SAN_LOGS)/*; exit 1; fi
	@echo "no sanitizer reports"

sanitize: clang-O0 sanitize-unit sanitize-integration
