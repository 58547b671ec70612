# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""What the WebDAV client tests share: one running server per hosting
path (tests/servers' Fixture: the shipped configuration, basic
authentication, upload_dir on a tmpfs), a user per client so that each
client's folder and ledger are its own, the methods the server offers,
the disk and ledger checks made after every client, and running a client.
"""

import os
import shutil
import subprocess

import servers
from servers import Fixture, Group, MiB, check, eq, fail, skip  # noqa: F401

# The two hosting paths the README recommends.
PATHS = ("lighttpd-fastcgi", "apache-proxy-fcgi")
LIMIT = 10 * MiB
QUOTA = "".join("%s %d\n" % (u, LIMIT) for u in servers.USERS)
TMPFS = 64 * MiB

# Who each client signs in as (servers.USERS: the password is the name).
LITMUS, RCLONE, CADAVER, DAVFS2 = servers.USERS


def _setup(path):
    def setup():
        return Fixture("dav-" + path, path, QUOTA,
                       {"max_upload_size": str(32 * MiB)}, tmpfs_size=TMPFS)
    return setup


GROUPS = [Group("dav-" + p, _setup(p)) for p in PATHS]


def case(name):
    """Registers fn(fx) as "NAME via PATH" on every path."""
    def deco(fn):
        for g, p in zip(GROUPS, PATHS):
            g.case("%s via %s" % (name, p))(fn)
        return fn
    return deco


def url(fx, rel="/"):
    return fx.srv.url(rel)


def offered(fx):
    """The methods OPTIONS lists in Allow (asked once per server)."""
    if not hasattr(fx, "dav_allow"):
        r = fx.curl("OPTIONS", "/")
        eq(r.status, 204, "OPTIONS via %s" % fx.path)
        check("1" in [v.strip() for v in (r.header("DAV") or "").split(",")],
              "OPTIONS via %s: no DAV: 1 (%r)" % (fx.path, r.headers))
        fx.dav_allow = {m.strip() for m in (r.header("Allow") or "")
                        .split(",")}
    return fx.dav_allow


def needs_copy_move(fx, what):
    """Skips unless the server offers COPY and MOVE (upgate(8), WebDAV),
    which come with the folder DELETE, If-Match and the ETag of a PUT."""
    missing = [m for m in ("COPY", "MOVE") if m not in offered(fx)]
    if missing:
        skip("needs COPY/MOVE (%s): OPTIONS' Allow lists no %s yet"
             % (what, " or ".join(missing)))


def need_tool(name):
    if shutil.which(name) is None and \
            not os.path.exists(os.path.join("/usr/sbin", name)):
        skip("%s is not installed (make deps installs it)" % name)


def workdir(fx, name):
    """A fresh folder under the fixture's, for a client's own files."""
    d = os.path.join(fx.root, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    return d


def run(argv, what, env=None, cwd=None, stdin=None, timeout=120):
    """Runs a client; returns (exit code, stdout and stderr together)."""
    try:
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, cwd=cwd,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        fail("%s: still running after %ss: %r" % (what, timeout,
                                                   (e.output or b"")[-1500:]))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def settled(fx, user, what):
    """After a client: each file in the user's folder has its ledger
    record with its size and nothing else has one, the usage is their
    sum, and no temporary file or reservation is left (upgate(8), Accounting)."""
    e = fx.env
    stored = e.stored(user)
    for rel, data in stored.items():
        eq(e.record("%s/%s" % (user, rel)), (user, len(data)),
           "%s via %s: the ledger's record of %s" % (what, fx.path, rel))
    top = os.path.join(e.state, "files", user)
    for dp, _, fns in os.walk(top):
        for n in fns:
            rel = os.path.relpath(os.path.join(dp, n), top)
            check(rel in stored, "%s via %s: the ledger keeps a record of "
                  "%s, which is not on disk" % (what, fx.path, rel))
    eq(e.usage(user), sum(len(b) for b in stored.values()),
       "%s via %s: %s's usage in the ledger" % (what, fx.path, user))
    e.assert_clean("%s via %s: " % (what, fx.path))
    return stored


def put(fx, user, rel, data):
    r = fx.curl("PUT", rel, user=user, data=data)
    check(r.status in (201, 204), "PUT %s via %s: %s" % (rel, fx.path,
                                                         r.summary()))


def mkcol(fx, user, rel):
    r = fx.curl("MKCOL", rel, user=user)
    eq(r.status, 201, "MKCOL %s via %s" % (rel, fx.path))
