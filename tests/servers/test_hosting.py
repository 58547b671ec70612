# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Every hosting path end to end (upgate(8), Requests-upgate(8), Responses, README, Hosting): authentication sets
REMOTE_USER, PATH_INFO reaches upgate decoded, and PUT 201/204, GET,
DELETE, 413, 411, 507 disk and 507 quota come back through the server
with their headers and bodies, the disk checked afterwards; upload_dir
served by the server shows its files but never a dot path."""

import http.client
import os
import time

import harness
from servers import (KiB, MiB, PATHS, Fixture, Group, check, eq, expect,
                     expect_close, fail, sparse_file)

QUOTA = "alice 10M\nbob 1M\ncarol unlimited\n"
MAX = 32 * MiB
TMPFS = 16 * MiB

# What a chunked PUT (no Content-Length) becomes on each path, as
# measured: "upgate" -- the server passes the body without a length and
# upgate answers 411 (allow_unknown_length = no); "server" -- the server
# refuses it with its own 411 (lighttpd's mod_cgi cannot stream a body of
# unknown length to a CGI program) -- or, when the whole body arrived
# before lighttpd picked a backend, passes the length it counted and the
# upload is stored; "length" -- the server reads the
# whole body first and passes CONTENT_LENGTH, so the upload is stored.
CHUNKED = {
    "apache-cgid": "upgate",
    "apache-fcgid": "length",
    "apache-proxy-fcgi": "upgate",
    "lighttpd-cgi": "server",
    "lighttpd-fastcgi": "server",
    "nginx-fastcgi": "upgate",
}


def _setup(path):
    def setup():
        return Fixture("hosting-" + path, path, QUOTA,
                       {"max_upload_size": str(MAX)}, tmpfs_size=TMPFS)
    return setup


def _free(path):
    s = os.statvfs(path)
    return s.f_bavail * s.f_frsize


def _unchanged(fx, user, before, used):
    e = fx.env
    eq(e.stored(user), before, "%s: files in %s's folder" % (fx.path, user))
    eq(e.usage(user), used, "%s: %s's ledger" % (fx.path, user))
    e.assert_clean("%s: " % fx.path)


def _nothing_stored(fx, user):
    e = fx.env
    eq(e.stored(user), {}, "%s: files in %s's folder" % (fx.path, user))
    e.assert_clean("%s: " % fx.path)


def _logged(fx, prefix, timeout=5):
    """The upgate(8), Logs line reaches the server's log (or, behind
    mod_proxy_fcgi, the responder's standard error)."""
    end = time.monotonic() + timeout
    while True:
        lines = [l for l in fx.srv.logs().splitlines() if "upgate: " in l]
        if any(l[l.index("upgate: "):].startswith(prefix) for l in lines):
            return
        if time.monotonic() > end:
            fail("%s: no log line starting %r; upgate lines: %r"
                 % (fx.path, prefix, lines[-5:]))
        time.sleep(0.1)


