# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate-quota(8): upgate-quota check, show, report, recount, usage errors; run
as root, the owner of state_dir, and no write through a planted link."""

import ctypes
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading

import harness
from harness import Env, check, eq, expect, fail, skip, test


def _tool_ok(e, *args):
    rc, out, err = e.quota_tool(*args)
    check(rc == 0, "upgate-quota %s: exit %s, stdout %r, stderr %r"
          % (" ".join(args), rc, out, err))
    return out, err


@test("quota tool: check on a good configuration prints nothing, exit 0")
def _():
    with Env(quota="alice 1G\n* 10M\n") as e:
        rc, out, err = e.quota_tool("check")
        eq((rc, out, err), (0, "", ""), "upgate-quota check")


@test("quota tool: check on a broken table -> FILE:LINE: lines, exit 1")
def _():
    with Env(quota="alice 1G\nbob 10X\n# c\nalice 2G\ncarol\n") as e:
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        eq(out, "", "stdout")
        for ln in (2, 4, 5):
            check(re.search(r"(^|\s)%s:%d: \S" % (re.escape(e.quota_path),
                                                  ln), err, re.M),
                  "no '%s:%d: message' line in %r" % (e.quota_path, ln, err))
        eq(len([l for l in err.splitlines() if l.strip()]), 3,
           "one line per problem: %r" % err)


@test("quota tool: check on a broken configuration -> FILE:LINE:, exit 1")
def _():
    with Env() as e:
        e.write_conf("upload_dir = %s\n\ncolour = blue\n" % e.upload)
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        check(re.search(r"(^|\s)%s:3: \S" % re.escape(e.conf_path), err),
              "no '%s:3: message' in %r" % (e.conf_path, err))


@test("quota tool: check with an unusable state_dir -> exit 1")
def _():
    with Env(write=False) as e:
        bad = os.path.join(e.root, "state-file")
        with open(bad, "w") as f:
            f.write("not a folder\n")
        e.conf["state_dir"] = bad
        e.write_conf()
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stdout %r stderr %r)" % (out, err))
        check(err.strip(), "no message on stderr")


@test("quota tool: check names a notify_command that is missing, not a "
      "file or not executable, exit 1; a good one passes")
def _():
    with Env() as e:
        good = os.path.join(e.root, "notify.sh")
        plain = os.path.join(e.root, "notify.txt")
        for path, mode in ((good, 0o755), (plain, 0o644)):
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, mode)
        cases = ((os.path.join(e.root, "missing"), "No such file"),
                 (e.root, "not a regular file"),
                 (plain, "not executable"))
        for path, why in cases:
            e.conf["notify_command"] = path
            e.write_conf()
            rc, out, err = e.quota_tool("check")
            eq(rc, 1, "check with notify_command %s: exit (stderr %r)"
               % (path, err))
            check("notify_command %s" % path in err and why in err,
                  "check with notify_command %s: expected a line naming "
                  "it and %r, got %r" % (path, why, err))
        e.conf["notify_command"] = good
        e.write_conf()
        rc, out, err = e.quota_tool("check")
        eq((rc, out, err), (0, "", ""), "check with a good notify_command")


@test("quota tool: show USER gives limit, used, reserved, available, %")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 250), 201, "stored")
        out, err = _tool_ok(e, "show", "alice")
        check(out.strip(), "show printed nothing")
        for word in ("limit", "used", "reserved", "available"):
            check(word in out.lower(), "%r missing from %r" % (word, out))
        check("250" in out, "used 250 not shown: %r" % out)
        check("1000" in out or "1000 bytes" in out or "1,000" in out or
              "1000" in out.replace(" ", ""), "limit 1000 missing: %r" % out)
        check("25.0" in out, "percentage 25.0 missing: %r" % out)


@test("quota tool: report --json: order, flags and fields")
def _():
    table = "alice 1000\nbob 1000\ncarol unlimited\ndave 1000\nfred 1000\n"
    with Env(quota=table) as e:
        for user, size in (("alice", 950), ("bob", 850), ("dave", 1000),
                           ("carol", 10), ("fred", 100)):
            expect(e.run("PUT", "/f", body=b"x" * size, user=user), 201,
                   "stored", user=user)
        e.write_quota(table + "# eve is unnamed\n")
        expect(e.run("PUT", "/f", body=b"x" * 5, user="eve"), 201, "stored",
               user="eve")
        out, err = _tool_ok(e, "report", "--json")
        try:
            j = json.loads(out)
        except ValueError as ex:
            fail("report --json is not JSON (%s): %r" % (ex, out))
        users = j.get("users")
        check(isinstance(users, list), "no users list: %r" % j)
        names = [u.get("user") for u in users]
        eq(names[:4], ["dave", "alice", "bob", "fred"],
           "order: highest percentage first")
        eq(sorted(names[4:]), ["carol", "eve"], "unlimited users last")
        by = {u["user"]: u for u in users}
        eq(by["dave"].get("flag"), "full", "dave flag")
        eq(by["alice"].get("flag"), "90%", "alice flag")
        eq(by["bob"].get("flag"), "80%", "bob flag")
        eq(by["fred"].get("flag", "absent"), None, "fred flag")
        eq(by["carol"].get("flag", "absent"), None, "carol flag")
        want = {"user": "alice", "limit": 1000, "used": 950, "reserved": 0,
                "available": 50, "percentage_used": 95.0, "flag": "90%"}
        eq(by["alice"], want, "alice's entry")
        eq(by["carol"], {"user": "carol", "limit": None, "used": 10,
                         "reserved": 0, "available": None,
                         "percentage_used": None, "flag": None},
           "carol's entry")
        eq(by["eve"].get("used"), 5, "eve (ledger only) used")


@test("quota tool: report (text) lists every known user")
def _():
    with Env(quota="alice 1000\nbob 2000\n") as e:
        expect(e.run("PUT", "/f", body=b"x" * 900), 201, "stored")
        out, err = _tool_ok(e, "report")
        check("alice" in out and "bob" in out, "report %r" % out)
        check("90%" in out, "alice's 90%% flag missing: %r" % out)


@test("quota tool: recount after a file vanished behind the ledger's back")
def _():
    with Env(quota="alice 1000\nbob 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 300), 201, "stored")
        expect(e.run("PUT", "/b", body=b"x" * 200), 201, "stored")
        expect(e.run("PUT", "/c", body=b"x" * 7, user="bob"), 201, "stored",
               user="bob")
        os.unlink(e.path("alice", "a"))
        out, err = _tool_ok(e, "recount")
        lines = [l for l in out.splitlines() if l.strip()]
        eq(len(lines), 1, "recount output lines %r" % out)
        check("alice" in lines[0], "recount line does not name alice: %r"
              % lines[0])
        eq(e.usage("alice"), 200, "alice usage after recount")
        eq(e.usage("bob"), 7, "bob usage after recount")
        eq(e.record("alice/a"), None, "record of the vanished file")
        out, err = _tool_ok(e, "recount")
        eq(out, "", "second recount output")
        r = e.run("GET")
        eq(r.json()["quota"]["used"], 200, "GET used after recount")


@test("quota tool: recount USER counts a file added behind the ledger")
def _():
    with Env(quota="alice 1000\nbob 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 300), 201, "stored")
        e.plant("extra", b"y" * 50)
        e.plant("extra", b"y" * 70, user="bob")
        out, err = _tool_ok(e, "recount", "alice")
        check("alice" in out and "bob" not in out, "recount alice: %r" % out)
        eq(e.usage("alice"), 350, "alice usage")
        eq(e.usage("bob"), 0, "bob untouched by 'recount alice'")


@test("quota tool: recount reclaims a dead reservation and its temp file")
def _():
    import time
    with Env(quota="alice 10M\n") as e:
        cgi, req = e.start("PUT", "/big", length=1 << 20)
        try:
            cgi.write(b"z" * 1000)
            deadline = time.monotonic() + 10
            while not e.tmp_files() and time.monotonic() < deadline:
                time.sleep(0.02)
            check(e.tmp_files(), "no temporary file")
        finally:
            cgi.kill()
        cgi.p.wait(10)
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount exit (stderr %r)" % err)
        e.assert_clean("after recount: ")
        eq(e.usage(), 0, "usage")


USAGE_ERRORS = [[], ["frobnicate"], ["show"], ["show", "a", "b"],
                ["report", "--xml"], ["recount", "a", "b"], ["--config"],
                ["check", "extra"]]

for _args in USAGE_ERRORS:
    def _t(args=_args):
        with Env() as e:
            if args == ["--config"]:
                rc, out, err = e.quota_tool("--config", config=False)
            else:
                rc, out, err = e.quota_tool(*args)
            eq(rc, 2, "upgate-quota %s: exit status (stderr %r)"
               % (" ".join(args), err))
            check(err.strip(), "usage error without a message on stderr")
    test("quota tool: usage error %r -> exit 2" % (_args,))(_t)


@test("quota tool: check with a missing quota table -> exit 1")
def _():
    with Env(quota="alice 1G\n") as e:
        os.unlink(e.quota_path)
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        check(e.quota_path in err, "message does not name %s: %r"
              % (e.quota_path, err))


@test("quota tool: show for a user without a ledger or rule")
def _():
    with Env(quota="alice 1G\n") as e:
        out, err = _tool_ok(e, "show", "nobody")
        check("nobody" in out or "unlimited" in out.lower() or out.strip(),
              "show nobody printed %r" % out)


# ---------------------------------------------------- run as root (upgate-quota(8))

def _nobody():
    """The passwd entry the tests give state_dir to; skips unless root."""
    if os.geteuid() != 0:
        skip("needs root")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        skip("no user nobody")


def _files_ledger():
    if harness.PG is not None:
        skip("the files ledger's own files")


def _chown_tree(top, pw):
    os.chown(top, pw.pw_uid, pw.pw_gid)
    for dp, dns, fns in os.walk(top):
        for n in dns + fns:
            os.chown(os.path.join(dp, n), pw.pw_uid, pw.pw_gid,
                     follow_symlinks=False)


def _not_owned(top, pw):
    """The entries below top (top too) that pw does not own."""
    out = []
    for dp, dns, fns in os.walk(top):
        for p in [dp] + [os.path.join(dp, n) for n in fns]:
            st = os.lstat(p)
            if (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
                out.append("%s (%d:%d)" % (os.path.relpath(p, top),
                                           st.st_uid, st.st_gid))
    return out


def _open_env(**kw):
    """An Env whose folders another user can reach by path (the run's
    folder is root's, mode 0700): the tool, become nobody, makes
    state_dir by its path."""
    root = tempfile.mkdtemp(prefix="upgate-env-")
    os.chmod(root, 0o755)
    return Env(root=root, **kw)


@test("quota tool: a state_dir that is a symbolic link is not followed")
def _():
    with Env() as e:
        expect(e.run("PUT", "/a", body=b"x" * 30), 201, "stored")
        moved = os.path.join(e.root, "state-moved")
        elsewhere = os.path.join(e.root, "elsewhere")
        os.mkdir(elsewhere, 0o700)
        os.rename(e.state, moved)
        os.symlink(elsewhere, e.state)
        try:
            for args in (["check"], ["show", "alice"], ["report"],
                         ["recount"]):
                rc, out, err = e.quota_tool(*args)
                eq(rc, 1, "upgate-quota %s: exit status (stderr %r)"
                   % (" ".join(args), err))
                check("symbolic link" in err, "upgate-quota %s: no word of "
                      "the link in %r" % (" ".join(args), err))
            eq(os.listdir(elsewhere), [], "written through the link")
            check(os.path.islink(e.state), "the link was replaced")
        finally:
            os.unlink(e.state)
            os.rename(moved, e.state)
        eq(e.usage(), 30, "usage")


def _renameat2():
    libc = ctypes.CDLL(None, use_errno=True)
    f = libc.renameat2
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                  ctypes.c_char_p, ctypes.c_uint]
    return f


@test("quota tool: state_dir swapped with a link while it runs as root",
      slow=True)
def _():
    nobody = _nobody()
    _files_ledger()
    at_fdcwd, exchange = -100, 2
    with Env() as e:
        rootdir = os.path.join(e.root, "root-only")
        os.mkdir(rootdir, 0o700)
        swap = os.path.join(e.upload, ".upgate-swap")
        os.symlink(rootdir, swap)
        os.mkdir(e.state, 0o700)
        os.chown(e.state, nobody.pw_uid, nobody.pw_gid)
        names = (os.fsencode(e.state), os.fsencode(swap))
        rename = _renameat2()
        stop = threading.Event()
        swaps = [0]
        exits = {0: 0, 1: 0}

        def swapper():
            while not stop.is_set():
                if rename(at_fdcwd, names[0], at_fdcwd, names[1],
                          exchange) != 0:
                    return
                swaps[0] += 1
        t = threading.Thread(target=swapper, daemon=True)
        t.start()
        try:
            for i in range(60):
                # a new file each time: a record for recount to make
                e.plant("f%d" % i, b"y" * (i + 1))
                rc, out, err = e.quota_tool("recount")
                # 1: it met the link; 0: the folder, as nobody
                check(rc in (0, 1), "recount: exit %d (stderr %r)"
                      % (rc, err))
                exits[rc] += 1
        finally:
            stop.set()
            t.join(10)
        print("# 60 recounts as root against %d swaps: %d ran as nobody, "
              "%d met the link and refused" % (swaps[0], exits[0], exits[1]))
        check(swaps[0] > 0, "renameat2(RENAME_EXCHANGE) failed: errno %d"
              % ctypes.get_errno())
        if os.path.islink(e.state):
            rename(at_fdcwd, names[0], at_fdcwd, names[1], exchange)
        check(os.path.isdir(e.state) and not os.path.islink(e.state),
              "state_dir is no longer the folder")
        eq(os.listdir(rootdir), [], "written through the link, as root")
        eq(_not_owned(e.state, nobody), [],
           "entries of state_dir not nobody's")
        os.unlink(swap)


@test("quota tool: recount as root leaves state_dir its owner's")
def _():
    nobody = _nobody()
    _files_ledger()
    with _open_env() as e:
        expect(e.run("PUT", "/a", body=b"x" * 300), 201, "stored")
        expect(e.run("PUT", "/b", body=b"x" * 20, user="bob"), 201,
               "stored", user="bob")
        _chown_tree(e.upload, nobody)
        e.plant("extra", b"y" * 50)
        os.unlink(os.path.join(e.state, "usage", "bob"))
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount exit (stderr %r)" % err)
        eq(e.usage("alice"), 350, "alice usage")
        eq(e.usage("bob"), 20, "bob usage")
        eq(e.record("alice/extra"), ("alice", 50), "record of extra")
        eq(_not_owned(e.state, nobody), [],
           "entries of state_dir not nobody's")
        # no state_dir yet: made as the owner of upload_dir
        shutil.rmtree(e.state)
        rc, out, err = e.quota_tool("check")
        eq((rc, out, err), (0, "", ""), "upgate-quota check")
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount exit (stderr %r)" % err)
        eq(e.usage("alice"), 350, "alice usage, recounted anew")
        eq(_not_owned(e.state, nobody), [],
           "entries of the new state_dir not nobody's")


# the record's temporary name in ledger_files.c, before and since
_OLD_TMP = ".rec.tmp"
_PLANT = 'ln "$1" "$2/.rec.tmp.$$.$$" && shift 2 && exec "$@"'
_PLANT_SYM = 'ln -s "$1" "$2/.rec.tmp.$$.$$" && shift 2 && exec "$@"'


@test("quota tool: links planted at the ledger's names are not written "
      "through")
def _():
    if os.geteuid() != 0:
        skip("needs root")
    _files_ledger()
    with Env() as e:
        e.plant("a", b"x" * 300)
        _tool_ok(e, "recount")
        eq(e.record("alice/a"), ("alice", 300), "record of a")
        victim = os.path.join(e.outside, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        records = os.path.join(e.state, "files", "alice")
        usage = os.path.join(e.state, "usage", "alice")
        os.unlink(usage)
        os.link(victim, usage)
        os.link(victim, os.path.join(records, _OLD_TMP))
        tool = [os.path.join(harness.BUILD, "upgate-quota"), "--config",
                e.conf_path, "recount"]
        for size, script in ((450, _PLANT), (120, _PLANT_SYM)):
            e.plant("a", b"x" * size)
            p = subprocess.run(["sh", "-c", script, "sh", victim, records]
                               + tool, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
            eq(p.returncode, 0, "recount with a link at its temporary "
               "name: exit status (stderr %r)" % p.stderr)
            eq(e.record("alice/a"), ("alice", size), "record of a")
            eq(e.usage("alice"), size, "usage")
            with open(victim) as f:
                eq(f.read(), "precious\n", "the linked file")
            # the planted name was the tool's: removed, not written
            eq(sorted(os.listdir(records)), [_OLD_TMP, "a"],
               "names in files/alice")
        st = os.lstat(usage)
        check(st.st_nlink == 1, "usage/alice has %d names" % st.st_nlink)
