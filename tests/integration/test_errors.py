# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Decisions row 16 (any other I/O failure -> 500 server_error)."""

import os
import subprocess

from harness import Env, cgi_only, check, eq, expect, skip, test
from test_logs import expect_cause


@test("row16: state_dir is a regular file -> 500 server_error")
def _():
    with Env(write=False) as e:
        bad = os.path.join(e.root, "state-file")
        with open(bad, "w") as f:
            f.write("x\n")
        e.conf["state_dir"] = bad
        e.write_conf()
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error")
        if e.schema is None:    # state_dir holds the files ledger
            expect_cause(r, "open:ENOTDIR")
        check(not e.stored(), "stored despite an unusable state_dir")


def _immutable(path, on):
    return subprocess.run(["chattr", "+i" if on else "-i", path],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


@test("row16: the user's folder cannot be written -> 500 server_error")
def _():
    with Env(quota="alice 1000\n") as e:
        d = e.user_dir()
        os.makedirs(d)
        if os.geteuid() != 0:
            os.chmod(d, 0o555)
        elif not _immutable(d, True):
            skip("row 16 not reachable: root and no chattr +i here")
        try:
            r = e.run("PUT", "/a.txt", body=b"hello")
        finally:
            if os.geteuid() == 0:
                _immutable(d, False)
            os.chmod(d, 0o755)
        expect(r, 500, "server_error")
        # upgate(8), "Logs": the call that failed, and why
        expect_cause(r, "openat:EPERM" if os.geteuid() == 0 else
                     "openat:EACCES")
        eq(os.listdir(d), [], "user folder")
        eq(e.usage(), 0, "usage")
        e.assert_clean()


@test("the CGI ignores its command-line arguments")
@cgi_only("upgate.fcgi takes options; see 'fcgi: usage errors exit 2'")
def _():
    from harness import Cgi
    import harness
    with Env() as e:
        env = e.cgi_env("PUT", "/a.txt", body=b"hello")
        cgi = Cgi(env, argv=[os.path.join(harness.BUILD, "upgate.cgi"),
                             "--config", os.path.join(e.root, "nope"),
                             "--help"])
        cgi.write(b"hello")
        r = cgi.finish({"method": "PUT", "path": "/a.txt", "user": "alice"})
        expect(r, 201, "stored")
        eq(e.stored(), {"a.txt": b"hello"}, "files")


@test("without UPGATE_CONFIG the CGI reads /etc/upgate/upgate.conf")
def _():
    default = "/etc/upgate/upgate.conf"
    if os.path.exists(default):
        skip("%s exists on this machine" % default)
    with Env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", config=False)
        expect(r, 500, "server_error", user=None)
        check(any(default in l for l in r.diag_lines()),
              "no problem line naming %s: %r" % (default, r.stderr))
        check(not e.stored(), "stored")
