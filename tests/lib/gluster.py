# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""One shared folder tree mounted several times, for the farm tests: a
one-brick GlusterFS volume on this machine with N FUSE mounts.

    import gluster
    with gluster.Gluster(n=3) as g:    # or g = Gluster(3); g.start() ...
        g.mounts        # ['/tmp/upgate-gluster-x/mnt/1', .../2, .../3]
        g.kind          # 'gluster'
        g.cli("volume", "status")      # the gluster CLI, for this glusterd
    # stop(): unmounted, volume stopped and deleted, glusterd stopped,
    # the folder removed

How (Debian's glusterfs-server and glusterfs-client):

- glusterd runs in the foreground as this process's child, with a
  working folder, run folder, CLI socket, log and pid file of its own
  (--xlator-option management.working-directory=... and friends, as
  GlusterFS's own multi-node regression tests do): /var/lib/glusterd
  and /run/gluster's glusterd.socket are not touched, and the volume
  lives in that fresh working folder only.  It listens on the brick
  host's address, port 24007.  That port is fixed: bricks fetch their
  volume file from 24007 whatever glusterd listens on, so one such
  glusterd runs on a machine at a time; start() takes a machine-wide
  lock (/run/lock/upgate-gluster.lock) and waits for it.
- The brick is ROOT/brick, on whatever filesystem $TMPDIR is on (the
  root filesystem needs `force`).  Its host is this machine's host name:
  the gluster CLI refuses "localhost" and "127.0.0.1" even with force, so
  the host name must resolve to an address of this machine (here
  `vm` -> 127.0.0.1 from /etc/hosts).  The mounts are
  `mount -t glusterfs ADDRESS:/VOLUME ROOT/mnt/I`.
- The volume root is given to www-data (lighttpd's user), mode 0755, by
  the volume options storage.owner-uid and -gid, set before the volume
  starts: a chown through one mount would reach the others only once
  their FUSE attribute cache (1 s) expires.
- Outside ROOT, GlusterFS writes the brick's log under
  /var/log/glusterfs/bricks/ and its socket under /run/gluster/ (both
  removed by stop()), and the CLI appends to
  /var/log/glusterfs/cmd_history.log (left).

Leftovers of a killed run: with the machine-wide lock held, every
glusterd, glusterfsd or glusterfs process and every mount naming a
folder /upgate-gluster-* is an earlier run's; start() unmounts (lazily if
busy) and kills them, removes the files they listed, then the folders.

Fallback, kind="bind" -- NOT GlusterFS: N bind mounts of one folder
(ROOT/shared on $TMPDIR's filesystem), for running several hosts on one
shared tree where GlusterFS cannot run.  Every mount is then the same
local filesystem: no network filesystem semantics (caching, ESTALE,
lock visibility) are exercised.  Use it only where glusterd cannot run,
and say so in the test's output (g.kind).

    python3 tests/lib/gluster.py --selftest [--bind] [-n N]

starts it, writes through mount 1 and reads through the others, stops,
checks nothing is left, and prints how long each step took.

Python 3 standard library only; needs root and /dev/fuse.
"""

import fcntl
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
import leftovers  # noqa: E402

PREFIX = "upgate-gluster-"
BIND_PREFIX = "upgate-bind-"
PORT = 24007
OWNER = "www-data"
EXTRA = "outside-files"     # in ROOT: files of ours outside it, one a line


class Error(Exception):
    """A step failed; the message carries the command's output."""


def machine_lock_path():
    d = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
    return os.path.join(d, "upgate-gluster.lock")


def brick_host():
    """(host name, IPv4 address) for the brick and glusterd."""
    host = socket.gethostname()
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET,
                                   socket.SOCK_STREAM)
    except OSError as e:
        raise Error("the host name %r does not resolve (%s): GlusterFS "
                    "needs a brick host other than localhost and 127.0.0.1 "
                    "(an /etc/hosts line for it will do)" % (host, e))
    return host, infos[0][4][0]


def port_owner(port):
    """"pid (command)" of a process listening on TCP port, or None."""
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                for line in fh.readlines()[1:]:
                    c = line.split()
                    if c[3] == "0A" and int(c[1].rsplit(":", 1)[1], 16) \
                            == port:
                        inodes.add(c[9])
        except OSError:
            pass
    if not inodes:
        return None
    for pid, cmd, _, _ in leftovers.processes():
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return "pid %d (%s)" % (pid, " ".join(cmd)[:200])
    return "a process this one cannot see"


def _remove_listed(root):
    try:
        with open(os.path.join(root, EXTRA)) as f:
            names = [l.strip() for l in f if l.strip()]
    except OSError:
        return
    for n in names:
        try:
            os.unlink(n)
        except OSError:
            pass


def clean_stale_bind():
    """Removes the fallback's folders that killed runs left (bind mounts
    only).  Returns what it did, as lines."""
    done = []
    for root in leftovers.stale_dirs(BIND_PREFIX, _bases()):
        for m in leftovers.mounts_under(root):
            leftovers.unmount(m, tries=3)
        p = leftovers.rmtree(root)
        done.append("stale folder %s removed%s" % (root, ": " + p if p
                                                     else ""))
    return done


def _bases():
    return sorted({leftovers.base_dir()[0], "/tmp"})


def clean_stale():
    """Unmounts, stops and removes what earlier, killed runs left of
    GlusterFS.  Only with the machine-wide lock held: then every glusterd
    and every mount of ours is an earlier run's.  Returns what it did, as
    lines."""
    done = []
    mark = "/" + PREFIX
    # mounts and processes of ours whatever became of their folders
    for m, fstype, src in leftovers.mounts():
        if mark in m:
            p = leftovers.unmount(m, tries=3)
            done.append("stale mount %s (%s %s)%s" % (
                m, fstype, src, ": " + p if p else ""))
    pids = [pid for pid, cmd, _, _ in leftovers.processes()
            if cmd and os.path.basename(cmd[0]).startswith("gluster") and
            any(mark in a for a in cmd)]
    if pids:
        left = leftovers.kill_all(pids)
        done.append("stale GlusterFS processes %r stopped%s" % (
            pids, ", %r still alive" % left if left else ""))
    for root in leftovers.stale_dirs(PREFIX, _bases()):
        _remove_listed(root)
        p = leftovers.rmtree(root)
        done.append("stale folder %s removed%s" % (root, ": " + p if p
                                                     else ""))
    return done


class Gluster:
    """N mounts of one shared tree; see the module's documentation."""

    def __init__(self, n=3, volume="upgate", kind="gluster", options=None,
                 mount_options=None, owner=OWNER, lock_wait=600):
        if kind not in ("gluster", "bind"):
            raise ValueError("kind: 'gluster' or 'bind'")
        self.n = n
        self.volume = volume
        self.kind = kind
        self.options = dict(options or {})     # gluster volume set
        self.mount_options = mount_options     # -o for the FUSE mounts
        self.owner = owner
        self.lock_wait = lock_wait
        self.root = None
        self.mounts = []
        self.brick = None       # gluster: the brick folder
        self.shared = None      # bind: the folder mounted N times
        self.host = self.addr = None
        self.sock = None        # glusterd's CLI socket
        self.notes = []
        self.timings = {}
        self._dir = None
        self._lock = None
        self._glusterd = None
        self._started = False   # the volume

    # -- lifecycle
    def start(self):
        if os.geteuid() != 0:
            raise Error("needs root (mounts, glusterd)")
        leftovers.register(self)
        try:
            if self.kind == "gluster":
                self._start_gluster()
            else:
                self._start_bind()
                self._give_root()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_gluster(self):
        t0 = time.monotonic()
        if not os.path.exists("/dev/fuse"):
            raise Error("no /dev/fuse: FUSE mounts cannot work here")
        for prog in ("glusterd", "gluster", "mount.glusterfs"):
            if not any(os.access(os.path.join(d, prog), os.X_OK)
                       for d in ("/usr/sbin", "/sbin", "/usr/bin")):
                raise Error("%s is missing (apt-get install glusterfs-server "
                            "glusterfs-client)" % prog)
        self._take_machine_lock()
        self.timings["lock"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.notes += clean_stale()
        self.host, self.addr = brick_host()
        busy = port_owner(PORT)
        if busy:
            raise Error("TCP port %d is taken by %s: a glusterd of its own "
                        "cannot start (one per machine)" % (PORT, busy))
        self._make_root(PREFIX)
        self.timings["clean"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._start_glusterd()
        self.timings["glusterd"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._create_volume()
        self.timings["volume"] = time.monotonic() - t0
        t0 = time.monotonic()
        for i in range(1, self.n + 1):
            self._mount_fuse(i)
        self.timings["mounts"] = time.monotonic() - t0

    def _start_bind(self):
        t0 = time.monotonic()
        self.notes.append("FALLBACK: bind mounts of one local folder, "
                          "not GlusterFS")
        self.notes += clean_stale_bind()
        self._make_root(BIND_PREFIX)
        self.shared = os.path.join(self.root, "shared")
        os.mkdir(self.shared, 0o755)
        for i in range(1, self.n + 1):
            m = self._mountpoint(i)
            self._run(["mount", "--bind", self.shared, m], "mount --bind")
            self.mounts.append(m)
        self.timings["mounts"] = time.monotonic() - t0

    def _make_root(self, prefix):
        base, why = leftovers.base_dir(self.owner)
        if why:
            self.notes.append("made under %s: %s" % (base, why))
        self._dir = leftovers.OwnedDir(prefix, base)
        self.root = self._dir.path
        for d in ("log", "mnt"):
            os.mkdir(os.path.join(self.root, d), 0o755)

    def _mountpoint(self, i):
        m = os.path.join(self.root, "mnt", str(i))
        os.mkdir(m, 0o755)
        return m

    def _take_machine_lock(self):
        path = machine_lock_path()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = time.monotonic() + self.lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    os.close(fd)
                    raise Error("another test holds %s (its glusterd) for "
                                "more than %ss" % (path, self.lock_wait))
                time.sleep(0.2)
        self._lock = fd

    def _start_glusterd(self):
        r = self.root
        wd = os.path.join(r, "glusterd")
        run = os.path.join(r, "run")
        for d in (wd, run):
            os.mkdir(d, 0o755)
        self.sock = os.path.join(r, "glusterd.sock")
        argv = ["glusterd", "-N",
                "--xlator-option", "management.working-directory=" + wd,
                "--xlator-option", "management.run-directory=" + run,
                "--xlator-option", "management.glusterd-sockfile=" +
                self.sock,
                "--xlator-option",
                "management.transport.socket.bind-address=" + self.addr,
                "--log-file=" + os.path.join(r, "log", "glusterd.log"),
                "--pid-file=" + os.path.join(r, "glusterd.pid")]
        with open(os.path.join(r, "log", "glusterd.out"), "wb") as out:
            self._glusterd = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, env=_env())
        end = time.monotonic() + 30
        while True:
            if self._glusterd.poll() is not None:
                raise Error("glusterd exited with %s at start: %s" % (
                    self._glusterd.returncode, self._log_tail()))
            if os.path.exists(self.sock):
                p = self._cli_run(["volume", "list"], timeout=10)
                if p.returncode == 0:
                    return
            if time.monotonic() > end:
                raise Error("glusterd not answering after 30s: %s"
                            % self._log_tail())
            time.sleep(0.1)

    def _create_volume(self):
        self.brick = os.path.join(self.root, "brick")
        os.mkdir(self.brick, 0o755)
        spec = "%s:%s" % (self.host, self.brick)
        p = self._cli_run(["volume", "create", self.volume, spec, "force"])
        if p.returncode != 0 and "already exists" in _out(p):
            # not in a fresh working folder; but should it ever happen
            self._cli_run(["volume", "stop", self.volume, "force"])
            self._cli_run(["volume", "delete", self.volume])
            p = self._cli_run(["volume", "create", self.volume, spec,
                               "force"])
        if p.returncode != 0:
            raise Error("gluster volume create %s %s force: %s%s" % (
                self.volume, spec, _out(p), self._log_tail()))
        # the root belongs to owner before any mount caches its attributes
        pw = pwd.getpwnam(self.owner)
        opts = {"storage.owner-uid": pw.pw_uid, "storage.owner-gid": pw.pw_gid}
        opts.update(self.options)
        for k, v in opts.items():
            self.cli("volume", "set", self.volume, k, str(v))
        self.cli("volume", "start", self.volume)
        self._started = True
        self._note_brick_files()

    def _note_brick_files(self):
        """Records the brick process's socket and log, which GlusterFS
        puts outside ROOT, for stop() and for a later run's clean-up."""
        files = []
        for _, cmd, _, _ in leftovers.processes():
            if "--brick-name" in cmd and self.brick in cmd:
                for opt in ("-S", "-l"):
                    if opt in cmd[:-1]:
                        files.append(cmd[cmd.index(opt) + 1])
        with open(os.path.join(self.root, EXTRA), "w") as f:
            f.write("".join(x + "\n" for x in files))

    def _mount_fuse(self, i):
        m = self._mountpoint(i)
        opts = "log-file=" + os.path.join(self.root, "log", "mount-%d.log"
                                          % i)
        if self.mount_options:
            opts += "," + self.mount_options
        self._run(["mount", "-t", "glusterfs", "-o", opts,
                   "%s:/%s" % (self.addr, self.volume), m],
                  "mount -t glusterfs (mount %d)" % i)
        if m not in leftovers.mounts_under(m):
            raise Error("mount -t glusterfs %s:/%s %s said yes, but nothing "
                        "is mounted there: %s" % (self.addr, self.volume, m,
                                                  self._mount_log(i)))
        self.mounts.append(m)

    def _give_root(self):
        top = self.mounts[0]
        pw = pwd.getpwnam(self.owner)
        os.chown(top, pw.pw_uid, pw.pw_gid)
        os.chmod(top, 0o755)

    def stop(self):
        """Unmounts everything, stops and deletes the volume, stops
        glusterd, removes the folder.  Returns a problem (a string) or
        None; safe to call twice."""
        leftovers.forget(self)
        problems = []
        t0 = time.monotonic()
        if self.root:
            for m in leftovers.mounts_under(self.root):
                p = leftovers.unmount(m)
                if p:
                    problems.append(p)
        self.mounts = []
        self.timings["unmount"] = time.monotonic() - t0
        t0 = time.monotonic()
        if self._started:
            self._started = False
            for args in (["volume", "stop", self.volume, "force"],
                         ["volume", "delete", self.volume]):
                p = self._cli_run(args)
                if p.returncode != 0:
                    problems.append("gluster %s: %s" % (" ".join(args),
                                                        _out(p)))
        self.timings["volume stop"] = time.monotonic() - t0
        t0 = time.monotonic()
        if self._glusterd is not None:
            g, self._glusterd = self._glusterd, None
            if g.poll() is None:
                g.terminate()
                try:
                    g.wait(15)
                except subprocess.TimeoutExpired:
                    problems.append("glusterd ignored SIGTERM: killed")
                    g.kill()
                    g.wait(5)
        if self.root:
            pids = leftovers.pids_referring(self.root)
            if pids:
                problems.append("processes left: %r" % pids)
                left = leftovers.kill_all(pids)
                if left:
                    problems.append("still alive after SIGKILL: %r" % left)
            _remove_listed(self.root)
        self.timings["glusterd stop"] = time.monotonic() - t0
        if self._dir is not None:
            p = self._dir.release(remove=not os.environ.get("UPGATE_KEEP"))
            if p:
                problems.append(p)
            self._dir = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        return "; ".join(problems) or None

    def __enter__(self):
        return self.start() if self._dir is None else self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers
    def cli(self, *args):
        """The gluster CLI against this glusterd; its output.  Raises
        Error on failure."""
        p = self._cli_run(list(args))
        if p.returncode != 0:
            raise Error("gluster %s: %s%s" % (" ".join(args), _out(p),
                                              self._log_tail()))
        return _out(p)

    def _cli_run(self, args, timeout=120):
        argv = ["gluster", "--mode=script", "--glusterd-sock=" + self.sock,
                "--log-file=" + os.path.join(self.root, "log", "cli.log")]
        try:
            return subprocess.run(argv + args, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=_env(),
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(
                argv + args, 124, b"no answer within %ds" % timeout)

    def _run(self, argv, what):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=_env(), timeout=120)
        if p.returncode != 0:
            raise Error("%s failed (exit %d): %s" % (what, p.returncode,
                                                    _out(p)))
        return _out(p)

    def _log_tail(self, n=1200):
        try:
            with open(os.path.join(self.root, "log", "glusterd.log"),
                      "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except (OSError, TypeError):
            return ""
        bad = [l for l in lines if "] E [" in l or "] C [" in l]
        return "\n--- glusterd.log errors:\n" + "\n".join(bad)[-n:] \
            if bad else ""

    def _mount_log(self, i):
        try:
            with open(os.path.join(self.root, "log", "mount-%d.log" % i),
                      "rb") as f:
                return f.read()[-1200:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"


def _env():
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                    "/sbin:/bin", "LC_ALL": "C"}


def _out(p):
    return (p.stdout or b"").decode("utf-8", "replace").strip()


# ------------------------------------------------------------ self-test

def selftest(kind, n):
    t0 = time.monotonic()
    g = Gluster(n=n, kind=kind).start()
    t = {"start": time.monotonic() - t0}
    try:
        print("kind: %s%s" % (g.kind, " (FALLBACK, not GlusterFS)"
                              if g.kind == "bind" else ""))
        if g.kind == "gluster":
            print("volume: %s:/%s, brick %s:%s" % (g.addr, g.volume, g.host,
                                                   g.brick))
        for note in g.notes:
            print("note: " + note)
        for m in g.mounts:
            print("mount: " + m)
        t1 = time.monotonic()
        data = os.urandom(1 << 20)
        tmp = os.path.join(g.mounts[0], ".x.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(g.mounts[0], "x"))
        for m in g.mounts[1:]:
            with open(os.path.join(m, "x"), "rb") as f:
                if f.read() != data:
                    raise Error("%s/x differs from what mount 1 wrote" % m)
        os.unlink(os.path.join(g.mounts[-1], "x"))
        if os.path.exists(os.path.join(g.mounts[0], "x")):
            raise Error("a file removed through mount %d is still seen "
                        "through mount 1" % len(g.mounts))
        st = os.stat(g.mounts[-1])
        if pwd.getpwuid(st.st_uid).pw_name != g.owner:
            raise Error("the volume root belongs to uid %d, not %s"
                        % (st.st_uid, g.owner))
        t["1 MiB write, fsync, rename, read on the others"] = \
            time.monotonic() - t1
    finally:
        root = g.root
        t1 = time.monotonic()
        problem = g.stop()
        t["stop"] = time.monotonic() - t1
    if problem:
        raise Error("stop: " + problem)
    left = leftovers.pids_referring(root) if root else []
    if left or (root and os.path.exists(root)) or \
            (root and leftovers.mounts_under(root)):
        raise Error("left behind under %s: processes %r" % (root, left))
    for k in ("lock", "clean", "glusterd", "volume", "mounts", "unmount",
              "volume stop", "glusterd stop"):
        if k in g.timings and (g.kind == "gluster" or
                               k in ("mounts", "unmount")):
            t["  " + k] = g.timings[k]
    for k, v in t.items():
        print("%-48s %6.2fs" % (k, v))
    print("ok: %d mounts of one %s tree, stopped; nothing left" % (
        n, g.kind))


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--selftest" in args:
        n = int(args[args.index("-n") + 1]) if "-n" in args else 3
        try:
            selftest("bind" if "--bind" in args else "gluster", n)
        except Error as e:
            print("FAIL: %s" % e)
            sys.exit(1)
        sys.exit(0)
    print("usage: python3 %s --selftest [--bind] [-n N]" % sys.argv[0],
          file=sys.stderr)
    sys.exit(2)
