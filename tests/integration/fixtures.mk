# Integration-test fixtures.  Included by the top-level Makefile:
#
#   include tests/integration/fixtures.mk
#   make fixtures            builds every build/fixtures/NAME
#
# Each fixture is one C file, built with frame pointers and debug info so the
# report's stacks name the fixture's functions.

FIXTURE_DIR    := tests/integration/fixtures
FIXTURE_CC     ?= cc
FIXTURE_CFLAGS := -std=gnu11 -g -O0 -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror
FIXTURE_NAMES  := $(sort $(basename $(notdir $(wildcard $(FIXTURE_DIR)/*.c))))
FIXTURES       := $(addprefix build/fixtures/,$(FIXTURE_NAMES))

.PHONY: fixtures
fixtures: $(FIXTURES)

build/fixtures/%: $(FIXTURE_DIR)/%.c $(FIXTURE_DIR)/common.h
	@mkdir -p $(dir $@)
	$(FIXTURE_CC) $(FIXTURE_CFLAGS) -o $@ $<
