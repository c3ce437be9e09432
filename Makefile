# connleak: `make` builds the preload and the CLI; `make check` sets up and runs every
# test; `make demo` runs a leaky example under `connleak run`; `make bench` prints overhead
# ratios; `make install PREFIX=...` installs.
CC      ?= cc
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
WARN    := -std=gnu11 -Wall -Wextra -Werror
LIBFLAGS := $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -pthread -Iinclude
LIBLIBS := -ldl -pthread

LIB_SRC := $(wildcard src/util/*.c src/track/*.c src/report/*.c src/hooks/*.c)
LIB_OBJ := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRC))
# The model, writers and utilities, without hooks: what the unit tests link directly.
CORE_OBJ := $(filter-out build/obj/hooks/%,$(LIB_OBJ))

UNIT_SRC := $(wildcard tests/unit/*.c)

.PHONY: all deps deps-build check unit integration realworld demo bench install clean mutate
all: build/libconnleak.so build/connleak

deps-build:
	@bash scripts/deps.sh --build-only
deps:
	@bash scripts/deps.sh

build/obj/%.o: src/%.c $(wildcard src/*/*.h include/connleak/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAGS) -c -o $@ $<

build/libconnleak.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs -Wl,-z,now -o $@ $^ $(LIBLIBS)

include tools/tools.mk

# One object per test file: a change in src/ relinks instead of recompiling every test
# (what `make mutate` does once per mutant).
UNIT_OBJ := $(patsubst tests/unit/%.c,build/unit-obj/%.o,$(UNIT_SRC))
build/unit-obj/%.o: tests/unit/%.c $(wildcard src/*/*.h include/connleak/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc -c -o $@ $<

build/unit-tests: $(UNIT_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS) -pthread -o $@ $(UNIT_OBJ) $(CORE_OBJ) $(LIBLIBS) -ljansson -lcriterion

# Model tests that need a process with one thread (criterion's have several): a plain program.
build/model-alone: tests/alone/model_alone.c $(CORE_OBJ) $(wildcard src/*/*.h)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc -o $@ $< $(CORE_OBJ) $(LIBLIBS)

include tests/integration/fixtures.mk
include tests/sanitize.mk

unit: deps-build build/unit-tests build/model-alone
	./build/unit-tests --jobs 1
	./build/model-alone

integration: deps all fixtures
	python3 tests/integration/run.py

check: deps
	$(MAKE) all fixtures build/unit-tests build/report-unit-tests build/model-alone
	./build/unit-tests --jobs 1
	./build/model-alone
	./build/report-unit-tests --jobs 1
	$(MAKE) fuzz
	python3 tests/integration/run.py
	python3 tests/integration/run_tls.py
	python3 tests/integration/run_lease.py
	python3 tests/integration/run_robust.py
	python3 tests/integration/run_managed.py
	python3 tests/integration/run_survive.py
	python3 tests/integration/run_growth.py
	python3 tests/integration/run_lease_http.py
	python3 tests/cli/run.py
	python3 tests/cli/run_hygiene.py
	$(MAKE) sanitize
	$(MAKE) build/bench/icount
	python3 tests/bench/icount.py --quick --check --growth

# Mutation testing: the curated mutants of tests/mutants/*.mut, each applied alone to a
# scratch copy and killed (or not) by the tests; fails below 90% or on a stale mutant.
mutate: deps
	$(MAKE) all fixtures build/unit-tests build/report-unit-tests
	python3 tests/mutants/run.py

# Real programs (curl, wget, ab, wrk, java, node, redis, memcached, nginx, tinyproxy,
# CPython's suites) bare and preloaded, with their expected findings: tests/realworld/run.py.
realworld: deps all
	python3 tests/realworld/run.py

demo: deps all
	bash examples/demo.sh

bench: deps all build/bench/icount
	bash tests/bench/run.sh

# Fixed-count operations counted by callgrind (tests/bench/icount.py): make bench's
# instruction table, and a smoke test in make check.
build/bench/icount: tests/bench/icount.c
	@mkdir -p build/bench
	$(CC) -O2 -g -Wall -Wextra -Werror -pthread -o $@ $< -lssl -lcrypto -lgnutls

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/connleak $(DESTDIR)$(PREFIX)/bin
	install -m 0644 build/libconnleak.so $(DESTDIR)$(PREFIX)/lib/connleak/libconnleak.so
	install -m 0755 build/connleak $(DESTDIR)$(PREFIX)/bin/connleak
	install -d $(DESTDIR)$(PREFIX)/include/connleak
	install -m 0644 include/connleak/connleak.h $(DESTDIR)$(PREFIX)/include/connleak/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 man/connleak.1 $(DESTDIR)$(PREFIX)/share/man/man1/connleak.1

clean:
	rm -rf build
