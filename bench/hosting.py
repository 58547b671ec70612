#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""What upgate costs on each hosting path: large PUTs with curl through the
real servers (tests/servers/servers.py starts them from the very files in
apache-conf/ and lighttpd-conf/), the same run, one after the other:

  upgate    PUT /upload/NAME   upgate.cgi or upgate.fcgi, as configured
  copier    PUT /copier/NAME   bench/copier: body to a temporary file,
                               fsync, rename, fsync of the folder
  nofsync   PUT /copier-nf/NAME  the same without either fsync
  dav       PUT /dav/NAME      Apache mod_dav_fs (no fsync); Apache only

The copier and mod_dav_fs sit beside the gate in the same server, behind
the same authentication and with the same body limits.  The body is one
file on the same filesystem as upload_dir (the real disk, not a tmpfs),
made once and kept in the page cache; every stored file is removed after
its run.  Figures are curl's speed_upload in MB/s (10^6 bytes), the median
of --rounds; nothing is asserted.  The issue's targets: upgate/copier at
least 0.95 on every path, upgate/dav at least 1.0 through mod_proxy_fcgi.
Each run's line also gives the CPU time of the servers (with their
programs), curl and kernel threads, and the share of a CPU the rest of the
machine took meanwhile: on a small machine these figures are CPU-bound,
so a run with others busy says little (-v: CPU time by process name).

  python3 bench/hosting.py --build DIR [--size MIB] [--rounds N]
                           [--paths a,b] [--dir DIR] [--keep] [-v]

