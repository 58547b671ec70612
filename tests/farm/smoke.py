#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Smoke test of the farm fixtures: python3 tests/farm/smoke.py --build DIR

Starts a GlusterFS volume with three mounts (tests/lib/gluster.py) and
three lighttpd + upgate.fcgi hosts on them (tests/lib/farm.py), PUTs a
file through host 1 with curl and reads it back through host 2's mount,
kills host 3's upgate.fcgi with SIGKILL and stores through host 3 again
(lighttpd starts a new responder), then stops everything and checks that
nothing is left mounted or running and that the folders are gone.
Prints each phase's duration.

The ledger is the files one (each host's own state_dir) unless --ledger
URI is given, or --pg, which starts a throwaway PostgreSQL
(tests/lib/pgtmp.py) and uses its URI; a build that does not know the
ledger key answers 500 then.  --bind runs the hosts on bind mounts of
one folder instead of GlusterFS (the labelled fallback, for machines
where glusterd cannot run).

Prints "ok - farm smoke", "FAIL - farm smoke: why" or "skip - farm
smoke: why" (not root, or a program missing) with the phases' times as
"# " lines before it; exit status 1 on a failure, else 0.
"""

import argparse
import hashlib
import os
import shutil
import sys
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))

import leftovers  # noqa: E402
import gluster    # noqa: E402
import farm       # noqa: E402
import pgtmp      # noqa: E402

SKIP = 0                # as the other runners: a skip is no failure


class Phases:
    def __init__(self):
        self.rows = []
        self.t0 = time.monotonic()

    def run(self, name, fn, *args, **kw):
        t = time.monotonic()
        try:
            return fn(*args, **kw)
        finally:
            self.rows.append((name, time.monotonic() - t))
            print("# %-44s %6.2fs" % (name, self.rows[-1][1]))
            sys.stdout.flush()

    def total(self):
        return time.monotonic() - self.t0


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def put_and_read(f, name, size, via, read_on):
    """PUT size bytes as alice through host via; the same bytes must be
    in read_on's mount."""
    data = os.urandom(size)
    r = f.hosts[via - 1].curl("PUT", "/" + name, data=data)
    check(r.rc == 0 and r.status == 201,
          "PUT /%s via host %d: %s; logs: %s" % (
              name, via, r.summary(), f.hosts[via - 1].logs()[-1500:]))
    path = os.path.join(f.hosts[read_on - 1].mount, "alice", name)
    with open(path, "rb") as fh:
        got = fh.read()
    check(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
          "%s (host %d's mount) holds %d bytes, not the %d PUT through "
          "host %d" % (path, read_on, len(got), size, via))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--bind", action="store_true",
                    help="bind mounts of one folder, not GlusterFS")
    ap.add_argument("--ledger", help="a PostgreSQL URI for ledger =")
    ap.add_argument("--pg", action="store_true",
                    help="start a throwaway PostgreSQL and use its URI")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("skip - farm smoke: needs root (mounts, glusterd, lighttpd)")
        return SKIP
    need = ["lighttpd", "curl", "htpasswd"] + \
        ([] if a.bind else ["glusterd", "gluster"])
    missing = [p for p in need if shutil.which(p) is None and
               not os.path.exists("/usr/sbin/" + p)]
    if missing:
        print("skip - farm smoke: missing %s (sh scripts/install-deps.sh)"
              % ", ".join(missing))
        return SKIP

    ph = Phases()
    g = f = pg = None
    roots = []
    failed = None
    try:
        ledger = a.ledger
        if a.pg:
            pg = ph.run("postgresql: initdb, start, role", pgtmp.PgTmp().start)
            roots.append(pg.root)
            for n in pg.notes:
                print("# note: " + n)
            ledger = pg.uri
        g = ph.run("shared tree: %s, 3 mounts" % ("bind (FALLBACK)" if a.bind
                                                 else "gluster"),
                   gluster.Gluster(3, kind="bind" if a.bind else "gluster")
                   .start)
        roots.append(g.root)
        for n in g.notes:
            print("# note: " + n)
        f = ph.run("3 hosts: lighttpd + upgate.fcgi",
                   farm.Farm(a.build, g.mounts, ledger=ledger).start)
        roots.append(f.root)
        for n in f.notes:
            print("# note: " + n)
        print("# ledger: %s" % (ledger or "files (no ledger line)"))
        for h in f.hosts:
            print("# host %d: %s  upload_dir %s" % (h.index, h.url(),
                                                      h.mount))
        ph.run("PUT 1 MiB via host 1, read on host 2's mount",
               put_and_read, f, "smoke.bin", 1 << 20, 1, 2)
        pids = ph.run("kill -9 host 3's upgate.fcgi", f.hosts[2].kill_fcgi)
        check(pids, "host 3 had no upgate.fcgi to kill")
        ph.run("PUT via host 3 again (new responder), read on 1",
               put_and_read, f, "after-kill.bin", 4096, 3, 1)
        check(f.hosts[2].fcgi_pids() and
              not set(f.hosts[2].fcgi_pids()) & set(pids),
              "host 3 runs no new upgate.fcgi")
    except (AssertionError, farm.Error, gluster.Error, pgtmp.Error,
            farm.harness.Failure) as e:
        failed = str(e)
    except Exception:
        failed = "error in the smoke test: " + \
            traceback.format_exc().strip().replace("\n", " | ")
    finally:
        problems = []
        for what, obj in (("farm", f), ("shared tree", g),
                          ("postgresql", pg)):
            if obj is not None:
                p = ph.run("stop " + what, obj.stop)
                if p:
                    problems.append("%s: %s" % (what, p))
    # nothing left behind
    for r in roots:
        if leftovers.mounts_under(r):
            problems.append("still mounted under %s: %r"
                            % (r, leftovers.mounts_under(r)))
        left = leftovers.pids_referring(r, environ=True)
        if left:
            problems.append("processes left naming %s: %r" % (r, left))
        if os.path.exists(r) and not os.environ.get("UPGATE_KEEP"):
            problems.append("%s still exists" % r)
    print("# total %.2fs" % ph.total())
    if failed or problems:
        print("FAIL - farm smoke: %s" % "; ".join(
            ([failed] if failed else []) + problems))
        return 1
    print("ok - farm smoke: PUT on host 1 read on host 2, kill -9 and "
          "recovery on host 3, all stopped and removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
