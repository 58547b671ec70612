# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""A throwaway PostgreSQL server for the tests of the PostgreSQL ledger.

    import pgtmp
    with pgtmp.PgTmp() as pg:          # or pg = PgTmp(); pg.start() ...
        pg.uri      # postgresql://upgate@/upgate?host=/tmp/upgate-pg-x/sock
        pg.psql("select count(*) from pg_stat_activity")  # [('6',)]
        pg.kill_backends()              # end upgate's sessions
        pg.restart()                    # a fast stop and a start
        pg.down(); pg.up()              # the database unreachable, then back
        pg.crash(); pg.up()             # kill -9 of every process, recovery
    # stop(): every process gone, the folder removed

Debian's server binaries (/usr/lib/postgresql/NN/bin, the highest NN
installed; the /usr/local/bin/initdb of some machines is only a link to
one of them) run as the unprivileged `postgres` user that the package
creates (`nobody` without it): PostgreSQL refuses to run as root.  Every
file lives in one fresh folder made under $TMPDIR, or under /tmp when
that user could not reach $TMPDIR (say /root/x/tmp with /root/x mode
0700) or the socket path would be too long:

    ROOT/data   the cluster (initdb), owned by that user, mode 0700
    ROOT/sock   its only listening socket, .s.PGSQL.5432 (mode 0777 in a
                mode-0755 folder, so that upgate.fcgi running as www-data
                reaches it)
    ROOT/server.log

The server listens on no TCP address (listen_addresses = ''); clients
connect over the Unix socket, trusted without a password (the folder is
private to this machine and the run).  tcp=True adds 127.0.0.1 on a free
port (pg.uri_tcp), for what only TCP has: libpq's keepalives apply to
TCP connections only.  A role and a database for upgate
are created, the database owned by the role (so the role may create its
tables in schema public; owner=False makes a database the role can only
connect to, for the "missing right" case).

Settings are PostgreSQL's defaults where durability is concerned: fsync,
synchronous_commit and full_page_writes stay on, because what survives a
crash is part of what the ledger tests check (only initdb runs with
--no-sync: a lost bootstrap would only lose a throwaway cluster).  Speed
comes from a small server (shared_buffers 32MB, no JIT) and from no
network.  dynamic_shared_memory_type = mmap keeps its shared memory in
the data folder, so that a killed run leaves nothing in /dev/shm.

