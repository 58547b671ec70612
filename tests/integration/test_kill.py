# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Accounting-upgate(8), Decisions: reservations while an upload runs, a handler killed with
SIGKILL, the ledger lock held (row 15), and the answer before the body."""

import os
import threading
import time

from harness import (Env, KiB, MiB, cgi_only, check, eq, expect,
                     expect_quota_obj, expect_refusal_before_body, log_of,
                     test)


def _wait_tmp(e, top, timeout=10, min_bytes=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t in e.tmp_files(top):
            try:
                if os.stat(t).st_size >= min_bytes:
                    return t
            except FileNotFoundError:
                pass
        time.sleep(0.02)
    return None


@test("kill -9 mid-upload: no partial file; next request reclaims the "
      "reservation and the temporary file")
def _():
    with Env(quota="alice 10M\n") as e:
        n = 2 * MiB
        body = os.urandom(n)
        cgi, req = e.start("PUT", "/big.bin", length=n)
        try:
            cgi.write(body[:n // 2])
            tmp = _wait_tmp(e, e.upload)
            check(tmp, "no .upgate-tmp- file while the upload runs")
            check(e.reservations(), "no reservation in state_dir/resv while "
                  "the upload runs")
            time.sleep(0.2)
        finally:
            cgi.kill()
        cgi.p.wait(10)
        check(not os.path.exists(e.path("alice", "big.bin")),
              "a file under the final name after SIGKILL")
        r = e.run("GET")
        expect(r, 200)
        expect_quota_obj(r.json().get("quota"), 10 * MiB, 0, 0, r.what())
        check(not os.path.exists(tmp), "temporary file %s still there after "
              "the next request of the user" % tmp)
        e.assert_clean("after the next GET: ")
        eq(e.usage(), 0, "usage")
        # and the user can upload again
        expect(e.run("PUT", "/big.bin", body=body), 201, "stored")
        eq(e.stored(), {"big.bin": body}, "files")


@test("kill -9 mid-upload with create_parents: the next request of the "
      "user reclaims the folders the upload made")
def _():
    with Env(quota="alice 10M\n", conf={"create_parents": "yes"}) as e:
        expect(e.run("PUT", "/a/kept.bin", body=b"k"), 201, "stored")
        cgi, req = e.start("PUT", "/a/b/c/f.bin", length=MiB)
        try:
            cgi.write(b"f" * (MiB // 2))
            check(_wait_tmp(e, e.upload), "no temporary file")
            check(os.path.isdir(e.path("alice", "a/b/c")), "no a/b/c")
        finally:
            cgi.kill()
        cgi.p.wait(10)
        check(os.path.isdir(e.path("alice", "a/b/c")), "a/b/c went with "
              "the handler")
        expect(e.run("GET"), 200)
        # b and c were the killed upload's; a was there before it
        eq(sorted(os.listdir(e.path("alice", "a"))), ["kept.bin"],
           "folder a after the next request")
        e.assert_clean("after the next GET: ")
        eq(e.usage(), 1, "usage")
        expect(e.run("PUT", "/a/b/c/f.bin", body=b"again"), 201, "stored")


@test("kill -9 of a replacing upload keeps the old file and usage")
def _():
    with Env(quota="alice 10M\n") as e:
        expect(e.run("PUT", "/f.bin", body=b"old" * 1000), 201, "stored")
        cgi, req = e.start("PUT", "/f.bin", length=MiB)
        try:
            cgi.write(b"n" * (MiB // 2))
            check(_wait_tmp(e, e.upload), "no temporary file")
        finally:
            cgi.kill()
        cgi.p.wait(10)
        expect(e.run("PUT", "/other", body=b"x"), 201, "stored")
        eq(e.stored(), {"f.bin": b"old" * 1000, "other": b"x"}, "files")
        eq(e.usage(), 3001, "usage")
        e.assert_clean()


@test("a running upload's reservation counts against the quota")
def _():
    with Env(quota="alice 1000\n") as e:
        cgi, req = e.start("PUT", "/a", length=600)
        try:
            cgi.write(b"a" * 100)
            check(_wait_tmp(e, e.upload), "no temporary file")
            r = e.run("GET")
            expect(r, 200)
            expect_quota_obj(r.json()["quota"], 1000, 0, 600, "GET during "
                             "an upload of 600")
            r = e.run("PUT", "/b", body=b"b" * 500)
            expect(r, 507, "quota_exceeded")
            expect_refusal_before_body(r)
            q = r.json()["quota"]
            eq((q["reserved"], q["available"]), (600, 400), "quota while a "
               "600-byte upload runs")
            expect(e.run("PUT", "/c", body=b"c" * 400), 201, "stored")
            cgi.write(b"a" * 500)
            ra = cgi.finish(req)
        finally:
            cgi.kill()
        expect(ra, 201, "stored")
        eq(e.usage(), 1000, "usage")
        e.assert_clean()


@test("row15: ledger lock held elsewhere -> 503 busy, Retry-After: 1, "
      "after ~5 s", slow=True)
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 10), 201, "stored")
        fd = e.hold_lock()
        try:
            out = {}

            def one(key, *a, **kw):
                out[key] = e.run(*a, **kw)
            ts = [threading.Thread(target=one, args=("put", "PUT", "/b"),
                                   kwargs={"body": b"y" * 20}),
                  threading.Thread(target=one, args=("get", "GET")),
                  threading.Thread(target=one, args=("del", "DELETE", "/a"))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
        finally:
            os.close(fd)
        for k in ("put", "get", "del"):
            r = out.get(k)
            check(r is not None, "%s did not finish" % k)
            expect(r, 503, "busy")
            eq(r.header("Retry-After"), "1", "%s: Retry-After" % r.what())
            check(4.5 <= r.elapsed <= 15, "%s: answered after %.1f s, "
                  "expected about 5 s" % (r.what(), r.elapsed))
            check(int(log_of(r)["ms"]) >= 4500, "%s: log ms=%s for a 5 s "
                  "wait" % (r.what(), log_of(r)["ms"]))
        eq(e.stored(), {"a": b"x" * 10}, "files after 503s")
        eq(e.usage(), 10, "usage")
        e.assert_clean()
        expect(e.run("PUT", "/b", body=b"y" * 20), 201, "stored")


@test("rows 1-11: the refusal is written and stdout closed before any "
      "body byte is sent")
def _():
    with Env(quota="alice 100\n") as e:
        cases = [("PUT", "/a", {"length": 1000}, 507),
                 ("PATCH", "/a", {"length": 1000}, 405),
                 ("PUT", "/../a", {"length": 10}, 400),
                 ("PUT", "/a", {"length": 10, "user": "../x"}, 403)]
        for m, p, kw, st in cases:
            cgi, req = e.start(m, p, **kw)
            try:
                got = cgi.wait_stdout_eof(10)
                early = bytes(cgi.out)
            finally:
                cgi.close_stdin()
            check(got, "%s %s: no complete answer (stdout not closed) while "
                  "the body is withheld; got so far %r" % (m, p, early))
            r = cgi.finish(req)
            eq(r.status, st, "%s %s: status" % (m, p))
            expect_refusal_before_body(r)


@test("after a refusal the rest of the body is read and discarded")
@cgi_only("Apache mod_cgi pushes the whole body into the CGI; for the "
          "responder see 'fcgi: a refused body sent whole is drained'")
def _():
    with Env(quota="alice 100\n") as e:
        body = os.urandom(4 * MiB)
        r = e.run("PUT", "/a", body=[body[i:i + 256 * KiB]
                                     for i in range(0, len(body),
                                                    256 * KiB)],
                  length=len(body))
        expect(r, 507, "quota_exceeded")
        check(not r.epipe and r.written == len(body),
              "the program stopped reading stdin after its answer "
              "(wrote %d of %d bytes): Apache mod_cgi would lose the answer"
              % (r.written, len(body)))


@test("after a refusal the drain gives up after 10 s without data",
      slow=True)
@cgi_only("the CGI's own drain timer; the responder's drain is libfcgi's, "
          "see 'fcgi: an idle client after a refusal does not hold a "
          "worker'")
def _():
    with Env(quota="alice 100\n") as e:
        cgi, req = e.start("PUT", "/a", length=1000000)
        try:
            cgi.write(b"x" * 1000)
            check(cgi.wait_stdout_eof(10), "no answer")
            t0 = time.monotonic()
            cgi.p.wait(30)
            dt = time.monotonic() - t0
        except Exception:
            dt = None
        finally:
            cgi.kill()
        r = cgi.finish(req)
        check(dt is not None, "upgate.cgi still running 30 s after its "
              "answer with stdin open and idle")
        check(8 <= dt <= 14, "drain ended after %.1f s, expected ~10 s" % dt)
        eq(r.status, 507, "status")
