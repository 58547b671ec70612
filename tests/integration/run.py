#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Runs the integration tests: python3 tests/integration/run.py --build DIR

Prints "ok - name", "FAIL - name: why" or "skip - name: why" per test and
ends with "N passed, N failed, N skipped".  Exit status 1 on any failure.
Options: -k SUBSTR (only matching tests), -j N (parallel tests, default 4),
--list.  UPGATE_KEEP=1 keeps the temporary folders.

--fcgi runs the same tests through build/upgate.fcgi instead (each
configuration gets its own responder on a Unix socket, driven by
fcgi_client.py), plus the tests of the responder itself; tests of the CGI
process are reported as skipped, with the reason.
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

import harness  # noqa: E402


def run_one(name, fn):
    t0 = time.monotonic()
    try:
        fn()
        return "ok", "", time.monotonic() - t0
    except harness.Skip as e:
        return "skip", str(e), time.monotonic() - t0
    except harness.Failure as e:
        return "FAIL", str(e), time.monotonic() - t0
    except Exception:  # a bug in the test, or an unexpected crash
        return "FAIL", "error in test: " + \
            traceback.format_exc().strip().replace("\n", " | "), \
            time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="filter", action="append", default=[])
    ap.add_argument("-j", dest="jobs", type=int, default=4)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true", help="print durations")
    ap.add_argument("--fcgi", action="store_true",
                    help="through build/upgate.fcgi instead of the CGI")
    ap.add_argument("--ledger", choices=("files", "postgresql"),
                    default="files",
                    help="postgresql: every test's ledger in a throwaway "
                    "PostgreSQL, a schema of its own per test folder")
    a = ap.parse_args()
    harness.BUILD = os.path.abspath(a.build)
    mode = harness.MODE = "fcgi" if a.fcgi else "cgi"

    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])
    # tests of the responder only with --fcgi; CGI-only ones skip there
    tests = [t for t in harness.TESTS
             if (not a.filter or any(f in t[0] for f in a.filter)) and
             (mode == "fcgi" or getattr(t[1], "modes", None) != {"fcgi"})]
    if a.list:
        for name, _, slow in tests:
            print(name + ("  (slow)" if slow else ""))
        return 0

    cgi = os.path.join(harness.BUILD,
                       "upgate.fcgi" if a.fcgi else "upgate.cgi")
    if not os.access(cgi, os.X_OK):
        print("FAIL - setup: %s is missing or not executable" % cgi)
        print("0 passed, 1 failed")
        return 1

    harness.RUN_ROOT = tempfile.mkdtemp(prefix="upgate-integration-")
    if a.ledger == "postgresql":
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
        import pgtmp
        harness.PG = pgtmp.PgTmp()
        harness.PG.start()
    passed = failed = skipped = 0
    t0 = time.monotonic()
    # slow tests first so they overlap with the many quick ones
    order = sorted(range(len(tests)), key=lambda i: not tests[i][2])
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        futs = {}
        for i in order:
            name, fn, _ = tests[i]
            futs[i] = ex.submit(run_one, name, fn)
        for i in range(len(tests)):
            name = tests[i][0]
            res, why, dt = futs[i].result()
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
    if harness.PG is not None:
        harness.PG.stop()
    if not harness.KEEP:
        with open("/proc/mounts") as f:
            mounted = harness.RUN_ROOT in f.read()
        if mounted:
            print("# %s still has a mount below it: left in place"
                  % harness.RUN_ROOT)
        else:
            shutil.rmtree(harness.RUN_ROOT, ignore_errors=True)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    if a.v:
        print("# %.1fs" % (time.monotonic() - t0))
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
