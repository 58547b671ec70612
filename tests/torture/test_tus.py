# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Resumable uploads (upgate(8), "Resumable uploads"; README, "Resumable
uploads") under kill -9 and in a quota race.

kill -9: 50 resumable uploads to a standalone upgate.fcgi, 64 KiB to
3 MiB (one in ten past 8 MiB, where a long PATCH moves the offset on its
way), each PATCHed and killed with SIGKILL one to three times at a
random moment (before the body, mid-body, after the last byte) and
resumed from HEAD's offset by the next responder.  Every offset HEAD
reports is at least every offset acknowledged before (a 204 or a HEAD),
the temporary file holds exactly the upload's bytes up to it, nothing
but a whole upload is ever under a final name, the last PATCH stores the
file byte-exact.  A kill after the last byte can leave an upload that
is whole but not yet under its name (the ledger's offset moves before
the rename): the next HEAD publishes it, since tus-js-client sends no
PATCH after a HEAD that reports the whole length.  Then no reservation
or temporary file is left and the
ledger equals recount (a kill after the last byte may leave it
over-counting, as for a PUT: counted, and repaired by recount).  Last,
with resumable_expiry = 2s, five uploads abandoned (three of them by a
kill mid-PATCH) are reclaimed by the user's next request after their
expiry: their files, their reservations and their URLs gone.

Quota race: 20 rounds through lighttpd + upgate.fcgi, each 16 requests at
one barrier for the last 768 KiB of a 1 MiB quota, half tus creations
(which reserve their whole length) and half PUTs, 60 to 200 KiB each.
What was granted (201s) never sums past what was left; refusals are 507
quota_exceeded; the created uploads then all complete; usage never passes
the limit and equals the files; recount prints nothing.