The postmaster is started directly (postgres -D, a child of this
process) rather than by pg_ctl start, whose server is an orphan: where
PID 1 is slow to reap orphans (containers, this sandbox) a killed
postmaster stays a zombie for a while, and its pid, still in
postmaster.pid, makes the next start refuse ("another server might be
running").  Readiness is what pg_ctl -w waits for too: postmaster.pid
says "ready".

Clean-up: stop() at the end, at interpreter exit, or on SIGTERM, SIGHUP
or SIGINT; a run killed with -9 leaves a folder whose lock nobody holds,
and the next start() stops that server (by the processes working in its
data folder), removes its small System V segment and the folder.

    python3 tests/lib/pgtmp.py --selftest

starts one, runs "select 1" through psql with each URI form (as www-data
when that user exists), restarts, ends upgate's sessions, stops, checks
nothing is left, and prints how long each step took.

Python 3 standard library only; needs root.
"""

import glob
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
import leftovers  # noqa: E402

PREFIX = "upgate-pg-"
PORT = 5432                 # with no TCP listener, only the socket's name

SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "unix_socket_permissions": "0777",
    # a responder holds at most 17 sessions, and each CGI process one;
    # the tortures run many of them at once (a test that wants a
    # smaller server passes settings)
    "max_connections": "1100",
    "shared_buffers": "32MB",
    "dynamic_shared_memory_type": "mmap",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "jit": "off",
    "huge_pages": "off",
    "logging_collector": "off",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "lc_messages": "'C'",
    "timezone": "'UTC'",
}

# psql's unaligned output: fields, records and NULL marked by bytes that
# no test value holds
_FS, _RS, _NULL = "\x1f", "\x1e", "\x1d"


class Error(Exception):
    """A step failed; the message carries the command's output."""


def bindir():
    """The bin folder of the newest PostgreSQL server installed
    (/usr/lib/postgresql/NN/bin), or None."""
    found = []
    for p in glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        v = os.path.basename(os.path.dirname(os.path.dirname(p)))
        if v.isdigit():
            found.append((int(v), os.path.dirname(p)))
    return max(found)[1] if found else None


def default_user():
    for u in ("postgres", "nobody"):
        try:
            pwd.getpwnam(u)
            return u
        except KeyError:
            pass
    raise Error("neither a postgres nor a nobody user to run PostgreSQL")


def _clean_env():
    """The environment of the tools: no PG* variable that could point them
    somewhere else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


def _out(p):
    return (p.stdout or b"").decode("utf-8", "replace").strip()


def remove_shm(shmid):
    """Removes System V segment shmid if no process is attached to it."""
    try:
        with open("/proc/sysvipc/shm") as f:
            rows = [l.split() for l in f.readlines()[1:]]
    except OSError:
        return
    for r in rows:
        # key shmid perms size cpid lpid nattch ...
        if len(r) > 6 and r[1] == str(shmid) and r[6] == "0":
            subprocess.run(["ipcrm", "-m", str(shmid)],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def _pidfile_shmid(data):
    """The System V segment id from postmaster.pid (line 7), or None."""
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            lines = f.read().split("\n")
        return int(lines[6].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def clean_stale(bases=None):
    """Stops the servers of earlier runs' folders that nobody owns any
    more and removes the folders.  Returns what it did, as lines."""
    if bases is None:
        bases = sorted({leftovers.base_dir()[0], "/tmp"})
    done = []
    for root in leftovers.stale_dirs(PREFIX, bases):
        data = os.path.join(root, "data")
        shmid = _pidfile_shmid(data)
        pids = leftovers.pids_referring(root)
        # SIGQUIT is PostgreSQL's immediate shutdown
        left = leftovers.kill_all(pids, signal.SIGQUIT)
        if shmid is not None:
            remove_shm(shmid)
        problem = leftovers.rmtree(root)
        done.append("stale %s: %d processes stopped%s%s" % (
            root, len(pids), ", %r still alive" % left if left else "",
            "; " + problem if problem else ""))
    return done


class PgTmp:
    """One throwaway cluster; see the module's documentation."""

    def __init__(self, user="upgate", db="upgate", owner=True, runas=None,
                 settings=None, bin=None, tcp=False):
        self.role = user
        self.db = db
        self.owner = owner
        self.runas = runas or default_user()
        self.settings = dict(SETTINGS, **(settings or {}))
        self.bin = bin or bindir()
        self.version = None
        self.root = self.data = self.sock = self.log = None
        self.uri = self.uri_host = self.uri_tcp = None
        self.tcp = tcp
        self.port = PORT
        self.notes = []             # what start() found and did
        self.timings = {}           # step -> seconds
        self._dir = None
        self._proc = None           # the postmaster, our child
        self._up = False

    # -- lifecycle
    def start(self):
        """initdb, start, the role and the database.  Returns self."""
        if os.geteuid() != 0:
            raise Error("needs root (to run PostgreSQL as %s)" % self.runas)
        if self.bin is None:
            raise Error("no PostgreSQL server in /usr/lib/postgresql/*/bin "
                        "(apt-get install postgresql)")
        self.version = os.path.basename(os.path.dirname(self.bin))
        t0 = time.monotonic()
        self.notes += clean_stale()
        base, why = leftovers.base_dir(
            self.runas, len("/" + PREFIX + "xxxxxxxx/sock/.s.PGSQL.65535"))
        if why:
            self.notes.append("made under %s: %s" % (base, why))
        self._dir = leftovers.OwnedDir(PREFIX, base)
        leftovers.register(self)
        self.root = self._dir.path
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.log = os.path.join(self.root, "server.log")
        pw = pwd.getpwnam(self.runas)
        for d, mode in ((self.sock, 0o755), (self.data, 0o700)):
            os.mkdir(d, mode)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        with open(self.log, "a"):
            pass
        os.chown(self.log, pw.pw_uid, pw.pw_gid)
        if self.tcp:
            self.port = _free_port()
            self.settings["listen_addresses"] = "'127.0.0.1'"
            self.settings["port"] = str(self.port)
        q = urllib.parse.quote
        if self.tcp:
            self.uri_tcp = "postgresql://%s@127.0.0.1:%d/%s" % (
                q(self.role, safe=""), self.port, q(self.db, safe=""))
        # the socket's name carries the port: name it unless the default
        other = self.port != PORT
        self.uri = "postgresql://%s@/%s?host=%s%s" % (
            q(self.role, safe=""), q(self.db, safe=""), q(self.sock, safe="/"),
            "&port=%d" % self.port if other else "")
        self.uri_host = "postgresql://%s@%s%s/%s" % (
            q(self.role, safe=""), q(self.sock, safe=""),
            ":%d" % self.port if other else "", q(self.db, safe=""))
        self.timings["clean"] = time.monotonic() - t0
        try:
            self._initdb()
            self.up()
            self._create()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self):
        t0 = time.monotonic()
        self._as_runas([os.path.join(self.bin, "initdb"), "-D", self.data,
                        "-U", "postgres", "--auth=trust", "--no-sync",
                        "-E", "UTF8", "--locale=C"], "initdb")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# written by tests/lib/pgtmp.py\n")
            f.write("unix_socket_directories = '%s'\n" % self.sock)
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))
        self.timings["initdb"] = time.monotonic() - t0

    def _create(self):
        t0 = time.monotonic()
        r, d = _ident(self.role), _ident(self.db)
        self.psql("create role %s login" % r, db="postgres")
        if self.owner:
            self.psql("create database %s owner %s" % (d, r), db="postgres")
        else:
            self.psql("create database %s" % d, db="postgres")
            self.psql("grant connect on database %s to %s" % (d, r),
                      db="postgres")
        self.timings["create"] = time.monotonic() - t0

    def up(self, timeout=60):
        """Starts the server on the data folder as it is (after down() or
        crash() too) and waits until it accepts connections.  The
        postmaster is this process's child, not pg_ctl's daemon, so that
        its exit status is collected here: where PID 1 is slow to reap
        orphans (containers, this sandbox) a dead postmaster would stay a
        zombie whose pid in postmaster.pid blocks the next start."""
        t0 = time.monotonic()
        pw = pwd.getpwnam(self.runas)
        env = _clean_env()
        env["HOME"] = self.root
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [os.path.join(self.bin, "postgres"), "-D", self.data],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.root, env=env, user=pw.pw_uid, group=pw.pw_gid,
                extra_groups=[], start_new_session=True)
        self._up = True
        pidfile = os.path.join(self.data, "postmaster.pid")
        end = time.monotonic() + timeout
        while True:
            try:
                with open(pidfile) as f:
                    lines = f.read().split("\n")
                # line 1 the postmaster's pid, line 8 its status
                if lines[0] == str(self._proc.pid) and len(lines) > 7 and \
                        lines[7].strip() == "ready":
                    break
            except OSError:
                pass
            if self._proc.poll() is not None:
                self._up = False
                raise Error("postgres -D %s exited with %s at start%s" % (
                    self.data, self._proc.returncode, self._log_tail()))
            if time.monotonic() > end:
                raise Error("postgres -D %s not ready after %ss%s" % (
                    self.data, timeout, self._log_tail()))
            time.sleep(0.02)
        self.timings["up"] = time.monotonic() - t0

    def down(self, mode="fast", timeout=60):
        """Stops the server: mode fast ends the sessions (SIGINT), smart
        waits for them (SIGTERM), immediate skips the checkpoint
        (SIGQUIT; recovery at the next up()).  The data folder stays:
        the database is only unreachable."""
        t0 = time.monotonic()
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT,
               "immediate": signal.SIGQUIT}[mode]
        p, self._proc, self._up = self._proc, None, False
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.crash()
                p.wait(10)
                raise Error("postgres did not stop within %ss of %s: "
                            "killed" % (timeout, sig.name))
        self.timings["down"] = time.monotonic() - t0

    def restart(self, mode="fast"):
        self.down(mode)
        self.up()

    def crash(self):
        """kill -9 of the postmaster and every backend (a power loss of
        the database host, its files intact); up() then recovers.
        Returns how many processes were killed."""
        pids = leftovers.pids_referring(self.data)
        leftovers.kill_all(pids, signal.SIGKILL)
        p, self._proc, self._up = self._proc, None, False
        if p is not None:
            p.wait(10)
        return len(pids)

    def stop(self):
        """Stops the server whatever its state, removes the folder.
        Returns a problem (a string) or None; safe to call twice."""
        leftovers.forget(self)
        if self._dir is None:
            return None
        problems = []
        if self._up:
            try:
                self.down("fast")
            except Error as e:
                problems.append(str(e))
        shmid = _pidfile_shmid(self.data)
        pids = leftovers.pids_referring(self.root)
        if pids:
            problems.append("processes left after the server stopped: %r"
                            % pids)
            left = leftovers.kill_all(pids, signal.SIGQUIT)
            if left:
                problems.append("still alive after SIGKILL: %r" % left)
        if shmid is not None:
            remove_shm(shmid)
        p = self._dir.release(remove=not os.environ.get("UPGATE_KEEP"))
        if p:
            problems.append(p)
        self._dir = None
        return "; ".join(problems) or None

    def __enter__(self):
        return self.start() if self._dir is None else self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- using it
    def psql(self, sql, user="postgres", db=None, timeout=60):
        """Runs sql (one statement, or several: the last one's rows) with
        psql as user on db (default the test database); raises Error on
        any error.  Returns the rows as tuples of str, None for NULL."""
        uri = "postgresql://%s@/%s?host=%s&port=%d" % (
            urllib.parse.quote(user, safe=""),
            urllib.parse.quote(db or self.db, safe=""),
            urllib.parse.quote(self.sock, safe="/"), self.port)
        argv = [os.path.join(self.bin, "psql"), "-X", "-q", "-A",
                "-v", "ON_ERROR_STOP=1", "-F", _FS, "-R", _RS,
                "-P", "null=" + _NULL, "-P", "footer=on",
                "-d", uri, "-c", sql]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=_clean_env(), timeout=timeout)
        if p.returncode != 0:
            raise Error("psql %r: exit %d: %s" % (
                sql, p.returncode, p.stderr.decode("utf-8", "replace")
                .strip()))
        return parse_rows(p.stdout.decode("utf-8"))

    def kill_backends(self, user=None, timeout_ms=5000):
        """Ends the sessions of role user (default upgate's role) with
        pg_terminate_backend, waiting up to timeout_ms for each to be
        gone.  Returns how many there were."""
        rows = self.psql(
            "select count(*) from (select pg_terminate_backend(pid, %d) "
            "from pg_stat_activity where usename = %s "
            "and pid <> pg_backend_pid()) t"
            % (timeout_ms, _literal(user or self.role)), db="postgres")
        return int(rows[0][0])

    def backends(self, user=None):
        """pids of the sessions of role user (default upgate's role)."""
        rows = self.psql("select pid from pg_stat_activity where usename = "
                         "%s and pid <> pg_backend_pid()"
                         % _literal(user or self.role), db="postgres")
        return [int(r[0]) for r in rows]

    # -- helpers
    def _as_runas(self, argv, what):
        pw = pwd.getpwnam(self.runas)
        env = _clean_env()
        env["HOME"] = self.root
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           cwd=self.root, env=env, user=pw.pw_uid,
                           group=pw.pw_gid, extra_groups=[], timeout=120)
        if p.returncode != 0:
            raise Error("%s failed (exit %d): %s%s" % (
                what, p.returncode, _out(p)[-1500:], self._log_tail()))
        return _out(p)

    def _log_tail(self, n=1500):
        try:
            with open(self.log, "rb") as f:
                t = f.read()[-n:].decode("utf-8", "replace")
            return "\n--- %s:\n%s" % (self.log, t) if t else ""
        except (OSError, TypeError):
            return ""


