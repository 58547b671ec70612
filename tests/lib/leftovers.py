# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Temporary folders that belong to one live test process, and the
clean-up of what an earlier run left behind when it was killed.

Each fixture (pgtmp, gluster) makes its folder with OwnedDir: a mkdtemp
holding a lock file that the creating process keeps locked (flock) for
as long as the folder is in use.  The lock is not inherited by the
servers the fixture starts (Python opens files close-on-exec), so a
folder whose lock can be taken belongs to a process that is gone: its
servers, mounts and files are leftovers, and stale_dirs() finds them for
the fixture to clean up before it starts its own.

Stopping on exit: register() puts a fixture's stop() in a list that runs
at interpreter exit (atexit) and on SIGTERM, SIGHUP and SIGINT (then the
signal's previous disposition is restored and the signal raised again).
A kill -9 skips all that: the next run's stale_dirs() is the answer.

Python 3 standard library only.  Needs root for most of what it cleans.
"""

import atexit
import errno
import fcntl
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

LOCK_NAME = ".owner.lock"
# a folder without its lock file is only taken for stale after this long
# (the moment between mkdtemp and the lock)
YOUNG = 60


# ------------------------------------------------------------- folders

def can_traverse(path, user):
    """Whether user (a name) may search every folder from / down to path
    (path itself included), going by the mode bits alone."""
    pw = pwd.getpwnam(user)
    gids = set(os.getgrouplist(user, pw.pw_gid))
    path = os.path.abspath(path)
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i]) or "/"
        try:
            st = os.stat(d)
        except OSError:
            return False
        if pw.pw_uid == 0:
            continue
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in gids:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def base_dir(user=None, longest=0):
    """Where to make temporary folders: $TMPDIR (tempfile.gettempdir()),
    unless user could not reach it (a TMPDIR under a mode-0700 folder
    such as /root/x) or a path of longest more bytes below it would not
    fit a Unix socket address; then /tmp.  Returns (folder, why_not) with
    why_not the reason $TMPDIR was not used, or None."""
    tmp = tempfile.gettempdir()
    why = None
    if user is not None and not can_traverse(tmp, user):
        why = "%s is not reachable by %s" % (tmp, user)
    elif longest and len(tmp.encode()) + longest > 107:
        why = "%s is too long for a Unix socket path" % tmp
    if why is None:
        return tmp, None
    return "/tmp", why


class OwnedDir:
    """A fresh folder base/PREFIXxxxxxxxx, mode 0755, locked by this
    process until release().  .path is its absolute path."""

    def __init__(self, prefix, base):
        self.path = os.path.realpath(tempfile.mkdtemp(prefix=prefix,
                                                      dir=base))
        os.chmod(self.path, 0o755)
        self._fd = os.open(os.path.join(self.path, LOCK_NAME),
                           os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.write(self._fd, b"%d\n" % os.getpid())

    def release(self, remove=True):
        """Removes the folder (unless a mount is still below it, or
        remove is False) and drops the lock.  Returns a problem string,
        or None."""
        problem = None
        if remove:
            problem = rmtree(self.path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        return problem


def is_stale(path):
    """Whether path (an OwnedDir of some process) is no longer owned."""
    lock = os.path.join(path, LOCK_NAME)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            return time.time() - os.stat(path).st_mtime > YOUNG
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    finally:
        os.close(fd)
    return True


def stale_dirs(prefix, bases):
    """The folders named PREFIX* in any of bases that no process owns."""
    out = []
    seen = set()
    for b in bases:
        try:
            names = os.listdir(b)
        except OSError:
            continue
        for n in names:
            p = os.path.realpath(os.path.join(b, n))
            if n.startswith(prefix) and p not in seen and \
                    os.path.isdir(p) and is_stale(p):
                seen.add(p)
                out.append(p)
    return out


def rmtree(path):
    """Removes path unless something is still mounted below it (then the
    files of that mount would go too).  Returns a problem, or None."""
    left = mounts_under(path)
    if left:
        return "%s not removed: still mounted below it: %s" % (
            path, ", ".join(left))
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        return "%s could not be removed" % path
    return None


# -------------------------------------------------------------- mounts

def _unescape(field):
    # /proc/self/mountinfo escapes space, tab, newline and backslash
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and \
                field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts():
    """[(mount point, filesystem type, source)] in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            a, b = left.split(), right.split()
            if len(a) >= 5 and len(b) >= 2:
                out.append((_unescape(a[4]), b[0], _unescape(b[1])))
    return out


def mounts_under(path):
    """Mount points at or below path, deepest (latest) first."""
    path = os.path.realpath(path).rstrip("/")
    return [m for m, _, _ in reversed(mounts())
            if m == path or m.startswith(path + "/")]


def unmount(mountpoint, tries=20):
    """umount, retried while busy, then umount -l.  Returns a problem,
    or None."""
    err = ""
    for _ in range(tries):
        p = subprocess.run(["umount", mountpoint], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0 or mountpoint not in mounts_under(mountpoint):
            return None
        err = p.stdout.decode("utf-8", "replace").strip()
        time.sleep(0.1)
    p = subprocess.run(["umount", "-l", mountpoint], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode == 0:
        return "%s was busy (%s): detached with umount -l" % (mountpoint, err)
    return "umount %s: %s; umount -l: %s" % (
        mountpoint, err, p.stdout.decode("utf-8", "replace").strip())


# ----------------------------------------------------------- processes

def processes():
    """Yields (pid, cmdline as a list of str, cwd or None, ppid)."""
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = [a.decode("utf-8", "replace")
                       for a in f.read().split(b"\0") if a]
            with open("/proc/%d/stat" % pid, "rb") as f:
                st = f.read()
            ppid = int(st[st.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            cwd = None
        yield pid, cmd, cwd, ppid


def pids_referring(path, environ=False):
    """Processes whose command line names path or something below it,
    whose working folder is there (every PostgreSQL process works in its
    data folder), or with environ, whose environment names it (a FastCGI
    responder finds its configuration in UPGATE_CONFIG)."""
    path = os.path.realpath(path).rstrip("/")
    out = []
    for pid, cmd, cwd, _ in processes():
        if cwd is not None and cwd.endswith(" (deleted)"):
            cwd = cwd[:-len(" (deleted)")]
        hit = (cwd and (cwd == path or cwd.startswith(path + "/"))) or \
            any(path in a for a in cmd)
        if not hit and environ:
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    hit = path.encode() in f.read()
            except OSError:
                pass
        if hit:
            out.append(pid)
    return out


def alive(pid):
    """Whether pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(b")") + 2:st.rindex(b")") + 3] != b"Z"


def kill_all(pids, sig=signal.SIGTERM, grace=5.0):
    """Sends sig to pids, waits up to grace seconds, then SIGKILL to the
    ones left and waits again.  Returns the pids still alive."""
    for s in (sig, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, s)
            except (ProcessLookupError, PermissionError):
                pass
        end = time.monotonic() + grace
        while time.monotonic() < end:
            pids = [p for p in pids if alive(p)]
            if not pids:
                return []
            time.sleep(0.05)
    return [p for p in pids if alive(p)]


# ------------------------------------------------- stopping at the end

_live = []
_live_lock = threading.Lock()
_installed = False
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_previous = {}


def _stop_all():
    with _live_lock:
        items = list(reversed(_live))
        del _live[:]
    for obj in items:
        try:
            obj.stop()
        except Exception:
            pass


def _on_signal(sig, frame):
    _stop_all()
    prev = _previous.get(sig, signal.SIG_DFL)
    if callable(prev):
        prev(sig, frame)
        return
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _install():
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        prev = signal.getsignal(sig)
        if prev == signal.SIG_IGN or prev is None:
            continue
        _previous[sig] = prev
        signal.signal(sig, _on_signal)


def register(obj):
    """obj.stop() runs at exit or on a fatal signal, unless forget(obj)
    came first.  Latest registered, first stopped."""
    with _live_lock:
        _install()
        if obj not in _live:
            _live.append(obj)


def forget(obj):
    with _live_lock:
        if obj in _live:
            _live.remove(obj)
