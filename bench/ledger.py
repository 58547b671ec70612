#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Small requests through lighttpd and upgate.fcgi against peers on the
same lighttpd server, behind the same basic authentication, in one run,
with wrk (bench/ledger.lua):

  store-1      1 connection, one user       PUT of 4 KiB to a new name
  store-16x1   16 connections, one user     "
  store-16x16  16 connections, 16 users     "
      upgate (sync = yes, the default), upgate with sync = no (when the
      build knows the key), and lighttpd mod_webdav at /dav (no fsync)
  refuse       16 connections, 16 users     PUT of 4 KiB over the quota
      upgate's 507, against lighttpd's own 413 (/small, where
      server.max-request-size is 1 KiB) and mod_webdav's 403 (/davro,
      read-only)
  status       16 connections, 16 users     GET /upload (quota status)
      against the same 413 and a GET of a 4 KiB file through /dav

The server is started by tests/servers/servers.py from
lighttpd-conf/upgate-fastcgi.conf (the lighttpd-fastcgi path); this
program appends the peers and, unless --no-auth-cache, lighttpd's
auth.cache (see bench/README.md: without it every request of every case
pays one bcrypt check on lighttpd's single thread).  upload_dir and the
WebDAV folder are on the real disk (--dir, default /var/tmp), since what
fsync costs is the point; every store run starts on empty folders.

A figure is the responses with the expected status per second, the
median of --rounds; nothing is asserted.  A ratio is upgate's figure over
a peer's in the same round, the median over the rounds.

  python3 bench/ledger.py --build DIR [--seconds S] [--rounds N]
                          [--cases store-1,refuse,...] [--dir DIR]
                          [--no-auth-cache] [--keep] [-v]

Needs root (the server runs as www-data), lighttpd, lighttpd-mod-webdav,
wrk and htpasswd.
"""

import argparse
import base64
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))
sys.path.insert(0, HERE)

import servers  # noqa: E402
import harness  # noqa: E402  (tests/integration, via servers)
from hosting import CpuWatch, children_cpu  # noqa: E402

PATH = "lighttpd-fastcgi"
LUA = os.path.join(HERE, "ledger.lua")
BODY = 4096
WEBDAV_MOD = "/usr/lib/lighttpd/mod_webdav.so"

# Store and status users have a quota far above what a run stores, so
# that the quota is checked but never refuses; refusal users have 1 KiB,
# below every 4 KiB body.
STORE_USERS = ["user%02d" % i for i in range(1, 17)]
FULL_USERS = ["full%02d" % i for i in range(1, 17)]
QUOTA = "# written by bench/ledger.py\n" + "".join(
    "%s 1T\n" % u for u in STORE_USERS) + "".join(
    "%s 1K\n" % u for u in FULL_USERS)

AUTH = """( "method" => "basic", "realm" => "upgate", \
"require" => "valid-user" )"""

# The peers, beside the gate and behind the same authentication.
# server.max-request-size is honoured inside a condition; lighttpd checks
# it as soon as the headers are in, before mod_auth runs (measured: an
# unauthenticated PUT there gets 413, not 401).
LIGHTTPD_LEDGER = """
# written by bench/ledger.py: the peers beside the gate
server.modules += ( "mod_webdav" )
auth.require += ( "/dav" => {auth}, "/davro" => {auth}, "/small" => {auth} )
$HTTP["url"] =~ "^/dav(/|$)" {{
	server.document-root = "{davroot}"
	webdav.activate = "enable"
}}
$HTTP["url"] =~ "^/davro(/|$)" {{
	server.document-root = "{davroot}"
	webdav.activate = "enable"
	webdav.is-readonly = "enable"
}}
$HTTP["url"] =~ "^/small(/|$)" {{
	server.max-request-size = 1
}}
"""

# The FastCGI floor (bench/fcgi_floor.c) at /floor, behind the same
# authentication: a fixed answer, the cost of the round trip alone.
LIGHTTPD_FLOOR = """
auth.require += ( "/floor" => {auth} )
$HTTP["url"] =~ "^/floor(/|$)" {{
	fastcgi.server = ( "/floor" => ( (
		"bin-path" => "{floor}",
		"socket" => "{sock}",
		"check-local" => "disable",
		"max-procs" => 1,
	) ) )
}}
"""

# lighttpd (1.4.56 and later) keeps a verified password for max-age
# seconds; the snippet does not set it.
AUTH_CACHE = 'auth.cache = ( "max-age" => "600" )\n'

# One kind of request.  key names it in the table; path is the target
# (with tag True, a new PATH/NAME per request); expect is the status that
# counts; peer says whether it is a peer or upgate.
Variant = collections.namedtuple(
    "Variant", "key label method path tag body expect peer")
Case = collections.namedtuple("Case", "name conns users variants")

UPGATE = Variant("upgate", "upgate PUT, sync = yes", "PUT", "/upload",
                 True, BODY, 201, False)
NOSYNC = Variant("nosync", "upgate PUT, sync = no", "PUT", "/upload",
                 True, BODY, 201, False)
DAV = Variant("dav", "mod_webdav PUT (no fsync)", "PUT", "/dav", True,
              BODY, 201, True)
QUOTA_507 = Variant("upgate", "upgate PUT over quota", "PUT",
                    "/upload/refused.bin", False, BODY, 507, False)
TOO_LARGE = Variant("413", "lighttpd 413 (before auth)", "PUT",
                    "/small/refused.bin", False, BODY, 413, True)
READ_ONLY = Variant("davro", "mod_webdav 403 read-only", "PUT",
                    "/davro/refused.bin", False, BODY, 403, True)
FLOOR_507 = Variant("floor", "FastCGI floor: a fixed 507", "PUT",
                    "/floor/refused.bin", False, BODY, 507, True)
FLOOR_200 = Variant("floor", "FastCGI floor: a fixed 200", "GET",
                    "/floor", False, 0, 200, True)
STATUS = Variant("upgate", "upgate GET /upload", "GET", "/upload", False,
                 0, 200, False)
STATIC = Variant("davget", "GET 4 KiB file via /dav", "GET",
                 "/dav/static.bin", False, 0, 200, True)
FLOOR_201 = Variant("floor", "FastCGI floor: body read, 201", "PUT",
                    "/floor", True, BODY, 201, True)
STORES = (UPGATE, NOSYNC, DAV, FLOOR_201)

CASES = [
    Case("store-1", 1, STORE_USERS[:1], STORES),
    Case("store-16x1", 16, STORE_USERS[:1], STORES),
    Case("store-16x16", 16, STORE_USERS, STORES),
    Case("refuse", 16, FULL_USERS, (QUOTA_507, TOO_LARGE, READ_ONLY,
                                    FLOOR_507)),
    Case("status", 16, STORE_USERS, (STATUS, TOO_LARGE, STATIC, FLOOR_200)),
]

VERBOSE = False


def reread_conf(path):
    """Makes each worker of the responder read upgate.conf again at its
    next request, and so open the ledger again: a worker keeps the files
    ledger open, with descriptors of state_dir's folders and lock file,
    until the configuration changes (common/gate.c), so after the ledger
    was moved aside, workers that had opened it would go on in the moved
    one while new ones start another, each with its own lock.  The same
    text, renamed into place (a new inode)."""
    with open(path) as f:
        text = f.read()
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


class LedgerServer(servers.Server):
    """The lighttpd-fastcgi path's server with the peers appended and
    the bench's users in the password file."""

    def __init__(self, site, build, root, davroot, auth_cache, floor):
        super().__init__(PATH, site, build, root)
        self.davroot = davroot
        self.auth_cache = auth_cache
        self.floor = floor

    def _write(self):
        super()._write()
        with open(self.conf, "a") as f:
            f.write(LIGHTTPD_LEDGER.format(auth=AUTH, davroot=self.davroot))
            if self.floor:
                f.write(LIGHTTPD_FLOOR.format(
                    auth=AUTH, floor=self.floor,
                    sock=os.path.join(self.root, "run", "floor.sock")))
        write_auth(self, self.auth_cache)


def write_auth(srv, auth_cache):
    """The bench's users in the password file of srv (a servers.Server
    whose files are written) and, with auth_cache, lighttpd's auth.cache
    appended to its configuration."""
    servers.write_htpasswd(os.path.join(srv.root, "htpasswd"),
                           STORE_USERS + FULL_USERS)
    if auth_cache:
        with open(srv.conf, "a") as f:
            f.write(AUTH_CACHE)


def spread_children(path):
    """Marks path so that ext4 puts each folder made in it in a block
    group of its own choosing (chattr +T, "top of a directory
    hierarchy"), rather than in path's group.  Each run's folders (user
    folders, .upgate, the WebDAV folder: all made anew after a clean)
    then take their inodes from a group that no earlier run has used:
    without a journal, ext4 walks past every inode of the group freed in
    the last minutes (see Ledger.clean), and the inodes upgate's ledger
    freed slowed the mod_webdav run after it by half or more.  Elsewhere
    the flag does nothing, and a failure is ignored."""
    subprocess.run(["chattr", "+T", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class Ledger:
    """The site (upload_dir with its quota table, the WebDAV folder, all
    www-data's and on the same filesystem) and the running server."""

    def __init__(self, run_root, build, auth_cache):
        self.root = os.path.join(run_root, PATH)
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.site = servers.Site(os.path.join(self.root, "site"), QUOTA,
                                 None)
        self.env = self.site.env
        self.trash = os.path.join(self.root, "trash")
        self.trashed = 0
        self.davroot = os.path.join(self.root, "site", "davroot")
        self.dav = os.path.join(self.davroot, "dav")
        os.makedirs(self.dav)
        servers.chown_tree(self.davroot)
        for d in (self.env.upload, self.davroot):
            spread_children(d)
        self.disk = disk_of(self.env.upload)
        self.srv = LedgerServer(self.site, build,
                                os.path.join(self.root, "srv"),
                                self.davroot, auth_cache,
                                self.floor_program(build))
        os.makedirs(self.srv.root)
        self.srv.start()
        self.clean()

    def floor_program(self, build):
        """bench/fcgi_floor, copied where the server's user can run it;
        None (no floor) when it was not built."""
        src = os.path.join(build, "bench", "fcgi_floor")
        if not os.path.exists(src):
            return None
        dst = os.path.join(self.root, "fcgi_floor")
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
        return dst

    def url(self):
        return "http://127.0.0.1:%d" % self.srv.port

    def set_sync(self, on):
        """Rewrites upgate.conf by rename (a new inode), so that the
        responder sees the change and reads it again."""
        if on:
            self.env.conf.pop("sync", None)
        else:
            self.env.conf["sync"] = "no"
        text = "# written by bench/ledger.py\n" + "".join(
            "%s = %s\n" % kv for kv in self.env.conf.items())
        tmp = self.env.conf_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.env.conf_path)

    def clean(self):
        """Empties upload_dir (files, user folders and the ledger in
        .upgate, which the next request creates again, once upgate.conf
        is rewritten: reread_conf) and the WebDAV folder, then puts back
        the file the status case GETs.

        What they held is moved aside, into trash/ on the same
        filesystem, and removed with the run's folder at the end: on an
        ext4 without a journal, a new inode is never one freed in the
        last minute (six while its inode-table block is dirty:
        recently_deleted() in fs/ext4/ialloc.c), and every allocation
        walks past all of those, so deleting the 100,000 files of a
        mod_webdav run here would slow down the runs after it."""
        self.trashed += 1
        bin_ = os.path.join(self.trash, "%d" % self.trashed)
        os.makedirs(bin_)
        for e in os.scandir(self.env.upload):
            os.rename(e.path, os.path.join(bin_, e.name))
        reread_conf(self.env.conf_path)
        os.rename(self.dav, os.path.join(bin_, "dav"))
        os.mkdir(self.dav)
        os.chown(self.dav, *servers.runas_ids())
        static = os.path.join(self.dav, "static.bin")
        with open(static, "wb") as f:
            f.write(b"s" * BODY)
        os.chown(static, *servers.runas_ids())

    def stored(self, variant):
        """{user or "-": [file sizes]} of what the store runs left."""
        out = {}
        if variant.path == "/dav":
            out["-"] = [e.stat().st_size for e in os.scandir(self.dav)
                        if e.name != "static.bin"]
            return out
        for d in os.scandir(self.env.upload):
            if d.is_dir() and not d.name.startswith("."):
                out[d.name] = [e.stat().st_size for e in os.scandir(d.path)
                               if not e.name.startswith(".")]
        return out

    def temporary_files(self):
        """How many of upgate's temporary files exist (upgate(8), Requests: named
        .upgate-tmp-… in the target folder, here a user's folder)."""
        n = 0
        for d in os.scandir(self.env.upload):
            if d.is_dir() and not d.name.startswith("."):
                n += sum(e.name.startswith(harness.TMP_PREFIX)
                         for e in os.scandir(d.path))
        return n

    def close(self):
        self.srv.stop()
        self.site.close()


def auth_value(user):
    """The Authorization header of user (the password is the name)."""
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, user)).encode()).decode()