def parse_rows(out):
    """Rows from psql -A with _FS, _RS, _NULL and its footer."""
    if out.endswith("\n"):
        out = out[:-1]
    recs = out.split(_RS)
    if not recs or not re.match(r"^\(\d+ rows?\)$", recs[-1]):
        return []               # a command without rows
    rows = []
    for rec in recs[1:-1]:      # the column names come first
        rows.append(tuple(None if f == _NULL else f
                          for f in rec.split(_FS)))
    return rows


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _ident(name):
    return '"%s"' % name.replace('"', '""')


def _literal(s):
    return "'%s'" % s.replace("'", "''")


# ------------------------------------------------------------ self-test

def selftest():
    t = {}
    t0 = time.monotonic()
    pg = PgTmp().start()
    t["start"] = time.monotonic() - t0
    try:
        print("server: PostgreSQL %s from %s, running as %s"
              % (pg.version, pg.bin, pg.runas))
        for n in pg.notes:
            print("note: " + n)
        print("uri: " + pg.uri)
        print("uri (host form): " + pg.uri_host)
        client = None
        try:
            client = pwd.getpwnam("www-data")
        except KeyError:
            pass
        for uri in (pg.uri, pg.uri_host):
            t1 = time.monotonic()
            argv = [os.path.join(pg.bin, "psql"), "-X", "-A", "-t", "-d",
                    uri, "-c", "select 1, current_user, "
                    "current_database()"]
            kw = {}
            if client is not None:
                kw = dict(user=client.pw_uid, group=client.pw_gid,
                          extra_groups=[], cwd="/")
            p = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=_clean_env(),
                               **kw)
            got = _out(p)
            want = "1|%s|%s" % (pg.role, pg.db)
            if p.returncode != 0 or got != want:
                raise Error("psql -d %s as %s: exit %d, %r (expected %r)"
                            % (uri, "www-data" if client else "root",
                               p.returncode, got, want))
            t.setdefault("select 1 (psql, URI)", time.monotonic() - t1)
        print("select 1 through psql %swith both URIs: ok"
              % ("as www-data " if client else ""))
        rows = pg.psql("select 1, null::text, '' union all "
                       "select 2, 'x', 'y'")
        assert rows == [("1", None, ""), ("2", "x", "y")], rows
        assert pg.psql("select 1 where false") == []
        t1 = time.monotonic()
        pg.restart()
        t["restart"] = time.monotonic() - t1
        assert pg.psql("select 1") == [("1",)]
        # a session of upgate's role, ended by kill_backends()
        sess = subprocess.Popen(
            [os.path.join(pg.bin, "psql"), "-X", "-d", pg.uri, "-c",
             "select pg_sleep(60)"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=_clean_env())
        end = time.monotonic() + 10
        while not pg.backends() and time.monotonic() < end:
            time.sleep(0.05)
        t1 = time.monotonic()
        n = pg.kill_backends()
        t["kill_backends"] = time.monotonic() - t1
        sess.wait(10)
        if n != 1 or sess.returncode == 0:
            raise Error("kill_backends ended %d sessions, psql exit %s"
                        % (n, sess.returncode))
        t1 = time.monotonic()
        pg.crash()
        pg.up()
        t["crash + recovery"] = time.monotonic() - t1
        assert pg.psql("select 1") == [("1",)]
    finally:
        root = pg.root
        t1 = time.monotonic()
        problem = pg.stop()
        t["stop"] = time.monotonic() - t1
    if problem:
        raise Error("stop: " + problem)
    left = leftovers.pids_referring(root)
    if left or os.path.exists(root):
        raise Error("left behind: processes %r, folder %s" % (
            left, "present" if os.path.exists(root) else "gone"))
    for k in ("initdb", "up", "create"):
        t["  " + k] = pg.timings[k]
    for k, v in t.items():
        print("%-24s %6.2fs" % (k, v))
    print("ok: started, queried, restarted, sessions ended, crashed and "
          "recovered, stopped; nothing left")


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        try:
            selftest()
        except (Error, AssertionError) as e:
            print("FAIL: %s" % e)
            sys.exit(1)
        sys.exit(0)
    print("usage: python3 %s --selftest" % sys.argv[0], file=sys.stderr)
    sys.exit(2)