Needs root (the servers' children run as www-data), apache2,
libapache2-mod-fcgid, lighttpd, curl, and DIR/bench/copier (make
bench-hosting builds it).
"""

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

import servers  # noqa: E402
import harness  # noqa: E402  (tests/integration, via servers)

MB = 1000 * 1000
HZ = os.sysconf("SC_CLK_TCK")
VERBOSE = False         # -v: each run's CPU time by process name
VARIANTS = ("upgate", "copier", "nofsync", "dav")
URL = {"upgate": "/upload", "copier": "/copier", "nofsync": "/copier-nf",
       "dav": "/dav"}

APACHE_AUTH = """\
    AuthType Basic
    AuthName "upgate"
    AuthBasicProvider file
    AuthUserFile "{htpasswd}"
    Require valid-user
    LimitRequestBody 0
"""

# How each Apache path runs the copier, beside the gate.
APACHE_COPIER = {
    "apache-cgid": """\
ScriptAlias /copier-nf "{copier}"
ScriptAlias /copier "{copier}"
""",
    "apache-fcgid": """\
Alias /copier-nf "{copier}"
Alias /copier "{copier}"
<Directory "{copier_dir}">
    <Files copier>
        SetHandler fcgid-script
        Options +ExecCGI
        AcceptPathInfo On
    </Files>
</Directory>
""",
    "apache-proxy-fcgi": "",
}

APACHE_PROXY = """\
    ProxyFCGISetEnvIf "reqenv('SCRIPT_NAME') =~ m#^{prefix}(/.*)$#" \
PATH_INFO "$1"
    ProxyPass "unix:{sock}|fcgi://copier" timeout=300
"""

APACHE_BENCH = """
# written by bench/hosting.py: the copier and mod_dav_fs beside the gate
{copier_map}
<Location /copier>
{auth}    SetEnv COPIER_DIR "{out}"
{proxy_c}</Location>
<Location /copier-nf>
{auth}    SetEnv COPIER_DIR "{out}"
    SetEnv COPIER_NO_FSYNC 1
{proxy_nf}</Location>
LoadModule dav_module {mods}/mod_dav.so
LoadModule dav_fs_module {mods}/mod_dav_fs.so
DavLockDB "{root}/run/davlock"
Alias /dav "{dav}"
<Location /dav>
    Dav On
{auth}</Location>
"""

LIGHTTPD_COPIER = {
    "lighttpd-cgi": """\
	alias.url = ( "{prefix}" => "{copier}" )
	cgi.assign = ( "/copier" => "" )
	setenv.add-environment = ( "COPIER_DIR" => "{out}"{nf} )
""",
    "lighttpd-fastcgi": """\
	fastcgi.server = ( "{prefix}" => ( (
		"bin-path" => "{copier}",
		"socket" => "{root}/run/{name}.sock",
		"check-local" => "disable",
		"max-procs" => 1,
		"bin-environment" => ( "COPIER_DIR" => "{out}"{nf} ),
	) ) )
""",
}

LIGHTTPD_BENCH = """
# written by bench/hosting.py: the copier beside the gate
auth.require += ( "/copier" => ( "method"  => "basic",
                                 "realm"   => "upgate",
                                 "require" => "valid-user" ) )
$HTTP["url"] =~ "^/copier(/|$)" {{
{copier_c}}}
$HTTP["url"] =~ "^/copier-nf(/|$)" {{
{copier_nf}}}
"""


class BenchServer(servers.Server):
    """A hosting path's server with the copier (and, on Apache, mod_dav_fs)
    added to the configuration the tests write."""

    def __init__(self, path, site, build, root, copier, out, dav):
        super().__init__(path, site, build, root)
        self.copier = copier
        self.copier_out = out
        self.dav = dav
        self.copier_proc = None
        self.copier_sock = os.path.join(root, "run", "copier.sock")
        self.copier_log = os.path.join(root, "copier.log")

    def _write(self):
        super()._write()
        with open(self.conf, "a") as f:
            f.write(self._bench_conf())

    def _bench_conf(self):
        fmt = {"copier": self.copier,
               "copier_dir": os.path.dirname(self.copier),
               "out": self.copier_out, "dav": self.dav, "root": self.root,
               "mods": servers.MODULES, "sock": self.copier_sock}
        if self.kind == "apache":
            fmt["auth"] = APACHE_AUTH.format(
                htpasswd=os.path.join(self.root, "htpasswd"))
            fmt["copier_map"] = APACHE_COPIER[self.path].format(**fmt)
            proxy = self.path == "apache-proxy-fcgi"
            fmt["proxy_c"] = APACHE_PROXY.format(prefix="/copier", **fmt) \
                if proxy else ""
            fmt["proxy_nf"] = APACHE_PROXY.format(prefix="/copier-nf",
                                                  **fmt) if proxy else ""
            return APACHE_BENCH.format(**fmt)
        one = LIGHTTPD_COPIER[self.path]
        fmt["copier_c"] = one.format(prefix="/copier", name="copier",
                                     nf="", **fmt)
        fmt["copier_nf"] = one.format(prefix="/copier-nf", name="copier-nf",
                                      nf=', "COPIER_NO_FSYNC" => "1"', **fmt)
        return LIGHTTPD_BENCH.format(**fmt)

    def start(self):
        super().start()
        if self.path == "apache-proxy-fcgi":
            try:
                self._start_copier()
            except BaseException:
                self.stop()
                raise
        return self

    def _start_copier(self):
        """The copier on its own socket, as www-data, like upgate.fcgi."""
        uid, gid = servers.runas_ids()

        def demote():
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
        out = open(self.copier_log, "ab")
        self.copier_proc = subprocess.Popen(
            [self.copier, "--listen", self.copier_sock],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env=self._server_env(), preexec_fn=demote,
            start_new_session=True)
        out.close()
        end = time.monotonic() + 10
        while not os.path.exists(self.copier_sock):
            if self.copier_proc.poll() is not None or \
                    time.monotonic() > end:
                harness.fail("copier --listen did not start: %s"
                             % servers.tail(self.copier_log))
            time.sleep(0.02)

    def sessions(self):
        """The session ids of this server's processes (each was started
        in a session of its own)."""
        return {p.pid for p in (self.proc, self.responder, self.copier_proc)
                if p is not None}

    def stop(self):
        super().stop()
        p = self.copier_proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)


class Bench:
    """One hosting path: its site (upload_dir, copier and dav folders on
    the same filesystem, www-data's) and its running server."""

    def __init__(self, path, run_root, build, copier):
        self.path = path
        self.root = os.path.join(run_root, path)
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.site = servers.Site(os.path.join(self.root, "site"), None, None)
        self.env = self.site.env
        self.copier_out = os.path.join(self.root, "site", "copier")
        self.dav = os.path.join(self.root, "site", "dav")
        for d in (self.copier_out, self.dav):
            os.makedirs(d)
            os.chown(d, *servers.runas_ids())
        self.srv = BenchServer(path, self.site, build,
                               os.path.join(self.root, "srv"), copier,
                               self.copier_out, self.dav)
        os.makedirs(self.srv.root)
        self.srv.start()

    def variants(self):
        return [v for v in VARIANTS
                if v != "dav" or self.srv.kind == "apache"]

    def stored(self, variant, name):
        """Where the variant stores PUT .../name."""
        if variant == "upgate":
            return os.path.join(self.env.upload, "alice", name)
        return os.path.join(self.dav if variant == "dav" else
                            self.copier_out, name)

    def url(self, variant, name):
        return "http://127.0.0.1:%d%s/%s" % (self.srv.port, URL[variant],
                                             name)

    def close(self):
        self.srv.stop()
        self.site.close()


def steal():
    """Clock ticks the host gave to other guests instead of this one."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


class CpuWatch:
    """The CPU time used during one run, by class: the servers' processes
    (their sessions: a CGI program too, which mod_cgid reaps without
    accounting), kernel threads (writeback, ext4's extent conversion) and
    the rest of the machine (with steal), leaving out this program and its
    curl.  Polls /proc every 0.25 s, so that short-lived processes count;
    the last quarter second of one that exits is lost.  groups, {class:
    ids}, takes more classes out of the rest: the processes whose pid,
    session id or parent's pid is in ids."""

    def __init__(self, sids, groups=None):
        self.sids = sids
        self.groups = dict(groups or {})
        self.me = os.getsid(0)
        self.first, self.last, self.kind = {}, {}, {}
        self.steal0 = steal()
        self._sample(initial=True)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(0.25):
            self._sample()

    def _sample(self, initial=False):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            f = st[st.rindex(")") + 2:].split()
            sid, ppid = int(f[3]), int(f[1])
            if sid == self.me:
                continue
            key = (d, f[19])                # pid and start time
            ticks = int(f[11]) + int(f[12])
            self.first.setdefault(key, ticks if initial else 0)
            self.last[key] = ticks
            kind = "server" if sid in self.sids else "kernel" \
                if ppid == 2 or d == "2" else "other"
            for k, ids in self.groups.items():
                if kind == "other" and (int(d) in ids or sid in ids or
                                        ppid in ids):
                    kind = k
            self.kind[key] = (kind, st[st.index("(") + 1:st.rindex(")")])

    def finish(self):
        """{class: seconds}, {(class, command name): seconds}"""
        self.stop.set()
        self.thread.join()
        self._sample()
        out = {"server": 0, "kernel": 0, "other": steal() - self.steal0}
        out.update((k, 0) for k in self.groups)
        by_name = {}
        for k, t in self.last.items():
            kind, name = self.kind[k]
            out[kind] += t - self.first[k]
            by_name[kind, name] = by_name.get((kind, name), 0) + \
                t - self.first[k]
        return {k: v / HZ for k, v in out.items()}, \
            {k: v / HZ for k, v in by_name.items() if v > 0}


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def put(url, body, timeout):
    """One PUT of the file body; (http status, speed_upload B/s,
    time_total s, size_upload, curl's stderr)."""
    argv = ["curl", "-sS", "--http1.1", "-o", "/dev/null", "-u",
            "alice:alice", "-H", "Expect:", "-T", body, "--max-time",
            str(timeout), "-w",
            "%{http_code} %{speed_upload} %{time_total} %{size_upload}", url]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        code, speed, total, size = p.stdout.decode().split()
        return int(code), float(speed), float(total), int(float(size)), \
            p.stderr.decode("utf-8", "replace").strip()
    except ValueError:
        return 0, 0.0, 0.0, 0, "curl exit %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace").strip())


