# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""davfs2 mounts the user's folder (README "WebDAV clients"): df shows
the quota of RFC 4331, a stored file reads back through the mount, a
file copied in arrives byte-exact once the mount is gone; the mount is
taken down whatever happens.  Needs root and /dev/fuse."""

import os
import shutil
import subprocess

import davclients as dc
from davclients import case, check, eq, fail, skip

import harness

# davfs2 1.6 with kernels from 6.16 on: a readdir buffer under 64 KiB
# makes every listing fail with EINVAL (buf_size is in KiB).
CONF = """\
# written by tests/dav_clients: upgate is WebDAV class 1 (no LOCK)
use_locks 0
secrets {secrets}
cache_dir {cache}
buf_size 64
"""


class Mount:
    """mount.davfs of the user's folder at fx.root/davfs2/mnt, with its
    own configuration, secrets and cache; close() unmounts, lazily if it
    must, and is safe to call twice."""

    def __init__(self, fx):
        dc.need_tool("mount.davfs")
        if not os.path.exists("/dev/fuse"):
            skip("no /dev/fuse on this machine")
        self.fx = fx
        top = dc.workdir(fx, "davfs2")
        self.mnt = os.path.join(top, "mnt")
        cache = os.path.join(top, "cache")
        os.makedirs(self.mnt)
        # davfs2 wants root's cache folder to be root's and its group's
        os.makedirs(cache)
        shutil.chown(cache, "root", "davfs2")
        os.chmod(cache, 0o775)
        secrets = os.path.join(top, "secrets")
        with open(os.open(secrets, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write("%s %s %s\n" % (dc.url(fx, "/"), dc.DAVFS2, dc.DAVFS2))
        conf = os.path.join(top, "davfs2.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(secrets=secrets, cache=cache))
        self.mounted = False
        rc, out = dc.run(["mount.davfs", dc.url(fx, "/"), self.mnt, "-o",
                          "conf=%s,uid=%d,gid=%d" % (conf, os.getuid(),
                                                      os.getgid())],
                         "mount.davfs via %s" % fx.path, timeout=60)
        self.mounted = self._is_mounted()
        if rc != 0 or not self.mounted:
            self.close()
            fail("mount.davfs via %s: exit %d: %s" % (fx.path, rc,
                                                     out[-1500:]))

    def _is_mounted(self):
        with open("/proc/mounts") as f:
            return any(line.split()[1] == self.mnt for line in f)

    def close(self):
        """Unmounts; umount waits for mount.davfs to upload what its
        cache holds.  Returns umount's output when it had to force."""
        if not self.mounted:
            return None
        rc, out = dc.run(["umount", self.mnt], "umount %s" % self.mnt,
                         timeout=120)
        if rc != 0 or self._is_mounted():
            subprocess.run(["umount", "-l", self.mnt],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.mounted = False
            return out or "umount exit %d" % rc
        self.mounted = False
        return None


@case("davfs2 mount, df, copy in")
def t_davfs2(fx):
    e = fx.env
    before = harness.randbytes(300000, seed=31)
    dc.put(fx, dc.DAVFS2, "/before.bin", before)
    data = harness.randbytes(700001, seed=32)
    src = os.path.join(fx.root, "davfs2-src.bin")
    with open(src, "wb") as f:
        f.write(data)
    m = Mount(fx)
    try:
        # df: RFC 4331's figures in davfs2's blocks, rounded down
        st = os.statvfs(m.mnt)
        used = e.usage(dc.DAVFS2)
        sv = os.statvfs(e.upload)
        avail = min(dc.LIMIT - used, sv.f_bavail * sv.f_frsize)
        eq((st.f_bavail, st.f_blocks - st.f_bfree),
           (avail // st.f_frsize, used // st.f_frsize),
           "df of the davfs2 mount via %s: (available, used) blocks of %d "
           "bytes" % (fx.path, st.f_frsize))
        with open(os.path.join(m.mnt, "before.bin"), "rb") as f:
            eq(harness.sha(f.read()), harness.sha(before),
               "before.bin read through the davfs2 mount via %s" % fx.path)
        os.mkdir(os.path.join(m.mnt, "in"))
        shutil.copyfile(src, os.path.join(m.mnt, "in", "copied.bin"))
        check("copied.bin" in os.listdir(os.path.join(m.mnt, "in")),
              "davfs2 via %s: the mount does not list in/copied.bin"
              % fx.path)
    finally:
        forced = m.close()
    check(forced is None, "umount of the davfs2 mount via %s failed: %s"
          % (fx.path, forced))
    stored = dc.settled(fx, dc.DAVFS2, "davfs2")
    eq(sorted(stored), ["before.bin", "in/copied.bin"],
       "davfs2 via %s: the files on disk" % fx.path)
    check(stored["in/copied.bin"] == data,
          "davfs2 via %s: in/copied.bin is not byte-exact (%d bytes, %d "
          "sent)" % (fx.path, len(stored["in/copied.bin"]), len(data)))
