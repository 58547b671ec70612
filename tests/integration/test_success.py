# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Requests and upgate(8), Responses success cases: PUT, replace, GET, HEAD, DELETE, with
the files on disk, the ledger and the log afterwards."""

import os
import stat
import time

from harness import (Env, MiB, check, eq, expect, expect_no_quota_headers,
                     expect_quota_headers, expect_quota_obj, log_of, test)


@test("PUT new file -> 201, Location, JSON file + quota, ledger, log")
def _():
    with Env(quota="alice 1M\n") as e:
        body = os.urandom(12345)
        r = e.run("PUT", "/report.pdf", body=body)
        expect(r, 201, "stored")
        w = r.what()
        eq(r.media_type(), "application/json", "%s: Content-Type" % w)
        eq(r.header("Location"), "/upload/report.pdf", "%s: Location" % w)
        j = r.json()
        eq(j.get("status"), 201, "%s: status" % w)
        f = j.get("file") or {}
        eq(f.get("name"), "report.pdf", "%s: file.name" % w)
        eq(f.get("stored_as"), "report.pdf", "%s: file.stored_as" % w)
        eq(f.get("size"), 12345, "%s: file.size" % w)
        expect_quota_obj(j.get("quota"), MiB, 12345, 0, w)
        expect_quota_headers(r, 12345, MiB)
        check(r.header("X-Quota-Warning") is None, "%s: X-Quota-Warning at "
              "1%%" % w)
        eq(e.stored(), {"report.pdf": body}, "files on disk")
        eq(e.usage(), 12345, "ledger usage")
        eq(e.record("alice/report.pdf"), ("alice", 12345), "ledger record")
        e.assert_clean()
        lg = log_of(r)
        eq(lg["size"], "12345", "log size")
        eq(lg["limit"], str(MiB), "log limit")
        check(lg["used"] in ("0", "12345"), "log used %r" % lg["used"])
        mode = stat.S_IMODE(os.stat(e.state).st_mode)
        eq(oct(mode), oct(0o700), "state_dir mode")


@test("PUT into a subfolder: stored_as relative to the user's folder")
def _():
    with Env() as e:
        os.makedirs(e.path("alice", "docs/2024"))
        r = e.run("PUT", "/docs/2024/a.txt", body=b"hello")
        expect(r, 201, "stored")
        j = r.json()
        eq(j["file"]["stored_as"], "docs/2024/a.txt", "stored_as")
        eq(r.header("Location"), "/upload/docs/2024/a.txt", "Location")
        eq(e.stored(), {"docs/2024/a.txt": b"hello"}, "files")
        eq(e.record("alice/docs/2024/a.txt"), ("alice", 5), "record")


@test("PUT without a quota: quota fields null, no X-Quota-*, limit=unlimited")
def _():
    with Env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 201, "stored")
        expect_quota_obj(r.json().get("quota"), None, 5, 0, r.what())
        expect_no_quota_headers(r)
        eq(log_of(r)["limit"], "unlimited", "log limit")
        eq(e.usage(), 5, "usage")


@test("PUT for an 'unlimited' user and a '*' user")
def _():
    with Env(quota="carol unlimited\n* 1000\n") as e:
        r = e.run("PUT", "/a.txt", body=b"hello", user="carol")
        expect(r, 201, "stored", user="carol")
        expect_no_quota_headers(r)
        expect_quota_obj(r.json()["quota"], None, 5, 0, r.what())
        r = e.run("PUT", "/a.txt", body=b"hello", user="dave")
        expect(r, 201, "stored", user="dave")
        expect_quota_headers(r, 5, 1000)
        expect_quota_obj(r.json()["quota"], 1000, 5, 0, r.what())


@test("PUT an empty body -> 201 size 0")
def _():
    with Env(quota="alice 0\n") as e:
        r = e.run("PUT", "/empty", body=b"")
        expect(r, 201, "stored")
        eq(r.json()["file"]["size"], 0, "size")
        eq(e.stored(), {"empty": b""}, "files")
        eq(e.usage(), 0, "usage")
        eq(e.record("alice/empty"), ("alice", 0), "record")


@test("PUT 8 MiB body in odd chunks is stored byte for byte")
def _():
    with Env() as e:
        body = os.urandom(8 * MiB + 7)

        def chunks():
            i, n = 0, 1
            while i < len(body):
                yield body[i:i + n]
                i += n
                n = n * 3 + 1 if n < 300000 else 4093
        r = e.run("PUT", "/big.bin", body=chunks(), length=len(body))
        expect(r, 201, "stored")
        got = e.stored()
        check(got.get("big.bin") == body, "stored content differs (len %s)"
              % len(got.get("big.bin", b"")))
        eq(e.usage(), len(body), "usage")
        e.assert_clean()


@test("PUT with a slowly trickled body")
def _():
    with Env() as e:
        def slow():
            for i in range(5):
                time.sleep(0.2)
                yield b"%d" % i * 10
        r = e.run("PUT", "/slow.txt", body=slow(), length=50)
        expect(r, 201, "stored")
        eq(e.stored(), {"slow.txt": b"0" * 10 + b"1" * 10 + b"2" * 10 +
                        b"3" * 10 + b"4" * 10}, "files")


@test("PUT replace -> 204, no body, ledger moved by the difference")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a.txt", body=b"x" * 300), 201, "stored")
        r = e.run("PUT", "/a.txt", body=b"y" * 100)
        expect(r, 204, "replaced")
        expect_quota_headers(r, 100, 1000)
        eq(e.stored(), {"a.txt": b"y" * 100}, "files")
        eq(e.usage(), 100, "usage after shrinking")
        eq(e.record("alice/a.txt"), ("alice", 100), "record")
        r = e.run("PUT", "/a.txt", body=b"z" * 700)
        expect(r, 204, "replaced")
        eq(e.usage(), 700, "usage after growing")
        eq(log_of(r)["reason"], "replaced", "log reason")
        e.assert_clean()


@test("GET -> 200 JSON user + quota, X-Quota-*, not logged")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a.txt", body=b"x" * 250), 201, "stored")
        r = e.run("GET")
        expect(r, 200)
        j = r.json()
        eq(j.get("status"), 200, "status")
        eq(j.get("user"), "alice", "user")
        expect_quota_obj(j.get("quota"), 1000, 250, 0, r.what())
        eq(j["quota"]["percentage_used"], 25.0, "percentage_used")
        expect_quota_headers(r, 250, 1000)
        # a path names a stored file, held to its rules (upgate(8), WebDAV)
        r = e.run("GET", "/../../ignored")
        expect(r, 400, "bad_request")


@test("GET for a user without quota: limit/available/percentage null")
def _():
    with Env() as e:
        r = e.run("GET")
        expect(r, 200)
        j = r.json()
        eq(j.get("user"), "alice", "user")
        expect_quota_obj(j.get("quota"), None, 0, 0, r.what())
        expect_no_quota_headers(r)


@test("GET with a limit of 0: percentage_used 100")
def _():
    with Env(quota="alice 0\n") as e:
        r = e.run("GET")
        expect(r, 200)
        q = r.json()["quota"]
        eq(q.get("percentage_used"), 100, "percentage_used")
        eq(q.get("available"), 0, "available")
        expect_quota_headers(r, 0, 0)


@test("HEAD -> 200, headers, no body, not logged")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a.txt", body=b"x" * 10), 201, "stored")
        r = e.run("HEAD")
        expect(r, 200)
        expect_quota_headers(r, 10, 1000)


@test("DELETE -> 204, file gone, ledger lowered, logged 'deleted'")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a.txt", body=b"x" * 300), 201, "stored")
        expect(e.run("PUT", "/b.txt", body=b"x" * 200), 201, "stored")
        r = e.run("DELETE", "/a.txt")
        expect(r, 204, "deleted")
        expect_quota_headers(r, 200, 1000)
        eq(e.stored(), {"b.txt": b"x" * 200}, "files")
        eq(e.usage(), 200, "usage")
        eq(e.record("alice/a.txt"), None, "record of the deleted file")
        lg = log_of(r)
        eq(lg["reason"], "deleted", "log reason")
        eq(lg["limit"], "1000", "log limit")


@test("DELETE in a subfolder keeps the folder and other files")
def _():
    with Env(conf={"create_parents": "yes"}) as e:
        expect(e.run("PUT", "/d/a", body=b"1"), 201, "stored")
        expect(e.run("PUT", "/d/b", body=b"22"), 201, "stored")
        expect(e.run("DELETE", "/d/a"), 204, "deleted")
        eq(e.stored(), {"d/b": b"22"}, "files")
        eq(e.usage(), 2, "usage")


@test("X-Quota-Warning: none below 80 %, 80 at 80 %, 90 at 90 %")
def _():
    with Env(quota="alice 1000\n") as e:
        r = e.run("PUT", "/a", body=b"x" * 799)
        expect(r, 201, "stored")
        check(r.header("X-Quota-Warning") is None,
              "X-Quota-Warning at 79.9 %%: %r" % r.header("X-Quota-Warning"))
        r = e.run("PUT", "/b", body=b"x")
        expect(r, 201, "stored")
        eq(r.header("X-Quota-Warning"), "80", "X-Quota-Warning at 80 %")
        r = e.run("PUT", "/c", body=b"x" * 99)
        expect(r, 201, "stored")
        eq(r.header("X-Quota-Warning"), "80", "X-Quota-Warning at 89.9 %")
        r = e.run("PUT", "/d", body=b"x" * 1)
        expect(r, 201, "stored")
        eq(r.header("X-Quota-Warning"), "90", "X-Quota-Warning at 90 %")
        r = e.run("PUT", "/d", body=b"x" * 101)
        expect(r, 204, "replaced")
        eq(r.header("X-Quota-Warning"), "90", "X-Quota-Warning at 100 %")
        expect_quota_headers(r, 1000, 1000)


@test("state_dir outside upload_dir holds the ledger")
def _():
    root_state = None
    with Env(write=False) as e:
        root_state = os.path.join(e.root, "state")
        e.state = root_state
        e.conf["state_dir"] = root_state
        e.write_conf()
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 201, "stored")
        eq(e.usage(), 5, "usage in the outside state_dir")
        check(not os.path.exists(os.path.join(e.upload, ".upgate")),
              "default state_dir created although state_dir is set")
        eq(oct(stat.S_IMODE(os.stat(root_state).st_mode)), oct(0o700),
           "state_dir mode")


# ------------------------------------------------------- per_user_dirs = no

@test("per_user_dirs = no: files in upload_dir, ownership enforced (403)")
def _():
    with Env(quota="alice 1000\nbob 1000\n",
             conf={"per_user_dirs": "no"}) as e:
        r = e.run("PUT", "/a.txt", body=b"alice!")
        expect(r, 201, "stored")
        eq(r.json()["file"]["stored_as"], "a.txt", "stored_as")
        eq(e.stored(None), {"a.txt": b"alice!"}, "upload_dir files")
        eq(e.record("a.txt"), ("alice", 6), "record")
        r = e.run("PUT", "/a.txt", body=b"bob", user="bob")
        expect(r, 403, "forbidden", user="bob")
        r = e.run("DELETE", "/a.txt", user="bob")
        expect(r, 403, "forbidden", user="bob")
        eq(e.stored(None), {"a.txt": b"alice!"}, "files after bob")
        # a file nobody stored through upgate
        with open(os.path.join(e.upload, "manual.txt"), "wb") as f:
            f.write(b"manual")
        expect(e.run("PUT", "/manual.txt", body=b"x"), 403, "forbidden")
        expect(e.run("DELETE", "/manual.txt"), 403, "forbidden")
        r = e.run("PUT", "/b.txt", body=b"bob", user="bob")
        expect(r, 201, "stored", user="bob")
        eq(e.usage("alice"), 6, "alice usage")
        eq(e.usage("bob"), 3, "bob usage")
        expect(e.run("PUT", "/a.txt", body=b"alice2"), 204, "replaced")
        expect(e.run("DELETE", "/a.txt"), 204, "deleted")
        eq(e.usage("alice"), 0, "alice usage after delete")
        expect(e.run("PUT", "/.upgate/usage/alice", body=b"0\n"), 400,
               "bad_request")
        eq(e.usage("bob"), 3, "bob usage")
        e.assert_clean()