def make_body(path, size):
    """size bytes of random data, written once and flushed, so that it
    sits clean in the page cache for every run."""
    chunk = 8 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def one_run(b, variant, name, body, size, timeout):
    """A PUT of body through b's variant: MB/s (None if it failed), the
    share of a CPU others used meanwhile, a summary, the CPU time by
    process name."""
    os.sync()
    t0 = time.monotonic()
    curl0 = children_cpu()
    watch = CpuWatch(b.srv.sessions())
    code, speed, total, sent, err = put(b.url(variant, name), body, timeout)
    cpu, by_name = watch.finish()
    cpu["curl"] = children_cpu() - curl0
    detail = "#   CPU s by process: " + ", ".join(
        "%s%s %.2f" % (n, "" if k == "server" else " (%s)" % k, t)
        for (k, n), t in sorted(by_name.items(), key=lambda x: -x[1])
        if t >= 0.02)
    other = cpu["other"] / (time.monotonic() - t0)
    where = b.stored(variant, name)
    ok = code == 201 and sent == size and os.path.exists(where) and \
        os.path.getsize(where) == size
    remove(where)
    if not ok:
        return None, other, "status %s, sent %d of %d, %s" % (
            code, sent, size, err or "no file"), detail
    return speed / MB, other, "%5.2fs; CPU s: server %.2f, curl %.2f, " \
        "kernel threads %.2f" % (total, cpu["server"], cpu["curl"],
                                 cpu["kernel"]), detail