# ------------------------------------------------------------ one request

def curl_once(led, case, v, name):
    """One request as wrk would send it (curl, no Expect); (status,
    Connection header, body)."""
    target = "%s/%s" % (v.path, name) if v.tag else v.path
    argv = ["curl", "-sS", "--http1.1", "-D", "-", "-o", "-", "-X",
            v.method, "-H", "Expect:", "-H",
            "Authorization: " + auth_value(case.users[0]),
            "--max-time", "30"]
    if v.body:
        # wrk sends no Content-Type: nor does curl with an empty one
        argv += ["--data-binary", "x" * v.body, "-H", "Content-Type:"]
    p = subprocess.run(argv + [led.url() + target], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.decode("latin-1")
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, None, p.stderr.decode("utf-8", "replace")
    conn = None
    for line in lines[1:]:
        k, _, val = line.partition(":")
        if k.strip().lower() == "connection":
            conn = val.strip().lower()
    return status, conn, body


def config_problem(led):
    """upgate's own words about its configuration, from the server's log
    (upgate(8), Logs: one 'upgate: FILE:LINE: message' line per problem)."""
    lines = [ln for ln in led.srv.logs().splitlines()
             if "upgate: " + led.env.conf_path in ln]
    return lines[-1].split("upgate: ", 1)[1] if lines else "status 500"


def check_variants(led, cases):
    """Sends each variant once, as a warm-up (the responder is spawned,
    caches are filled) and a check that it answers what it should.
    sync = no is tried once: a build that does not know the key answers
    500 (upgate.conf(5), Keys: unknown keys are errors), and its runs are left out.
    Returns {(case name, variant key): why it is left out}."""
    out = {}
    nosync = None           # why sync = no is left out, once known
    for case in cases:
        for v in case.variants:
            if v is NOSYNC and nosync:
                out[case.name, v.key] = nosync
                continue
            if v is NOSYNC:
                led.set_sync(False)
            status, conn, body = curl_once(
                led, case, v, "check-%s-%s.bin" % (case.name, v.key))
            if v is NOSYNC:
                led.set_sync(True)
                if status == 500:
                    nosync = out[case.name, v.key] = \
                        "not supported by this build"
                    print("# sync = no: not supported by this build (%s)"
                          % config_problem(led), flush=True)
                    continue
            if status != v.expect:
                harness.fail("%s %s: check request got %s, not %s: %s\n%s"
                             % (case.name, v.label, status, v.expect,
                                body[:300], led.srv.logs()[-1500:]))
            if VERBOSE:
                print("#   check %-11s %-26s %s, Connection: %s" % (
                    case.name, v.label, status, conn or "-"), flush=True)
    led.clean()
    return out


# ---------------------------------------------------------------- one run

Run = collections.namedtuple(
    "Run", "rate codes errors seconds cpu problems")


def wrk_argv(url, case, v, seconds, tag):
    """wrk with one thread per connection (so one user per connection,
    bench/ledger.lua) against the server at url."""
    return ["wrk", "-t%d" % case.conns, "-c%d" % case.conns,
            "-d%ds" % seconds, "--timeout", "30s", "-s", LUA, url,
            "--", v.method, v.path, tag if v.tag else "-", str(v.body)] + \
        [auth_value(u) for u in case.users]


def wrk(led, case, v, seconds, tag):
    """One wrk (wrk_argv); the fields of its ledger-wrk line."""
    p = subprocess.run(wrk_argv(led.url(), case, v, seconds, tag),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=seconds + 120)
    return wrk_fields(p.returncode, p.stdout, p.stderr)


def wrk_fields(rc, out, err):
    """The fields of the ledger-wrk line in wrk's output out (bytes), as
    ({field: int}, {status: count}); a wrk that failed (exit status rc,
    standard error err) or printed no such line is a harness.Failure."""
    text = out.decode("utf-8", "replace")
    if VERBOSE:
        print("".join("#   wrk: %s\n" % ln for ln in text.splitlines()),
              end="")
    line = [ln for ln in text.splitlines() if ln.startswith("ledger-wrk:")]
    if rc != 0 or not line:
        harness.fail("wrk failed (exit %d): %s %s" % (
            rc, text[-500:], err.decode("utf-8", "replace")[-500:]))
    fields = dict(kv.split("=", 1) for kv in line[0].split()[1:])
    codes = {int(c): int(n) for c, n in
             (x.split(":") for x in fields.pop("codes").split(",") if x)}
    return {k: int(x) for k, x in fields.items()}, codes


def check_stored(led, case, v, ok):
    """What a store run left on disk: one 4 KiB file per 201 (wrk may
    stop with up to one request per connection answered after it left),
    in as many user folders as the case has users.  Problems, as text."""
    problems = []
    by_user = led.stored(v)
    sizes = [s for ss in by_user.values() for s in ss]
    if not ok <= len(sizes) <= ok + case.conns:
        problems.append("%d files on disk for %d answers 201"
                        % (len(sizes), ok))
    if any(s != BODY for s in sizes):
        problems.append("%d files not of %d bytes" % (
            sum(s != BODY for s in sizes), BODY))
    if v.path == "/upload":
        users = sorted(u for u, ss in by_user.items() if ss)
        if users != sorted(case.users):
            problems.append("stored for %s, not for %s" % (
                ",".join(users), ",".join(case.users)))
    return problems


def server_ticks(sid):
    """CPU clock ticks used so far by the processes of session sid."""
    total = 0
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except (OSError, ValueError):
            continue
        f = st[st.rindex(")") + 2:].split()
        if int(f[3]) == sid:
            total += int(f[11]) + int(f[12])
    return total


def settle(led, timeout=60):
    """Waits until the server is idle: when wrk stops, the requests it
    left in flight still run (a store can wait seconds for the ledger
    lock), and they must neither race the cleaning of the folders nor
    land in the next run.  Idle: no CPU used and no temporary file
    present over 0.3 s."""
    sid = led.srv.proc.pid
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        now = (server_ticks(sid), led.temporary_files())
        if now == last and now[1] == 0:
            return
        last = now
        time.sleep(0.3)
    harness.fail("the server is still busy %ds after wrk stopped" % timeout)


def one_run(led, case, v, seconds, tag):
    """A run of seconds: req/s of the expected status, and the rest."""
    if v is NOSYNC:
        led.set_sync(False)
    # writeback of the last run's files must not land in this one
    os.sync()
    wrk0 = children_cpu()
    watch = CpuWatch({led.srv.proc.pid})
    io0 = io_ticks(led.disk)
    t0 = time.monotonic()
    try:
        summary, codes = wrk(led, case, v, seconds, tag)
    finally:
        settle(led)
        cpu, _ = watch.finish()
        if v is NOSYNC:
            led.set_sync(True)
    cpu["wrk"] = children_cpu() - wrk0
    elapsed = time.monotonic() - t0
    cpu["other"] /= elapsed                   # share of one CPU
    # share of the time the disk was busy, with anyone's requests: an
    # fsync waits behind every other writer's on a shared disk
    cpu["disk"] = (io_ticks(led.disk) - io0) / 1000 / elapsed
    ok = codes.get(v.expect, 0)
    problems = ["%d answered %d" % (n, c) for c, n in sorted(codes.items())
                if c != v.expect]
    errors = {k: summary[k] for k in ("connect", "read", "write",
                                      "timeout") if summary[k]}
    if v.tag and v.key != "floor":	# the floor stores nothing
        problems += check_stored(led, case, v, ok)
        led.clean()
    secs = summary["duration_us"] / 1e6
    return Run(ok / secs if ok else None, codes, errors, secs, cpu,
               problems)


def describe(run):
    codes = ", ".join("%d x %d" % (n, c) for c, n in
                      sorted(run.codes.items()))
    errs = ", ".join("%s %d" % kv for kv in sorted(run.errors.items()))
    return "%s; socket errors: %s; CPU s: server %.1f, wrk %.1f, kernel " \
        "threads %.1f; others %.0f%% of a CPU; disk busy %.0f%%%s" % (
            codes or "no answer", errs or "none", run.cpu["server"],
            run.cpu["wrk"], run.cpu["kernel"], 100 * run.cpu["other"],
            100 * run.cpu["disk"],
            "".join("; PROBLEM: " + p for p in run.problems))


def rounds(led, cases, skipped, n, seconds):
    """n rounds; in each, every case and its variants, in an order that
    rotates each round.  {(case, key): [Run]}."""
    res = {}
    for r in range(n):
        for case in cases:
            vs = [v for v in case.variants
                  if (case.name, v.key) not in skipped]
            k = r % len(vs)
            for v in vs[k:] + vs[:k]:
                tag = "r%d-%s-%s" % (r + 1, case.name, v.key)
                run = one_run(led, case, v, seconds, tag)
                res.setdefault((case.name, v.key), []).append(run)
                print("# round %d %-11s %-26s %s  %s" % (
                    r + 1, case.name, v.label, "%8.0f req/s" % run.rate
                    if run.rate else "  failed    ", describe(run)),
                    flush=True)
    return res


# ------------------------------------------------------------------ table

def good(runs):
    """The rates of the runs that had no problem (None for the others),
    in round order."""
    return [r.rate if r.rate and not r.problems else None for r in runs]


def median(vals):
    vals = [v for v in vals if v]
    return statistics.median(vals) if vals else None


def spread(vals):
    vals = [v for v in vals if v]
    return max(vals) / min(vals) - 1 if len(vals) > 1 else None


def paired_ratio(mine, peer):
    """The median over rounds of upgate's rate over the peer's in the
    same round: the two ran a few seconds apart, so a round during which
    the rest of the machine was busy slows both and moves the ratio less
    than either rate."""
    return median([a / b for a, b in zip(mine, peer) if a and b])


def table(res, cases, skipped):
    fmt = "%-11s %5s %5s  %-26s %6s %9s %6s  %s"
    lines = [fmt % ("case", "conns", "users", "variant", "status",
                    "req/s", "spread", "upgate / peer")]
    for case in cases:
        rates = {v.key: good(res.get((case.name, v.key), []))
                 for v in case.variants}
        peers = [v for v in case.variants if v.peer]
        for i, v in enumerate(case.variants):
            head = (case.name, case.conns, len(case.users)) if i == 0 \
                else ("", "", "")
            why = skipped.get((case.name, v.key))
            if why:
                lines.append(fmt % (head + (v.label, "-", "-", "", why)))
                continue
            med, s = median(rates[v.key]), spread(rates[v.key])
            ratios = [(paired_ratio(rates[v.key], rates[p.key]), p.key)
                      for p in peers]
            lines.append(fmt % (head + (
                v.label, v.expect, "%.0f" % med if med else "failed",
                "%.0f%%" % (100 * s) if s is not None else "",
                "(peer)" if v.peer else ", ".join(
                    "%.3f of %s" % r for r in ratios if r[0]))))
    return lines


# ------------------------------------------------------------------- main

def print_table(res, cases, skipped, n, t0):
    print("# req/s: answers with the expected status per second (wrk), "
          "median of %d rounds; spread: max/min - 1; upgate / peer: the "
          "median of the rounds' ratios" % n)
    for line in table(res, cases, skipped):
        print(line)
    print("# load %.2f %.2f %.2f at the end (%d CPUs); %.0fs in all"
          % (os.getloadavg() + (os.cpu_count(), time.monotonic() - t0)),
          flush=True)


def remove_tree(path):
    """Removes the run's folder: the hundreds of thousands of files the
    store runs left take minutes; rm is faster at it than Python."""
    print("# removing %s" % path, flush=True)
    if subprocess.run(["rm", "-rf", "--one-file-system", path]).returncode:
        shutil.rmtree(path, ignore_errors=True)


def preflight(build):
    if os.geteuid() != 0:
        return "needs root: the server's children run as www-data"
    missing = [p for p in ("lighttpd", "wrk", "curl", "htpasswd")
               if shutil.which(p) is None]
    if not os.path.exists(WEBDAV_MOD):
        missing.append(WEBDAV_MOD + " (lighttpd-mod-webdav)")
    f = os.path.join(build, "upgate.fcgi")
    if not os.access(f, os.X_OK):
        missing.append(f)
    return "missing: " + ", ".join(missing) if missing else None


def disk_of(path):
    """The block device (its name in /proc/diskstats) that path is on."""
    p = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "--target", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = p.stdout.decode().split()
    return os.path.basename(lines[-1]) if lines else None


def io_ticks(disk):
    """Milliseconds the disk has spent with requests in flight (the 10th
    statistic of /proc/diskstats); 0 when unknown."""
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] == disk:
                return int(fields[12])
    return 0


