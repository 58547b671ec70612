# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""A web farm on one machine: N "hosts", each a lighttpd with upgate.fcgi
behind it (lighttpd-conf/upgate-fastcgi.conf, started by the machinery
of tests/servers/servers.py), all storing into one shared tree.

    import gluster, farm
    with gluster.Gluster(3) as g, \\
            farm.Farm("build", g.mounts, ledger=None) as f:
        h1, h2, h3 = f.hosts
        r = h1.curl("PUT", "/a.bin", data=b"...")   # servers.HttpResponse
        h2.mount                                    # its upload_dir
        h3.kill_fcgi()                              # kill -9 its responder

Each host gets, under the farm's own temporary folder ROOT/hostI:

    site/upgate.conf   upload_dir = its mount of the shared tree
                       state_dir  = ROOT/hostI/state (outside the tree,
                                    www-data's, mode 0700)
                       quota_file = site/quota (when a table is given)
                       ledger     = the URI, only when one is given: a
                                    build without the PostgreSQL ledger
                                    rejects the key (500 on every request)
                       and the keys of conf
    srv/               lighttpd's files; it listens on 127.0.0.1:PORT
                       (a free port of its own) and runs as www-data

upgate.fcgi is copied to ROOT/bin (mode 0755) and run from there, so
that www-data can execute it even when the checkout lives in a folder
only root may enter.  Users alice, bob, carol and dave (password = name)
are in each host's htpasswd.

Farm(..., server=CLASS) runs each host's lighttpd with CLASS, a
servers.Server subclass called as servers.Server is (a benchmark adds
its own users and settings that way); the default is servers.Server.

Host.kill_fcgi() sends SIGKILL to the host's upgate.fcgi: lighttpd
starts a new one for the next request.  Host.stop()/start() take a whole
host away and back (a new port).

stop() stops every host and checks that no process naming ROOT is left
(lighttpd, upgate.fcgi); a killed run's ROOT is found by the next
start() (its lock is free), its processes killed and the folder removed.

Python 3 standard library only; needs root.
"""

import os
import shutil
import signal
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_TOP = os.path.dirname(os.path.dirname(_HERE))
for _d in (_HERE, os.path.join(_TOP, "tests", "servers")):
    if _d not in sys.path:
        sys.path.append(_d)
import leftovers  # noqa: E402
import servers    # noqa: E402  (and harness, through it)
import harness    # noqa: E402

PREFIX = "upgate-farm-"
PATH = "lighttpd-fastcgi"


class Error(Exception):
    """A step failed."""


def clean_stale():
    """Stops the hosts of killed runs and removes their folders."""
    done = []
    bases = sorted({leftovers.base_dir()[0], "/tmp"})
    for root in leftovers.stale_dirs(PREFIX, bases):
        pids = leftovers.pids_referring(root, environ=True)
        left = leftovers.kill_all(pids)
        p = leftovers.rmtree(root)
        done.append("stale %s: %d processes stopped%s%s" % (
            root, len(pids), ", %r still alive" % left if left else "",
            "; " + p if p else ""))
    return done


class _Site:
    """What servers.Server wants of a site: an Env."""

    def __init__(self, env):
        self.env = env


class Host:
    """One lighttpd + upgate.fcgi; see the module's documentation."""

    def __init__(self, farm, index, mount):
        self.farm = farm
        self.index = index
        self.mount = mount                  # upload_dir
        self.root = os.path.join(farm.root, "host%d" % index)
        self.state = os.path.join(self.root, "state")
        site = os.path.join(self.root, "site")
        os.makedirs(site, 0o755)
        uid, gid = servers.runas_ids()
        os.mkdir(self.state, 0o700)
        os.chown(self.state, uid, gid)
        conf = {"state_dir": self.state}
        if farm.ledger:
            conf["ledger"] = farm.ledger
        conf.update(farm.conf)
        self.env = harness.Env(quota=farm.quota, conf=conf, root=site,
                               upload=mount, state_dir=self.state)
        for p in (self.env.conf_path, self.env.quota_path):
            if os.path.exists(p):
                os.chmod(p, 0o644)
        self.conf_path = self.env.conf_path
        self.srv = None
        self._n = 0

    @property
    def port(self):
        return self.srv.port if self.srv else None

    def start(self):
        """Starts lighttpd (a new port each time)."""
        self._n += 1
        srv_root = os.path.join(self.root, "srv%d" % self._n)
        os.makedirs(srv_root)
        self.srv = self.farm.server(PATH, _Site(self.env), self.farm.bin,
                                    srv_root)
        self.srv.start()
        return self

    def stop(self):
        if self.srv is not None:
            self.srv.stop()

    def url(self, rel=""):
        return self.srv.url(rel)

    def curl(self, method, rel="", **kw):
        """servers.curl through this host (user alice unless told)."""
        return servers.curl(self.srv, method, rel, **kw)

    def fcgi_pids(self):
        """pids of this host's upgate.fcgi processes."""
        exe = os.path.realpath(os.path.join(self.farm.bin, "upgate.fcgi"))
        out = []
        for pid in leftovers.pids_referring(self.root, environ=True):
            try:
                if os.path.realpath("/proc/%d/exe" % pid) == exe:
                    out.append(pid)
            except OSError:
                pass
        return out

    def kill_fcgi(self, timeout=10):
        """kill -9 of this host's upgate.fcgi; waits until it is gone.
        Returns the pids killed."""
        pids = self.fcgi_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        end = time.monotonic() + timeout
        while any(leftovers.alive(p) for p in pids):
            if time.monotonic() > end:
                raise Error("upgate.fcgi %r still alive %ss after SIGKILL"
                            % (pids, timeout))
            time.sleep(0.02)
        return pids

    def logs(self):
        return self.srv.logs() if self.srv else ""


class Farm:
    """N hosts on N mounts; see the module's documentation.

    build: the folder with upgate.fcgi; mounts: one upload_dir per host
    (each an existing folder www-data may write); ledger: a PostgreSQL
    URI, or None for the files ledger (no ledger line); quota: the quota
    table's text, or None; conf: more upgate.conf keys for every host;
    server: what runs each host's lighttpd (servers.Server, or a
    subclass)."""

    def __init__(self, build, mounts, ledger=None, quota=None, conf=None,
                 server=None):
        self.build = os.path.abspath(build)
        self.mounts = list(mounts)
        self.ledger = ledger
        self.quota = quota
        self.conf = dict(conf or {})
        self.server = server or servers.Server
        self.hosts = []
        self.root = self.bin = None
        self.notes = []
        self.timings = {}
        self._dir = None

    def start(self):
        if os.geteuid() != 0:
            raise Error("needs root (lighttpd runs its children as %s)"
                        % servers.RUNAS)
        src = os.path.join(self.build, "upgate.fcgi")
        if not os.access(src, os.X_OK):
            raise Error("%s is not built" % src)
        t0 = time.monotonic()
        self.notes += clean_stale()
        base, why = leftovers.base_dir(servers.RUNAS)
        if why:
            self.notes.append("made under %s: %s" % (base, why))
        self._dir = leftovers.OwnedDir(PREFIX, base)
        leftovers.register(self)
        self.root = self._dir.path
        try:
            self.bin = os.path.join(self.root, "bin")
            os.mkdir(self.bin, 0o755)
            shutil.copy2(src, os.path.join(self.bin, "upgate.fcgi"))
            os.chmod(os.path.join(self.bin, "upgate.fcgi"), 0o755)
            for i, m in enumerate(self.mounts, 1):
                self.hosts.append(Host(self, i, m))
            for h in self.hosts:
                h.start()
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def stop(self):
        """Stops every host; returns a problem (a string) or None.  Safe
        to call twice."""
        leftovers.forget(self)
        if self._dir is None:
            return None
        t0 = time.monotonic()
        problems = []
        for h in self.hosts:
            try:
                h.stop()
            except Exception as e:
                problems.append("host %d: %s" % (h.index, e))
        logs = "".join(h.logs() for h in self.hosts)
        for m in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            if m in logs:
                problems.append("sanitizer report in the logs: %s"
                                % logs[logs.index(m):][:1500])
                break
        end = time.monotonic() + 5
        left = leftovers.pids_referring(self.root, environ=True)
        while left and time.monotonic() < end:
            time.sleep(0.1)
            left = leftovers.pids_referring(self.root, environ=True)
        if left:
            problems.append("processes left after the servers stopped: %r"
                            % left)
            leftovers.kill_all(left)
        p = self._dir.release(remove=not os.environ.get("UPGATE_KEEP"))
        if p:
            problems.append(p)
        self._dir = None
        self.timings["stop"] = time.monotonic() - t0
        return "; ".join(problems) or None

    def __enter__(self):
        return self.start() if self._dir is None else self

    def __exit__(self, *exc):
        self.stop()
        return False
