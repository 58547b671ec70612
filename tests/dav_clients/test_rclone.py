# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""rclone's webdav remote (vendor = other) against upgate: mkdir,
copyto, lsjson, about (the ledger's figures), delete, moveto, and an
upload over the quota refused with 507 and nothing left of it
(README "WebDAV clients")."""

import json
import os

import davclients as dc
from davclients import MiB, case, check, eq

import harness


def rclone(fx, *args, expect_ok=True):
    """rclone ARGS with the remote "gate:" (the user's folder) defined in
    its environment, no configuration file of its own, one try."""
    dc.need_tool("rclone")
    home = os.path.join(fx.root, "rclone")
    if not os.path.isdir(home):
        dc.workdir(fx, "rclone")
    _, obscured = dc.run(["rclone", "obscure", dc.RCLONE], "rclone obscure")
    env = {"PATH": "/usr/bin:/bin", "HOME": home,
           "RCLONE_CONFIG": os.path.join(home, "rclone.conf"),
           "RCLONE_CONFIG_GATE_TYPE": "webdav",
           "RCLONE_CONFIG_GATE_URL": dc.url(fx, "/"),
           "RCLONE_CONFIG_GATE_VENDOR": "other",
           "RCLONE_CONFIG_GATE_USER": dc.RCLONE,
           "RCLONE_CONFIG_GATE_PASS": obscured.strip()}
    argv = ["rclone", "--retries", "1", "--low-level-retries", "1",
            "--stats", "0"] + list(args)
    what = "rclone %s via %s" % (" ".join(args), fx.path)
    if not os.path.exists(env["RCLONE_CONFIG"]):
        open(env["RCLONE_CONFIG"], "w").close()
    rc, out = dc.run(argv, what, env=env, cwd=home)
    if expect_ok:
        check(rc == 0, "%s: exit %d: %s" % (what, rc, out[-1500:]))
    return rc, out


def local(fx, name, data):
    p = os.path.join(fx.root, "rclone", name)
    with open(p, "wb") as f:
        f.write(data)
    return p


@case("rclone mkdir, copyto, lsjson, about, delete")
def t_rclone(fx):
    data = harness.randbytes(300000, seed=11)
    rclone(fx, "mkdir", "gate:rc/sub")
    check(os.path.isdir(os.path.join(fx.env.user_dir(dc.RCLONE), "rc/sub")),
          "rclone mkdir via %s: no folder rc/sub" % fx.path)
    rclone(fx, "copyto", local(fx, "a.bin", data), "gate:rc/sub/a.bin")
    eq(dc.settled(fx, dc.RCLONE, "rclone copyto"), {"rc/sub/a.bin": data},
       "rclone copyto via %s: the files on disk" % fx.path)

    _, out = rclone(fx, "lsjson", "-R", "gate:rc")
    got = {(e["Path"], e["IsDir"], e["Size"] if not e["IsDir"] else None)
           for e in json.loads(out[out.index("["):])}
    eq(got, {("sub", True, None), ("sub/a.bin", False, len(data))},
       "rclone lsjson via %s" % fx.path)

    # rclone about: RFC 4331's quota-used-bytes and quota-available-bytes
    _, out = rclone(fx, "about", "--json", "gate:")
    about = json.loads(out[out.index("{"):])
    used = fx.env.usage(dc.RCLONE)
    st = os.statvfs(fx.env.upload)
    avail = min(dc.LIMIT - used, st.f_bavail * st.f_frsize)
    eq((about.get("used"), about.get("free"), about.get("total")),
       (used, avail, used + avail), "rclone about via %s: (used, free, "
       "total) against the ledger" % fx.path)

    rclone(fx, "delete", "gate:rc")
    eq(dc.settled(fx, dc.RCLONE, "rclone delete"), {},
       "rclone delete via %s: the files on disk" % fx.path)


@case("rclone moveto")
def t_rclone_move(fx):
    dc.needs_copy_move(fx, "rclone moveto")
    data = harness.randbytes(200000, seed=12)
    rclone(fx, "copyto", local(fx, "m.bin", data), "gate:mv/m.bin")
    rclone(fx, "moveto", "gate:mv/m.bin", "gate:mv/moved/n.bin")
    eq(dc.settled(fx, dc.RCLONE, "rclone moveto"), {"mv/moved/n.bin": data},
       "rclone moveto via %s: the files on disk" % fx.path)
    rclone(fx, "purge", "gate:mv")
    eq(dc.settled(fx, dc.RCLONE, "rclone purge"), {},
       "rclone purge via %s: the files on disk" % fx.path)


@case("rclone copyto over the quota: 507")
def t_rclone_507(fx):
    kept = harness.randbytes(100000, seed=13)
    rclone(fx, "copyto", local(fx, "kept.bin", kept), "gate:kept.bin")
    big = os.path.join(fx.root, "rclone", "big.bin")
    with open(big, "wb") as f:
        f.truncate(dc.LIMIT - len(kept) + MiB)
    rc, out = rclone(fx, "copyto", big, "gate:big.bin", expect_ok=False)
    check(rc != 0 and "507" in out and "quota_exceeded" in out,
          "rclone copyto of %d bytes over the quota via %s: exit %d, "
          "expected a 507: %s" % (os.path.getsize(big), fx.path, rc,
                                 out[-1500:]))
    eq(dc.settled(fx, dc.RCLONE, "rclone 507"), {"kept.bin": kept},
       "rclone 507 via %s: the files on disk" % fx.path)
    rclone(fx, "deletefile", "gate:kept.bin")
    eq(dc.settled(fx, dc.RCLONE, "rclone deletefile"), {},
       "rclone deletefile via %s" % fx.path)
