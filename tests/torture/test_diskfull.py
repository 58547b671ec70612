# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Disk full (upgate(8), Accounting, upgate(8), Decisions rows 10 and 14): upload_dir (and state_dir in
it) on a 12 MiB tmpfs behind lighttpd + upgate.fcgi.  Three files are
stored first (3 MiB).  Then, in each of 5 rounds, 8 uploads stream at
once, paced so that they overlap — PUTs with a length, multipart POSTs,
and PUTs without a length (allow_unknown_length = yes, so no fallocate
can refuse them early: they run into ENOSPC while writing) — 1.5 to 3.5
MiB each, about 20 MiB against the 9 MiB left.  lighttpd answers 411
itself to a chunked request for a FastCGI backend, so the uploads without
a length go to a second upgate.fcgi (standalone, --listen, as www-data,
same configuration), fed directly over FastCGI with no CONTENT_LENGTH:
two responder processes then share the disk and the ledger.

Each upload is either stored whole (201, byte-identical) or refused with
507 disk_full leaving nothing (no file under its name, no temporary
file); the files stored earlier are untouched; the usage file equals the
sum of st_size and `upgate-quota recount` prints nothing.  The round's
files are then DELETEd and the filesystem's free space must come back.

Needs root (mount -t tmpfs); skipped loudly without it.
"""

import os
import threading
import time

import harness
import torture
from torture import (KiB, MiB, LighttpdFixture, check, eq, fail, figure,
                     ledger_matches, multipart, paced, sha, stored_name,
                     test)

USER = "carol"
TMPFS = "12m"
ROUNDS = 10
UPLOADS = 8
KINDS = ("PUT", "PUT", "POST", "POST", "POST", "NOLENGTH", "NOLENGTH", "PUT")
EARLIER = (("e1.bin", 1 * MiB), ("e2.bin", 512 * KiB),
           ("e3.bin", 1536 * KiB))


def _free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class _FcgiResp:
    """A harness Response with the interface of torture.Resp."""

    def __init__(self, r, sent):
        self.r = r
        self.status = r.status
        self.sent = sent
        self.body = r.body

    def reason(self):
        try:
            return self.r.json().get("reason")
        except Exception:
            return None

    def json(self):
        return self.r.json()

    def what(self):
        return self.r.what() + " (no length, via the standalone responder)"

    def summary(self):
        return self.r.summary()


def _unknown_length(fx, responder, name, data):
    c, req = fx.env.fcgi_request("PUT", "/" + name, responder=responder,
                                 user=USER, length=None)
    for piece in paced(data, 64 * KiB, 0.004):
        if not c.write(piece):
            break
    r = c.finish(req, 120)
    return _FcgiResp(r, c.written)


def _send(fx, responder, kind, name, data):
    body_iter = paced(data, 64 * KiB, 0.004)
    if kind == "PUT":
        return fx.http("PUT", "/" + name, USER, body=body_iter,
                       length=len(data))
    if kind == "NOLENGTH":
        return _unknown_length(fx, responder, name, data)
    ct, body = multipart(name, data)
    return fx.http("POST", "", USER, body=paced(body, 64 * KiB, 0.004),
                   length=len(body), ctype=ct)


def _round(fx, responder, rnd, rand, earlier, stats):
    e = fx.env
    jobs = [(KINDS[i], "d%02d-%d.bin" % (rnd, i),
             rand.randbytes(rand.randint(1536 * KiB, 3584 * KiB)))
            for i in range(UPLOADS)]
    res = [None] * UPLOADS
    gate = threading.Barrier(UPLOADS)

    def one(i):
        kind, name, data = jobs[i]
        gate.wait(30)
        res[i] = _send(fx, responder, kind, name, data)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(UPLOADS)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    stats["stream_s"] += time.monotonic() - t0
    won = {}
    for i, r in enumerate(res):
        kind, name, data = jobs[i]
        check(r is not None, "round %d: %s %s did not return" % (rnd, kind,
                                                                 name))
        stats["offered"] += len(data)
        if r.status == 201:
            got = stored_name(r, "POST" if kind == "POST" else "PUT", name)
            eq(got, name, "round %d: %s: stored_as" % (rnd, r.what()))
            won[name] = data
            stats["201"] += 1
            stats["stored_bytes"] += len(data)
        elif r.status == 507 and r.reason() == "disk_full":
            stats["507_" + kind] += 1
            if r.sent >= len(data):
                stats["late"] += 1
        else:
            fail("round %d: %s (%d file bytes): expected 201, or 507 "
                 "disk_full; got %s" % (rnd, r.what(), len(data),
                                       r.summary()))
    check(stats["201"] or rnd < 2, "no upload at all was stored")
    files = e.stored(USER)
    want = dict(earlier, **won)
    extra = sorted(set(files) - set(want))
    missing = sorted(set(want) - set(files))
    check(not extra and not missing, "round %d: carol's folder: files no "
          "201 accounts for (a 507 left them?) %r; missing %r"
          % (rnd, extra, missing))
    for name, data in want.items():
        check(sha(files[name]) == sha(data), "round %d: %s (%d bytes%s) "
              "has %d bytes that differ from what was sent"
              % (rnd, name, len(data), ", stored earlier" if name in earlier
                 else "", len(files[name])))
    ledger_matches(e, USER, fx.recount, "round %d, disk full" % rnd)
    stats["free_min"] = min(stats["free_min"], _free(e.upload))
    for name in won:
        r = fx.http("DELETE", "/" + name, USER)
        check(r.status == 204, "round %d: %s: expected 204, got %s"
              % (rnd, r.what(), r.summary()))


@test("disk full: %d rounds of %d uploads (PUT, multipart, no length) "
      "streaming at once into a %s tmpfs: each stored whole or 507 "
      "disk_full with nothing left; earlier files untouched; ledger = "
      "recount" % (ROUNDS, UPLOADS, TMPFS))
def _():
    rand = torture.rng("diskfull")
    stats = {"201": 0, "stored_bytes": 0, "offered": 0, "late": 0,
             "507_PUT": 0, "507_POST": 0, "507_NOLENGTH": 0,
             "stream_s": 0.0, "free_min": 1 << 62}
    fx = LighttpdFixture("diskfull", "%s unlimited\n" % USER,
                         {"max_upload_size": "1G",
                          "allow_unknown_length": "yes"},
                         tmpfs_size=TMPFS)
    responder = None
    err = ""
    try:
        responder = _standalone(fx)
        earlier = {}
        for name, size in EARLIER:
            data = rand.randbytes(size)
            r = fx.http("PUT", "/" + name, USER, body=data)
            check(r.status == 201, "%s: expected 201, got %s"
                  % (r.what(), r.summary()))
            earlier[name] = data
        free0 = _free(fx.env.upload)
        for rnd in range(ROUNDS):
            _round(fx, responder, rnd, rand, earlier, stats)
            free = wait_free(fx.env.upload, free0)
            check(free >= free0 - 64 * KiB, "round %d: after the DELETEs "
                  "%d bytes are free, %d before the round: space not given "
                  "back" % (rnd, free, free0))
        # the gate works again once there is room
        data = rand.randbytes(2 * MiB)
        r = fx.http("PUT", "/after.bin", USER, body=data)
        check(r.status == 201, "after the rounds: %s: expected 201, got %s"
              % (r.what(), r.summary()))
        eq(sha(fx.env.stored(USER)["after.bin"]), sha(data), "after.bin")
        ledger_matches(fx.env, USER, fx.recount, "at the end")
    finally:
        if responder is not None:
            responder.stop(check=False)
            err = responder.stderr_text()
        problem = fx.close()
    check(problem is None, "at teardown: %s" % problem)
    check("Sanitizer" not in err and "runtime error:" not in err,
          "the standalone upgate.fcgi: %s" % err[-1500:])
    n = ROUNDS * UPLOADS
    figure("disk full", "%d uploads in %d rounds, %.1f MiB offered against "
           "%.1f MiB free (tmpfs %s, %.1f MiB stored before): %d stored "
           "(%.1f MiB), 507 disk_full: PUT %d, POST %d, no length %d (%d of "
           "them after the whole body was sent); least free space seen "
           "after a round %d bytes; streaming %.1fs in all", n, ROUNDS,
           stats["offered"] / MiB, free0 / MiB, TMPFS,
           sum(s for _, s in EARLIER) / MiB, stats["201"],
           stats["stored_bytes"] / MiB, stats["507_PUT"],
           stats["507_POST"], stats["507_NOLENGTH"], stats["late"],
           stats["free_min"], stats["stream_s"])


def _standalone(fx):
    """upgate.fcgi --listen in the server's run folder, as www-data."""
    sock = os.path.join(fx.srv.root, "run", "standalone.sock")
    argv = ["setpriv", "--reuid=www-data", "--regid=www-data",
            "--clear-groups", os.path.join(fx.srv.build, "upgate.fcgi"),
            "--listen", sock, "--threads", "4", "--config",
            fx.env.conf_path]
    return harness.Responder(fx.srv.root, fx.env.conf_path, argv=argv,
                             sock=sock)


def wait_free(path, want, timeout=5):
    """tmpfs frees a removed file's pages at once; allow a moment."""
    return torture.wait_until(lambda: _free(path) >= want - 64 * KiB and
                              _free(path), timeout) or _free(path)
