# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), LOCKS: locks are as narrow as the guarantees.  Each test
here fails if a lock is missing, and also if one is kept too broadly: a
request of one user never waits for another user, nor for a client that
does not read its answer, nor for a search that grows with the folder."""

import os
import subprocess
import threading
import time

from harness import (BUILD, Env, KiB, MiB, TMP_PREFIX, check, eq, expect,
                     fail, test)
import harness
from test_multipart import CT, form, fpart

QUOTAS = "alice %d\nbob %d\n" % (10 * MiB, 10 * MiB)


@test("locks: alice's lock held: bob stores at once, alice gets 503 busy")
def _():
    with Env(quota=QUOTAS) as e:
        fd = e.hold_lock(user="alice")
        try:
            # a 201, not row 15's 503: bob never waited on alice's lock
            r = e.run("PUT", "/b.txt", user="bob", body=b"bob")
            expect(r, 201, "stored", user="bob")
            r = e.run("GET", user="bob")
            expect(r, 200, user="bob")
            r = e.run("PUT", "/a.txt", body=b"alice")
            expect(r, 503, "busy")
            eq(r.header("Retry-After"), "1", "Retry-After")
        finally:
            os.close(fd)
        r = e.run("PUT", "/a.txt", body=b"alice")
        expect(r, 201, "stored")
        eq(e.usage("alice"), 5, "alice's usage")
        eq(e.usage("bob"), 3, "bob's usage")
        e.assert_clean()


@test("locks: the operator's lock (recount) holds every user off: 503")
def _():
    with Env(quota=QUOTAS) as e:
        fd = e.hold_lock()
        try:
            expect(e.run("PUT", "/b.txt", user="bob", body=b"b"), 503,
                   "busy", user="bob")
        finally:
            os.close(fd)
        expect(e.run("PUT", "/b.txt", user="bob", body=b"b"), 201,
               "stored", user="bob")


@test("locks: per_user_dirs = no: a file's lock holds off that file only")
def _():
    with Env(quota=QUOTAS, conf={"per_user_dirs": "no"}) as e:
        fd = e.hold_lock(rel="x.txt")
        try:
            expect(e.run("PUT", "/x.txt", user="bob", body=b"b"), 503,
                   "busy", user="bob")
            expect(e.run("PUT", "/y.txt", user="bob", body=b"b"), 201,
                   "stored", user="bob")
        finally:
            os.close(fd)
        expect(e.run("PUT", "/x.txt", user="alice", body=b"a"), 201,
               "stored")
        expect(e.run("PUT", "/x.txt", user="bob", body=b"b"), 403,
               "forbidden", user="bob")


def _long_form(n):
    name = "n" * 200
    return form([fpart("f%d" % i, "%s-%d.bin" % (name, i), b"x")
                 for i in range(n)])


@test("locks: a client that does not read its answer delays nobody, "
      "not even its own user")
@harness.cgi_only("a CGI whose standard output nobody reads")
def _():
    with Env(quota=QUOTAS, conf={"max_files": 400}) as e:
        body = _long_form(400)      # an answer of about 200 KiB
        env = e.cgi_env("POST", content_type=CT, body=body)
        stuck = subprocess.Popen([os.path.join(BUILD, "upgate.cgi")],
                                 stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
        try:
            stuck.stdin.write(body)
            stuck.stdin.close()
            stuck.stdin = None
            # it stores, then blocks writing its answer into a full pipe
            deadline = time.monotonic() + 60

            def published():
                return [n for n in os.listdir(e.user_dir())
                        if not n.startswith(TMP_PREFIX)] \
                    if os.path.isdir(e.user_dir()) else []
            while len(published()) < 400 and time.monotonic() < deadline:
                time.sleep(0.05)
            eq(len(published()), 400, "files stored by the unread form")
            check(stuck.poll() is None, "the unread form's CGI exited "
                  "without blocking on its answer")
            expect(e.run("PUT", "/b.txt", user="bob", body=b"b"), 201,
                   "stored", user="bob")
            expect(e.run("PUT", "/a.txt", body=b"a"), 201, "stored")
            expect(e.run("GET"), 200)
        finally:
            out, err = stuck.communicate(timeout=60)
        check(out.startswith(b"Status: 201"), "unread form: %r"
              % out[:200])
        eq(e.usage(), 401, "usage")
        e.assert_clean()


@test("locks: a form of 100 parts named a into a folder of a-1 ... "
      "a-50000 gets a-50001 ... a-50100", slow=True)
def _():
    with Env(quota=QUOTAS) as e:
        d = e.user_dir()
        os.makedirs(d)
        for i in range(1, 50001):
            os.close(os.open(os.path.join(d, "a-%d" % i),
                             os.O_CREAT | os.O_WRONLY, 0o644))
        os.close(os.open(os.path.join(d, "a"), os.O_CREAT | os.O_WRONLY,
                         0o644))
        body = form([fpart("f", "a", b"%d" % i) for i in range(100)])
        t0 = time.monotonic()
        r = e.run("POST", body=body, content_type=CT)
        took = time.monotonic() - t0
        expect(r, 201, "stored")
        got = [f["stored_as"] for f in r.json()["files"]]
        eq(got, ["a-%d" % i for i in range(50001, 50101)], "names")
        print("# 100 parts into a folder of 50,001 names: %.2f s" % took)
        e.assert_clean()


@test("locks: 5 uploads of unknown length race for 1 MiB: the temporary "
      "files never hold more than the quota", slow=True)
def _():
    chunk, chunks = 64 * KiB, 16           # 1 MiB each
    with Env(quota="alice %d\n" % MiB,
             conf={"allow_unknown_length": "yes"}) as e:
        most = [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                total = 0
                for p in e.tmp_files():
                    try:
                        total += os.stat(p).st_size
                    except FileNotFoundError:
                        pass
                most[0] = max(most[0], total)
                time.sleep(0.005)

        def slow_body():
            for _ in range(chunks):
                time.sleep(0.02)
                yield os.urandom(chunk)

        w = threading.Thread(target=watch)
        w.start()
        results = [None] * 5

        def go(i):
            results[i] = e.run("PUT", "/u%d.bin" % i, length=None,
                               body=slow_body())

        ts = [threading.Thread(target=go, args=(i,)) for i in range(5)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        done.set()
        w.join()
        stored = 0
        for r in results:
            if r is None:
                fail("an upload did not finish")
            if r.status == 201:
                expect(r, 201, "stored")
                stored += 1
            else:
                expect(r, 507, "quota_exceeded")
        check(stored >= 1, "no upload was stored")
        check(most[0] <= MiB, "temporary files held %d bytes at once, "
              "more than the quota of %d" % (most[0], MiB))
        eq(e.usage(), e.disk_usage(), "ledger = disk")
        check(e.usage() <= MiB, "usage %d over the quota" % e.usage())
        e.assert_clean()