--long: 200 uploads, 80 rounds.  (Their names keep them out of the
PostgreSQL pass of make torture, for CI's time; run.py --ledger
postgresql -k tus runs them there, about twice as long.)
"""

import base64
import email.utils
import os
import threading
import time

import torture
from harness import Env, expect
from torture import (KiB, MiB, LighttpdFixture, check, eq, fail, figure,
                     ledger_matches, test)

TUS = "1.0.0"
OCTETS = "application/offset+octet-stream"
USER = "alice"


def _meta(name):
    return "filename " + base64.b64encode(name.encode()).decode()


def _url(uid):
    return "/.resumable/" + uid


# ------------------------------------------------------------- kill -9

def _create(e, size, name):
    r = e.fcgi_run("POST", user=USER, headers={
        "Tus-Resumable": TUS, "Upload-Length": str(size),
        "Upload-Metadata": _meta(name)})
    expect(r, 201, user=USER, head=True)
    return r.header("Location").rsplit("/", 1)[1], r


def _head(e, uid):
    r = e.fcgi_run("HEAD", _url(uid), user=USER,
                   headers={"Tus-Resumable": TUS})
    return r


def _offset(e, uid, what):
    r = _head(e, uid)
    expect(r, 200, user=USER, head=True)
    return int(r.header("Upload-Offset"))


def _patch_headers(off):
    return {"Tus-Resumable": TUS, "Upload-Offset": str(off)}


def _killed_patch(e, uid, data, off, rand):
    """A PATCH of data[off:] killed -9 at a random moment; returns where."""
    rest = data[off:]
    c, req = e.fcgi_request("PATCH", _url(uid), user=USER,
                            length=len(rest), content_type=OCTETS,
                            headers=_patch_headers(off))
    p = rand.random()
    if p < 0.1:
        upto, point = 0, "head"
    elif p < 0.85:
        upto, point = rand.randint(1, len(rest) - 1) if len(rest) > 1 \
            else 0, "body"
    else:
        upto, point = len(rest), "after"
    try:
        sent = 0
        while sent < upto:
            n = min(upto - sent, rand.choice((16 * KiB, 64 * KiB,
                                              256 * KiB)))
            if not c.write(rest[sent:sent + n]):
                break
            sent += n
        if point == "after":
            c.close_stdin()
        time.sleep(rand.random() * 0.03 if point != "after" else
                   rand.choice((0, rand.random() * 0.004,
                                rand.random() * 0.02)))
    finally:
        c.kill()
    return point, upto


def _tmp_of(e):
    """The bytes of the one unfinished upload's temporary file (None
    when there is none)."""
    t = e.tmp_files(e.upload)
    check(len(t) <= 1, "temporary files: %r" % t)
    if not t:
        return None
    with open(t[0], "rb") as f:
        return f.read()


def _visible_ok(e, uploads, what):
    """Nothing under a final name but a whole upload."""
    for f, b in e.stored(USER).items():
        if os.path.basename(f).startswith(torture.TMP_PREFIX):
            continue
        check(uploads.get(f) == b, "%s: %s holds %d bytes, not a whole "
              "upload" % (what, f, len(b)))


def _one(e, n, rand, uploads, stats):
    size = rand.randint(8 * MiB + 1, 9 * MiB) if rand.random() < 0.1 \
        else rand.randint(64 * KiB, 3 * MiB)
    name = "t%03d.bin" % n
    data = rand.randbytes(size)
    uid, _ = _create(e, size, name)
    acked = 0
    history = []
    for k in range(rand.randint(1, 3)):
        if acked == size:
            break
        point, upto = _killed_patch(e, uid, data, acked, rand)
        stats[point] += 1
        history.append((point, acked, upto))
        what = "upload %d (%d bytes), kill %d at byte %d of the PATCH " \
            "from %d (%s)" % (n, size, k + 1, upto, acked, point)
        off = _offset(e, uid, what)
        check(acked <= off <= size, "%s: HEAD's offset %d, but %d was "
              "acknowledged" % (what, off, acked))
        check(off <= acked + upto, "%s: HEAD's offset %d, past the %d "
              "bytes sent" % (what, off, acked + upto))
        stats["kept"] += off - acked
        acked = off
        if off < size:
            tmp = _tmp_of(e)
            check(tmp is not None and tmp[:off] == data[:off],
                  "%s: the temporary file does not hold the %d bytes "
                  "acknowledged" % (what, off))
        elif e.stored(USER).get(name) == data:
            stats["stored_at_kill"] += 1
        else:
            # Killed between the ledger's last offset and the rename: the
            # HEAD above published it (tus-js-client sends nothing more
            # after a HEAD that reports the whole length).
            fail("%s: HEAD reports offset = length, but the file is not "
                 "published: %r" % (what, sorted(e.stored(USER))))
        _visible_ok(e, dict(uploads, **{name: data}), what)
    if acked < size:
        r = e.fcgi_run("PATCH", _url(uid), body=data[acked:], user=USER,
                       content_type=OCTETS, headers=_patch_headers(acked))
        expect(r, 204, "stored", user=USER, head=True)
        eq(r.header("Upload-Offset"), str(size), "upload %d: the last "
           "PATCH's Upload-Offset" % n)
    uploads[name] = data
    got = e.stored(USER).get(name)
    check(got == data, "upload %d (%d bytes; killed (where, from, "
          "sent) %s): %s holds %s; files %r, temporary files %r"
          % (n, size, history, name, "nothing" if got is None else
             "%d other bytes" % len(got), sorted(e.stored(USER)),
             e.tmp_files()))
    r = e.fcgi_run("DELETE", _url(uid), user=USER,
                   headers={"Tus-Resumable": TUS})
    expect(r, 204, "deleted", user=USER, head=True)


def _reclaimed_after_expiry(e, rand, stats):
    """Five uploads abandoned, three by a kill mid-PATCH, reclaimed by the
    next request after resumable_expiry."""
    e.conf["resumable_expiry"] = "2s"
    e.write_conf()
    e.fcgi_stop(check=False)        # the next responder reads it
    uids = []
    last = None
    for i in range(5):
        data = rand.randbytes(rand.randint(64 * KiB, 512 * KiB))
        uid, last = _create(e, len(data), "abandoned%d.bin" % i)
        uids.append(uid)
        if i < 3:
            c, req = e.fcgi_request("PATCH", _url(uid), user=USER,
                                    length=len(data), content_type=OCTETS,
                                    headers=_patch_headers(0))
            c.write(data[:len(data) // 2])
            time.sleep(0.01)
            c.kill()
            last = _head(e, uid)
        else:
            last = e.fcgi_run("PATCH", _url(uid), body=data[:100],
                              user=USER, content_type=OCTETS,
                              headers=_patch_headers(0))
            expect(last, 204, "appended", user=USER, head=True)
    r = e.fcgi_run("GET", user=USER)
    expect(r, 200, user=USER)
    check(r.json()["quota"]["reserved"] > 0, "nothing reserved before the "
          "expiry")
    # a wait, not a check: past the last Upload-Expires
    when = email.utils.parsedate_to_datetime(last.header("Upload-Expires"))
    while time.time() <= when.timestamp() + 1:
        time.sleep(0.2)
    r = e.fcgi_run("GET", user=USER)
    expect(r, 200, user=USER)
    eq(r.json()["quota"]["reserved"], 0, "reserved after the expiry")
    eq(e.tmp_files(), [], "temporary files after the expiry")
    eq(e.reservations(), [], "state_dir/resv after the expiry")
    for uid in uids:
        expect(_head(e, uid), 404, "not_found", user=USER, head=True)
    stats["expired"] = len(uids)


@test("tus under SIGKILL: 50 resumable uploads (--long: 200) to "
      "upgate.fcgi killed at random moments and resumed: no acknowledged byte lost, "
      "nothing partial under a final name, byte-exact; abandoned ones "
      "reclaimed after resumable_expiry", root=False)
def _():
    count = 200 if torture.LONG else 50
    rand = torture.rng("tus-kill")
    stats = {"head": 0, "body": 0, "after": 0, "kept": 0,
             "stored_at_kill": 0, "overcount": 0,
             "expired": 0}
    t0 = time.monotonic()
    with Env(quota="%s 64M\n" % USER,
             conf={"resumable_expiry": "1h"}) as e:
        uploads = {}
        for n in range(count):
            _one(e, n, rand, uploads, stats)
            if len(uploads) > 12:
                # room for the next ones; DELETE of the files as a user
                for name in sorted(uploads)[:6]:
                    expect(e.fcgi_run("DELETE", "/" + name, user=USER),
                           204, "deleted", user=USER)
                    del uploads[name]
        eq(e.tmp_files(), [], "temporary files")
        eq(e.reservations(), [], "state_dir/resv")
        disk = torture.visible_total(e.upload, USER)
        used = e.usage(USER)
        check(used >= disk, "the ledger under-counts: usage %d, files %d"
              % (used, disk))
        if used != disk:
            stats["overcount"] = used - disk
            check(stats["after"] > 0, "usage %d, files %d, and no kill "
                  "came after a last byte" % (used, disk))
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount (stderr %r)" % err)
        eq(e.usage(USER), disk, "usage after recount")
        dead = len(e._fcgi_dead)
        _reclaimed_after_expiry(e, rand, stats)
    figure("tus under SIGKILL", "%d resumable uploads in %.1fs, responder "
           "killed %d times before the body, %d mid-body, %d after the "
           "last byte (%d responders); %d bytes of killed PATCHes kept; %d "
           "stored whole by their PATCH or by the HEAD after the kill; "
           "ledger over-count %d bytes "
           "repaired by recount; %d abandoned uploads reclaimed after "
           "their expiry", count, time.monotonic() - t0, stats["head"],
           stats["body"], stats["after"], dead, stats["kept"],
           stats["stored_at_kill"], stats["overcount"], stats["expired"])


# ------------------------------------------------------------ quota race

RACE_USER = "dave"
RACE_LIMIT = 1 * MiB
RACE_KEEP = 256 * KiB
RACERS = 16


def _race_round(fx, rnd, rand, stats):
    e = fx.env
    left = RACE_LIMIT - RACE_KEEP
    jobs = []
    for i in range(RACERS):
        size = rand.randint(60 * KiB, 200 * KiB)
        jobs.append(("tus" if i % 2 == 0 else "PUT",
                     "r%03d-%02d.bin" % (rnd, i), rand.randbytes(size)))
    res = [None] * RACERS
    gate = threading.Barrier(RACERS)

    def one(i):
        kind, name, data = jobs[i]
        gate.wait(30)
        if kind == "PUT":
            res[i] = fx.http("PUT", "/" + name, RACE_USER, body=data)
        else:
            res[i] = fx.http("POST", "", RACE_USER, extra=(
                "Tus-Resumable: " + TUS, "Upload-Length: %d" % len(data),
                "Upload-Metadata: " + _meta(name)))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(RACERS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    granted = 0
    created = []
    for (kind, name, data), r in zip(jobs, res):
        check(r is not None and r.status in (201, 507), "round %d: %s %s: "
              "%s" % (rnd, kind, name, r.summary() if r else "no answer"))
        if r.status == 507:
            eq(r.reason(), "quota_exceeded", "round %d: %s" % (rnd,
                                                               r.what()))
            stats["refused"] += 1
            continue
        granted += len(data)
        stats["granted_" + kind] += 1
        if kind == "tus":
            created.append((r.header("Location").rsplit("/", 1)[1], name,
                            data))
    check(granted <= left, "round %d: %d bytes granted, only %d were left"
          % (rnd, granted, left))
    q = fx.http("GET", "", RACE_USER).json()["quota"]
    check(q["used"] + q["reserved"] <= RACE_LIMIT, "round %d: used %d + "
          "reserved %d past the limit" % (rnd, q["used"], q["reserved"]))
    for uid, name, data in created:
        r = fx.http("PATCH", _url(uid), RACE_USER, body=data, ctype=OCTETS,
                    extra=("Tus-Resumable: " + TUS, "Upload-Offset: 0"))
        eq(r.status, 204, "round %d: the PATCH of %s: %s"
           % (rnd, name, r.summary()))
        check(e.stored(RACE_USER).get(name) == data, "round %d: %s is not "
              "the bytes sent" % (rnd, name))
        r = fx.http("DELETE", _url(uid), RACE_USER,
                    extra=("Tus-Resumable: " + TUS,))
        eq(r.status, 204, "round %d: DELETE of the upload of %s"
           % (rnd, name))
    disk = torture.visible_total(e.upload, RACE_USER)
    check(disk <= RACE_LIMIT, "round %d: files sum to %d, past the limit"
          % (rnd, disk))
    ledger_matches(e, RACE_USER, fx.recount, "round %d" % rnd)
    e.assert_clean("round %d: " % rnd)
    for (kind, name, data), r in zip(jobs, res):
        if r.status == 201:
            eq(fx.http("DELETE", "/" + name, RACE_USER).status, 204,
               "round %d: DELETE %s" % (rnd, name))


@test("tus racing PUTs: 20 rounds (--long: 80) of 16 resumable "
      "creations and PUTs at once for the last 768 KiB of a quota through "
      "lighttpd + upgate.fcgi: never over, every creation completes")
def _():
    rounds = 80 if torture.LONG else 20
    rand = torture.rng("tus-race")
    stats = {"refused": 0, "granted_tus": 0, "granted_PUT": 0}
    t0 = time.monotonic()
    fx = LighttpdFixture("tus-race", "%s %d\n" % (RACE_USER, RACE_LIMIT),
                         {})
    try:
        r = fx.http("PUT", "/keep.bin", RACE_USER,
                    body=os.urandom(RACE_KEEP))
        eq(r.status, 201, "keep.bin: %s" % r.summary())
        for rnd in range(rounds):
            _race_round(fx, rnd, rand, stats)
    finally:
        problem = fx.close()
    check(problem is None, problem)
    figure("tus racing PUTs", "%d rounds of %d in %.1fs: %d creations and "
           "%d PUTs granted, %d refused with 507", rounds, RACERS,
           time.monotonic() - t0, stats["granted_tus"], stats["granted_PUT"],
           stats["refused"])
