# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Accounting: concurrent uploads can never together exceed a quota."""

import os
import threading

from harness import (Env, KiB, MiB, check, eq, expect,
                     expect_refusal_before_body, fail, sha, test)

ROUNDS = 5
PROCS = 32
SIZE = 100 * KiB
LIMIT = MiB


def _race(e, round_no, replace=False):
    bodies = [os.urandom(SIZE) for _ in range(PROCS)]
    procs = []
    for i in range(PROCS):
        name = "/r%d-%02d.bin" % (round_no, i)
        procs.append((i, name) + e.start("PUT", name, length=SIZE))
    barrier = threading.Barrier(PROCS)
    results = [None] * PROCS

    def go(i, cgi, req):
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        cgi.write(bodies[i])
        results[i] = cgi.finish(req, 60)

    ts = [threading.Thread(target=go, args=(i, cgi, req))
          for i, _, cgi, req in procs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    return bodies, [p[1] for p in procs], results


@test("concurrency: 32 PUTs race for the last bytes of a quota, 5 rounds",
      slow=True)
def _():
    for rnd in range(ROUNDS):
        with Env(quota="alice %d\n" % LIMIT) as e:
            bodies, names, results = _race(e, rnd)
            ok = []
            for i, r in enumerate(results):
                if r is None:
                    fail("round %d: request %d did not finish" % (rnd, i))
                if r.status == 201:
                    expect(r, 201, "stored")
                    ok.append(i)
                else:
                    expect(r, 507, "quota_exceeded")
                    # row 11 decides before the body (upgate(8), Accounting, upgate(8), Decisions)
                    expect_refusal_before_body(r)
            stored = e.stored()
            total = sum(len(b) for b in stored.values())
            check(total <= LIMIT, "round %d: stored %d bytes > limit %d"
                  % (rnd, total, LIMIT))
            eq(len(ok), LIMIT // SIZE, "round %d: uploads stored (a refusal "
               "means others were accounted first)" % rnd)
            eq(sorted(stored), sorted(names[i][1:] for i in ok),
               "round %d: files on disk vs 201 answers" % rnd)
            for i in ok:
                eq(sha(stored[names[i][1:]]), sha(bodies[i]),
                   "round %d: sha256 of %s" % (rnd, names[i]))
            eq(e.usage(), total, "round %d: ledger usage vs sum of st_size"
               % rnd)
            e.assert_clean("round %d: " % rnd)
            rc, out, err = e.quota_tool("recount")
            eq((rc, out), (0, ""), "round %d: upgate-quota recount after the "
               "race (stderr %r)" % (rnd, err))
            eq(e.usage(), total, "round %d: usage after recount" % rnd)


@test("concurrency: uploads, replaces and deletes of one user interleave "
      "and the ledger stays exact", slow=True)
def _():
    with Env(quota="alice %d\n" % (4 * MiB)) as e:
        names = ["/f%d" % i for i in range(8)]
        errors = []

        def worker(k):
            for j in range(6):
                n = names[(k + j) % len(names)]
                op = (k + j) % 3
                if op == 2:
                    r = e.run("DELETE", n)
                    ok = r.status in (204, 404)
                else:
                    r = e.run("PUT", n, body=os.urandom(1000 * (k + 1) + j))
                    ok = r.status in (201, 204)
                if not ok:
                    errors.append("%s -> %s %r" % (r.what(), r.status,
                                                   r.body[:200]))
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        check(not errors, "unexpected answers: %r" % errors[:5])
        eq(e.usage(), e.disk_usage(), "ledger usage vs files on disk")
        for rel, b in e.stored().items():
            eq(e.record("alice/" + rel), ("alice", len(b)),
               "record of %s" % rel)
        e.assert_clean()
        rc, out, err = e.quota_tool("recount")
        eq((rc, out), (0, ""), "recount after the interleaving (stderr %r)"
           % err)


@test("concurrency: per_user_dirs = no, 16 users race for one name: one "
      "201, the others 403", slow=True)
def _():
    for rnd in range(3):
        with Env(conf={"per_user_dirs": "no"}) as e:
            users = ["u%02d" % i for i in range(16)]
            bodies = {u: os.urandom(20000 + i) for i, u in enumerate(users)}
            started = [(u,) + e.start("PUT", "/shared.bin", user=u,
                                      length=len(bodies[u]))
                       for u in users]
            barrier = threading.Barrier(len(users))
            res = {}

            def go(u, cgi, req):
                try:
                    barrier.wait(10)
                except threading.BrokenBarrierError:
                    pass
                cgi.write(bodies[u])
                res[u] = cgi.finish(req, 60)
            ts = [threading.Thread(target=go, args=s) for s in started]
            for t in ts:
                t.start()
            for t in ts:
                t.join(90)
            won = [u for u in users if res[u].status == 201]
            eq(len(won), 1, "round %d: 201 answers (statuses %r)"
               % (rnd, sorted((u, res[u].status) for u in users)))
            for u in users:
                if u not in won:
                    expect(res[u], 403, "forbidden", user=u)
            w = won[0]
            eq(sha(e.stored(None)["shared.bin"]), sha(bodies[w]),
               "round %d: content is the winner's" % rnd)
            eq(e.record("shared.bin"), (w, len(bodies[w])),
               "round %d: record" % rnd)
            for u in users:
                eq(e.usage(u), len(bodies[u]) if u == w else 0,
                   "round %d: usage of %s" % (rnd, u))
            e.assert_clean("round %d: " % rnd)
