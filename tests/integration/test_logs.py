# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""The request's log line (upgate(8), "Logs"): the method as sent and the
user whatever the row that refused; a 500 ends with cause= the failing
call and its errno name, or cause=config, so that an operator can tell a
broken disk from a broken configuration."""

import os
import subprocess

from harness import Env, check, eq, expect, log_of, skip, test

FORM = "multipart/form-data; boundary=XyZ"


def _form(name, data):
    return (b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
            b"filename=\"%s\"\r\n\r\n%s\r\n--XyZ--\r\n" % (name, data))


def expect_cause(r, want):
    """The 500's cause is want (a CALL:ERRNO or a prefix ending in ':')."""
    got = log_of(r)["cause"]
    ok = got.startswith(want) if want.endswith(":") else got == want
    check(ok, "%s: log cause: expected %r, got %r (%r)"
          % (r.what(), want, got, r.log_lines()))


@test("logs: LOCK and a lower-case method (405), a refused PROPFIND (404, "
      "and 405 with webdav = no): logged with the method as sent and the "
      "user")
def _():
    with Env() as e:
        for m in ("LOCK", "patch"):
            r = e.run(m, "/a.txt", body=b"<x/>")
            expect(r, 405, "method_not_allowed")
            eq(log_of(r)["method"], m, "log method")
            eq(log_of(r)["user"], "alice", "log user")
        # a refused PROPFIND is logged with its method too
        r = e.run("PROPFIND", "/a.txt", body=b"<x/>")
        expect(r, 404, "not_found")
        eq(log_of(r)["method"], "PROPFIND", "log method")
        eq(log_of(r)["user"], "alice", "log user")
    with Env(conf={"webdav": "no"}) as e:
        r = e.run("PROPFIND", "/a.txt", body=b"<x/>")
        expect(r, 405, "method_not_allowed")
        eq(log_of(r)["method"], "PROPFIND", "log method")


@test("logs: a method that is no token, or longer than 32, is logged as -")
def _():
    with Env() as e:
        for m in ("P T", "X" * 33, "GET/"):
            r = e.run(m, "/a.txt", body=b"")
            expect(r, 405, "method_not_allowed")
            eq(log_of(r)["method"], "-", "log method of %r" % m)
            eq(log_of(r)["user"], "alice", "log user")


@test("logs: the user of a 500 for a broken configuration, cause=config")
def _():
    with Env(quota="alice 10M\nbob ten\n") as e:
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error")
        expect_cause(r, "config")
        check(any(":2: " in l for l in r.diag_lines()),
              "no problem line naming the quota table's line 2: %r"
              % r.diag_lines())
        e.write_conf("upload_dir = %s\nno_such_key = 1\n" % e.upload)
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error")
        expect_cause(r, "config")


@test("logs: a 500 of the ledger names its call (usage record unreadable)")
def _():
    with Env() as e:
        expect(e.run("PUT", "/a.txt", body=b"hello"), 201, "stored")
        if e.schema is not None:
            skip("breaks a file of the files ledger")
        u = os.path.join(e.state, "usage", "alice")
        os.unlink(u)
        os.mkdir(u)
        r = e.run("PUT", "/b.txt", body=b"hello")
        expect(r, 500, "server_error")
        # a folder where the usage figure's file belongs (upgate(8), Logs)
        expect_cause(r, "usage:EINVAL")
        os.rmdir(u)


def _mount_ro(path):
    os.makedirs(path, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m",
                           "upgate-ro", path], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


@test("logs: a read-only filesystem: PUT and form 500, cause=openat:EROFS")
def _():
    if os.geteuid() != 0:
        skip("mounts a read-only tmpfs: needs root")
    with Env() as e:
        d = e.user_dir()
        if not _mount_ro(d):
            skip("cannot mount a tmpfs here")
        try:
            r = e.run("PUT", "/a.txt", body=b"hello")
            expect(r, 500, "server_error")
            expect_cause(r, "openat:EROFS")
            r = e.run("POST", "/", body=_form(b"a.txt", b"hello"),
                      content_type=FORM)
            expect(r, 500, "server_error")
            expect_cause(r, "openat:EROFS")
        finally:
            subprocess.run(["umount", d])
        eq(e.usage(), 0, "usage")
        e.assert_clean()


@test("logs: refusals that are not 500 carry no cause")
def _():
    with Env(quota="alice 10\n") as e:
        for body in (b"x" * 100, b"x" * 5):
            r = e.run("PUT", "/a.txt", body=body)
            eq(log_of(r)["cause"], None, "cause of a %s" % r.status)