def fs_type(path):
    """The type of the filesystem path is on (ext4, tmpfs, ...), and for
    ext4 whether it has a journal: without one, fsync and new inodes cost
    differently (see Ledger.clean)."""
    p = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target",
                        path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    # several mounts on one point: the last one is what is seen
    lines = p.stdout.decode().splitlines()
    if not lines:
        return "?"
    kind, _, dev = lines[-1].partition(" ")
    task = "/sys/fs/ext4/%s/journal_task" % os.path.basename(dev.strip())
    try:
        with open(task) as f:
            if f.read().strip() == "<none>":
                return kind + " without a journal"
    except OSError:
        pass
    return kind


def pick_cases(spec, ap):
    """--cases: names, or a prefix such as "store" for all of them."""
    if not spec:
        return CASES
    want = [w for w in spec.split(",") if w]
    out = [c for c in CASES if any(c.name == w or c.name.startswith(w + "-")
                                   for w in want)]
    bad = [w for w in want if not any(c.name == w or c.name.startswith(
        w + "-") for c in CASES)]
    if bad or not out:
        ap.error("unknown case(s) %s; known: %s" % (
            ", ".join(bad), ", ".join(c.name for c in CASES)))
    return out


def on_sigterm(signum, frame):
    # so that the servers are stopped on the way out
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10,
                    help="length of each run (default 10)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="",
                    help="comma-separated: " + ", ".join(
                        c.name for c in CASES) + " (or store)")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the run's folder goes (a real disk)")
    ap.add_argument("--no-auth-cache", action="store_true",
                    help="lighttpd-conf/'s authentication as it is: a "
                    "bcrypt check per request")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true",
                    help="wrk's own output and the check requests")
    a = ap.parse_args()
    global VERBOSE
    VERBOSE = a.v
    cases = pick_cases(a.cases, ap)
    build = os.path.abspath(a.build)
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"
    why = preflight(build)
    if why:
        print("bench-ledger: %s" % why, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, on_sigterm)
    harness.BUILD = servers.BUILD = build
    harness.KEEP = a.keep
    run_root = tempfile.mkdtemp(prefix="upgate-ledger-", dir=a.dir)
    os.chmod(run_root, 0o755)
    harness.RUN_ROOT = run_root
    t0 = time.monotonic()
    led = None
    try:
        fs = fs_type(run_root)
        print("# %s: %d s per run x %d rounds, %d-byte bodies; upload_dir "
              "and the WebDAV folder in %s, on %s (%s); load %.2f %.2f %.2f "
              "at the start" % ((PATH, a.seconds, a.rounds, BODY, run_root,
                                 fs, "a tmpfs: fsync costs nothing there"
                                 if fs == "tmpfs" else "fsync reaches the "
                                 "disk") + os.getloadavg()), flush=True)
        print("# authentication: lighttpd-conf's basic auth (bcrypt), %s"
              % ("as it is: one bcrypt check per request" if
                 a.no_auth_cache else "plus auth.cache (max-age 600): "
                 "one bcrypt check per user"), flush=True)
        led = Ledger(run_root, build, not a.no_auth_cache)
        skipped = check_variants(led, cases)
        res = rounds(led, cases, skipped, a.rounds, a.seconds)
        # the table comes before the removal of the run's folder
        led.close()
        led = None
        print_table(res, cases, skipped, a.rounds, t0)
    except harness.Failure as e:
        print("bench-ledger: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench-ledger: interrupted", file=sys.stderr)
        return 1
    finally:
        if led is not None:
            led.close()
        if not a.keep:
            remove_tree(run_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
