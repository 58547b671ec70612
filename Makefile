# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# upgate — plain Makefile.  Knobs: CC, CPPFLAGS, CFLAGS, LDFLAGS, PREFIX,
# DESTDIR, WERROR=1 (warnings are errors), SANITIZE=address,undefined.
.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(PREFIX)/share/upgate
PKG_CONFIG ?= pkg-config
CFLAGS     ?= -O2 -g
BUILD      ?= build

WARN = -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Wformat=2 \
       -Wvla -Wcast-qual -Wnull-dereference
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# _GNU_SOURCE is set here, in one place, for F_OFD_SETLK, fallocate(2),
# renameat2(2) and O_PATH.
JSON_CFLAGS  := $(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)
JSON_LIBS    := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null)
CUNIT_CFLAGS := $(shell $(PKG_CONFIG) --cflags cunit 2>/dev/null)
CUNIT_LIBS   := $(shell $(PKG_CONFIG) --libs cunit 2>/dev/null)
FCGI_CFLAGS  := $(shell $(PKG_CONFIG) --cflags fcgi 2>/dev/null)
FCGI_LIBS    := $(shell $(PKG_CONFIG) --libs fcgi 2>/dev/null)
PQ_CFLAGS    := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS      := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)
XML_CFLAGS   := $(shell $(PKG_CONFIG) --cflags expat 2>/dev/null)
XML_LIBS     := $(shell $(PKG_CONFIG) --libs expat 2>/dev/null)
# the digests of tus's Upload-Checksum (common/digest.c)
CRYPTO_CFLAGS := $(shell $(PKG_CONFIG) --cflags nettle 2>/dev/null)
CRYPTO_LIBS   := $(shell $(PKG_CONFIG) --libs nettle 2>/dev/null)

ALL_CFLAGS  = -D_GNU_SOURCE -Icommon $(WARN) $(SANFLAGS) $(JSON_CFLAGS) $(PQ_CFLAGS) $(XML_CFLAGS) $(CRYPTO_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

CORE_SRC  := $(sort $(wildcard common/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CORE_LIB  := $(BUILD)/libupgate.a
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PROGRAMS  := $(BUILD)/upgate.cgi $(BUILD)/upgate.fcgi $(BUILD)/upgate-quota

all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/upgate.cgi: $(BUILD)/obj/cgi/upgate-cgi.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(PQ_LIBS) $(XML_LIBS) $(CRYPTO_LIBS)

$(BUILD)/upgate-quota: $(BUILD)/obj/tools/upgate-quota.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(PQ_LIBS) $(XML_LIBS) $(CRYPTO_LIBS)

$(BUILD)/obj/fcgi/%.o: ALL_CFLAGS += $(FCGI_CFLAGS)
$(BUILD)/upgate.fcgi: $(BUILD)/obj/fcgi/upgate-fcgi.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FCGI_LIBS) $(JSON_LIBS) $(PQ_LIBS) $(XML_LIBS) $(CRYPTO_LIBS) -lpthread

$(BUILD)/obj/tests/%.o: ALL_CFLAGS += $(CUNIT_CFLAGS) -Itests/unit
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CUNIT_LIBS) $(JSON_LIBS) $(PQ_LIBS) $(XML_LIBS) $(CRYPTO_LIBS)

BENCH_BIN := $(BUILD)/bench/quota_lookup $(BUILD)/bench/multipart_bench

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(XML_LIBS) $(CRYPTO_LIBS)

# The plainest durable copier of a request body, CGI and FastCGI: the
# peer upgate is measured against on each hosting path.
$(BUILD)/obj/bench/copier.o: ALL_CFLAGS += $(FCGI_CFLAGS)
$(BUILD)/bench/copier: $(BUILD)/obj/bench/copier.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FCGI_LIBS) $(JSON_LIBS) $(PQ_LIBS) $(XML_LIBS) $(CRYPTO_LIBS)

# The least a FastCGI responder can do (a fixed answer): the floor that
# bench/ledger.py sets upgate's small requests beside.
$(BUILD)/obj/bench/fcgi_floor.o: ALL_CFLAGS += $(FCGI_CFLAGS)
$(BUILD)/bench/fcgi_floor: $(BUILD)/obj/bench/fcgi_floor.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FCGI_LIBS) -lpthread

# Benchmarks print figures; nothing here asserts a time.
bench: all $(BENCH_BIN)
	$(BUILD)/bench/quota_lookup
	$(BUILD)/bench/multipart_bench
	sh bench/cgi_put.sh $(BUILD) 1024

