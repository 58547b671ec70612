#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Runs the torture tests: python3 tests/torture/run.py --build DIR

Each torture (tests/torture/test_*.py) drives upgate through a real
lighttpd + upgate.fcgi, or runs the CGI and a standalone responder as the
integration harness does, and is bounded in count and time.  They run one
after the other (the slow-client one measures latencies: it must not
share the two cores with another torture).

Prints "ok - name", "FAIL - name: why" or "skip - name: why" per test,
then the measured figures as "# " lines, and ends with
"N passed, N failed" (", N skipped").  Exit status 1 on any failure.
Options: -k SUBSTR (only matching tests), --list, -v (durations),
--long (more rounds: see each test), --seed S (replay a run's random
choices; every run prints its seed), --strict-ledger (kill -9: a ledger
that over-counts after a kill in the commit window fails too).
UPGATE_KEEP=1 keeps the temporary folders.  Needs root (servers as
www-data, tmpfs); without it the tests that need it are reported as
skipped.
"""

import argparse
import glob
import importlib
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torture  # noqa: E402
import harness  # noqa: E402
import servers  # noqa: E402


def run_one(fn):
    t0 = time.monotonic()
    try:
        fn()
        return "ok", "", time.monotonic() - t0
    except harness.Skip as e:
        return "skip", str(e), time.monotonic() - t0
    except harness.Failure as e:
        return "FAIL", str(e), time.monotonic() - t0
    except Exception:
        return "FAIL", "error in test: " + \
            traceback.format_exc().strip().replace("\n", " | "), \
            time.monotonic() - t0


def preflight():
    if os.geteuid() != 0:
        return "not root: the servers' children run as www-data and the " \
            "disk-full torture mounts a tmpfs (SKIPPED torture tests)"
    missing = [p for p in ("lighttpd", "htpasswd", "curl")
               if shutil.which(p) is None]
    if missing:
        return "missing: %s (make deps installs them)" % ", ".join(missing)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="filter", action="append", default=[])
    ap.add_argument("--skip", action="append", default=[],
                    help="leave out the tortures whose name holds this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true", help="print durations")
    ap.add_argument("--long", action="store_true",
                    help="more rounds (see each torture)")
    ap.add_argument("--seed", default=None)
    ap.add_argument("--strict-ledger", action="store_true",
                    help="kill -9: fail on a ledger over-count too")
    ap.add_argument("--ledger", choices=("files", "postgresql"),
                    default="files",
                    help="postgresql: the ledger in a throwaway PostgreSQL")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    harness.BUILD = build
    servers.BUILD = servers.reachable_build(build)
    torture.LONG = a.long
    torture.STRICT_LEDGER = a.strict_ledger
    torture.SEED = a.seed or "%08x" % random.getrandbits(32)
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"

    # by path, under names of their own: tests/servers and
    # tests/integration have test_*.py files of the same names
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = "torture_" + os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    tests = [t for t in torture.TESTS
             if (not a.filter or any(f in t[0] for f in a.filter)) and
             not any(f in t[0] for f in a.skip)]
    if a.list:
        for name, _, _ in tests:
            print(name)
        return 0

    for prog in ("upgate.cgi", "upgate.fcgi", "upgate-quota"):
        if not os.access(os.path.join(build, prog), os.X_OK):
            print("FAIL - setup: %s/%s is missing" % (build, prog))
            print("0 passed, 1 failed")
            return 1
    why_not = preflight()

    harness.RUN_ROOT = tempfile.mkdtemp(prefix="upgate-torture-")
    os.chmod(harness.RUN_ROOT, 0o755)       # www-data walks through it
    if a.ledger == "postgresql":
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
        import pgtmp
        harness.PG = pgtmp.PgTmp()
        harness.PG.start()
        print("# ledger: PostgreSQL %s" % harness.PG.version)
    print("# seed %s%s" % (torture.SEED, " (--long)" if a.long else ""))
    passed = failed = skipped = 0
    t0 = time.monotonic()
    for name, fn, needs_root in tests:
        if needs_root and why_not:
            res, why, dt = "skip", why_not, 0.0
        else:
            res, why, dt = run_one(fn)
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
        torture.figure(name.split(":")[0], "duration %.1fs", dt)
        sys.stdout.flush()
    for who, line in torture.FIGURES:
        print("# %s: %s" % (who, line))
    if harness.PG is not None:
        harness.PG.stop()
    with open("/proc/mounts") as f:
        mounted = harness.RUN_ROOT in f.read()
    if mounted:
        print("# %s still has a mount below it: left in place"
              % harness.RUN_ROOT)
        failed += 1
    elif not harness.KEEP:
        shutil.rmtree(harness.RUN_ROOT, ignore_errors=True)
    else:
        print("# kept: %s" % harness.RUN_ROOT)
    print("# %.1fs in all" % (time.monotonic() - t0))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
