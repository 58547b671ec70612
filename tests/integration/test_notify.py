# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""notify_command (upgate.conf(5); upgate(8), "Notifications"): run once
per threshold (80, 90, 100 %) that a stored upload makes the user's usage
cross, detached and bounded, with only the UPGATE_* variables and PATH;
a command that fails or cannot start never fails the upload."""

import json
import os
import time

import harness
from harness import Env, check, eq, expect, test

RECORDER = """#!/usr/bin/python3
import json, os, sys
fds = {}
for n in os.listdir("/proc/self/fd"):
    try:
        fds[n] = os.readlink("/proc/self/fd/" + n)
    except OSError:
        pass    # the listing's own descriptor, closed since
with open("/proc/self/environ", "rb") as f:
    env = dict(v.decode().split("=", 1) for v in f.read().split(b"\\0") if v)
rec = {"env": env, "fds": fds, "pid": os.getpid(), "sid": os.getsid(0),
       "stdin": sys.stdin.buffer.read().decode()}
with open(%r, "a") as f:
    f.write(json.dumps(rec) + "\\n")
"""


def _script(e, name, text):
    p = os.path.join(e.root, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o755)
    return p


def _running(path):
    """Pids of processes whose command line names path."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if path.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def _calls(e, script, calls, want, timeout=15):
    """The recorded calls, once want of them came and no run of the
    script is left (so that one too many would show)."""
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        try:
            with open(calls) as f:
                got = [json.loads(l) for l in f]
        except FileNotFoundError:
            got = []
        if len(got) >= want and not _running(script):
            break
        time.sleep(0.02)
    return got


def _no_zombie(e):
    """The responder has no child left: the command is not its own."""
    if harness.MODE != "fcgi":
        return
    for r in list(e._fcgi.values()):
        kids = []
        for t in os.listdir("/proc/%d/task" % r.pid):
            with open("/proc/%d/task/%s/children" % (r.pid, t)) as f:
                kids += f.read().split()
        eq(kids, [], "children of upgate.fcgi after notify_command")


@test("notify: 80, 90 and 100 % crossed each once, again only after "
      "usage dropped below; the environment and descriptors as documented")
def _():
    with Env(quota="alice 1000\n") as e:
        calls = os.path.join(e.root, "calls")
        script = _script(e, "notify", RECORDER % calls)
        e.conf["notify_command"] = script
        e.write_conf()
        steps = [("/a", 500, []), ("/b", 350, [80]), ("/c", 20, []),
                 ("/d", 40, [90]), ("/e", 90, [100])]
        want = []
        for path, n, crossed in steps:
            expect(e.run("PUT", path, body=b"x" * n), 201, "stored")
            want += crossed
        expect(e.run("DELETE", "/b"), 204, "deleted")       # 65 %
        expect(e.run("PUT", "/f", body=b"x" * 100), 201, "stored")  # 75 %
        r = e.run("PUT", "/g", body=b"x" * 55)               # 80.5 %
        expect(r, 201, "stored")
        want += [80]
        got = _calls(e, script, calls, len(want))
        eq(sorted(c["env"]["UPGATE_THRESHOLD"] for c in got),
           sorted(str(t) for t in want), "thresholds notified")
        last = [c for c in got if c["env"]["UPGATE_USED"] == "805"]
        check(len(last) == 1, "no call for the last crossing: %r" % got)
        eq(last[0]["env"], {"UPGATE_USER": "alice", "UPGATE_USED": "805",
                            "UPGATE_LIMIT": "1000", "UPGATE_PERCENT": "80.5",
                            "UPGATE_THRESHOLD": "80",
                            "PATH": "/usr/bin:/bin"}, "environment")
        for c in got:
            fds = {k: v for k, v in c["fds"].items()
                   if not v.startswith("/proc/")}
            eq(fds, {"0": "/dev/null", "1": "/dev/null", "2": "/dev/null"},
               "descriptors of the command")
            eq(c["sid"], c["pid"], "the command leads its own session")
            eq(c["stdin"], "", "standard input")
        _no_zombie(e)


@test("notify: a command that fails or cannot start: logged, the upload "
      "stored")
def _():
    with Env(quota="alice 100\n") as e:
        missing = os.path.join(e.root, "missing")
        failing = _script(e, "failing", "#!/bin/sh\nexit 1\n")
        plain = _script(e, "plain", "#!/bin/sh\nexit 0\n")
        os.chmod(plain, 0o644)
        for i, (cmd, err) in enumerate([(missing, "ENOENT"),
                                        (plain, "EACCES"), (failing, None)]):
            e.conf["notify_command"] = cmd
            e.write_conf()
            if i > 0:
                expect(e.run("DELETE", "/f"), 204, "deleted")
            r = e.run("PUT", "/f", body=b"x" * 85)
            expect(r, 201, "stored")
            lines = [l for l in r.diag_lines() if "notify_command" in l]
            if err is None:
                eq(lines, [], "log of a command that ran and failed")
            else:
                check(len(lines) == 1 and cmd in lines[0] and err in
                      lines[0], "%s: expected a line naming %s and %s, got "
                      "%r" % (r.what(), cmd, err, r.stderr))
        eq(e.stored(), {"f": b"x" * 85}, "files")
        _no_zombie(e)


@test("notify: a slow command: the answer does not wait for it; its "
      "process group is killed at the limit", slow=True)
def _():
    with Env(quota="alice 100\n") as e:
        pids = os.path.join(e.root, "pids")
        end = os.path.join(e.root, "end")
        slow = _script(e, "slow", "#!/bin/sh\nsleep 60 &\necho $$ $! > %s\n"
                       "sleep 60\necho end > %s\n" % (pids, end))
        e.conf["notify_command"] = slow
        e.write_conf()
        expect(e.run("PUT", "/f", body=b"x" * 95), 201, "stored")
        check(_running(slow), "the command is not running after the answer "
              "(the answer waited for it, or it never started)")
        deadline = time.monotonic() + 60
        while not os.path.exists(pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(pids) as f:
            group = [int(p) for p in f.read().split()]
        while time.monotonic() < deadline and any(
                os.path.exists("/proc/%d" % p) for p in group):
            time.sleep(0.1)
        left = [p for p in group if os.path.exists("/proc/%d" % p)]
        eq(left, [], "processes of the command's group still alive")
        check(not os.path.exists(end), "the command ran to its end")
        _no_zombie(e)


@test("notify: a COPY that crosses a threshold runs the command, and "
      "answers X-Quota-Warning")
def _():
    with Env(quota="alice 1000\n") as e:
        calls = os.path.join(e.root, "calls")
        script = _script(e, "notify", RECORDER % calls)
        e.conf["notify_command"] = script
        e.write_conf()
        expect(e.run("PUT", "/a", body=b"x" * 450), 201, "stored")
        r = e.run("COPY", "/a", headers={
            "Destination": "http://localhost/upload/b", "Host": "localhost"})
        expect(r, 201, "copied", head=True)
        eq(r.header("X-Quota-Warning"), "90", "X-Quota-Warning")
        got = _calls(e, script, calls, 2)
        eq(sorted(c["env"]["UPGATE_THRESHOLD"] for c in got), ["80", "90"],
           "thresholds notified")
        eq({c["env"]["UPGATE_USED"] for c in got}, {"900"}, "used")
        _no_zombie(e)