# 1 GiB PUTs through each hosting path with the real servers: upgate
# against bench/copier (with and without fsync) and Apache mod_dav_fs, in
# the same run, and lighttpd's sub-cases (bench/README.md) against Apache
# mod_proxy_fcgi (needs root; about 15 minutes).
bench-hosting: all $(BUILD)/bench/copier
	python3 bench/hosting.py --build $(BUILD)

# Small requests with wrk through lighttpd and upgate.fcgi: 4 KiB stores
# against lighttpd mod_webdav, quota refusals against lighttpd's own 413,
# quota status; one server, the same authentication (needs root, wrk and
# lighttpd-mod-webdav; about 10 minutes, then a few more to remove the
# files the stores left).  LEDGER_ARGS: more options, say
# LEDGER_ARGS="--cases store --seconds 5 --rounds 1".
LEDGER_ARGS ?=
bench-ledger: all $(BUILD)/bench/fcgi_floor
	python3 bench/ledger.py --build $(BUILD) $(LEDGER_ARGS)

# What common clients do with an early refusal (curl, wget, Python urllib
# and requests, HTTPie) through lighttpd and Apache: body bytes sent and
# what each reports.  CLIENTS_ARGS: say CLIENTS_ARGS="--rate 2048" for a
# slow link (needs root; installs wget, httpie, python3-requests).
CLIENTS_ARGS ?=
bench-clients: all
	python3 bench/clients.py --build $(BUILD) $(CLIENTS_ARGS)

# Resumable uploads through lighttpd and upgate.fcgi: 1 GiB as tus
# PATCHes of 16 MiB against one PUT, and 4 KiB tus uploads (creation and
# PATCH) against 4 KiB PUTs, in the same run (needs root; about 4
# minutes).  TUS_ARGS: more options, say TUS_ARGS="--size 256 --rounds 1".
TUS_ARGS ?=
bench-tus: all
	python3 bench/tus.py --build $(BUILD) $(TUS_ARGS)

# WebDAV reads against lighttpd mod_webdav on the same folder: PROPFIND
# Depth 1 of 10,000 files, peak RSS from 100 to 100,000 files, GET of
# 1 GiB against lighttpd's static path (needs root, wrk,
# lighttpd-mod-webdav; about 5 minutes).  DAV_ARGS: more options.
DAV_ARGS ?=
bench-dav: all
	python3 bench/dav.py --build $(BUILD) $(DAV_ARGS)

# The web farm against one host, with wrk: 4 KiB stores, quota refusals
# and quota status through three lighttpd + upgate.fcgi hosts on three
# GlusterFS mounts sharing a PostgreSQL ledger, against one host with the
# files ledger (upload_dir on GlusterFS, then on the local disk), with the
# ratios; after each store run the files and the ledger are compared
# (needs root, GlusterFS, PostgreSQL, wrk; about 8 minutes).  FARM_ARGS:
# more options, say FARM_ARGS="--seconds 5 --rounds 1".
FARM_ARGS ?=
bench-farm: all
	python3 bench/farm.py --build $(BUILD) $(FARM_ARGS)

