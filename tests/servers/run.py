#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Runs the hosting tests against real servers (README, Hosting, README, "Installing the package"):
python3 tests/servers/run.py --build DIR

Apache 2.4 (mod_cgid, mod_fcgid, mod_proxy_fcgi), lighttpd (mod_cgi,
mod_fastcgi) and nginx (FastCGI) are started on loopback high ports from
the very files in apache-conf/, lighttpd-conf/ and nginx-conf/ and driven
with curl.  Tests come in
groups that share one running server; groups run in parallel (-j N,
default 2), the tests of a group one after the other.

Prints "ok - name", "FAIL - name: why" or "skip - name: why" per test,
then the measured early-refusal figures as "# " lines, and ends with
"N passed, N failed, N skipped".  Exit status 1 on any failure.
Options: -k SUBSTR (only matching tests), -j N, --list, -v.
UPGATE_KEEP=1 keeps the temporary folders.  Needs root.
"""

import argparse
import concurrent.futures
import glob
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import servers  # noqa: E402
import harness  # noqa: E402  (tests/integration, via servers)


def run_case(fn, fx):
    t0 = time.monotonic()
    try:
        fn(fx)
        return "ok", "", time.monotonic() - t0
    except harness.Skip as e:
        return "skip", str(e), time.monotonic() - t0
    except harness.Failure as e:
        return "FAIL", str(e), time.monotonic() - t0
    except Exception:
        return "FAIL", "error in test: " + \
            traceback.format_exc().strip().replace("\n", " | "), \
            time.monotonic() - t0


def run_group(group, cases):
    """Sets the group's fixture up, runs its cases in order, tears it
    down.  Returns [(name, result, why, seconds)]."""
    out = []
    t0 = time.monotonic()
    try:
        fx = group.setup()
    except harness.Skip as e:
        return [(n, "skip", str(e), 0.0) for n, _ in cases]
    except Exception as e:
        why = str(e) if isinstance(e, harness.Failure) else \
            traceback.format_exc().strip().replace("\n", " | ")
        return [(n, "FAIL", "setup of %s: %s" % (group.name, why),
                 time.monotonic() - t0) for n, _ in cases]
    try:
        for name, fn in cases:
            res, why, dt = run_case(fn, fx)
            out.append((name, res, why, dt))
    finally:
        try:
            problem = fx.close()
        except Exception:
            problem = traceback.format_exc().strip().replace("\n", " | ")
        if problem and out:
            n, res, why, dt = out[-1]
            if res != "FAIL":
                out[-1] = (n, "FAIL", "at teardown of %s: %s"
                           % (group.name, problem), dt)
    return out


def preflight():
    if os.geteuid() != 0:
        return "skip", "not root: the servers' children run as www-data " \
            "and upload_dir is a tmpfs (SKIPPED hosting tests)"
    missing = [p for p in ("apache2", "lighttpd", "nginx", "curl",
                           "htpasswd")
               if shutil.which(p) is None and
               not os.path.exists("/usr/sbin/" + p)]
    if not os.path.exists(os.path.join(servers.MODULES, "mod_fcgid.so")):
        missing.append("libapache2-mod-fcgid")
    if missing:
        return "FAIL", "missing: %s (make deps installs them)" % \
            ", ".join(missing)
    return None, ""


def main(tests_dir=HERE):
    """Runs the test_*.py of tests_dir (this folder; tests/dav_clients
    runs its own through here)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="filter", action="append", default=[])
    ap.add_argument("-j", dest="jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true", help="print durations")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    harness.BUILD = build
    servers.BUILD = servers.reachable_build(build)
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"

    sys.path.insert(0, tests_dir)
    for path in sorted(glob.glob(os.path.join(tests_dir, "test_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])
    groups = []
    for g in servers.GROUPS:
        cases = [(n, fn) for n, fn in g.cases
                 if not a.filter or any(f in n for f in a.filter)]
        if cases:
            groups.append((g, cases))
    if a.list:
        for g, cases in groups:
            for n, _ in cases:
                print(n)
        return 0

    verdict, why = preflight()
    if not os.access(os.path.join(build, "upgate.cgi"), os.X_OK):
        verdict, why = "FAIL", "%s/upgate.cgi is missing" % build
    if verdict is not None:
        print("%s - hosting tests: %s" % (verdict, why))
        if verdict == "FAIL":
            print("0 passed, 1 failed")
            return 1
        print("0 passed, 0 failed, %d skipped"
              % sum(len(c) for _, c in groups))
        return 0

    harness.RUN_ROOT = tempfile.mkdtemp(prefix="upgate-servers-")
    os.chmod(harness.RUN_ROOT, 0o755)       # www-data walks through it
    passed = failed = skipped = 0
    t0 = time.monotonic()
    # the slow groups first, so that they overlap with the quick ones
    order = sorted(range(len(groups)), key=lambda i: not groups[i][0].slow)
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        futs = {i: ex.submit(run_group, *groups[i]) for i in order}
        for i in range(len(groups)):
            for name, res, why, dt in futs[i].result():
                dur = " (%.1fs)" % dt if a.v else ""
                if res == "ok":
                    passed += 1
                    print("ok - %s%s" % (name, dur))
                elif res == "skip":
                    skipped += 1
                    print("skip - %s: %s%s" % (name, why, dur))
                else:
                    failed += 1
                    print("FAIL - %s: %s%s" % (name, why, dur))
                sys.stdout.flush()
    for line in servers.figures_table():
        print("# " + line)
    if not harness.KEEP:
        with open("/proc/mounts") as f:
            mounted = harness.RUN_ROOT in f.read()
        if mounted:
            print("# %s still has a mount below it: left in place"
                  % harness.RUN_ROOT)
        else:
            shutil.rmtree(harness.RUN_ROOT, ignore_errors=True)
    else:
        print("# kept: %s" % harness.RUN_ROOT)
    if a.v:
        print("# %.1fs" % (time.monotonic() - t0))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
