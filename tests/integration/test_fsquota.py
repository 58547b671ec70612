# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Row 14's EDQUOT on a real filesystem quota (upgate(8), "Decisions"):
upload_dir is a btrfs subvolume with a qgroup limit, on a loop file, and
the filesystem's own quota refuses the bytes, at the fallocate before the
body: 507 quota_exceeded with quota.source "filesystem", nothing left
behind.  Root only, and a kernel with btrfs (Debian's btrfs-progs)."""

import os
import shutil
import subprocess

from harness import (Env, KiB, MiB, check, eq, expect,
                     expect_refusal_before_body, log_of, skip, test)
from test_fulldisk import Tmpfs
from test_multipart import CT, form, fpart

LIMIT = 4 * MiB     # the qgroup's limit on the subvolume


def _run(*argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


def _have_btrfs():
    """None, or why btrfs cannot be used here."""
    if os.geteuid() != 0:
        return "not root: cannot mount a loop file"
    if shutil.which("mkfs.btrfs") is None:
        return "no mkfs.btrfs (Debian's btrfs-progs)"
    with open("/proc/filesystems") as f:
        if "btrfs" in f.read():
            return None
    if shutil.which("modprobe") is not None:
        _run("modprobe", "btrfs")
        with open("/proc/filesystems") as f:
            if "btrfs" in f.read():
                return None
    return "the kernel has no btrfs (modprobe btrfs)"


class BtrfsQuota(Tmpfs):
    """An Env whose upload_dir (state_dir inside it) is a btrfs
    subvolume limited to LIMIT bytes by a qgroup; entered and left as a
    Tmpfs (unmounted at the end)."""

    def __init__(self, conf=None):
        why = _have_btrfs()
        if why:
            skip(why)
        self.e = Env(write=False)
        self.img = os.path.join(self.e.root, "btrfs.img")
        self.mnt = os.path.join(self.e.root, "btrfs")
        os.makedirs(self.mnt)
        up = os.path.join(self.mnt, "upload")
        # 160 MiB: the least a default mkfs.btrfs takes with room to spare
        steps = [("truncate", "-s", "160M", self.img),
                 ("mkfs.btrfs", "-q", self.img),
                 ("mount", "-o", "loop", self.img, self.mnt),
                 ("btrfs", "subvolume", "create", up),
                 ("btrfs", "quota", "enable", self.mnt),
                 ("btrfs", "qgroup", "limit", str(LIMIT), up)]
        for argv in steps:
            rc, out = _run(*argv)
            if rc != 0:
                self._umount()
                skip("%s failed: %s" % (" ".join(argv[:3]), out))
        self.e.upload = up
        self.e.state = os.path.join(up, ".upgate")
        self.e.conf["upload_dir"] = up
        self.e.conf.update(conf or {})
        self.e.write_conf()

    def settle(self):
        """btrfs accounts a qgroup at the transaction's commit: a sync
        makes what was freed count as free again."""
        _run("btrfs", "filesystem", "sync", self.mnt)


def _filesystem_refusal(r, size, used):
    """507 quota_exceeded of the filesystem's quota (upgate(8), row 14):
    the ledger's figures, the shortage unknown."""
    expect(r, 507, "quota_exceeded")
    expect_refusal_before_body(r)
    j = r.json()
    w = r.what()
    eq(j["quota"]["source"], "filesystem", "%s: quota.source" % w)
    eq(j["quota"]["used"], used, "%s: quota.used" % w)
    eq(j["upload"]["shortage"], None, "%s: upload.shortage" % w)
    eq(j["upload"]["size"], size, "%s: upload.size" % w)
    check("filesystem" in j["message"], "%s: the message names the "
          "filesystem's quota: %r" % (w, j["message"]))
    eq(log_of(r)["reason"], "quota_exceeded", "%s: log reason" % w)


@test("fsquota: btrfs qgroup: PUT and form over the limit 507 "
      "quota_exceeded, source filesystem, nothing left; fitting ones stored")
def _():
    q = BtrfsQuota({"allow_unknown_length": "yes"})
    with q as e:
        small = os.urandom(512 * KiB)
        expect(e.run("PUT", "/fits.bin", body=small), 201, "stored")
        big = b"x" * (2 * LIMIT)
        r = e.run("PUT", "/big.bin", body=big)
        _filesystem_refusal(r, len(big), len(small))
        body = bytes(form([fpart("f", "big.bin", big)]))
        r = e.run("POST", "/", body=body, content_type=CT)
        _filesystem_refusal(r, len(body), len(small))
        # of unknown length: refused while the body streams
        r = e.run("PUT", "/stream.bin", length=None,
                  body=(b"y" * (256 * KiB) for _ in range(32)))
        expect(r, 507, "quota_exceeded")
        eq(r.json()["quota"]["source"], "filesystem", "quota.source")
        eq(sorted(e.stored()), ["fits.bin"], "files after the refusals")
        eq(e.usage(), len(small), "usage after the refusals")
        e.assert_clean()
        q.settle()
        r = e.run("POST", "/", body=bytes(form([fpart("f", "also.bin", small)])),
                  content_type=CT)
        expect(r, 201, "stored")
        eq(e.stored(), {"fits.bin": small, "also.bin": small}, "files")
        eq(e.usage(), 2 * len(small), "usage")