def warm_up(benches, tmp):
    """One small PUT per variant: spawns responders, fills caches."""
    small = os.path.join(tmp, "warm")
    make_body(small, 1 << 20)
    for b in benches:
        for v in b.variants():
            mbps, _, why, _ = one_run(b, v, "warm-%s" % v, small,
                                      1 << 20, 60)
            if mbps is None:
                harness.fail("%s %s: warm-up PUT failed: %s\n%s" % (
                    b.path, v, why, b.srv.logs()[-2000:]))
    remove(small)


def rounds(benches, body, size, n, timeout):
    """n rounds; in each, every path and, in turn, every variant (the
    order rotates each round).  Returns {(path, variant): [MB/s]} and
    the CPU share (of one CPU) that others used during each run."""
    res = {}
    others = []
    for r in range(n):
        for b in benches:
            vs = b.variants()
            k = r % len(vs)
            for v in vs[k:] + vs[:k]:
                mbps, other, why, detail = one_run(
                    b, v, "r%d-%s.bin" % (r, v), body, size, timeout)
                res.setdefault((b.path, v), []).append(mbps)
                others.append(other)
                print("# round %d %-18s %-8s %s  %s; others %3.0f%% of a "
                      "CPU" % (r + 1, b.path, v, "%7.1f MB/s" % mbps if mbps
                               else " failed", why, 100 * other), flush=True)
                if VERBOSE:
                    print(detail, flush=True)
    return res, others


def median(vals):
    vals = [v for v in vals if v]
    return statistics.median(vals) if vals else None


def spread(vals):
    vals = [v for v in vals if v]
    return max(vals) / min(vals) - 1 if len(vals) > 1 else 0.0


def table(res, paths):
    def cell(x, fmt):
        return fmt % x if x is not None else "-"

    def ratio(a, b):
        return a / b if a and b else None
    head = ("path", "upgate", "copier", "nofsync", "dav", "u/copier",
            "u/nofsync", "u/dav")
    lines = ["%-18s %8s %8s %8s %8s %9s %9s %7s" % head]
    noisy = []
    for p in paths:
        m = {v: median(res.get((p, v), [])) for v in VARIANTS}
        lines.append("%-18s %8s %8s %8s %8s %9s %9s %7s" % (
            p, cell(m["upgate"], "%.0f"), cell(m["copier"], "%.0f"),
            cell(m["nofsync"], "%.0f"), cell(m["dav"], "%.0f"),
            cell(ratio(m["upgate"], m["copier"]), "%.3f"),
            cell(ratio(m["upgate"], m["nofsync"]), "%.3f"),
            cell(ratio(m["upgate"], m["dav"]), "%.3f")))
        short = []
        r = ratio(m["upgate"], m["copier"])
        if r is not None and r < 0.95:
            short.append("upgate/copier %.3f < 0.95" % r)
        r = ratio(m["upgate"], m["dav"])
        if p == "apache-proxy-fcgi" and r is not None and r < 1.0:
            short.append("upgate/dav %.3f < 1.0" % r)
        if short:
            lines.append("%-18s   short of target: %s" % ("", "; ".join(
                short)))
        for v in VARIANTS:
            s = spread(res.get((p, v), []))
            if s > 0.10:
                noisy.append("%s %s (max/min %+.0f%%)" % (p, v, 100 * s))
    return lines, noisy


