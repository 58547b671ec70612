# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Limits: the FastCGI responder's descriptors (run with --fcgi).  It
raises its limit to the hard one, sizes its pool by it (26 descriptors a
worker: 10 when idle, 16 for a request, 32 kept by the process), answers
503 busy when the pool is full, and a request holds a bounded number of
descriptors whatever its parts or its depth."""

import os
import time

import harness
from harness import Env, check, eq, expect, fail, fcgi_only, test
from test_multipart import BOUNDARY, form, fpart

FDS_PROCESS, FDS_IDLE, FDS_REQUEST = 32, 10, 16
# the limit of the slow-PUT test: small, so that it stays quick; the
# common 1024 by hand (RELIABILITY.md): UPGATE_FD_LIMIT=1024
PUT_LIMIT = int(os.environ.get("UPGATE_FD_LIMIT", "160"))


def _env(limit, threads=2, **kw):
    e = Env(**kw)
    e.fcgi_threads = threads
    e.fcgi_wrapper = ["prlimit", "--nofile=%d:%d" % (limit, limit)]
    return e


def _until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _fds(r):
    return len(os.listdir("/proc/%d/fd" % r.pid))


def _workers(r):
    return len(os.listdir("/proc/%d/task" % r.pid)) - 1


def _bound(r, requests):
    """What the responder may hold: its own, the idle workers', and 16 for
    each request in flight."""
    return FDS_PROCESS + _workers(r) * FDS_IDLE + requests * FDS_REQUEST


def _soft_limit(r):
    with open("/proc/%d/limits" % r.pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def _busy(res, what):
    expect(res, 503, "busy", user=res.req.get("user"))
    check(res.header("Retry-After") is not None, "%s: no Retry-After (%r)"
          % (what, res.headers))


def _exact(e, r, usage):
    check(_until(lambda: not e.tmp_files() and not e.reservations()),
          "left behind: temporary files %r, reservations %r"
          % (e.tmp_files(), e.reservations()))
    for user, used in usage.items():
        eq(e.usage(user), used, "usage of %s" % user)
    check("status=500" not in r.stderr_text(), "a 500 in the log: %r"
          % r.stderr_text()[-1200:])


@test("fcgi: slow uploads of one user past what the descriptor limit "
      "allows: the others are answered 503 busy at once, another user's GET "
      "and PUT are answered (503, never 500, never a hang), then stored",
      slow=True)
@fcgi_only
def _():
    with _env(PUT_LIMIT, quota="alice 10M\nbob 10M\n") as e:
        r = e.responder()
        eq(_soft_limit(r), PUT_LIMIT, "soft descriptor limit")
        pool = (PUT_LIMIT - FDS_PROCESS) // (FDS_IDLE + FDS_REQUEST)
        n, size = 3 * pool, 1000
        slow = []
        for i in range(n):
            c, req = e.fcgi_request("PUT", "/slow%d" % i, length=size)
            c.write(b"s" * 10)
            slow.append((c, req))
        # pool - 1 are served (and held); the rest are refused at once
        check(_until(lambda: len(e.tmp_files()) == pool - 1 and sum(
            c.wait_stdout_eof(0) for c, _ in slow) == n - (pool - 1)),
            "after %d slow uploads: %d temporary files (want %d), %d "
            "answered (want %d)" % (n, len(e.tmp_files()), pool - 1,
                                    sum(c.wait_stdout_eof(0)
                                        for c, _ in slow), n - pool + 1))
        held = []
        for i, (c, req) in enumerate(slow):
            if c.wait_stdout_eof(0):
                _busy(c.finish(req), "slow upload %d" % i)
            else:
                held.append((c, req))
        t0 = time.monotonic()
        g = e.fcgi_run("GET", user="bob", timeout=20)
        p = e.fcgi_run("PUT", "/b1", body=b"b" * 100, user="bob", timeout=20)
        dt = time.monotonic() - t0
        for res, what in ((g, "bob's GET"), (p, "bob's PUT")):
            if res.status != 503:
                fail("%s while the pool is full: %s" % (what, res.summary()))
            _busy(res, what)
        check(dt < 10, "bob's GET and PUT took %.1f s" % dt)
        check(_fds(r) <= _bound(r, len(held)), "%d descriptors open, more "
              "than %d" % (_fds(r), _bound(r, len(held))))
        print("# limit %d: %d slow PUTs, %d held, %d answered 503 at once; "
              "bob's GET and PUT 503 in %.2f s; %d descriptors open (bound "
              "%d)" % (PUT_LIMIT, n, len(held), n - len(held), dt, _fds(r),
                       _bound(r, len(held))))
        for c, req in held:
            c.write(b"s" * (size - 10))
            expect(c.finish(req), 201, "stored")
        expect(e.fcgi_run("PUT", "/b1", body=b"b" * 100, user="bob"), 201,
               "stored", user="bob")
        _exact(e, r, {"alice": (pool - 1) * size, "bob": 100})


@test("fcgi: 10 slow forms of 99 file parts each hold at most 16 "
      "descriptors a request", slow=True)
@fcgi_only
def _():
    with _env(1024, conf={"max_files": "100"}, quota="alice 100M\n") as e:
        r = e.responder()
        body = form([fpart("f%d" % i, "p%d.bin" % i, b"x" * 4000)
                     for i in range(99)])
        ctype = "multipart/form-data; boundary=" + BOUNDARY.decode()
        forms = []
        for i in range(10):
            c, req = e.fcgi_request("POST", "/", length=len(body),
                                    content_type=ctype)
            # 66 parts, then it stalls: the first 256 KiB (about 60
            # parts) are stored, one temporary file each
            c.write(body[:len(body) * 2 // 3])
            forms.append((c, req))
        check(_until(lambda: len(e.tmp_files()) >= 10 * 60),
              "10 forms in flight: %d temporary files, answered early: %r"
              % (len(e.tmp_files()), [bytes(c.out[:200]) for c, _ in forms
                                      if c.wait_stdout_eof(0)]))
        time.sleep(0.3)
        got, bound = _fds(r), _bound(r, 10)
        check(got <= bound, "%d descriptors open with 10 forms of 99 parts "
              "in flight, more than %d" % (got, bound))
        print("# limit 1024: 10 forms of 99 parts stalled, %d temporary "
              "files: %d descriptors open (bound %d)"
              % (len(e.tmp_files()), got, bound))
        for c, req in forms:
            c.write(body[len(body) * 2 // 3:])
            expect(c.finish(req), 201, "stored")
        eq(len(e.stored()), 990, "files stored")
        _exact(e, r, {"alice": 990 * 4000})


@test("fcgi: a PUT 32 folders deep (create_parents) holds a bounded number "
      "of descriptors; one 200 deep is refused and holds none")
@fcgi_only
def _():
    with _env(1024, conf={"create_parents": "yes"},
              quota="alice 10M\n") as e:
        r = e.responder()
        expect(e.fcgi_run("GET", responder=r), 200)
        deep = "".join("/d%d" % i for i in range(31)) + "/f"
        c, req = e.fcgi_request("PUT", deep, length=100)
        c.write(b"z" * 10)
        check(_until(lambda: len(e.tmp_files()) == 1), "held upload")
        got, bound = _fds(r), _bound(r, 1)
        check(got <= bound, "%d descriptors open with one PUT 32 deep in "
              "flight, more than %d" % (got, bound))
        c.write(b"z" * 90)
        expect(c.finish(req), 201, "stored")
        eq(e.record("alice" + deep), ("alice", 100), "record")
        expect(e.fcgi_run("DELETE", deep, responder=r), 204, "deleted")
        eq(e.record("alice" + deep), None, "record after DELETE")
        check(not os.path.exists(os.path.join(e.state, "files", "alice",
                                              "d0")) or e.schema,
              "the records' folders were left after the DELETE")
        deeper = "".join("/d%d" % i for i in range(199)) + "/f"
        res = e.fcgi_run("PUT", deeper, body=b"y" * 10)
        check(res.status in (400, 403, 409, 414), "200 deep: %s"
              % res.summary())
        _exact(e, r, {"alice": 0})
