# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Resumable uploads, tus 1.0.0 (upgate(8), "RESUMABLE UPLOADS";
upgate.conf(5), resumable and resumable_expiry): every header and status
of the protocol through the CGI (and, with --fcgi, the responder), the
disk, the ledger and `reserved` looked at after each step."""

import base64
import email.utils
import hashlib
import json
import os
import re
import time

import harness
from harness import Env, check, eq, expect, test

TUS = "1.0.0"
OCTETS = "application/offset+octet-stream"
URL_RE = re.compile(r"^/upload/\.resumable/([0-9a-f]{32})$")
DATE_RE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} "
                     r"\d{2}:\d{2}:\d{2} GMT$")


def b64(b):
    return base64.b64encode(b).decode()


def meta(name):
    return "filename %s,filetype %s" % (b64(name.encode()),
                                        b64(b"application/octet-stream"))


def create(e, length, name="f.bin", path=None, body=b"", headers=None,
           user="alice", **kw):
    h = {"Tus-Resumable": TUS, "Upload-Length": str(length),
         "Upload-Metadata": meta(name)}
    h.update(headers or {})
    for k in [k for k, v in h.items() if v is None]:
        del h[k]
    if body:
        kw.setdefault("content_type", OCTETS)
    return e.run("POST", path, body=body, headers=h, user=user, **kw)


def created(r, offset=None):
    """A 201 of a creation: no body, Location, Upload-Expires; the id."""
    expect(r, 201, head=True)
    m = URL_RE.match(r.header("Location") or "")
    check(m, "%s: Location %r is not /upload/.resumable/ID"
          % (r.what(), r.header("Location")))
    tus_headers(r)
    check(DATE_RE.match(r.header("Upload-Expires") or ""),
          "%s: Upload-Expires %r is not an HTTP-date"
          % (r.what(), r.header("Upload-Expires")))
    if offset is not None:
        eq(r.header("Upload-Offset"), str(offset), "%s: Upload-Offset"
           % r.what())
    return m.group(1)


def tus_headers(r):
    eq(r.header("Tus-Resumable"), TUS, "%s: Tus-Resumable" % r.what())


def url(uid):
    return "/.resumable/" + uid


def patch(e, uid, offset, body, headers=None, user="alice", **kw):
    h = {"Tus-Resumable": TUS, "Upload-Offset": str(offset)}
    h.update(headers or {})
    kw.setdefault("content_type", OCTETS)
    return e.run("PATCH", url(uid), body=body, headers=h, user=user, **kw)


def head(e, uid, user="alice"):
    return e.run("HEAD", url(uid), headers={"Tus-Resumable": TUS},
                 user=user)


def offset_of(e, uid):
    r = head(e, uid)
    expect(r, 200)
    tus_headers(r)
    return int(r.header("Upload-Offset"))


def delete(e, uid, user="alice"):
    return e.run("DELETE", url(uid), headers={"Tus-Resumable": TUS},
                 user=user)


def reserved(e, user="alice"):
    r = e.run("GET", user=user)
    expect(r, 200, user=user)
    return r.json()["quota"]["reserved"]


def tmp_sizes(e):
    return sorted(os.stat(p).st_size for p in e.tmp_files(e.upload))


def log_reason(r):
    return harness.log_of(r)["reason"]


@test("tus: OPTIONS names the version, extensions, algorithms and "
      "Tus-Max-Size; on an upload's URL its four methods")
def _():
    with Env(conf={"max_upload_size": "1M"}) as e:
        r = e.run("OPTIONS")
        expect(r, 204)
        tus_headers(r)
        eq(r.header("Tus-Version"), TUS, "Tus-Version")
        eq(r.header("Tus-Extension"), "creation,creation-with-upload,"
           "termination,expiration,checksum", "Tus-Extension")
        eq(r.header("Tus-Checksum-Algorithm"), "sha1,sha256,md5",
           "Tus-Checksum-Algorithm")
        eq(r.header("Tus-Max-Size"), str(1024 * 1024), "Tus-Max-Size")
        r = e.run("OPTIONS", url("0" * 32))
        expect(r, 204)
        eq(r.header("Allow"), "OPTIONS, HEAD, PATCH, DELETE", "Allow")
        r = e.run("GET", url("0" * 32), headers={"Tus-Resumable": TUS})
        expect(r, 405, "method_not_allowed")
        eq(r.header("Allow"), "OPTIONS, HEAD, PATCH, DELETE", "Allow")
        tus_headers(r)
        r = e.run("PATCH", "/f.bin", body=b"x", content_type=OCTETS)
        expect(r, 405, "method_not_allowed")
        check("PATCH" not in r.header("Allow").split(", "), "Allow of a "
              "PATCH elsewhere: %r" % r.header("Allow"))
        e.conf.pop("max_upload_size")
        e.write_conf()
        check(e.run("OPTIONS").header("Tus-Max-Size") is None,
              "Tus-Max-Size without max_upload_size")


@test("tus: creation reserves the whole length and allocates it; HEAD; "
      "PATCHes append; the last publishes; then termination forgets it")
def _():
    with Env(quota="alice 1000\n") as e:
        data = os.urandom(300)
        r = create(e, 300, "movie.bin")
        uid = created(r, 0)
        eq(log_reason(r), "created", "log reason of a creation")
        eq(harness.log_of(r)["size"], "300", "log size of a creation")
        eq(reserved(e), 300, "reserved after the creation")
        eq(tmp_sizes(e), [300], "the temporary file, allocated")
        eq(e.stored(), {os.path.relpath(e.tmp_files(e.upload)[0],
                                        e.user_dir()): b"\0" * 300},
           "files")
        r = head(e, uid)
        expect(r, 200)
        tus_headers(r)
        eq(r.header("Upload-Offset"), "0", "Upload-Offset")
        eq(r.header("Upload-Length"), "300", "Upload-Length")
        eq(r.header("Upload-Metadata"), meta("movie.bin"), "Upload-Metadata")
        eq(r.header("Cache-Control"), "no-store", "Cache-Control")
        check(DATE_RE.match(r.header("Upload-Expires") or ""),
              "Upload-Expires %r" % r.header("Upload-Expires"))

        r = patch(e, uid, 0, data[:120])
        expect(r, 204, "appended")
        tus_headers(r)
        eq(r.header("Upload-Offset"), "120", "Upload-Offset after a PATCH")
        check(DATE_RE.match(r.header("Upload-Expires") or ""),
              "Upload-Expires of a PATCH")
        eq(harness.log_of(r)["size"], "120", "log size of a PATCH")
        eq(offset_of(e, uid), 120, "HEAD after a PATCH")
        eq(reserved(e), 300, "reserved while it runs")
        eq(e.usage(), 0, "usage while it runs")
        check(not os.path.exists(e.path("alice", "movie.bin")),
              "the file is visible before it is complete")

        digest = b64(hashlib.sha256(data[120:]).digest())
        r = patch(e, uid, 120, data[120:],
                  headers={"Upload-Checksum": "sha256 " + digest})
        expect(r, 204, "stored")
        eq(r.header("Upload-Offset"), "300", "Upload-Offset at the end")
        eq(r.header("X-Quota-Used"), "300", "X-Quota-Used")
        eq(e.stored(), {"movie.bin": data}, "files after the last PATCH")
        eq(e.usage(), 300, "usage")
        eq(e.record("alice/movie.bin"), ("alice", 300), "record")
        eq(reserved(e), 0, "reserved after completion")
        eq(offset_of(e, uid), 300, "HEAD of a finished upload")
        r = patch(e, uid, 300, b"")
        expect(r, 204, "appended")
        eq(r.header("Upload-Offset"), "300", "an empty PATCH at the end")
        expect(patch(e, uid, 300, b"x"), 400, "bad_request")
        expect(delete(e, uid), 204, "deleted")
        expect(head(e, uid), 404, "not_found")
        eq(e.stored(), {"movie.bin": data}, "the stored file stays")
        eq(e.usage(), 300, "usage after termination of a finished one")


@test("tus: creation with its body, a taken name, an empty upload, a "
      "folder named by PATH_INFO")
def _():
    with Env() as e:
        e.plant("f.txt", b"old")
        data = os.urandom(1000)
        r = create(e, 1000, "f.txt", body=data)
        uid = created(r, 1000)
        eq(log_reason(r), "stored", "log reason of a creation that stores")
        eq(e.stored(), {"f.txt": b"old", "f-1.txt": data}, "files")
        eq(e.usage(), 1000, "usage")
        r = create(e, 1000, "g.txt", body=data[:400])
        uid2 = created(r, 400)
        eq(log_reason(r), "created", "log reason of a partial creation")
        expect(patch(e, uid2, 400, data[400:]), 204, "stored")
        uid3 = created(create(e, 0, "f.txt"), 0)
        eq(e.stored(), {"f.txt": b"old", "f-1.txt": data, "g.txt": data,
                        "f-2.txt": b""}, "files")
        os.makedirs(e.path("alice", "sub"))
        uid4 = created(create(e, 3, "C:\\Users\\me\\x.txt", path="/sub/",
                              body=b"abc"), 3)
        eq(e.stored()["sub/x.txt"], b"abc", "a Windows path reduced")
        eq(reserved(e), 0, "reserved")
        for u in (uid, uid2, uid3, uid4):
            expect(delete(e, u), 204, "deleted")


@test("tus: refusals of a creation decided before anything is written")
def _():
    with Env(quota="alice 1000\n", conf={"max_upload_size": "2000"}) as e:
        r = create(e, 10, headers={"Tus-Resumable": "0.2.2"})
        expect(r, 412, "precondition_failed")
        tus_headers(r)
        eq(r.header("Tus-Version"), TUS, "Tus-Version of a 412")
        r = create(e, 10, headers={"Tus-Resumable": None})
        expect(r, 415, "unsupported_media_type")  # an ordinary POST
        for h in ({"Upload-Length": None, "Upload-Defer-Length": "1"},
                  {"Upload-Length": None}, {"Upload-Length": "1e3"},
                  {"Upload-Length": "-1"},
                  {"Upload-Metadata": "filetype " + b64(b"x")},
                  {"Upload-Metadata": "filename " + b64(b".htaccess")},
                  {"Upload-Metadata": "filename !!!"}):
            r = create(e, 10, headers=h)
            expect(r, 400, "bad_request")
            tus_headers(r)
        r = create(e, 10, body=b"x" * 11)
        expect(r, 400, "bad_request")
        r = create(e, 2001)
        expect(r, 413, "too_large")
        r = create(e, 1001)
        expect(r, 507, "quota_exceeded")
        eq(r.json()["upload"]["size"], 1001, "upload.size")
        r = create(e, 10, path="/missing/")
        expect(r, 409, "conflict")
        eq(e.stored(), {}, "files")
        eq(tmp_sizes(e), [], "temporary files")
        eq(reserved(e), 0, "reserved")


@test("tus: PATCH refusals keep the upload as it was: another offset, "
      "another type, past the length, a wrong checksum, another version, "
      "another user, an unknown id")
def _():
    with Env(quota="alice 1000\nbob 1000\n") as e:
        data = os.urandom(100)
        uid = created(create(e, 100))
        expect(patch(e, uid, 0, data[:10]), 204, "appended")

        def unchanged(what):
            eq(offset_of(e, uid), 10, "offset after " + what)
            eq(reserved(e), 100, "reserved after " + what)
            eq(tmp_sizes(e), [100], "temporary file after " + what)
            eq(e.usage(), 0, "usage after " + what)

        expect(patch(e, uid, 0, data[10:20]), 409, "conflict")
        unchanged("another offset")
        expect(patch(e, uid, 10, data[10:20], content_type="text/plain"),
               415, "unsupported_media_type")
        unchanged("another type")
        expect(patch(e, uid, 10, b"x" * 91), 400, "bad_request")
        unchanged("a body past the length")
        # without Content-Length, the bytes past the length are read
        r = patch(e, uid, 10, [b"y" * 50, b"y" * 50], length=None)
        expect(r, 400, "bad_request")
        unchanged("a body of unknown length past the length")
        bad = b64(hashlib.sha1(b"something else").digest())
        r = patch(e, uid, 10, data[10:20],
                  headers={"Upload-Checksum": "sha1 " + bad})
        expect(r, 460, "checksum_mismatch")
        tus_headers(r)
        unchanged("a wrong checksum")
        expect(patch(e, uid, 10, data[10:20],
                     headers={"Upload-Checksum": "crc32 AAAAAA=="}),
               400, "bad_request")
        unchanged("an unknown algorithm")
        r = patch(e, uid, 10, data[10:20], headers={"Tus-Resumable": "2.0"})
        expect(r, 412, "precondition_failed")
        eq(r.header("Tus-Version"), TUS, "Tus-Version")
        expect(e.run("HEAD", url(uid)), 412, "precondition_failed")
        unchanged("another version")
        for user in ("bob",):
            expect(head(e, uid, user=user), 404, "not_found", user=user)
            expect(patch(e, uid, 10, data[10:20], user=user), 404,
                   "not_found", user=user)
            expect(delete(e, uid, user=user), 404, "not_found", user=user)
        unchanged("another user's requests")
        eq(reserved(e, "bob"), 0, "bob's reserved")
        for other in ("0" * 32, "ABCDEF" + uid[6:], uid[:-1], "../x"):
            expect(head(e, other), 404, "not_found")
        md5 = b64(hashlib.md5(data[10:]).digest())
        r = patch(e, uid, 10, data[10:],
                  headers={"Upload-Checksum": "md5 " + md5})
        expect(r, 204, "stored")
        eq(e.stored(), {"f.bin": data}, "files")
        expect(delete(e, uid), 204, "deleted")


@test("tus: termination of an unfinished upload frees its bytes and its "
      "reservation; its URL is then unknown")
def _():
    with Env(quota="alice 1000\n", conf={"create_parents": "yes"}) as e:
        uid = created(create(e, 500))
        expect(patch(e, uid, 0, b"x" * 200), 204, "appended")
        r = delete(e, uid)
        expect(r, 204, "deleted")
        tus_headers(r)
        eq(harness.log_of(r)["size"], "500", "log size: the bytes freed")
        eq(tmp_sizes(e), [], "temporary files")
        eq(reserved(e), 0, "reserved")
        expect(head(e, uid), 404, "not_found")
        expect(patch(e, uid, 200, b"x"), 404, "not_found")
        # the folders its creation made go with it, when empty
        os.makedirs(e.path("alice", "a/kept"))
        uid = created(create(e, 300, path="/a/b/c/"))
        check(os.path.isdir(e.path("alice", "a/b/c")),
              "the creation made the folders a/b/c")
        expect(patch(e, uid, 0, b"y" * 100), 204, "appended")
        expect(delete(e, uid), 204, "deleted")
        eq(tmp_sizes(e), [], "temporary files")
        eq(sorted(os.listdir(e.path("alice", "a"))), ["kept"],
           "alice/a after the termination (b and c were made by the "
           "creation)")
        eq(reserved(e), 0, "reserved")


def wait_expiry(r):
    """Sleeps past the Upload-Expires of r (a wait, not a check)."""
    when = email.utils.parsedate_to_datetime(r.header("Upload-Expires"))
    while time.time() <= when.timestamp() + 1:
        time.sleep(0.25)


@test("tus: an expired upload is unknown, and the user's next request "
      "or recount removes it with its file", slow=True)
def _():
    with Env(quota="alice 1000\n", conf={"resumable_expiry": "2s"}) as e:
        uid = created(create(e, 100))
        r = patch(e, uid, 0, b"x" * 10)
        expect(r, 204, "appended")
        eq(reserved(e), 100, "reserved before the expiry")
        wait_expiry(r)
        expect(head(e, uid), 404, "not_found")
        eq(tmp_sizes(e), [], "temporary files after the next request")
        expect(patch(e, uid, 10, b"x"), 404, "not_found")
        eq(reserved(e), 0, "reserved after the expiry")
        r = create(e, 70)
        uid2 = created(r)
        wait_expiry(r)
        eq(tmp_sizes(e), [70], "temporary file before recount")
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount's exit status (%r)" % err)
        eq(tmp_sizes(e), [], "temporary files after recount")
        expect(head(e, uid2), 404, "not_found")


ID_RE = re.compile(r"^[0-9a-f]{32}$")


def ledger_uploads(e):
    """(ids of uploads in progress, ids of finished ones kept) in the
    ledger: what every request of alice reads, and what none does."""
    if e.schema is not None:
        rows = e.sql("SELECT u.id, u.resv IS NULL, (SELECT count(*) FROM"
                     " upgate_reservations WHERE owner = 'alice') FROM"
                     " upgate_uploads u WHERE u.owner = 'alice'")
        live = sorted(r[0] for r in rows if r[1] == "f")
        eq(int(rows[0][2]) if rows else 0, len(live),
           "reservations of alice (no PUT running)")
        return live, sorted(r[0] for r in rows if r[1] == "t")
    top = os.path.join(e.state, "uploads", "alice")

    def ids(d):
        try:
            return sorted(n for n in os.listdir(d) if ID_RE.match(n))
        except FileNotFoundError:
            return []
    return ids(top), ids(os.path.join(top, "done"))


@test("tus: a finished upload holds nothing and is out of the way of the "
      "user's requests, which read only the uploads in progress; expired, "
      "it goes with a later completion or recount", slow=True)
def _():
    # an expiry long enough for the first steps on a loaded machine
    with Env(quota="alice 100000\n", conf={"resumable_expiry": "6s"}) as e:
        done = []
        for i in range(5):
            r = create(e, 10, "f%d.bin" % i, body=b"%09d\n" % i)
            done.append(created(r, 10))
        eq(offset_of(e, done[-1]), 10, "HEAD of a finished upload")
        r = create(e, 10, "live.bin")
        live = created(r, 0)
        eq(ledger_uploads(e), ([live], sorted(done)),
           "uploads in progress, and finished ones kept")
        expect(delete(e, done[-1]), 204, "deleted")
        eq(ledger_uploads(e)[1], sorted(done[:-1]),
           "finished ones kept after a DELETE of one")
        eq(reserved(e), 10, "reserved: the upload in progress")
        wait_expiry(r)
        expect(head(e, done[0]), 404, "not_found")
        eq(ledger_uploads(e)[0], [], "uploads in progress after the expiry")
        # the next completion sweeps them (the files ledger at most every
        # ten minutes: its last sweep is made older here)
        stamp = os.path.join(e.state, "uploads", "alice", "done", ".swept")
        if e.schema is None:
            check(os.path.exists(stamp), "no sweep stamp %s" % stamp)
            os.utime(stamp, (0, 0))
        r = create(e, 10, "g.bin", body=b"g" * 10)
        fresh = created(r, 10)
        eq(ledger_uploads(e), ([], [fresh]),
           "the ledger after a completion that followed the expiry")
        wait_expiry(r)
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount's exit status (%r)" % err)
        eq(ledger_uploads(e), ([], []), "the ledger after recount")
        eq(sorted(e.stored()), ["f0.bin", "f1.bin", "f2.bin", "f3.bin",
                                "f4.bin", "g.bin"], "files")
        eq(e.usage(), 60, "usage")


@test("tus: a PATCH cut short keeps what arrived, made durable; the "
      "upload resumes from HEAD's offset")
def _():
    with Env() as e:
        data = os.urandom(256 * 1024)
        uid = created(create(e, len(data)))
        c, req = e.start("PATCH", url(uid), length=len(data),
                         content_type=OCTETS,
                         headers={"Tus-Resumable": TUS, "Upload-Offset": "0"})
        c.write(data[:100000])
        r = c.finish(req)       # the body ends early: EOF
        expect(r, 400, "incomplete_body")
        off = offset_of(e, uid)
        eq(off, 100000, "offset after a PATCH cut short")
        expect(patch(e, uid, off, data[off:]), 204, "stored")
        eq(e.stored(), {"f.bin": data}, "files")
        expect(delete(e, uid), 204, "deleted")


@test("tus: kill -9 mid-PATCH: no byte acknowledged that is not durable, "
      "what was made durable kept, the upload's lock released, the upload "
      "resumable")
def _():
    with Env(quota="alice 20M\n") as e:
        data = os.urandom(12 * 1024 * 1024)
        uid = created(create(e, len(data)))
        expect(patch(e, uid, 0, data[:1000]), 204, "appended")
        c, req = e.start("PATCH", url(uid), length=len(data) - 1000,
                         content_type=OCTETS,
                         headers={"Tus-Resumable": TUS,
                                  "Upload-Offset": "1000"})
        c.write(data[1000:10 * 1024 * 1024])
        # a long PATCH moves the offset on its way (every 8 MiB)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and offset_of(e, uid) == 1000:
            time.sleep(0.05)
        c.kill()
        if harness.MODE != "fcgi":
            c.p.wait(10)
        off = offset_of(e, uid)
        eq(off, 1000 + 8 * 1024 * 1024, "offset after kill -9")
        with open(e.tmp_files(e.upload)[0], "rb") as f:
            check(f.read(off) == data[:off], "the acknowledged bytes are "
                  "not on the disk")
        eq(reserved(e), len(data), "reserved after kill -9")
        expect(patch(e, uid, off, data[off:]), 204, "stored")
        eq(e.stored(), {"f.bin": data}, "files")
        eq(e.usage(), len(data), "usage")
        expect(delete(e, uid), 204, "deleted")


@test("tus: two PATCHes of one upload at once: one proceeds, the other "
      "gets 409 at once; bytes never interleave")
def _():
    with Env() as e:
        data = os.urandom(200000)
        uid = created(create(e, len(data)))
        c, req = e.start("PATCH", url(uid), length=len(data),
                         content_type=OCTETS,
                         headers={"Tus-Resumable": TUS, "Upload-Offset": "0"})
        c.write(data[:50000])
        # its bytes reach the file: it holds the upload's lock
        tmp = e.tmp_files(e.upload)[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(tmp, "rb") as f:
                if f.read(4096) == data[:4096]:
                    break
            time.sleep(0.02)
        r = patch(e, uid, 0, b"z" * 100)
        expect(r, 409, "conflict")
        eq(harness.log_of(r)["reason"], "conflict", "log reason")
        c.write(data[50000:])
        expect(c.finish(req), 204, "stored")
        eq(e.stored(), {"f.bin": data}, "files")
        expect(delete(e, uid), 204, "deleted")


@test("tus: with resumable = no, a tus creation is an ordinary POST, "
      "PATCH gets 405 and /.resumable/ is an ordinary path")
def _():
    with Env(conf={"resumable": "no"}) as e:
        r = create(e, 10)
        expect(r, 415, "unsupported_media_type")
        check(r.header("Tus-Resumable") is None, "Tus-Resumable")
        expect(e.run("PATCH", url("0" * 32), body=b"x", content_type=OCTETS,
                     headers={"Tus-Resumable": TUS}), 405,
               "method_not_allowed")
        expect(e.run("PUT", url("0" * 32), body=b"x"), 400, "bad_request")
        check(e.run("OPTIONS").header("Tus-Version") is None,
              "Tus-Version in OPTIONS with resumable = no")


@test("tus: upgate-quota show and report count an upload's lease in "
      "reserved, and show lists it")
def _():
    with Env(quota="alice 1000\n") as e:
        uid = created(create(e, 400, "movie.bin"))
        expect(patch(e, uid, 0, b"x" * 100), 204, "appended")
        rc, out, err = e.quota_tool("report", "--json")
        eq(rc, 0, "report's exit status (%r)" % err)
        users = {u["user"]: u for u in json.loads(out)["users"]}
        eq(users["alice"]["reserved"], 400, "report: reserved")
        rc, out, err = e.quota_tool("show", "alice")
        eq(rc, 0, "show's exit status (%r)" % err)
        check(re.search(r"^reserved: 400 bytes$", out, re.M),
              "show: reserved 400 in %r" % out)
        check(uid in out and "movie.bin" in out and "100" in out,
              "show: the upload listed in %r" % out)
        expect(delete(e, uid), 204, "deleted")


@test("tus: the PATCH that completes an upload runs notify_command for "
      "the threshold it crosses; with per_user_dirs = no the file is "
      "recorded as the user's")
def _():
    with Env(quota="alice 1000\n", conf={"per_user_dirs": "no"}) as e:
        calls = os.path.join(e.root, "calls")
        script = os.path.join(e.root, "notify")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho \"$UPGATE_USER $UPGATE_USED "
                    "$UPGATE_THRESHOLD\" >> %s\n" % calls)
        os.chmod(script, 0o755)
        e.conf["notify_command"] = script
        e.write_conf()
        uid = created(create(e, 850, "big.bin"))
        expect(patch(e, uid, 0, b"x" * 400), 204, "appended")
        check(not os.path.exists(calls), "notify_command ran before the "
              "upload completed")
        r = patch(e, uid, 400, b"x" * 450)
        expect(r, 204, "stored")
        eq(r.header("X-Quota-Warning"), "80", "X-Quota-Warning")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not os.path.exists(calls):
            time.sleep(0.05)
        with open(calls) as f:
            eq(f.read(), "alice 850 80\n", "notify_command's call")
        eq(e.stored(None), {"big.bin": b"x" * 850}, "files in upload_dir")
        eq(e.record("big.bin"), ("alice", 850), "record")
        expect(delete(e, uid), 204, "deleted")
