# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Concurrency and shutdown through the servers (upgate(8), Accounting, upgate(8), Limits): 32 uploads
racing for one user's last quota bytes through lighttpd mod_fastcgi and
through nginx never overshoot the limit, and the ledger is what
upgate-quota recount finds on disk; SIGTERM to upgate.fcgi while uploads stream lets them finish and
leaves nothing partial behind."""

import os
import signal
import threading
import time

from servers import (MiB, Fixture, Group, check, eq, expect, fail,
                     recount, responder_pids, tail)

LIMIT = 30 * MiB
FILL = 20 * MiB
PART = 1 * MiB
RACERS = 32

# ----------------------------------------------------------- the race

# Through lighttpd, which starts upgate.fcgi itself, and through nginx, in
# front of the standalone upgate.fcgi --listen.
RACE_PATHS = ("lighttpd-fastcgi", "nginx-fastcgi")


def _race_setup(path):
    def setup():
        return Fixture("race-" + path, path, "dave %d\n" % LIMIT,
                       {"max_upload_size": "1G"})
    return setup


def _parallel(fn, n):
    out = [None] * n
    errs = []

    def go(i):
        try:
            out[i] = fn(i)
        except Exception as e:        # reported below, with the others
            errs.append(e)
    ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    if errs:
        raise errs[0]
    return out


def _race(fx):
    e = fx.env
    expect(fx.curl("PUT", "/fill.bin", user="dave", data=b"f" * FILL), 201,
           "stored")
    bodies = [os.urandom(PART) for _ in range(RACERS)]
    start = threading.Barrier(RACERS)

    def one(i):
        start.wait(30)
        return fx.curl("PUT", "/r%02d.bin" % i, user="dave", data=bodies[i])
    rs = _parallel(one, RACERS)
    won = []
    for i, r in enumerate(rs):
        if r.status == 201:
            expect(r, 201, "stored")
            won.append(i)
        else:
            expect(r, 507, "quota_exceeded")
    want = (LIMIT - FILL) // PART
    eq(len(won), want, "uploads stored (statuses %r)"
       % sorted(r.status for r in rs))
    stored = e.stored("dave")
    eq(sorted(stored), sorted(["fill.bin"] + ["r%02d.bin" % i for i in won]),
       "dave's files")
    for i in won:
        check(stored["r%02d.bin" % i] == bodies[i], "r%02d.bin: content "
              "differs from what was sent" % i)
    used = sum(len(b) for b in stored.values())
    check(used <= LIMIT, "over the limit: %d bytes stored, limit %d"
          % (used, LIMIT))
    eq(e.usage("dave"), used, "dave's ledger")
    e.assert_clean()
    rc, out, err = recount(fx)
    eq((rc, out), (0, ""), "upgate-quota recount after the race (stderr "
       "%r)" % err)
    eq(e.usage("dave"), used, "dave's ledger after recount")


for _p in RACE_PATHS:
    Group("race-" + _p, _race_setup(_p)).case(
        "%s: %d concurrent uploads race for the last %d MiB of a quota: "
        "exactly %d stored, never over the limit, ledger = recount"
        % (_p, RACERS, (LIMIT - FILL) // MiB, (LIMIT - FILL) // PART))(_race)


# ----------------------------------------------------------- SIGTERM

UPLOADS = 4
SIZE = 3 * MiB
RATE = 1 * MiB      # bytes/s per upload: each takes about 3 s


def _sigterm_setup(path):
    def setup():
        return Fixture("sigterm-" + path, path, "carol unlimited\n",
                       {"max_upload_size": "1G"})
    return setup


def _wait_in_flight(fx, n, timeout=20):
    """Until n temporary files exist: n uploads are streaming."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(fx.env.tmp_files(fx.env.user_dir("carol"))) >= n:
            return
        time.sleep(0.05)
    fail("%s: %d uploads not in flight after %ss (temporary files %r)"
         % (fx.path, n, timeout,
            fx.env.tmp_files(fx.env.user_dir("carol"))))


def _sigterm_case(fx, pid, reaped):
    """Starts UPLOADS slow uploads, SIGTERMs pid once they stream, checks
    they all completed and nothing partial is left.  reaped(): waits for
    the responder's end and returns a problem or None."""
    e = fx.env
    bodies = [os.urandom(SIZE) for _ in range(UPLOADS)]
    rs = [None] * UPLOADS

    def one(i):
        rs[i] = fx.curl("PUT", "/s%d.bin" % i, user="carol", data=bodies[i],
                        rate=RATE, timeout=120)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(UPLOADS)]
    for t in ts:
        t.start()
    try:
        _wait_in_flight(fx, UPLOADS)
        os.kill(pid, signal.SIGTERM)
        t_sig = time.monotonic()
    finally:
        for t in ts:
            t.join(180)
    problem = reaped()
    for i, r in enumerate(rs):
        check(r is not None, "upload %d did not return" % i)
        expect(r, 201, "stored")
    check(time.monotonic() - t_sig > 0.5, "the uploads ended at once: "
          "were they in flight?")
    stored = e.stored("carol")
    eq(sorted(stored), ["s%d.bin" % i for i in range(UPLOADS)],
       "carol's files")
    for i in range(UPLOADS):
        check(stored["s%d.bin" % i] == bodies[i], "s%d.bin: content "
              "differs from what was sent" % i)
    check(problem is None, problem or "")
    e.assert_clean("after SIGTERM: ")
    rc, out, err = recount(fx)
    eq((rc, out), (0, ""), "upgate-quota recount after SIGTERM (stderr %r)"
       % err)


sig_l = Group("sigterm-lighttpd-fastcgi",
              _sigterm_setup("lighttpd-fastcgi"))


@sig_l.case("lighttpd-fastcgi: SIGTERM to upgate.fcgi while %d uploads "
            "stream: all complete, it exits, nothing partial is left; "
            "lighttpd starts a new one" % UPLOADS)
def _(fx):
    expect(fx.curl("GET", "", user="carol"), 200)     # responder running
    pids = responder_pids(fx)
    eq(len(pids), 1, "upgate.fcgi processes under lighttpd")

    def reaped():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if pids[0] not in responder_pids(fx):
                return None
            time.sleep(0.1)
        return "upgate.fcgi (pid %d) still running 30 s after SIGTERM" % \
            pids[0]
    _sigterm_case(fx, pids[0], reaped)
    r = fx.curl("GET", "", user="carol")
    expect(r, 200)


sig_p = Group("sigterm-apache-proxy-fcgi",
              _sigterm_setup("apache-proxy-fcgi"))


@sig_p.case("apache-proxy-fcgi: SIGTERM to the standalone upgate.fcgi while "
            "%d uploads stream: all complete, it exits 0, nothing partial "
            "is left" % UPLOADS)
def _(fx):
    p = fx.srv.responder

    def reaped():
        try:
            rc = p.wait(30)
        except Exception:
            return "upgate.fcgi --listen still running 30 s after SIGTERM"
        if rc != 0:
            return "upgate.fcgi --listen exited with %s after SIGTERM: %s" \
                % (rc, tail(fx.srv.responder_log))
        return None
    _sigterm_case(fx, p.pid, reaped)
