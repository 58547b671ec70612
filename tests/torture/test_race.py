# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Quota race (upgate(8), Accounting, upgate(8), Decisions row 11): 32 concurrent uploads x 50 rounds
through lighttpd + upgate.fcgi (its default 4 threads), PUT and
multipart POST mixed, racing for the last bytes of one user's quota.

Each round: dave keeps a 256 KiB file and has 768 KiB left of his 1 MiB;
32 uploads of 20-120 KiB each (about 2.2 MiB together: some fit, most do
not) start at one barrier.  While they run, a watcher sums the user's
visible files every few ms: never over the limit.  After the round: every
201 file is byte-identical to what was sent (SHA-256), every refusal is a
507 quota_exceeded that left nothing, the usage file equals the sum of
st_size, `upgate-quota recount` prints nothing, no temporary file nor
reservation is left.  The round's files are then DELETEd through the
server, and the ledger is checked again.

make test runs 50 rounds; --long runs 200.
"""

import threading
import time

import torture
from torture import (KiB, MiB, LighttpdFixture, check, eq, fail, figure,
                     ledger_matches, multipart, sha, stored_name, test)

USER = "dave"
LIMIT = 1 * MiB
KEEP = 256 * KiB
RACERS = 32
ROUNDS = 50
ROUNDS_LONG = 200
SIZES = (20 * KiB, 120 * KiB)


def _round(fx, rnd, n, stats):
    e = fx.env
    rand = torture.rng("race-%d" % n)
    jobs = []
    for i in range(RACERS):
        size = rand.randint(*SIZES)
        kind = "PUT" if rand.random() < 0.5 else "POST"
        jobs.append((kind, "r%03d-%02d.bin" % (n, i), rand.randbytes(size)))
    res = [None] * RACERS
    gate = threading.Barrier(RACERS + 1)
    done = threading.Event()
    peak = [0]

    def watch():
        while not done.is_set():
            v = torture.visible_total(e.upload, USER)
            if v > peak[0]:
                peak[0] = v
            time.sleep(0.003)

    def one(i):
        kind, name, data = jobs[i]
        gate.wait(30)
        if kind == "PUT":
            res[i] = fx.http("PUT", "/" + name, USER, body=data)
        else:
            ct, body = multipart(name, data)
            res[i] = fx.http("POST", "", USER, body=body, ctype=ct)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(RACERS)]
    w = threading.Thread(target=watch)
    for t in ts:
        t.start()
    w.start()
    t0 = time.monotonic()
    gate.wait(30)
    for t in ts:
        t.join(120)
    stats["upload_s"] += time.monotonic() - t0
    done.set()
    w.join(10)
    check(peak[0] <= LIMIT, "round %d: while the uploads ran, dave's "
          "visible files summed to %d bytes, over the limit %d"
          % (rnd, peak[0], LIMIT))
    stats["peak"] = max(stats["peak"], peak[0])

    won = {}
    for i, r in enumerate(res):
        kind, name, data = jobs[i]
        check(r is not None, "round %d: %s %s did not return" % (rnd, kind,
                                                                 name))
        if r.status == 201:
            got = stored_name(r, kind, name)
            eq(got, name, "round %d: %s: stored_as" % (rnd, r.what()))
            won[name] = data
            stats["stored"] += 1
            stats["stored_bytes"] += len(data)
            stats["201_" + kind] += 1
        elif r.status == 507 and r.reason() == "quota_exceeded":
            stats["507_" + kind] += 1
            stats["refused_bytes"] += len(data)
            stats["sent_refused"] += r.sent
        else:
            fail("round %d: %s (%d file bytes): expected 201, or 507 "
                 "quota_exceeded; got %s" % (rnd, r.what(), len(data),
                                            r.summary()))
    files = e.stored(USER)
    want = dict(won, **{"keep.bin": stats["keep"]})
    extra = sorted(set(files) - set(want))
    missing = sorted(set(want) - set(files))
    check(not extra and not missing, "round %d: dave's folder: files no "
          "201 accounts for (a refusal left them?) %r; 201 files missing %r"
          % (rnd, extra, missing))
    for name, data in want.items():
        check(sha(files[name]) == sha(data), "round %d: %s (%d bytes "
              "sent) differs from what was sent: %d bytes on disk, sha256 "
              "%s vs %s" % (rnd, name, len(data), len(files[name]),
                            sha(files[name])[:16], sha(data)[:16]))
    total = sum(len(b) for b in files.values())
    check(total <= LIMIT, "round %d: %d bytes stored, over the limit %d"
          % (rnd, total, LIMIT))
    stats["fill"].append(total)
    ledger_matches(e, USER, fx.recount, "round %d, after the race" % rnd)

    # the round's files go away through the server
    for name in won:
        r = fx.http("DELETE", "/" + name, USER)
        check(r.status == 204, "round %d: %s: expected 204, got %s"
              % (rnd, r.what(), r.summary()))
    eq(sorted(e.stored(USER)), ["keep.bin"], "round %d: dave's files after "
       "the DELETEs" % rnd)
    eq(e.usage(USER), KEEP, "round %d: dave's usage after the DELETEs"
       % rnd)


@test("quota race: %d concurrent uploads x %d rounds (--long: %d) through "
      "lighttpd + upgate.fcgi, PUT and multipart, for one user's last "
      "%d KiB: never over the limit, every 201 byte-identical, refusals "
      "leave nothing, ledger = recount after every round"
      % (RACERS, ROUNDS, ROUNDS_LONG, (LIMIT - KEEP) // KiB))
def _():
    rounds = ROUNDS_LONG if torture.LONG else ROUNDS
    fx = LighttpdFixture("race", "%s %d\n" % (USER, LIMIT),
                         {"max_upload_size": "1G"})
    stats = {"stored": 0, "stored_bytes": 0, "refused_bytes": 0,
             "sent_refused": 0, "201_PUT": 0, "201_POST": 0, "507_PUT": 0,
             "507_POST": 0, "peak": 0, "fill": [], "upload_s": 0.0}
    t0 = time.monotonic()
    problem = None
    try:
        keep = b"k" * KEEP
        stats["keep"] = keep
        r = fx.http("PUT", "/keep.bin", USER, body=keep)
        check(r.status == 201, "%s: expected 201, got %s" % (r.what(),
                                                           r.summary()))
        for n in range(rounds):
            _round(fx, n + 1, n, stats)
        pids = torture.responder_pids(fx)
        eq(len(pids), 1, "upgate.fcgi processes after the race (did one "
           "die and get restarted?)")
    finally:
        problem = fx.close()
    check(problem is None, "at teardown: %s" % problem)
    dt = time.monotonic() - t0
    n = rounds * RACERS
    check(stats["stored"] > 0 and stats["stored"] < n,
          "over %d uploads %d were stored: the race did not race"
          % (n, stats["stored"]))
    figure("quota race", "%d rounds x %d uploads = %d in %.1fs (uploads "
           "%.1fs, checks/recount/DELETE the rest)", rounds, RACERS, n, dt,
           stats["upload_s"])
    figure("quota race", "201: %d (PUT %d, POST %d), %.1f MiB; 507 "
           "quota_exceeded: %d (PUT %d, POST %d), %.1f MiB of files refused, "
           "%.1f MiB of request bodies sent for them (bodies this small "
           "fit in the socket buffers)", stats["stored"],
           stats["201_PUT"], stats["201_POST"],
           stats["stored_bytes"] / MiB, n - stats["stored"],
           stats["507_PUT"], stats["507_POST"],
           stats["refused_bytes"] / MiB, stats["sent_refused"] / MiB)
    f = stats["fill"]
    figure("quota race", "stored after a round (keep.bin included): min "
           "%d, median %d, max %d of %d bytes; peak seen while racing %d",
           min(f), torture.pct(f, 50), max(f), LIMIT, stats["peak"])