def preflight(build, copier):
    if os.geteuid() != 0:
        return "needs root: the servers' children run as www-data"
    missing = [p for p in ("apache2", "lighttpd", "curl", "htpasswd")
               if shutil.which(p) is None]
    for m in ("mod_fcgid.so", "mod_dav.so", "mod_dav_fs.so"):
        if not os.path.exists(os.path.join(servers.MODULES, m)):
            missing.append(m)
    for f in (os.path.join(build, "upgate.cgi"),
              os.path.join(build, "upgate.fcgi"), copier):
        if not os.access(f, os.X_OK):
            missing.append(f)
    return "missing: " + ", ".join(missing) if missing else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=int, default=1024, help="MiB per PUT")
    ap.add_argument("--rounds", type=int, default=3)
    # the paths this benchmark puts a copier beside (nginx not yet)
    known = [p for p in servers.PATHS
             if p in APACHE_COPIER or p in LIGHTTPD_COPIER]
    ap.add_argument("--paths", default=",".join(known),
                    help="comma-separated hosting paths")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the run's folder goes (a real disk)")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds per PUT")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true",
                    help="each run's CPU time by process name")
    a = ap.parse_args()
    global VERBOSE
    VERBOSE = a.v
    build = os.path.abspath(a.build)
    copier = os.path.join(build, "bench", "copier")
    paths = [p for p in a.paths.split(",") if p]
    bad = [p for p in paths if p not in known]
    if bad:
        ap.error("unknown path(s) %s; known: %s" % (
            ", ".join(bad), ", ".join(known)))
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"
    why = preflight(build, copier)
    if why:
        print("bench-hosting: %s" % why, file=sys.stderr)
        return 1
    harness.BUILD = servers.BUILD = build
    harness.KEEP = a.keep
    run_root = tempfile.mkdtemp(prefix="upgate-bench-", dir=a.dir)
    os.chmod(run_root, 0o755)
    harness.RUN_ROOT = run_root
    size = a.size << 20
    t0 = time.monotonic()
    benches = []
    try:
        print("# %d MiB PUTs x %d rounds, in %s; load %s at the start"
              % (a.size, a.rounds, run_root, "%.2f %.2f %.2f"
                 % os.getloadavg()), flush=True)
        body = os.path.join(run_root, "body")
        make_body(body, size)
        for p in paths:
            benches.append(Bench(p, run_root, build, copier))
        warm_up(benches, run_root)
        res, others = rounds(benches, body, size, a.rounds, a.timeout)
    except harness.Failure as e:
        print("bench-hosting: %s" % e, file=sys.stderr)
        return 1
    finally:
        for b in benches:
            b.close()
        if not a.keep:
            shutil.rmtree(run_root, ignore_errors=True)
    lines, noisy = table(res, paths)
    print("# MB/s (10^6 bytes/s, curl speed_upload), median of %d; "
          "u/x: upgate over x" % a.rounds)
    for line in lines:
        print(line)
    print("# load %.2f %.2f %.2f at the end (%d CPUs); %.0fs in all"
          % (os.getloadavg() + (os.cpu_count(), time.monotonic() - t0)))
    print("# CPU used outside the servers and curl during the runs (other "
          "processes, kernel workers, steal): median %.0f%%, max %.0f%% of "
          "a CPU" % (100 * statistics.median(others), 100 * max(others)))
    if noisy:
        print("# noisy (rerun when the machine is quiet): " +
              ", ".join(noisy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