# libFuzzer harnesses (clang): tests/fuzz/NAME_fuzz.c, each built with
# the core sources it names below (compiled again by clang: the harness
# and the code under test are all instrumented), seeded from
# tests/fuzz/corpus/NAME/ (only read) with new inputs and any crash under
# $(BUILD)/fuzz/.  make fuzz runs each for FUZZ_TIME seconds, one after
# the other, and fails if any of them found a crash.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_FLAGS  = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -D_GNU_SOURCE -Icommon $(WARN)
FUZZ_NAMES := $(patsubst tests/fuzz/%_fuzz.c,%,$(sort $(wildcard tests/fuzz/*_fuzz.c)))
FUZZ_BIN   := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%_fuzz)

$(BUILD)/fuzz/multipart_fuzz: common/multipart.c
$(BUILD)/fuzz/config_fuzz: common/config.c common/names.c common/number.c \
    common/format.c common/diag.c common/buf.c
$(BUILD)/fuzz/quota_fuzz: common/quota.c common/names.c common/number.c \
    common/fdio.c common/diag.c common/buf.c
$(BUILD)/fuzz/accept_fuzz: common/format.c
$(BUILD)/fuzz/number_fuzz: common/number.c
$(BUILD)/fuzz/names_fuzz: common/names.c common/davdest.c
$(BUILD)/fuzz/davxml_fuzz: common/davxml.c
$(BUILD)/fuzz/davxml_fuzz: FUZZ_LIBS = $(XML_LIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

fuzz: $(FUZZ_BIN)
	@fail=0; for f in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$f; \
		echo "fuzz: $$f, $(FUZZ_TIME) s"; \
		$(BUILD)/fuzz/$${f}_fuzz -max_total_time=$(FUZZ_TIME) \
		    -max_len=8192 -print_final_stats=1 \
		    -artifact_prefix=$(BUILD)/fuzz/$$f- \
		    $(BUILD)/fuzz/corpus/$$f tests/fuzz/corpus/$$f || \
		    { echo "fuzz: $$f found a crash" >&2; fail=1; }; \
	done; exit $$fail

deps:
	@sh scripts/install-deps.sh

# The ledger's interface suite runs once more against a throwaway
# PostgreSQL (tests/unit/with-postgres.sh; needs root and postgresql).
unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; \
	sh tests/unit/with-postgres.sh $(BUILD)/tests/test_ledger_iface || \
	    fail=1; exit $$fail

# What a package build runs (debian/rules): the build, the linters and
# the unit tests, with no network, no root and no apt-get; the tests make
# their folders under $TMPDIR.  The PostgreSQL pass of the ledger's suite
# needs root and a PostgreSQL server: without either it is skipped, and
# says so.
check: all lint m32 $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; \
	if [ "$$(id -u)" -ne 0 ]; then \
	    echo "check: the ledger's PostgreSQL pass skipped: not root"; \
	elif ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	    echo "check: the ledger's PostgreSQL pass skipped: no PostgreSQL server"; \
	else sh tests/unit/with-postgres.sh $(BUILD)/tests/test_ledger_iface || \
	    fail=1; fi; exit $$fail

# Every source file compiled for a 32-bit target (gcc -m32, into
# $(BUILD)-32/): no __int128, no long that must hold 64 bits, not one
# warning.  Objects only: the 32-bit libraries are seldom installed, and
# the compiler is what catches the mistakes.  Skipped, with the reason,
# where the compiler has no 32-bit support (Debian's gcc-multilib).
m32:
	@if echo 'int main(void){return 0;}' | \
	    $(CC) -m32 -x c -c -o /dev/null - 2>/dev/null; then \
		$(MAKE) --no-print-directory BUILD=$(BUILD)-32 WERROR=1 \
		    CFLAGS="$(CFLAGS) -m32" $(CORE_OBJ:$(BUILD)/%=$(BUILD)-32/%) \
		    $(BUILD)-32/obj/cgi/upgate-cgi.o \
		    $(BUILD)-32/obj/fcgi/upgate-fcgi.o \
		    $(BUILD)-32/obj/tools/upgate-quota.o \
		    $(UNIT_SRC:%.c=$(BUILD)-32/obj/%.o) && \
		echo "m32: every file compiles for a 32-bit target"; \
	else echo "m32: skipped: $(CC) -m32 cannot compile (gcc-multilib)"; fi

# The unit tests again under valgrind: no error, no leak.  Sanitizer
# builds carry their own checks and do not run under valgrind.
valgrind: $(UNIT_BIN)
ifneq ($(SANITIZE),)
	@echo "valgrind: skipped for a SANITIZE build"
else
	@fail=0; for t in $(UNIT_BIN); do \
		valgrind -q --error-exitcode=9 --leak-check=full \
		    --errors-for-leak-kinds=definite,indirect $$t >/dev/null || \
		    { echo "valgrind: $$t failed" >&2; fail=1; }; \
	done; exit $$fail
endif

# Line coverage of common/ by the unit tests alone (gcov): builds them
# into $(COV_BUILD) with --coverage, runs each, and prints one line per
# file of common/.  Not part of make test.  COV_TESTS: which unit tests
# to run (say COV_TESTS=test_gate), all of them by default.
COV_BUILD ?= build-cov
COV_TESTS ?= $(UNIT_SRC:tests/unit/%.c=%)
coverage:
	@$(MAKE) --no-print-directory BUILD=$(COV_BUILD) \
	    CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage" \
	    $(COV_TESTS:%=$(COV_BUILD)/tests/%) >/dev/null
	@find $(COV_BUILD)/obj -name '*.gcda' -delete
	@fail=0; for t in $(COV_TESTS); do \
		$(COV_BUILD)/tests/$$t >/dev/null || fail=1; done; \
	gcov -n -o $(COV_BUILD)/obj/common common/*.c 2>/dev/null | awk ' \
	    /^File .common\/.*\.c.$$/ { f = substr($$2, 2, length($$2) - 2) } \
	    /^Lines executed:/ && f != "" { split($$2, a, ":"); \
		printf "%-28s %7s of %s\n", f, a[2], $$4; \
		hit += a[2] * $$4 / 100; all += $$4; f = "" } \
	    END { printf "%-28s %6.2f%% of %d\n", "total", \
		all ? 100 * hit / all : 0, all }'; \
	exit $$fail

# The integration tests through the CGI and the responder on the files
# ledger, and through the CGI once more on a throwaway PostgreSQL.
integration: all
	@python3 tests/integration/run.py --build $(BUILD)
	@python3 tests/integration/run.py --build $(BUILD) --fcgi
	@python3 tests/integration/run.py --build $(BUILD) --ledger postgresql

# The responder over 10,000 requests of mixed outcomes: under valgrind,
# no error and no leak; its RSS stays flat.
# (Under the sanitizers, LeakSanitizer checks for leaks at exit, and RSS
# says nothing: AddressSanitizer keeps freed memory in quarantine.)
soak: all
ifneq ($(SANITIZE),)
	@python3 tests/integration/soak_fcgi.py --build $(BUILD) --no-valgrind \
		--rss-slack 1048576
else
	@python3 tests/integration/soak_fcgi.py --build $(BUILD)
	@python3 tests/integration/soak_fcgi.py --build $(BUILD) --no-valgrind
endif

test: deps
	$(MAKE) all lint m32 unit valgrind
	$(MAKE) integration servers dav-clients soak browser torture farm package

# The Debian package (needs root, debhelper, lintian, systemd's tools):
# built from a copy of the tree, checked by lintian, installed, its units
# verified, the socket-activated responder asked one request, upgraded
# and removed; and make check as an unprivileged user with no network.
package:
	@python3 tests/package/run.py

# The six hosting paths with the real servers, from apache-conf/,
# lighttpd-conf/ and nginx-conf/; needs root, apache2, libapache2-mod-fcgid,
# lighttpd, nginx.  Prints the measured early-refusal figures.
servers: all node-modules
	@python3 tests/servers/run.py --build $(BUILD)

# Real WebDAV clients from Debian (litmus, rclone, cadaver, davfs2)
# through lighttpd + upgate.fcgi and Apache mod_proxy_fcgi, the disk and
# the ledger checked after each (needs root and /dev/fuse; about 15 s).
dav-clients: all
	@python3 tests/dav_clients/run.py --build $(BUILD)

# Torture tests (needs root; about 3 minutes): a quota race of 32 x 50
# uploads, kill -9 of the CGI and the responder, a full disk, clients
# that leave mid-body, 200 slow clients, 50 resumable uploads under kill
# -9 and resumable creations racing PUTs.  Prints the measured figures.
# Then the tortures of the ledger (races, kill -9, a full disk, dropped
# connections) once more on a throwaway PostgreSQL.
TORTURE_ARGS ?=
torture: all
	@python3 tests/torture/run.py --build $(BUILD) $(TORTURE_ARGS)
	@python3 tests/torture/run.py --build $(BUILD) --ledger postgresql \
	    -k "quota race" -k "kill -9" -k "disk full" -k disconnects

# The web farm (needs root, GlusterFS, PostgreSQL; about 2.5 minutes):
# three lighttpd + upgate.fcgi hosts on three mounts of one GlusterFS
# volume and one PostgreSQL ledger; quota races, kill -9 of a responder,
# the database stopped and started.  Prints the measured figures.
farm: all
	@python3 tests/farm/test_farm.py --build $(BUILD)

# The demo (README, "The two commands"): installs what is missing, builds, and serves on
# 127.0.0.1:8080 until Ctrl-C.
run:
	@sh scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@sh scripts/run-demo.sh $(BUILD)

# The demo page in Debian's headless Chromium (README, "The two commands"), driven by
# playwright-core from npm (tests/browser/package-lock.json; no browser
# download).  npm ci runs unless node_modules already holds the locked
# tree, so that a machine without the registry can run it again.
# Screenshots go to $(BUILD)/browser/.
browser: all node-modules
	@node tests/browser/run.js --build $(BUILD)

# tests/browser/node_modules: playwright-core for the browser test and
# tus-js-client, which the servers test runs in Node too.
node-modules:
	@cd tests/browser && { npm ls --offline --all >/dev/null 2>&1 || \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
		    --loglevel=error >/dev/null; }

.PHONY: servers dav-clients run browser node-modules

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -D_GNU_SOURCE -Icommon common cgi fcgi tools
	cd man && mandoc -Tlint -Wwarning *.8 *.5

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 examples/upgate.conf examples/quota $(DESTDIR)$(SYSCONFDIR)
	for d in apache-conf lighttpd-conf nginx-conf; do \
		[ ! -d $$d ] || cp -R $$d $(DESTDIR)$(SYSCONFDIR); done

clean:
	rm -rf $(BUILD) $(BUILD)-32

.PHONY: all bench bench-hosting bench-ledger bench-clients bench-dav bench-farm bench-tus fuzz deps unit check m32 valgrind coverage integration soak test lint install clean torture package
