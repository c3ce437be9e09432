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

# TLS fixtures (issue 3): tls_gnutls_*.c link GnuTLS, the other tls_*.c link
# OpenSSL, except tls_dlopen.c, which must reach libssl only through
# dlopen/dlsym and so links neither.  GNU make picks the pattern with the
# shortest stem, so these win over build/fixtures/% for their names.
FIXTURE_LIBS_OPENSSL := -lssl -lcrypto
FIXTURE_LIBS_GNUTLS  := -lgnutls

build/fixtures/tls_gnutls_%: $(FIXTURE_DIR)/tls_gnutls_%.c $(FIXTURE_DIR)/common.h
	@mkdir -p $(dir $@)
	$(FIXTURE_CC) $(FIXTURE_CFLAGS) -o $@ $< $(FIXTURE_LIBS_GNUTLS)

build/fixtures/tls_dlopen: $(FIXTURE_DIR)/tls_dlopen.c $(FIXTURE_DIR)/common.h
	@mkdir -p $(dir $@)
	$(FIXTURE_CC) $(FIXTURE_CFLAGS) -o $@ $<

build/fixtures/tls_%: $(FIXTURE_DIR)/tls_%.c $(FIXTURE_DIR)/common.h
	@mkdir -p $(dir $@)
	$(FIXTURE_CC) $(FIXTURE_CFLAGS) -o $@ $< $(FIXTURE_LIBS_OPENSSL)
