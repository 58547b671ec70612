# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Where lighttpd keeps a body on its way to upgate (lighttpd-conf/*.conf,
README "Hosting"): even streaming, lighttpd 1.4 passes the body through
temporary files, and while upgate does not read it goes on reading the
client into them.  The shipped files put them in server.upload-dirs
(/dev/shm, a tmpfs; the tests' own folder here), never in lighttpd's
default, TMPDIR or /var/tmp on the disk: here TMPDIR is a folder lighttpd
cannot write, so a body spooled there would fail with a 500.

upgate is stopped (SIGSTOP) while the body arrives, so that lighttpd
spools for certain; the test waits until the spool holds part of the
body, lets upgate go on, and finds the upload stored whole and the spool
empty."""

import filecmp
import os
import signal
import threading
import time

import harness
from servers import (KiB, MiB, Fixture, Group, check, eq, expect, fail,
                     leftover_processes, tail)

SIZE = 24 * MiB
# spooled before upgate may read on: mod_cgi stops reading the client at
# 128 KiB (mod_fastcgi goes on, up to the whole body)
HELD = 64 * KiB


def _setup(path):
    def setup():
        # root's, mode 0755: lighttpd (www-data) cannot write there
        default = os.path.join(harness.RUN_ROOT, "no-spool-" + path)
        os.makedirs(default, mode=0o755)
        return Fixture("spool-" + path, path, "carol unlimited\n",
                       {"max_upload_size": "1G"},
                       server_env={"TMPDIR": default})
    return setup


def _upgate(fx, program, put=None):
    """The pid of fx's upgate program (upgate.cgi or upgate.fcgi), once
    it runs; None if the thread put ended first."""
    exe = os.path.realpath(os.path.join(fx.srv.build, program))
    end = time.monotonic() + 60
    while time.monotonic() < end and (put is None or put.is_alive()):
        for pid in leftover_processes(fx.root):
            try:
                if os.path.realpath("/proc/%d/exe" % pid) == exe:
                    return pid
            except OSError:
                pass
        time.sleep(0.01)
    if put is None or put.is_alive():
        fail("%s: no %s process" % (fx.path, program))
    return None


def _spooled(spool):
    total = 0
    for e in os.scandir(spool):
        try:
            total += e.stat().st_size
        except OSError:             # unlinked meanwhile
            pass
    return total


def _register(path, program):
    g = Group("spool-" + path, _setup(path))

    @g.case("%s: a body upgate does not read yet is spooled in the "
            "shipped upload-dirs, not on lighttpd's default, and stored "
            "whole" % path)
    def _(fx):
        body = os.path.join(fx.root, "body")
        with open(body, "wb") as f:
            f.write(os.urandom(SIZE))
        stopped = None
        if program == "upgate.fcgi":
            stopped = _upgate(fx, program)
            os.kill(stopped, signal.SIGSTOP)
        out = {}
        put = threading.Thread(target=lambda: out.update(
            r=fx.curl("PUT", "/big.bin", user="carol", upload=body)))
        put.start()
        try:
            if stopped is None:         # a CGI: one process per request
                stopped = _upgate(fx, program, put)
                if stopped is not None:
                    os.kill(stopped, signal.SIGSTOP)
            end = time.monotonic() + 120
            while _spooled(fx.srv.spool) < HELD and put.is_alive() and \
                    time.monotonic() < end:
                time.sleep(0.01)
            held = _spooled(fx.srv.spool)
        finally:
            if stopped is not None:
                os.kill(stopped, signal.SIGCONT)
        put.join(300)
        check("r" in out, "%s: the PUT did not finish" % path)
        r = out["r"]
        expect(r, 201, "stored")
        check(held >= HELD, "%s: the spool held %d bytes while upgate was "
              "stopped, expected at least %d: %s" % (
                  path, held, HELD, tail(fx.srv.log)))
        check(filecmp.cmp(body, os.path.join(fx.env.upload, "carol",
                                             "big.bin"), shallow=False),
              "%s: the file stored differs from the body sent" % path)
        eq(os.listdir(fx.srv.spool), [], "%s: spool after the upload" % path)
        check("temp-file" not in fx.srv.logs(), "%s: lighttpd's log: %s"
              % (path, tail(fx.srv.log)))


_register("lighttpd-fastcgi", "upgate.fcgi")
_register("lighttpd-cgi", "upgate.cgi")
