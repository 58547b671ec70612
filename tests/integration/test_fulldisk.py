# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Decisions rows 10 and 14: disk_full, simulated with min_free_space and
real on a small tmpfs (root only)."""

import os
import subprocess
import sys
import time

from harness import (Env, KiB, MiB, check, eq, expect, expect_quota_headers,
                     expect_refusal_before_body, fail, log_of, skip, test)


def _disk_full_body(r, required, available=None, tol=0, retry=3600,
                    path=None):
    w = r.what()
    eq(r.header("Retry-After"), str(retry), "%s: Retry-After" % w)
    j = r.json()
    eq(j.get("retry_after"), retry, "%s: retry_after" % w)
    d = j.get("details")
    check(isinstance(d, dict), "%s: no details object: %r" % (w, j))
    if required is not None:
        eq(d.get("required_space"), required, "%s: details.required_space"
           % w)
    av = d.get("available_space")
    check(isinstance(av, int) and av >= 0, "%s: details.available_space %r"
          % (w, av))
    if available is not None:
        check(abs(av - available) <= tol, "%s: details.available_space: "
              "expected %d (+-%d), got %d" % (w, available, tol, av))
    eq(d.get("shortage"), d.get("required_space") - av,
       "%s: details.shortage = required - available" % w)
    if path is None:
        check("storage_path" not in d, "%s: storage_path shown without "
              "expose_paths: %r" % (w, d))
    else:
        eq((d.get("storage_path") or "").rstrip("/"), path.rstrip("/"),
           "%s: details.storage_path" % w)
    return j


@test("row10: length > free - min_free_space (100%) -> 507 disk_full")
def _():
    with Env(quota="alice 1G\n", conf={"min_free_space": "100%"}) as e:
        r = e.run("PUT", "/a.bin", body=b"x" * 1000)
        expect(r, 507, "disk_full")
        expect_refusal_before_body(r)
        expect_quota_headers(r, 0, 1 << 30)
        _disk_full_body(r, 1000, 0)
        check(r.header("Link") is None, "Link header on disk_full")
        lg = log_of(r)
        eq(lg["size"], "1000", "log size")
        check(not e.stored(), "stored")
        eq(e.usage(), 0, "usage")
        e.assert_clean()


@test("row10: retry_after and expose_paths shape the disk_full body")
def _():
    with Env(conf={"min_free_space": "1T", "retry_after": "120",
                   "expose_paths": "yes", "create_parents": "no"}) as e:
        os.makedirs(e.path("alice", "sub"))
        r = e.run("PUT", "/sub/a.bin", body=b"x" * 10)
        expect(r, 507, "disk_full")
        _disk_full_body(r, 10, 0, retry=120,
                        path=os.path.join(e.upload, "alice", "sub"))


@test("row10: an empty body is never refused for space")
def _():
    with Env(quota="alice 0\n", conf={"min_free_space": "100%"}) as e:
        r = e.run("PUT", "/empty", body=b"")
        expect(r, 201, "stored")
        eq(e.stored(), {"empty": b""}, "files")


# ------------------------------------------------------------ real tmpfs

class Tmpfs:
    """upload_dir on a fresh tmpfs of size; state_dir inside it."""

    def __init__(self, size="2m", **conf):
        if os.geteuid() != 0:
            sys.stderr.write("\n*** SKIP: real full-disk tests need root "
                             "(mount -t tmpfs) ***\n")
            skip("not root: cannot mount a tmpfs (SKIPPED real full disk)")
        self.e = Env(write=False)
        self.mnt = self.e.upload      # what _umount unmounts
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                            "tmpfs", self.e.upload],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.e.cleanup()
            skip("mount -t tmpfs failed: %s" % p.stdout.decode().strip())
        self.e.conf.update(conf)
        self.e.write_conf()

    def __enter__(self):
        return self.e

    def __exit__(self, etype, *exc):
        try:
            if etype is None:
                self.e.assert_clean("at the end of the test: ")
                self.e.fcgi_stop(check=True)
        finally:
            self._umount()
        return False

    def _umount(self):
        self.e.fcgi_stop(check=False)   # --fcgi: no responder on the mount
        for args in (["umount", self.mnt], ["umount", "-l", self.mnt]):
            if subprocess.run(args, stderr=subprocess.DEVNULL).returncode \
                    == 0:
                break
        self.e.cleanup()


def _free(path):
    s = os.statvfs(path)
    return s.f_bavail * s.f_frsize


@test("tmpfs: announced length > free space -> 507 disk_full before the "
      "body", slow=True)
def _():
    with Tmpfs() as e:
        expect(e.run("GET"), 200)          # creates state_dir
        free = _free(e.upload)
        r = e.run("PUT", "/big.bin", body=os.urandom(3 * MiB))
        expect(r, 507, "disk_full")
        expect_refusal_before_body(r)
        _disk_full_body(r, 3 * MiB, free, tol=64 * KiB)
        check(not e.stored(), "stored: %r" % list(e.stored()))
        eq(e.usage(), 0, "usage")
        e.assert_clean()
        check(_free(e.upload) >= free - 16 * KiB, "space not given back: "
              "free %d before, %d after" % (free, _free(e.upload)))


@test("tmpfs: ENOSPC while writing an unknown-length body -> 507 disk_full",
      slow=True)
def _():
    with Tmpfs(allow_unknown_length="yes") as e:
        expect(e.run("PUT", "/keep.bin", body=b"k" * (100 * KiB)), 201,
               "stored")
        free = _free(e.upload)
        body = os.urandom(3 * MiB)
        r = e.run("PUT", "/big.bin",
                  body=(body[i:i + 64 * KiB]
                        for i in range(0, len(body), 64 * KiB)),
                  length=None)
        expect(r, 507, "disk_full")
        j = _disk_full_body(r, None)
        check(0 < j["details"]["required_space"] <= 3 * MiB,
              "required_space should be the bytes received so far, got %r"
              % j["details"]["required_space"])
        eq(sorted(e.stored()), ["keep.bin"], "files after ENOSPC")
        eq(e.usage(), 100 * KiB, "usage unchanged")
        e.assert_clean()
        check(_free(e.upload) >= free - 16 * KiB, "space not given back: "
              "free %d before, %d after" % (free, _free(e.upload)))
        # the disk still works afterwards
        expect(e.run("PUT", "/small.bin", body=b"s" * 1000), 201, "stored")


@test("tmpfs: ENOSPC while replacing keeps the old file", slow=True)
def _():
    with Tmpfs(allow_unknown_length="yes") as e:
        old = os.urandom(200 * KiB)
        expect(e.run("PUT", "/f.bin", body=old), 201, "stored")
        r = e.run("PUT", "/f.bin", body=[os.urandom(MiB)] * 3, length=None)
        expect(r, 507, "disk_full")
        eq(e.stored(), {"f.bin": old}, "old file kept")
        eq(e.usage(), 200 * KiB, "usage")
        e.assert_clean()


@test("tmpfs: min_free_space = 50% counts against the real free space",
      slow=True)
def _():
    with Tmpfs(min_free_space="50%") as e:
        expect(e.run("GET"), 200)
        s = os.statvfs(e.upload)
        avail = s.f_bavail * s.f_frsize - (s.f_blocks * s.f_frsize) // 2
        r = e.run("PUT", "/a.bin", body=b"x" * (avail + 100 * KiB))
        expect(r, 507, "disk_full")
        _disk_full_body(r, avail + 100 * KiB, avail, tol=64 * KiB)
        expect(e.run("PUT", "/b.bin", body=b"x" * (avail - 100 * KiB)), 201,
               "stored")
        e.assert_clean()


@test("tmpfs: fallocate reserves space: the second of two uploads gets "
      "507 before its body", slow=True)
def _():
    with Tmpfs() as e:
        expect(e.run("GET"), 200)
        n = 1200 * KiB
        a, areq = e.start("PUT", "/a.bin", length=n)
        try:
            deadline = time.monotonic() + 10
            tmp = []
            while time.monotonic() < deadline:
                tmp = e.tmp_files(e.upload)
                if tmp:
                    try:
                        if os.stat(tmp[0]).st_blocks * 512 >= n:
                            break
                    except FileNotFoundError:
                        pass
                time.sleep(0.02)
            else:
                fail("first upload: no fallocated .upgate-tmp- file of %d "
                     "bytes within 10 s (found %r)" % (n, tmp))
            b, breq = e.start("PUT", "/b.bin", length=n)
            check(b.wait_stdout_eof(10), "second upload: no complete answer "
                  "before its body was sent")
            rb = b.finish(breq)
            expect(rb, 507, "disk_full")
            expect_refusal_before_body(rb)
            body = os.urandom(n)
            a.write(body)
            ra = a.finish(areq)
        finally:
            a.kill()
        expect(ra, 201, "stored")
        eq(e.stored(), {"a.bin": body}, "files")
        e.assert_clean()
