#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""The web farm of upgate(8), "Several hosts", against one host, with wrk, in one
run: three lighttpd + upgate.fcgi hosts on three FUSE mounts of one
GlusterFS volume, sharing a PostgreSQL ledger, against one lighttpd +
upgate.fcgi with the files ledger, its upload_dir on the same GlusterFS
mount and, in a second line, on the local disk.

  store    PUT of 4 KiB to a new name           201  users user01..16
  refuse   PUT of 4 KiB over a 1 KiB quota      507  users full01..16
  status   GET /upload (the quota status)       200  users user01..16

Every case runs 16 connections of 16 users (one user per connection,
bench/ledger.lua).  wrk takes one URL, so the farm runs three wrk at
once, one per host, with 6, 5 and 5 of the connections and their users;
its figure is the sum of the three.

The pieces are the tests' and bench/ledger.py's: tests/lib/pgtmp.py
(a throwaway PostgreSQL), tests/lib/gluster.py (glusterd, a one-brick
volume, three FUSE mounts), tests/lib/farm.py (the hosts, each with its
own state_dir on the local disk and its own quota index), and from
bench/ledger.py the users, the quota table, auth.cache, the wrk script,
the check of what a store run left and the wait for an idle server.

A figure is the responses with the expected status per second, the
median of --rounds; nothing is asserted.  A ratio is the farm's figure
over a one-host line's in the same round, the median over the rounds.
After each store run the stored files are counted against the 201s (as
bench/ledger.py does) and against the ledger: each user's used bytes
(the database's upgate_usage and upgate_records, or `upgate-quota
report --json` for the files ledger) equal to the sizes of the user's
files, and nothing reserved; the run's line says so, and a run where
they differ is a PROBLEM and not counted.  Each store run starts on
empty folders and an empty ledger.

  python3 bench/farm.py --build DIR [--seconds S] [--rounds N]
                        [--cases store,refuse,status] [--dir DIR]
                        [--no-auth-cache] [--keep] [-v]

Needs root, lighttpd, wrk, curl, htpasswd, glusterfs-server,
glusterfs-client, postgresql and /dev/fuse (`make deps` installs the
packages); installs nothing itself.  Everything it started (servers,
mounts, glusterd, PostgreSQL) is stopped and removed at the end, on a
failure, on Ctrl-C and on SIGTERM.
"""

import argparse
import collections
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
# tests/lib first: its farm.py, not this file, is the module farm
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))

import farm       # noqa: E402  (tests/lib/farm.py)
import gluster    # noqa: E402
import pgtmp      # noqa: E402
import leftovers  # noqa: E402
import servers    # noqa: E402  (tests/servers, through farm)
import harness    # noqa: E402

sys.path.insert(0, HERE)
import ledger     # noqa: E402  (bench/ledger.py)
from hosting import CpuWatch, children_cpu  # noqa: E402

HOSTS = 3
CONNS = 16
Case = ledger.Case
CASES = [
    Case("store", CONNS, ledger.STORE_USERS, (ledger.UPGATE,)),
    Case("refuse", CONNS, ledger.FULL_USERS, (ledger.QUOTA_507,)),
    Case("status", CONNS, ledger.STORE_USERS, (ledger.STATUS,)),
]
WHAT = {"store": "PUT of 4 KiB to a new name",
        "refuse": "PUT of 4 KiB over the quota",
        "status": "GET /upload"}

# The PostgreSQL ledger's tables (common/ledger_pg.c) that a store run
# fills; emptied after each one.
PG_TABLES = "upgate_usage, upgate_records, upgate_reservations, " \
    "upgate_reservation_paths"

# A name looked up through one FUSE mount is cached there for a second
# (entry and attribute timeouts): after the folders are moved away
# through mount 1, hosts 2 and 3 must not keep storing into them.
FUSE_CACHE = 1.5

# A store run's check: the files against the 201s, the ledger against
# the files.
AGREE = "files = 201s, ledger = disk: "
DISAGREE = "files or ledger DISAGREE"

Run = collections.namedtuple(
    "Run", "rate hosts codes errors seconds cpu problems agree")


class BenchServer(servers.Server):
    """lighttpd for a host of this benchmark: the users of
    bench/ledger.py in its password file and, unless told otherwise,
    lighttpd's auth.cache (see bench/ledger.py)."""

    def __init__(self, *args, auth_cache=True):
        super().__init__(*args)
        self.auth_cache = auth_cache

    def _write(self):
        super()._write()
        ledger.write_auth(self, self.auth_cache)


def user_dirs(upload):
    """The user folders in upload (not the hidden names)."""
    return [d for d in os.scandir(upload)
            if d.is_dir() and not d.name.startswith(".")]


class Node:
    """One host of a setup as bench/ledger.py's functions want it: url(),
    srv, env and temporary_files()."""

    def __init__(self, host):
        self.host = host
        self.index = host.index
        self.srv = host.srv
        self.env = host.env

    def url(self):
        return "http://127.0.0.1:%d" % self.host.port

    def temporary_files(self):
        """upgate's temporary files in the user folders of this host's
        upload_dir (upgate(8), Requests: .upgate-tmp-...)."""
        return sum(e.name.startswith(harness.TMP_PREFIX)
                   for d in user_dirs(self.host.mount)
                   for e in os.scandir(d.path))


def reread(host):
    """Makes each worker of host's responder open the ledger again: see
    ledger.reread_conf."""
    ledger.reread_conf(host.conf_path)


class Setup:
    """One line of the table: its hosts (a tests/lib/farm.py Farm), the
    folder its files are listed through, and its ledger.

    upload: the first host's upload_dir; trash: a folder on the same
    filesystem, where clean() moves what a store run left; pg: the
    PgTmp of a PostgreSQL ledger, None for the files ledger; disks: the
    block devices under the files and the database; cache: seconds to
    wait after a clean (FUSE_CACHE when several mounts share the
    folder)."""

    def __init__(self, key, label, fm, upload, trash, pg, disks, cache):
        self.key = key
        self.label = label
        self.farm = fm
        self.nodes = [Node(h) for h in fm.hosts]
        self.upload = upload
        self.trash = trash
        self.pg = pg
        self.disks = set(disks)
        self.cache = cache
        self.cleaned = 0
        self.listing = {}
        self.groups = {}        # CpuWatch's: set by Bench.start()

    def stored(self, variant):
        """{user: [file sizes]} of what the store runs left (variant is
        bench/ledger.py's, and always a PUT to /upload here); kept in
        self.listing for agree()."""
        self.listing = {d.name: [e.stat().st_size
                                 for e in os.scandir(d.path)
                                 if not e.name.startswith(".")]
                        for d in user_dirs(self.upload)}
        return self.listing

    def clean(self):
        """Empties upload_dir and the ledger.  The files are moved aside
        (one rename per user folder), not deleted: see Ledger.clean in
        bench/ledger.py; the GlusterFS trash goes with the brick at the
        end, the local one with the run's folder."""
        self.cleaned += 1
        bin_ = os.path.join(self.trash, "%s-%d" % (self.key, self.cleaned))
        os.makedirs(bin_)
        for e in os.scandir(self.upload):
            os.rename(e.path, os.path.join(bin_, e.name))
        if self.pg is not None:
            self.pg.psql("set lock_timeout = '10s'; truncate %s"
                         % PG_TABLES)
        else:
            # the files ledger, made again by the next request
            for n in self.nodes:
                bin_ = os.path.join(n.host.root, "trash", "%d"
                                    % self.cleaned)
                os.makedirs(bin_)
                for e in os.scandir(n.host.state):
                    os.rename(e.path, os.path.join(bin_, e.name))
                reread(n.host)
        time.sleep(self.cache)

    def ledger_figures(self):
        """({user: used}, bytes reserved in all, {user: (records' bytes,
        records)} or None), users with nothing used left out."""
        if self.pg is None:
            return self._report() + (None,)
        used = {u: int(n) for u, n in self.pg.psql(
            "select owner, used from upgate_usage where used <> 0")}
        resv = int(self.pg.psql("select coalesce(sum(bytes), 0) from "
                                "upgate_reservations")[0][0])
        recs = {u: (int(b), int(n)) for u, b, n in self.pg.psql(
            "select owner, sum(size), count(*) from upgate_records "
            "group by owner")}
        return used, resv, recs

    def _report(self):
        """The files ledger as upgate-quota report --json reads it."""
        h = self.farm.hosts[0]
        p = subprocess.run([os.path.join(self.farm.build, "upgate-quota"),
                            "--config", h.conf_path, "report", "--json"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if p.returncode != 0:
            harness.fail("upgate-quota report --json: exit %d: %s" % (
                p.returncode, p.stderr.decode("utf-8", "replace")))
        users = json.loads(p.stdout.decode("utf-8"))["users"]
        return ({u["user"]: u["used"] for u in users if u["used"]},
                sum(u["reserved"] for u in users))

    def agree(self):
        """Whether the ledger agrees with self.listing (stored() just
        before, the server idle): (problems, the figures compared)."""
        disk = {u: (sum(ss), len(ss)) for u, ss in self.listing.items()
                if ss}
        used, resv, recs = self.ledger_figures()
        problems = []
        diff = sorted(u for u in set(disk) | set(used)
                      if used.get(u, 0) != disk.get(u, (0, 0))[0])
        if diff:
            problems.append("the ledger differs from the disk for %d users, "
                            "e.g. %s" % (len(diff), ", ".join(
                                "%s used %d, files %d bytes" % (
                                    u, used.get(u, 0),
                                    disk.get(u, (0, 0))[0])
                                for u in diff[:3])))
        if resv:
            problems.append("%d bytes still reserved" % resv)
        if recs is not None and recs != disk:
            problems.append("the file records differ from the disk: %d "
                            "records of %d bytes, %d files of %d bytes" % (
                                sum(n for _, n in recs.values()),
                                sum(b for b, _ in recs.values()),
                                sum(n for _, n in disk.values()),
                                sum(b for b, _ in disk.values())))
        files = sum(n for _, n in disk.values())
        total = sum(b for b, _ in disk.values())
        return problems, "%d users, %d files, %d bytes used%s, nothing " \
            "reserved" % (len(disk), files, total, " and in the file "
                          "records" if recs is not None else "")


# ------------------------------------------------------------ warm-up

def check_setups(setups, cases):
    """Sends each case's request once through every host, as a warm-up
    (responders spawned, database sessions opened, caches filled) and a
    check that it answers what it should; then empties the folders."""
    for s in setups:
        for case in cases:
            v = case.variants[0]
            for n, users in zip(s.nodes, share(case.users, len(s.nodes))):
                c = Case(case.name, len(users), users, case.variants)
                status, conn, body = ledger.curl_once(
                    n, c, v, "check-%s-%d.bin" % (case.name, n.index))
                if status != v.expect:
                    harness.fail("%s, host %d: %s got %s, not %s (%s): "
                                 "%s\n%s" % (
                                     s.label, n.index, WHAT[case.name],
                                     status, v.expect,
                                     ledger.config_problem(n), body[:300],
                                     n.srv.logs()[-1500:]))
                if ledger.VERBOSE:
                    print("#   check %-24s host %d %-6s %s, Connection: %s"
                          % (s.key, n.index, case.name, status, conn or "-"),
                          flush=True)
        s.clean()


# ------------------------------------------------------------ one run

def share(users, n):
    """users in n consecutive groups, the first ones one larger: 16 over
    3 hosts is 6, 5 and 5."""
    q, r = divmod(len(users), n)
    out, i = [], 0
    for k in range(n):
        m = q + (k < r)
        out.append(users[i:i + m])
        i += m
    return out


def wrk_hosts(s, case, v, seconds, tag):
    """One wrk per host of s, all at once, the case's connections and
    users shared between them; [(fields, codes)] in host order."""
    procs = []
    try:
        for n, users in zip(s.nodes, share(case.users, len(s.nodes))):
            c = Case(case.name, len(users), users, case.variants)
            argv = ledger.wrk_argv(n.url(), c, v, seconds,
                                   "%s-h%d" % (tag, n.index))
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        out = []
        for p in procs:
            so, se = p.communicate(timeout=seconds + 120)
            out.append(ledger.wrk_fields(p.returncode, so, se))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def disk_ticks(disks):
    return {d: ledger.io_ticks(d) for d in disks}


def one_run(s, case, seconds, tag):
    """A run of seconds of case on setup s."""
    v = case.variants[0]
    if s.pg is not None:
        # what the last run wrote must not be checkpointed in this one
        s.pg.psql("checkpoint")
    os.sync()
    wrk0 = children_cpu()
    watch = CpuWatch({n.srv.proc.pid for n in s.nodes}, s.groups)
    io0 = disk_ticks(s.disks)
    t0 = time.monotonic()
    results = wrk_hosts(s, case, v, seconds, tag)
    for n in s.nodes:
        ledger.settle(n)
    cpu, _ = watch.finish()
    elapsed = time.monotonic() - t0
    cpu["other"] /= elapsed                   # share of one CPU
    cpu["wrk"] = children_cpu() - wrk0
    io1 = disk_ticks(s.disks)
    cpu["disk"] = {d: (io1[d] - io0[d]) / 1000 / elapsed for d in s.disks}
    codes, errors, rates = {}, {}, []
    for summary, c in results:
        for k, x in c.items():
            codes[k] = codes.get(k, 0) + x
        for k in ("connect", "read", "write", "timeout"):
            errors[k] = errors.get(k, 0) + summary[k]
        rates.append(c.get(v.expect, 0) / (summary["duration_us"] / 1e6))
    errors = {k: x for k, x in errors.items() if x}
    ok = codes.get(v.expect, 0)
    problems = ["%d answered %d" % (x, c) for c, x in sorted(codes.items())
                if c != v.expect]
    agree = None
    if v.tag:
        checks = ledger.check_stored(s, case, v, ok)
        p, figures = s.agree()
        checks += p
        agree = AGREE + figures if not checks else DISAGREE
        problems += checks
        s.clean()
    secs = max(r[0]["duration_us"] for r in results) / 1e6
    return Run(sum(rates) if ok else None, rates, codes, errors, secs, cpu,
               problems, agree)


def describe(run):
    codes = ", ".join("%d x %d" % (n, c) for c, n in
                      sorted(run.codes.items()))
    errs = ", ".join("%s %d" % kv for kv in sorted(run.errors.items()))
    c = run.cpu
    return "%s%s; socket errors: %s; CPU s: hosts %.1f, wrk %.1f, " \
        "postgres %.1f, gluster %.1f, kernel threads %.1f; others %.0f%% " \
        "of a CPU; disk busy %s%s%s" % (
            "hosts %s; " % " + ".join("%.0f" % r for r in run.hosts)
            if len(run.hosts) > 1 else "", codes or "no answer",
            errs or "none", c["server"], c["wrk"], c["postgres"],
            c["gluster"], c["kernel"], 100 * c["other"],
            ", ".join("%s %.0f%%" % (d, 100 * x)
                      for d, x in sorted(c["disk"].items())),
            "; " + run.agree if run.agree else "",
            "".join("; PROBLEM: " + p for p in run.problems))


def rounds(setups, cases, n, seconds):
    """n rounds; in each, every case on every setup, in an order that
    rotates each round.  {(case, setup key): [Run]}."""
    res = {}
    for r in range(n):
        for case in cases:
            k = r % len(setups)
            for s in setups[k:] + setups[:k]:
                tag = "r%d-%s-%s" % (r + 1, case.name, s.key)
                run = one_run(s, case, seconds, tag)
                res.setdefault((case.name, s.key), []).append(run)
                print("# round %d %-6s %-34s %s  %s" % (
                    r + 1, case.name, s.label, "%8.0f req/s" % run.rate
                    if run.rate else "  failed    ", describe(run)),
                    flush=True)
    return res


# ------------------------------------------------------------- table

def table(res, cases, setups):
    fmt = "%-6s %6s  %-34s %5s %9s %6s  %s"
    lines = [fmt % ("case", "status", "ledger, hosts, upload_dir", "hosts",
                    "req/s", "spread", "farm / this")]
    farm_ = setups[0]
    for case in cases:
        mine = ledger.good(res.get((case.name, farm_.key), []))
        for i, s in enumerate(setups):
            rates = ledger.good(res.get((case.name, s.key), []))
            med, sp = ledger.median(rates), ledger.spread(rates)
            ratio = ledger.paired_ratio(mine, rates)
            lines.append(fmt % (
                case.name if i == 0 else "",
                case.variants[0].expect if i == 0 else "", s.label,
                len(s.nodes), "%.0f" % med if med else "failed",
                "%.0f%%" % (100 * sp) if sp is not None else "",
                "(farm)" if s is farm_ else
                "%.3f" % ratio if ratio else "-"))
    return lines


def print_table(res, cases, setups, n, t0):
    print("# req/s: answers with the expected status per second (wrk; "
          "the farm: the sum of its three wrk, one per host), median of %d "
          "rounds; spread: max/min - 1; farm / this: the median of the "
          "rounds' ratios of the farm's figure to the line's; %d "
          "connections of %d users in every case"
          % (n, CONNS, len(ledger.STORE_USERS)))
    for line in table(res, cases, setups):
        print(line)
    stores = [r for (c, _), runs in res.items() if c == "store"
              for r in runs]
    bad = [r for r in stores if not r.agree.startswith(AGREE)]
    if stores:
        print("# after each store run, the files on disk against the 201s "
              "and the ledger (used = the stored files' sizes, nothing "
              "reserved): %s" % (
                  "all %d runs agree" % len(stores) if not bad else
                  "%d of %d runs DISAGREE (their PROBLEM lines above)"
                  % (len(bad), len(stores))))
    print("# load %.2f %.2f %.2f at the end (%d CPUs); %.0fs in all"
          % (os.getloadavg() + (os.cpu_count(), time.monotonic() - t0)),
          flush=True)


# ------------------------------------------------------------- setup

def preflight(build):
    if os.geteuid() != 0:
        return "needs root: mounts, glusterd, PostgreSQL, servers that " \
            "run as www-data"
    missing = [p for p in ("lighttpd", "wrk", "curl", "htpasswd",
                           "glusterd", "gluster", "mount.glusterfs")
               if shutil.which(p) is None]
    if pgtmp.bindir() is None:
        missing.append("/usr/lib/postgresql/*/bin/postgres (postgresql)")
    if not os.path.exists("/dev/fuse"):
        missing.append("/dev/fuse")
    for name in ("upgate.fcgi", "upgate-quota"):
        f = os.path.join(build, name)
        if not os.access(f, os.X_OK):
            missing.append(f)
    return "missing: %s (make deps; make)" % ", ".join(missing) \
        if missing else None


def shared_folder(g, name):
    """A folder NAME at the top of the volume, www-data's, seen as such
    through every mount; its path through each mount."""
    top = os.path.join(g.mounts[0], name)
    os.mkdir(top, 0o755)
    os.chown(top, *servers.runas_ids())
    out = [os.path.join(m, name) for m in g.mounts]
    end = time.monotonic() + 10
    uid = servers.runas_ids()[0]
    for p in out:
        while True:
            try:
                if os.stat(p).st_uid == uid:
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > end:
                harness.fail("%s is not seen as www-data's 10 s after its "
                             "mkdir through mount 1" % p)
            time.sleep(0.1)
    return out


class Bench:
    """Everything the run starts, and its stop()."""

    def __init__(self, build, run_root, auth_cache):
        self.build = build
        self.run_root = run_root
        self.server = functools.partial(BenchServer, auth_cache=auth_cache)
        self.pg = self.g = None
        self.farms = []
        self.setups = []
        self.problems = []

    def start(self):
        t0 = time.monotonic()
        self.pg = pgtmp.PgTmp().start()
        self.g = gluster.Gluster(HOSTS).start()
        if self.g.kind != "gluster":
            harness.fail("the shared tree is %s, not GlusterFS" % self.g.kind)
        for note in self.pg.notes + self.g.notes:
            print("# note: " + note, flush=True)
        on_farm = shared_folder(self.g, "farm")
        one = shared_folder(self.g, "one")[0]
        gtrash = os.path.join(self.g.mounts[0], "trash")
        os.mkdir(gtrash, 0o755)
        local = os.path.join(self.run_root, "upload")
        ltrash = os.path.join(self.run_root, "trash")
        os.mkdir(local, 0o755)
        os.mkdir(ltrash, 0o755)
        os.chown(local, *servers.runas_ids())
        ledger.spread_children(local)
        brick = ledger.disk_of(self.g.brick)
        self.setups = [
            Setup("pg", "PostgreSQL, %d hosts, GlusterFS" % HOSTS,
                  self._farm(on_farm, self.pg.uri), on_farm[0], gtrash,
                  self.pg, (brick, ledger.disk_of(self.pg.data)),
                  FUSE_CACHE),
            Setup("files-gluster", "files, 1 host, GlusterFS",
                  self._farm([one], None), one, gtrash, None, (brick,),
                  0.0),
            Setup("files-local", "files, 1 host, local disk",
                  self._farm([local], None), local, ltrash, None,
                  (ledger.disk_of(local),), 0.0),
        ]
        # the processes of this run's PostgreSQL (the postmaster and
        # its children, each in a session of its own) and GlusterFS
        # (glusterd, the brick, the FUSE clients: all name its folder)
        groups = {"postgres": set(leftovers.pids_referring(self.pg.data)),
                  "gluster": set(leftovers.pids_referring(self.g.root))}
        for s in self.setups:
            s.groups = groups
        print("# started in %.0fs: PostgreSQL %s, GlusterFS (%d FUSE "
              "mounts of one volume), %d hosts" % (
                  time.monotonic() - t0, self.pg.version, HOSTS,
                  sum(len(s.nodes) for s in self.setups)), flush=True)
        return self

    def _farm(self, mounts, uri):
        f = farm.Farm(self.build, mounts, ledger=uri, quota=ledger.QUOTA,
                      server=self.server)
        self.farms.append(f)
        f.start()
        return f

    def describe(self):
        """Where everything is, as '# ' lines."""
        pg, g = self.pg, self.g
        yield "PostgreSQL %s: %s, data in %s (%s), fsync and " \
            "synchronous_commit on" % (pg.version, pg.uri, pg.data,
                                       ledger.fs_type(pg.data))
        yield "GlusterFS: volume %s, one brick %s:%s (%s), FUSE mounts %s" \
            % (g.volume, g.host, g.brick, ledger.fs_type(g.brick),
               ", ".join(g.mounts))
        for s in self.setups:
            for n in s.nodes:
                yield "%-34s host %d: %s  upload_dir %s  state_dir %s (%s)" \
                    % (s.label, n.index, n.url(), n.host.mount,
                       n.host.state, ledger.fs_type(n.host.state))

    def stop(self):
        """Stops the hosts, GlusterFS and PostgreSQL; what went wrong is
        added to self.problems.  Safe to call twice."""
        problems = self.problems
        took = collections.OrderedDict()
        for what, obj in [("hosts", f) for f in reversed(self.farms)] + \
                [("GlusterFS", self.g), ("PostgreSQL", self.pg)]:
            if obj is None:
                continue
            t0 = time.monotonic()
            try:
                p = obj.stop()
            except Exception as e:
                p = "%s: %s" % (type(e).__name__, e)
            took[what] = took.get(what, 0) + time.monotonic() - t0
            if p:
                problems.append("%s: %s" % (what, p))
        self.farms = []
        self.g = self.pg = None
        if took:
            print("# stopped: %s" % ", ".join(
                "%s in %.0fs" % kv for kv in took.items()), flush=True)


# -------------------------------------------------------------- main

def pick_cases(spec, ap):
    if not spec:
        return CASES
    want = [w for w in spec.split(",") if w]
    bad = [w for w in want if w not in WHAT]
    if bad or not want:
        ap.error("unknown case(s) %s; known: %s" % (
            ", ".join(bad), ", ".join(c.name for c in CASES)))
    return [c for c in CASES if c.name in want]


def on_sigterm(signum, frame):
    # so that everything is stopped on the way out
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10,
                    help="length of each run (default 10)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="",
                    help="comma-separated: " + ", ".join(
                        c.name for c in CASES))
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the local upload_dir goes (a real disk)")
    ap.add_argument("--no-auth-cache", action="store_true",
                    help="lighttpd-conf/'s authentication as it is: a "
                    "bcrypt check per request")
    ap.add_argument("--keep", action="store_true",
                    help="keep the folders (UPGATE_KEEP=1 for the "
                    "fixtures)")
    ap.add_argument("-v", action="store_true",
                    help="wrk's own output and the check requests")
    a = ap.parse_args()
    ledger.VERBOSE = a.v
    cases = pick_cases(a.cases, ap)
    build = os.path.abspath(a.build)
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"
    why = preflight(build)
    if why:
        print("bench-farm: %s" % why, file=sys.stderr)
        return 1
    if a.keep:
        os.environ["UPGATE_KEEP"] = "1"
    # before the fixtures install theirs, which then call this one
    signal.signal(signal.SIGTERM, on_sigterm)
    run_root = tempfile.mkdtemp(prefix="upgate-farm-bench-", dir=a.dir)
    os.chmod(run_root, 0o755)
    t0 = time.monotonic()
    bench = Bench(build, run_root, not a.no_auth_cache)
    rc = 0
    try:
        print("# %d s per run x %d rounds, %d-byte bodies, %d connections "
              "of %d users; the local upload_dir in %s (%s); load %.2f "
              "%.2f %.2f at the start" % ((
                  a.seconds, a.rounds, ledger.BODY, CONNS,
                  len(ledger.STORE_USERS), run_root,
                  ledger.fs_type(run_root)) + os.getloadavg()), flush=True)
        print("# authentication: lighttpd-conf's basic auth (bcrypt), %s"
              % ("as it is: one bcrypt check per request" if
                 a.no_auth_cache else "plus auth.cache (max-age 600): "
                 "one bcrypt check per user and host"), flush=True)
        bench.start()
        for line in bench.describe():
            print("# " + line, flush=True)
        check_setups(bench.setups, cases)
        res = rounds(bench.setups, cases, a.rounds, a.seconds)
        # before the clean-up, which takes a while
        print_table(res, cases, bench.setups, a.rounds, t0)
    except (harness.Failure, farm.Error, gluster.Error, pgtmp.Error) as e:
        print("bench-farm: %s" % e, file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        print("bench-farm: interrupted", file=sys.stderr)
        rc = 1
    finally:
        t1 = time.monotonic()
        bench.stop()
        if not a.keep:
            ledger.remove_tree(run_root)
        for p in bench.problems:
            print("bench-farm: clean-up: %s" % p, file=sys.stderr)
            rc = 1
        print("# clean-up done in %.0fs" % (time.monotonic() - t1),
              flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
