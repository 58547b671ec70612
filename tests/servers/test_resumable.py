# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Resumable uploads through the streaming hosting paths (upgate(8),
"Resumable uploads"; README, "Resumable uploads"): curl creates an
upload, sends part of it, is cut off mid-PATCH, asks the offset with
HEAD and sends the rest; the file comes out byte-exact, the ledger and
reserved exact, nothing temporary left.  lighttpd and Apache
mod_proxy_fcgi pass the body as it comes, so a PATCH cut short keeps
what reached upgate."""

import base64
import os
import re

from servers import MiB, Fixture, Group, check, eq, expect

QUOTA = "alice 10M\n"
TUS = "Tus-Resumable: 1.0.0"
OCTETS = "Content-Type: application/offset+octet-stream"
STREAMING = ("lighttpd-fastcgi", "apache-proxy-fcgi")


def _setup(path):
    def setup():
        return Fixture("tus-" + path, path, QUOTA, {})
    return setup


def _offset(fx, uid):
    r = fx.curl("HEAD", "/.resumable/" + uid, headers=[TUS])
    expect(r, 200)
    return int(r.header("Upload-Offset"))


def _patch(fx, uid, offset, data, **kw):
    return fx.curl("PATCH", "/.resumable/" + uid, data=data,
                   headers=[TUS, OCTETS, "Upload-Offset: %d" % offset], **kw)


def _register(path):
    g = Group("tus-" + path, _setup(path))

    @g.case("%s: a resumable upload created, cut off mid-PATCH, resumed "
            "from HEAD's offset, stored byte-exact" % path)
    def _(fx):
        e = fx.env
        data = os.urandom(3 * MiB)
        name = base64.b64encode(b"video.bin").decode()
        # an empty body, as browsers send it (lighttpd wants a length)
        r = fx.curl("POST", "", headers=[
            TUS, "Content-Length: 0", "Upload-Length: %d" % len(data),
            "Upload-Metadata: filename " + name])
        eq(r.status, 201, "%s: status of the creation; %s"
           % (r.what(), r.summary()))
        m = re.match(r"^/upload/\.resumable/([0-9a-f]{32})$",
                     r.header("Location") or "")
        check(m, "%s: Location %r" % (r.what(), r.header("Location")))
        uid = m.group(1)
        eq(r.header("Tus-Resumable"), "1.0.0", "Tus-Resumable")
        expect(_patch(fx, uid, 0, data[:MiB]), 204, "appended")
        # cut off: curl gives up after a second at 256 KiB/s
        r = _patch(fx, uid, MiB, data[MiB:], rate=256 * 1024, timeout=1)
        check(r.status is None, "%s: the PATCH was not cut off: %s"
              % (r.what(), r.summary()))
        off = _offset(fx, uid)
        check(MiB < off < len(data), "%s: offset %d after a PATCH cut "
              "short (it keeps what arrived)" % (path, off))
        r = _patch(fx, uid, off, data[off:])
        expect(r, 204, "stored")
        eq(r.header("Upload-Offset"), str(len(data)), "Upload-Offset")
        eq(e.stored("alice"), {"video.bin": data}, "%s: files" % path)
        eq(e.usage("alice"), len(data), "%s: usage" % path)
        expect(fx.curl("DELETE", "/.resumable/" + uid, headers=[TUS]), 204,
               "deleted")
        e.assert_clean("%s: " % path)


for _p in STREAMING:
    _register(_p)
