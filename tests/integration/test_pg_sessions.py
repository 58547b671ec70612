# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Limits and upgate(8), "Several hosts": slow uploads through upgate.fcgi on the PostgreSQL
ledger do not hold database sessions while their bodies stream, so they
cannot use up the server's max_connections and make other users' requests
fail (a worker borrows a session for its lock scopes and short calls; one
session of the process holds the locks of its reservations).

Runs with --ledger postgresql (with or without --fcgi: it drives the
responder itself), on a cluster of its own started with max_connections =
20, so that one session per upload would run out long before 60 uploads.
"""

import os
import sys
import threading
import time

import harness
from harness import Env, check, eq, expect, skip, test

_LIB = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib")
if _LIB not in sys.path:
    sys.path.append(_LIB)
import pgtmp  # noqa: E402

SLOW = 60                   # uploads trickled at once
USERS = 6                   # whose they are
MAX_CONNECTIONS = 20        # 3 of them reserved for superusers
SIZE = 4096                 # of each upload
IDLE = 5                    # the holder and PGPOOL_IDLE idle sessions


def _sessions(pg):
    """upgate's sessions on the cluster (its role's)."""
    return len(pg.backends())


def _until(cond, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


@test("postgresql: 60 slow uploads of 6 users through upgate.fcgi on a "
      "server of 20 connections: another user's PUT and GET answer at once "
      "(201, 200); then all 60 are stored, usage is the sum of the files, "
      "no reservation is left", slow=True)
def _():
    if harness.PG is None:
        skip("needs --ledger postgresql")
    pg = pgtmp.PgTmp(
        settings={"max_connections": str(MAX_CONNECTIONS)}).start()
    try:
        users = ["slow%d" % i for i in range(USERS)]
        quota = "".join("%s 10M\n" % u for u in users + ["quick"])
        with Env(quota=quota, pg=pg) as e:
            e.fcgi_threads = 4
            r = e.responder()
            bodies = [harness.randbytes(SIZE, seed="slow%d" % i)
                      for i in range(SLOW)]
            conns = []
            for i in range(SLOW):
                c, req = e.fcgi_request("PUT", "/f%d.bin" % i, responder=r,
                                        user=users[i % USERS], length=SIZE)
                check(c.write(bodies[i][:16]), "upload %d: the responder "
                      "stopped reading after 16 bytes: %r" % (i, bytes(
                          c.out[:300])))
                conns.append((c, req))
            # every upload has its temporary file: all 60 stream at once
            check(_until(lambda: len(e.tmp_files(e.upload)) >= SLOW),
                  "%d uploads in flight: %d temporary files"
                  % (SLOW, len(e.tmp_files(e.upload))))
            check(_until(lambda: _sessions(pg) <= IDLE, 5.0), "%d uploads "
                  "streaming hold %d database sessions (expected the "
                  "holder and at most 4 idle ones)" % (SLOW, _sessions(pg)))
            streaming = _sessions(pg)
            for i in range(SLOW):
                c, req = conns[i]
                check(c.write(bodies[i][16:SIZE // 2]), "upload %d: the "
                      "responder stopped reading mid-body" % i)
            t0 = time.monotonic()
            res = e.fcgi_run("PUT", "/quick.bin", body=b"q" * 100,
                             responder=r, user="quick")
            dt_put = time.monotonic() - t0
            expect(res, 201, "stored", user="quick")
            t0 = time.monotonic()
            res = e.fcgi_run("GET", responder=r, user="quick")
            dt_get = time.monotonic() - t0
            expect(res, 200, user="quick")
            eq(res.json()["quota"]["used"], 100, "quick's usage")
            check(dt_put < 2 and dt_get < 2, "another user waited %.2f s "
                  "for a PUT and %.2f s for a GET while %d uploads "
                  "streamed" % (dt_put, dt_get, SLOW))
            print("# %d uploads streaming on %d database sessions; another "
                  "user's PUT %d ms, GET %d ms" % (
                      SLOW, streaming, dt_put * 1000, dt_get * 1000))
            # the rest, trickled: every upload in turn, a few bytes at a time
            results = [None] * SLOW

            def finish(k):
                c, req = conns[k]
                for off in range(SIZE // 2, SIZE, 512):
                    c.write(bodies[k][off:off + 512])
                    time.sleep(0.01)
                results[k] = c.finish(req)
            ts = [threading.Thread(target=finish, args=(k,))
                  for k in range(SLOW)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            for i, res in enumerate(results):
                check(res is not None, "upload %d did not finish" % i)
                expect(res, 201, "stored", user=users[i % USERS])
            for u in users:
                stored = e.stored(u)
                eq(sorted(stored), sorted("f%d.bin" % i for i in range(SLOW)
                                          if users[i % USERS] == u),
                   "%s's files" % u)
                eq(e.usage(u), sum(len(b) for b in stored.values()),
                   "%s's usage in the ledger" % u)
            eq(e.usage("quick"), 100, "quick's usage in the ledger")
            eq(e.reservations(), [], "reservations left")
            check(_until(lambda: _sessions(pg) <= IDLE), "after the "
                  "uploads: %d database sessions" % _sessions(pg))
    finally:
        pg.stop()