def _raw_get(fx, target):
    """GET target as sent (no client-side normalisation of %2e or dot
    segments), without credentials; (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", fx.srv.port, timeout=30)
    try:
        c.putrequest("GET", target, skip_accept_encoding=True)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def _dot_paths(fx):
    """Each hosting file refuses, wherever the server serves upload_dir,
    every path with a component that starts with "." (README, Hosting):
    state_dir below upload_dir holds every user's usage, quota and file
    names.  The files exist on disk and the server may read them (it runs
    as their owner), so only the configuration stands in the way."""
    e = fx.env
    secret = b"not for the web " + os.urandom(8).hex().encode()
    expect(fx.curl("PUT", "/served.txt", data=secret), 201, "stored")
    udir = e.user_dir("alice")
    planted = [os.path.join(udir, ".htaccess"),
               os.path.join(udir, ".upgate-tmp-0123456789abcdef")]
    for f in planted:
        with open(f, "wb") as out:
            out.write(secret)
        os.chmod(f, 0o644)
    user = os.path.relpath(udir, e.upload)
    state = os.path.relpath(e.state, e.upload)
    check(not state.startswith(".."), "%s: state_dir %s is not below "
          "upload_dir" % (fx.path, e.state))
    inside = [os.path.join(state, "files", user, "served.txt"),
              os.path.join(state, "usage", user)]
    if os.path.exists(os.path.join(e.state, "quota.idx")):
        inside.append(os.path.join(state, "quota.idx"))
    for rel in inside:
        check(os.path.exists(os.path.join(e.upload, rel)), "%s: %s is not "
              "on disk: the refusal would prove nothing" % (fx.path, rel))
    try:
        st, body = _raw_get(fx, "/%s/served.txt" % user)
        eq((st, body), (200, secret), "%s: GET /%s/served.txt, a stored "
           "file served by the server" % (fx.path, user))
        refused = ["/" + r for r in inside] + [
            "/" + state + "/", "/" + state,
            "/%s/.htaccess" % user,
            "/%s/.upgate-tmp-0123456789abcdef" % user,
            "/%2e" + state[1:] + "/usage/" + user,
            "/%s/%%2ehtaccess" % user,
            "/%s/x/..%%2f.htaccess" % user,
            "//%s//.htaccess" % user]
        served = []
        for target in refused:
            st, body = _raw_get(fx, target)
            if st not in (403, 404) or secret in body:
                served.append("GET %s: %s %r" % (target, st, body[:60]))
        check(not served, "%s: expected 403 or 404, never the content: %s"
              % (fx.path, "; ".join(served)))
    finally:
        for f in planted:
            os.unlink(f)
    # the gate's own location still passes dot paths to upgate, which
    # answers them itself
    r = fx.curl("GET", "/.resumable/x")
    eq(r.header("Cache-Control"), "no-store", "%s: an answer from upgate "
       "(%s)" % (r.what(), r.summary()))
    expect(fx.curl("DELETE", "/served.txt"), 204, "deleted")


def _register(path):
    g = Group("hosting-" + path, _setup(path))
    p = path

    @g.case("%s: no credentials -> 401 from the server, upgate not run" % p)
    def _(fx):
        r = fx.curl("GET", "", user=None)
        eq(r.status, 401, "%s: status" % r.what())
        check(r.header("WWW-Authenticate") is not None,
              "%s: no WWW-Authenticate" % r.what())
        r = fx.curl("PUT", "/x.bin", user="alice", password="wrong",
                    data=b"x" * 10)
        eq(r.status, 401, "%s (wrong password): status" % r.what())
        _nothing_stored(fx, "alice")

    @g.case("%s: PUT of a new file -> 201, stored in REMOTE_USER's folder"
            % p)
    def _(fx):
        e = fx.env
        body = os.urandom(1000)
        r = expect(fx.curl("PUT", "/a.bin", data=body), 201, "stored")
        loc = r.header("Location") or ""
        check(loc.endswith("/upload/a.bin"), "%s: Location %r, expected "
              "the request's URI /upload/a.bin" % (r.what(), loc))
        j = r.json()
        eq(j["file"], {"name": "a.bin", "stored_as": "a.bin", "size": 1000},
           "%s: JSON file" % r.what())
        harness.expect_quota_obj(j["quota"], 10 * MiB, 1000,
                                 what=r.what())
        harness.expect_quota_headers(r, 1000, 10 * MiB)
        eq(e.stored("alice"), {"a.bin": body}, "alice's files")
        eq(e.usage("alice"), 1000, "alice's ledger")
        _logged(fx, "upgate: user=alice method=PUT status=201 reason=stored "
                "size=1000 used=1000 limit=10485760 ms=")
        # the identity is the authenticated user, not alice every time
        r = expect(fx.curl("PUT", "/b.txt", user="bob", data=b"0123456789"),
                   201, "stored")
        harness.expect_quota_headers(r, 10, 1 * MiB)
        eq(e.stored("bob"), {"b.txt": b"0123456789"}, "bob's files")
        eq(e.usage("bob"), 10, "bob's ledger")
        e.assert_clean()

    @g.case("%s: PUT replacing a file -> 204, no body, new content" % p)
    def _(fx):
        e = fx.env
        body = os.urandom(5000)
        r = expect(fx.curl("PUT", "/a.bin", data=body), 204, "replaced")
        harness.expect_quota_headers(r, 5000, 10 * MiB)
        eq(e.stored("alice"), {"a.bin": body}, "alice's files")
        eq(e.usage("alice"), 5000, "alice's ledger")
        e.assert_clean()

    @g.case("%s: GET -> 200 with the user's quota status" % p)
    def _(fx):
        r = expect(fx.curl("GET", ""), 200)
        j = r.json()
        eq(j.get("user"), "alice", "%s: JSON user" % r.what())
        harness.expect_quota_obj(j["quota"], 10 * MiB, 5000, what=r.what())
        harness.expect_quota_headers(r, 5000, 10 * MiB)
        r = expect(fx.curl("GET", "", user="carol"), 200)
        harness.expect_quota_obj(r.json()["quota"], None, 0, what=r.what())
        harness.expect_no_quota_headers(r)

    @g.case("%s: upload_dir served as the document root: a stored file "
            "-> 200, state_dir, .htaccess, an upload in progress, %%2e "
            "-> refused; the gate's own dot paths reach upgate" % p)
    def _(fx):
        _dot_paths(fx)

    @g.case("%s: PUT and DELETE of /my%%20notes.txt reach upgate decoded"
            % p)
    def _(fx):
        e = fx.env
        r = expect(fx.curl("PUT", "/my%20notes.txt", data=b"hello"), 201,
                   "stored")
        eq(r.json()["file"]["name"], "my notes.txt", "%s: file.name"
           % r.what())
        eq(e.stored("alice").get("my notes.txt"), b"hello", "stored file")
        expect(fx.curl("DELETE", "/my%20notes.txt"), 204, "deleted")
        check("my notes.txt" not in e.stored("alice"), "still stored")
        eq(e.usage("alice"), 5000, "alice's ledger")

    @g.case("%s: DELETE -> 204, the file and its bytes gone" % p)
    def _(fx):
        e = fx.env
        r = expect(fx.curl("DELETE", "/a.bin"), 204, "deleted")
        harness.expect_quota_headers(r, 0, 10 * MiB)
        eq(e.stored("alice"), {}, "alice's files")
        eq(e.usage("alice"), 0, "alice's ledger")
        r = expect(fx.curl("DELETE", "/a.bin"), 404, "not_found")
        e.assert_clean()

    @g.case("%s: PUT over max_upload_size -> 413 too_large" % p)
    def _(fx):
        e = fx.env
        before, used = e.stored("alice"), e.usage("alice")
        n = MAX + MiB
        f = sparse_file(os.path.join(fx.root, "413.bin"), n)
        try:
            r = expect(fx.curl("PUT", "/big.bin", upload=f), 413,
                       "too_large")
        finally:
            os.unlink(f)
        expect_close(r)
        j = r.json()
        eq((j.get("limit"), j.get("size")), (MAX, n), "%s: limit, size"
           % r.what())
        harness.expect_quota_headers(r, used, 10 * MiB)
        _unchanged(fx, "alice", before, used)

    @g.case("%s: chunked PUT without a length -> %s" % (
        p, {"upgate": "411 from upgate", "server": "411 from the server",
            "length": "201 (the server supplies the length)"}[CHUNKED[p]]))
    def _(fx):
        e = fx.env
        before, used = e.stored("alice"), e.usage("alice")
        body = os.urandom(100 * KiB)
        r = fx.curl("PUT", "/chunked.bin", stdin=body)
        how = CHUNKED[fx.path]
        if how == "upgate":
            expect(r, 411, "length_required")
            expect_close(r)
        elif how == "server" and r.status != 201:
            eq(r.status, 411, "%s: status (%s)" % (r.what(), r.summary()))
            check(r.header("Cache-Control") is None,
                  "%s: a 411 from upgate, not from the server: %s"
                  % (r.what(), r.summary()))
        else:
            # lighttpd too, when the whole body came in before it picked
            # a backend: it then passes the length it counted
            expect(r, 201, "stored")
            eq(e.stored("alice").get("chunked.bin"), body, "stored body")
            expect(fx.curl("DELETE", "/chunked.bin"), 204, "deleted")
        _unchanged(fx, "alice", before, used)

    @g.case("%s: PUT over quota -> 507 quota_exceeded before the body" % p)
    def _(fx):
        e = fx.env
        for name in e.stored("alice"):      # start from an empty folder
            expect(fx.curl("DELETE", "/" + name), 204, "deleted")
        expect(fx.curl("PUT", "/keep.bin", data=b"k" * 4096), 201, "stored")
        n = 11 * MiB
        f = sparse_file(os.path.join(fx.root, "quota.bin"), n)
        try:
            r = expect(fx.curl("PUT", "/over.bin", upload=f), 507,
                       "quota_exceeded")
        finally:
            os.unlink(f)
        expect_close(r)
        harness.expect_quota_headers(r, 4096, 10 * MiB)
        check(r.header("Retry-After") is None, "%s: Retry-After on a quota "
              "refusal" % r.what())
        j = r.json()
        harness.expect_quota_obj(j["quota"], 10 * MiB, 4096, what=r.what())
        eq(j["upload"], {"size": n, "shortage": n - (10 * MiB - 4096)},
           "%s: JSON upload" % r.what())
        eq(j["storage_analysis"]["largest_files"],
           [{"name": "keep.bin", "size": 4096}], "%s: largest_files"
           % r.what())
        eq(sorted(e.stored("alice")), ["keep.bin"], "alice's files")
        eq(e.usage("alice"), 4096, "alice's ledger")
        expect(fx.curl("DELETE", "/keep.bin"), 204, "deleted")
        e.assert_clean()

    @g.case("%s: PUT larger than the disk (tmpfs) -> 507 disk_full" % p)
    def _(fx):
        e = fx.env
        free = _free(e.upload)
        n = 20 * MiB
        f = sparse_file(os.path.join(fx.root, "disk.bin"), n)
        try:
            r = expect(fx.curl("PUT", "/huge.bin", user="carol", upload=f),
                       507, "disk_full")
        finally:
            os.unlink(f)
        expect_close(r)
        eq(r.header("Retry-After"), "3600", "%s: Retry-After" % r.what())
        j = r.json()
        d = j["details"]
        eq(d.get("required_space"), n, "%s: details.required_space"
           % r.what())
        check(abs(d.get("available_space", -1) - free) <= 256 * KiB,
              "%s: details.available_space %r, expected about %d"
              % (r.what(), d.get("available_space"), free))
        eq(d.get("shortage"), n - d.get("available_space", 0),
           "%s: details.shortage" % r.what())
        check("storage_path" not in d, "%s: storage_path without "
              "expose_paths" % r.what())
        _nothing_stored(fx, "carol")
        check(_free(e.upload) >= free - 64 * KiB, "space not given back: "
              "%d free before, %d after" % (free, _free(e.upload)))


for _p in PATHS:
    _register(_p)
