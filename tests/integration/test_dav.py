# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""WebDAV class 1 (upgate(8), "WebDAV"; RFC 4918, RFC 4331): OPTIONS,
PROPFIND, PROPPATCH, MKCOL, LOCK, GET and HEAD of stored files, and their
refusals, with the disk, the ledger and the log checked after each; the
attacks: links and dot names on the path, XXE, billion laughs, a 100 MB
PROPFIND body."""

import os
import urllib.parse

from harness import (ALLOWED, ALLOWED_DAV, Env, MiB, check, eq, expect,
                     expect_quota_headers, expect_refusal_before_body,
                     log_of, test)

QUOTA = "alice 1M\nbob 1M\n"
D = "{DAV:}"
XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


def env(**conf):
    return Env(quota=QUOTA, conf=conf)


def propfind(e, path, body=b"", depth="1", **kw):
    headers = kw.pop("headers", {})
    if depth is not None:
        headers["Depth"] = depth
    if body:
        kw.setdefault("content_type", "application/xml")
    return e.run("PROPFIND", path, body=body, headers=headers, **kw)


def prop_body(*names):
    """A PROPFIND prop body naming (namespace, name) pairs."""
    out = []
    for i, (ns, name) in enumerate(names):
        out.append('<p%d:%s xmlns:p%d="%s"/>' % (i, name, i, ns))
    return (XML_HEAD + '<D:propfind xmlns:D="DAV:"><D:prop>%s</D:prop>'
            '</D:propfind>' % "".join(out)).encode()


def responses(r):
    """{href: {"{ns}name": (status code, element)}} of a 207."""
    check(r.media_type() == "application/xml", "%s: 207 Content-Type %r"
          % (r.what(), r.header("Content-Type")))
    root = r.xml()
    eq(root.tag, D + "multistatus", "%s: root element" % r.what())
    out = {}
    for resp in root.findall(D + "response"):
        href = resp.find(D + "href").text
        check(href not in out, "%s: %s listed twice" % (r.what(), href))
        props = {}
        for ps in resp.findall(D + "propstat"):
            code = int(ps.find(D + "status").text.split()[1])
            for p in ps.find(D + "prop"):
                props[p.tag] = (code, p)
        out[href] = props
    return out


def ok207(r):
    expect(r, 207, log=False)
    check(r.header("Connection") is None, "%s: Connection on a 207" % r.what())
    return responses(r)


def unchanged(e, files, used, what=""):
    """The disk and the ledger hold what they held."""
    eq(e.stored(), files, "%sfiles on disk" % what)
    eq(e.usage(), used, "%sledger usage" % what)
    e.assert_clean(what)


def put(e, name, body):
    expect(e.run("PUT", name, body=body), 201, "stored")


# ------------------------------------------------------------------ OPTIONS

@test("dav: OPTIONS says DAV: 1 and lists the WebDAV methods in Allow")
def _():
    with env() as e:
        r = e.run("OPTIONS", "/")
        expect(r, 204)
        eq(r.header("DAV"), "1", "DAV header")
        eq({m.strip() for m in r.header("Allow").split(",")}, ALLOWED_DAV,
           "Allow")


@test("dav: webdav = no: no DAV header; PROPFIND, PROPPATCH, MKCOL 405; "
      "GET of a file is the quota status")
def _():
    with env(webdav="no") as e:
        put(e, "/a.txt", b"hello")
        r = e.run("OPTIONS", "/")
        expect(r, 204)
        check(r.header("DAV") is None, "DAV header with webdav = no")
        eq({m.strip() for m in r.header("Allow").split(",")}, ALLOWED,
           "Allow")
        for m in ("PROPFIND", "PROPPATCH", "MKCOL"):
            r = e.run(m, "/b")
            expect(r, 405, "method_not_allowed", user=None)
            eq({x.strip() for x in r.header("Allow").split(",")}, ALLOWED,
               "%s: Allow" % m)
        r = e.run("GET", "/a.txt")
        expect(r, 200)
        eq(r.json().get("user"), "alice", "quota status")
        unchanged(e, {"a.txt": b"hello"}, 5)


@test("dav: LOCK and UNLOCK get 405 (class 1)")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        for m in ("LOCK", "UNLOCK"):
            r = e.run(m, "/a.txt")
            expect(r, 405, "method_not_allowed", user=None)
            eq({x.strip() for x in r.header("Allow").split(",")},
               ALLOWED_DAV, "%s: Allow" % m)
        unchanged(e, {"a.txt": b"hello"}, 5)


# ----------------------------------------------------------------- PROPFIND

@test("dav: PROPFIND / before the first upload: 207, an empty collection, "
      "no folder made")
def _():
    with env() as e:
        for depth in ("0", "1"):
            res = ok207(propfind(e, "/", depth=depth))
            eq(list(res), ["/upload/"], "hrefs")
            rt = res["/upload/"][D + "resourcetype"]
            check(rt[0] == 200 and rt[1].find(D + "collection") is not None,
                  "resourcetype of the user's folder")
        check(not os.path.exists(e.user_dir()), "the user's folder was made")
        unchanged(e, {}, 0)


@test("dav: PROPFIND Depth 1 lists files and folders, never dot names, "
      "links, temporary files or state_dir")
def _():
    with env(per_user_dirs="no") as e:
        put(e, "/report 1.pdf", b"12345")
        put(e, "/caf\u00e9&<x>.txt", b"ab")
        os.makedirs(os.path.join(e.upload, "sub"))
        e.plant(".hidden", b"h", user=None)
        e.plant(".upgate-tmp-0123456789abcdef", b"t", user=None)
        os.symlink(e.outside, os.path.join(e.upload, "link"))
        os.symlink("/etc/passwd", os.path.join(e.upload, "flink"))
        os.mkfifo(os.path.join(e.upload, "fifo"))
        res = ok207(propfind(e, "/"))
        want = {"/upload/", "/upload/report%201.pdf", "/upload/sub/",
                "/upload/caf%C3%A9%26%3Cx%3E.txt"}
        eq(set(res), want, "hrefs")
        f = res["/upload/report%201.pdf"]
        eq(f[D + "getcontentlength"][1].text, "5", "getcontentlength")
        eq(f[D + "displayname"][1].text, "report 1.pdf", "displayname")
        eq(f[D + "getcontenttype"][1].text, "application/octet-stream",
           "getcontenttype")
        check(f[D + "resourcetype"][1].find(D + "collection") is None,
              "a file's resourcetype")
        for p in ("getlastmodified", "getetag", "creationdate"):
            check(f[D + p][0] == 200 and f[D + p][1].text, "%s missing" % p)
        eq(res["/upload/caf%C3%A9%26%3Cx%3E.txt"][D + "displayname"][1].text,
           "caf\u00e9&<x>.txt", "displayname escaped")
        s = res["/upload/sub/"]
        check(s[D + "resourcetype"][1].find(D + "collection") is not None,
              "a folder's resourcetype")
        check(D + "getcontentlength" not in s, "a folder's length")
        # the ETag PROPFIND gives is the one GET gives
        etag = f[D + "getetag"][1].text
        r = e.run("GET", "/report 1.pdf")
        expect(r, 200)
        eq(r.header("ETag"), etag, "GET's ETag against PROPFIND's")
        eq(r.header("Last-Modified"), f[D + "getlastmodified"][1].text,
           "Last-Modified")
        # a sub-folder, named with and without its '/'
        for p in ("/sub", "/sub/"):
            eq(set(ok207(propfind(e, p))), {"/upload/sub/"}, "hrefs of " + p)
        os.unlink(os.path.join(e.upload, ".upgate-tmp-0123456789abcdef"))


@test("dav: PROPFIND prop: the quota of RFC 4331 on folders; properties "
      "not kept under 404")
def _():
    with env() as e:
        put(e, "/a.txt", b"x" * 1000)
        os.makedirs(os.path.join(e.user_dir(), "sub"))
        body = prop_body(("DAV:", "quota-used-bytes"),
                         ("DAV:", "quota-available-bytes"),
                         ("DAV:", "getetag"),
                         ("http://owncloud.org/ns", "checksums"))
        r = propfind(e, "/", body=body)
        res = ok207(r)
        expect_quota_headers(r, 1000, MiB)
        for href in ("/upload/", "/upload/sub/"):
            p = res[href]
            eq(p[D + "quota-used-bytes"], (200, p[D + "quota-used-bytes"][1]),
               "quota-used-bytes status")
            eq(p[D + "quota-used-bytes"][1].text, "1000", "quota-used-bytes")
            eq(p[D + "quota-available-bytes"][1].text, str(MiB - 1000),
               "quota-available-bytes")
            eq(p[D + "getetag"][0], 404, "a folder's getetag")
            eq(p["{http://owncloud.org/ns}checksums"][0], 404, "oc:checksums")
        f = res["/upload/a.txt"]
        eq(f[D + "quota-used-bytes"][0], 404, "quota of a file")
        eq(f[D + "getetag"][0], 200, "a file's getetag")
        # allprop does not list them (RFC 4331 §3); propname does
        res = ok207(propfind(e, "/", depth="0"))
        check(D + "quota-used-bytes" not in res["/upload/"], "quota in allprop")
        res = ok207(propfind(e, "/", depth="0", body=(
            '<propfind xmlns="DAV:"><propname/></propfind>').encode()))
        p = res["/upload/"]
        check(D + "quota-available-bytes" in p and
              not list(p[D + "resourcetype"][1]), "propname: %r" % list(p))
        unchanged(e, {"a.txt": b"x" * 1000}, 1000)


@test("dav: PROPFIND's quota figures: used + reserved, available the "
      "smaller of the quota's and the disk's room")
def _():
    with env() as e:
        put(e, "/a.txt", b"x" * 100)
        st = os.statvfs(e.upload)
        e.write_quota("alice unlimited\n")
        body = prop_body(("DAV:", "quota-available-bytes"))
        res = ok207(propfind(e, "/", depth="0", body=body))
        got = int(res["/upload/"][D + "quota-available-bytes"][1].text)
        disk = st.f_bavail * st.f_frsize
        check(abs(got - disk) < 64 * MiB, "unlimited: the disk's room %d, "
              "got %d" % (disk, got))
        e.write_quota("alice 300\n")
        res = ok207(propfind(e, "/", depth="0", body=body))
        eq(res["/upload/"][D + "quota-available-bytes"][1].text, "200",
           "the quota's room")


@test("dav: PROPFIND Depth infinity or none on a folder: 403 "
      "propfind-finite-depth; on a file: Depth 0")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        for depth in ("infinity", None):
            r = propfind(e, "/", depth=depth, accept="application/xml")
            expect(r, 403, "forbidden")
            check(r.xml().find(D + "propfind-finite-depth") is not None,
                  "%s: no propfind-finite-depth in %r" % (r.what(), r.body))
            res = ok207(propfind(e, "/a.txt", depth=depth))
            eq(list(res), ["/upload/a.txt"], "a file's PROPFIND")
        # an XML body makes XML the default format of a refusal
        r = propfind(e, "/", depth="infinity", body=prop_body(
            ("DAV:", "getetag")))
        expect(r, 403, "forbidden")
        eq(r.media_type(), "application/xml", "refusal after an XML body")
        r = propfind(e, "/", depth="2")
        expect(r, 400, "bad_request")
        unchanged(e, {"a.txt": b"hello"}, 5)


@test("dav: PROPFIND of what is not there, or through a link or a file: "
      "404, 403, 409; dot names 400")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        os.symlink(e.outside, os.path.join(e.user_dir(), "out"))
        os.symlink(os.path.join(e.user_dir(), "a.txt"),
                   os.path.join(e.user_dir(), "ln.txt"))
        e.plant("x.txt", b"secret", user="bob")
        cases = [("/missing", 404, "not_found"),
                 ("/missing/x", 404, "not_found"),
                 ("/a.txt/", 404, "not_found"),
                 ("/a.txt/x", 409, "conflict"),
                 ("/out", 403, "forbidden"),
                 ("/out/", 403, "forbidden"),
                 ("/out/x", 403, "forbidden"),
                 ("/ln.txt", 403, "forbidden"),
                 ("/.upgate", 400, "bad_request"),
                 ("/../bob/x.txt", 400, "bad_request"),
                 ("/%2e%2e/bob", 404, "not_found")]
        for path, status, reason in cases:
            expect(propfind(e, path, depth="0"), status, reason)
        # the state folder with per_user_dirs = no is a dot name too
        unchanged(e, {"a.txt": b"hello"}, 5)


@test("dav: PROPFIND bodies: XXE, billion laughs, not well-formed, "
      "xmlns:x=\"\" -> 400, nothing read from elsewhere")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        secret = os.path.join(e.outside, "secret")
        with open(secret, "w") as f:
            f.write("TOPSECRET")
        lol = "".join('<!ENTITY l%d "%s">' % (
            i, "&l%d;" % (i - 1) * 10 if i else "lol") for i in range(10))
        bodies = [
            '<!DOCTYPE p [<!ENTITY x SYSTEM "file://%s">]><D:propfind '
            'xmlns:D="DAV:"><D:prop><D:getetag>&x;</D:getetag></D:prop>'
            '</D:propfind>' % secret,
            '<!DOCTYPE p [<!ENTITY %% x SYSTEM "file://%s"> %%x;]>'
            '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' % secret,
            '<!DOCTYPE p [%s]><D:propfind xmlns:D="DAV:"><D:prop><D:a>&l9;'
            '</D:a></D:prop></D:propfind>' % lol,
            '<D:propfind xmlns:D="DAV:"><D:prop>',
            '<D:propfind xmlns:D="DAV:" xmlns:x=""><D:allprop/></D:propfind>',
            '<propfind><allprop/></propfind>',
        ]
        for b in bodies:
            r = propfind(e, "/", depth="0", body=b.encode())
            expect(r, 400, "bad_request")
            eq(r.media_type(), "application/xml", "%s: format" % r.what())
            check(b"TOPSECRET" not in r.body and b"lollol" not in r.body,
                  "%s: an entity was expanded" % r.what())
        unchanged(e, {"a.txt": b"hello"}, 5)


@test("dav: a 100 MB PROPFIND body: 413 before any byte is read")
def _():
    with env() as e:
        r = propfind(e, "/", depth="0", body=[b"<" * MiB],
                     length=100 * 1000 * 1000)
        expect(r, 413, "too_large")
        expect_refusal_before_body(r)
        # the XML form: the request announced an XML body
        eq(r.xml().find("{urn:upgate}limit").text, "65536", "limit")
        eq(log_of(r)["size"], "100000000", "log size")
        r = propfind(e, "/", depth="0", body=b" " * 65537)
        expect(r, 413, "too_large")
        unchanged(e, {}, 0)


# -------------------------------------------------------------------- MKCOL

@test("dav: MKCOL: 201 (logged, created, size -), 405 when there, 409 "
      "without a parent or through a file, 415 with a body")
def _():
    with env() as e:
        r = e.run("MKCOL", "/new")
        expect(r, 201, "created", head=True)
        eq(r.body, b"", "MKCOL's 201 body")
        eq(log_of(r)["size"], "-", "log size")
        check(os.path.isdir(os.path.join(e.user_dir(), "new")), "no folder")
        expect(e.run("MKCOL", "/new/deeper/"), 201, "created", head=True)
        put(e, "/a.txt", b"hello")
        cases = [("/new", 405, "method_not_allowed"),
                 ("/new/", 405, "method_not_allowed"),
                 ("/", 405, "method_not_allowed"),
                 ("/a.txt", 405, "method_not_allowed"),
                 ("/a.txt/", 409, "conflict"),
                 ("/a.txt/x", 409, "conflict"),
                 ("/no/such", 409, "conflict"),
                 ("/.hidden", 400, "bad_request")]
        for path, status, reason in cases:
            expect(e.run("MKCOL", path), status, reason)
        r = e.run("MKCOL", "/withbody", body=b"<x/>",
                  content_type="application/xml")
        expect(r, 415, "unsupported_media_type")
        check(not os.path.exists(os.path.join(e.user_dir(), "withbody")),
              "415 made the folder")
        eq(sorted(os.listdir(e.user_dir())), ["a.txt", "new"], "folders")
        unchanged(e, {"a.txt": b"hello"}, 5)


@test("dav: MKCOL makes the user's folder as needed; never through a link")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/first"), 201, "created", head=True)
        check(os.path.isdir(os.path.join(e.user_dir(), "first")), "folder")
        os.symlink(e.outside, os.path.join(e.user_dir(), "out"))
        for p in ("/out/x", "/out", "/out/"):
            expect(e.run("MKCOL", p), 403, "forbidden")
        eq(os.listdir(e.outside), [], "made through a link")
        os.symlink(e.outside, e.user_dir("bob"))
        r = e.run("MKCOL", "/x", user="bob")
        expect(r, 403, "forbidden", user="bob")
        eq(os.listdir(e.outside), [], "made through bob's link")
        unchanged(e, {}, 0)


# ---------------------------------------------------------------- PROPPATCH

@test("dav: PROPPATCH: 207 with 403 for each property, nothing kept")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        body = (XML_HEAD + '<D:propertyupdate xmlns:D="DAV:" '
                'xmlns:Z="urn:z"><D:set><D:prop><Z:author>me</Z:author>'
                '</D:prop></D:set><D:remove><D:prop><Z:gone/></D:prop>'
                '</D:remove></D:propertyupdate>').encode()
        r = e.run("PROPPATCH", "/a.txt", body=body,
                  content_type="application/xml")
        res = ok207(r)
        eq(res, {"/upload/a.txt": {"{urn:z}author": (403, res[
            "/upload/a.txt"]["{urn:z}author"][1]), "{urn:z}gone": (403, res[
                "/upload/a.txt"]["{urn:z}gone"][1])}}, "PROPPATCH answer")
        expect(e.run("PROPPATCH", "/missing", body=body), 404, "not_found")
        expect(e.run("PROPPATCH", "/a.txt", body=b"<x"), 400, "bad_request")
        unchanged(e, {"a.txt": b"hello"}, 5)


# ---------------------------------------------------------------- GET, HEAD

@test("dav: GET and HEAD of a stored file: 200, its bytes and the safe "
      "headers, not logged")
def _():
    with env() as e:
        body = os.urandom(200 * 1024)
        put(e, "/f.bin", body)
        r = e.run("GET", "/f.bin")
        expect(r, 200)
        eq(r.body, body, "GET's body")
        eq(r.media_type(), "application/octet-stream", "Content-Type")
        eq(r.header("Content-Length"), str(len(body)), "Content-Length")
        eq(r.header("X-Content-Type-Options"), "nosniff", "nosniff")
        eq(r.header("Content-Security-Policy"), "sandbox", "CSP")
        expect_quota_headers(r, len(body), MiB)
        h = e.run("HEAD", "/f.bin")
        expect(h, 200)
        for k in ("ETag", "Last-Modified", "Content-Length"):
            eq(h.header(k), r.header(k), "HEAD's " + k)
        # a folder, or no path: the quota status
        for p in ("/", None):
            s = e.run("GET", p)
            expect(s, 200)
            eq(s.json().get("user"), "alice", "quota status of %r" % p)
        unchanged(e, {"f.bin": body}, len(body))


@test("dav: GET ranges: 206, a suffix, 416 with Content-Range */SIZE "
      "(logged), several ranges serve it whole")
def _():
    with env() as e:
        body = bytes(range(256)) * 4
        put(e, "/f.bin", body)
        for rng, want, cr in (("bytes=10-19", body[10:20], "bytes 10-19/1024"),
                              ("bytes=1000-", body[1000:], "bytes 1000-1023/1024"),
                              ("bytes=-5", body[-5:], "bytes 1019-1023/1024"),
                              ("bytes=1020-5000", body[1020:],
                               "bytes 1020-1023/1024")):
            r = e.run("GET", "/f.bin", headers={"Range": rng})
            expect(r, 206)
            eq(r.body, want, rng)
            eq(r.header("Content-Range"), cr, rng + ": Content-Range")
        r = e.run("GET", "/f.bin", headers={"Range": "bytes=0-1,5-6"})
        expect(r, 200)
        eq(r.body, body, "several ranges")
        for rng in ("bytes=1024-", "bytes=-0"):
            r = e.run("GET", "/f.bin", headers={"Range": rng})
            expect(r, 416, "range_not_satisfiable")
            eq(r.header("Content-Range"), "bytes */1024", "416 Content-Range")
        unchanged(e, {"f.bin": body}, 1024)


@test("dav: GET conditionals: If-None-Match and If-Modified-Since -> 304")
def _():
    with env() as e:
        put(e, "/f.txt", b"hello")
        r = e.run("GET", "/f.txt")
        etag, lm = r.header("ETag"), r.header("Last-Modified")
        for hdrs in ({"If-None-Match": etag}, {"If-None-Match": "*"},
                     {"If-None-Match": '"x", W/%s' % etag},
                     {"If-Modified-Since": lm}):
            r = e.run("GET", "/f.txt", headers=dict(hdrs))
            expect(r, 304, head=True)
            eq(r.body, b"", "304 body")
            eq(r.header("ETag"), etag, "304 ETag")
        for hdrs in ({"If-None-Match": '"other"'},
                     {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
                     {"If-Modified-Since": "not a date"}):
            r = e.run("GET", "/f.txt", headers=dict(hdrs))
            expect(r, 200)
            eq(r.body, b"hello", "body")
        # replaced: another ETag
        put2 = e.run("PUT", "/f.txt", body=b"world!")
        expect(put2, 204, "replaced")
        r = e.run("GET", "/f.txt", headers={"If-None-Match": etag})
        expect(r, 200)
        check(r.header("ETag") != etag, "the ETag of a replaced file")


@test("dav: GET never through a link, a dot name or a missing file")
def _():
    with env() as e:
        put(e, "/a.txt", b"hello")
        with open(os.path.join(e.outside, "secret"), "w") as f:
            f.write("TOPSECRET")
        os.symlink(os.path.join(e.outside, "secret"),
                   os.path.join(e.user_dir(), "s.txt"))
        os.symlink(e.outside, os.path.join(e.user_dir(), "dir"))
        e.plant(".hidden", b"TOPSECRET")
        for path, status, reason in (("/s.txt", 403, "forbidden"),
                                     ("/dir/secret", 403, "forbidden"),
                                     ("/.hidden", 400, "bad_request"),
                                     ("/.upgate/usage/alice", 400,
                                      "bad_request"),
                                     ("/missing", 404, "not_found"),
                                     ("/a.txt/", 404, "not_found"),
                                     ("/a.txt/x", 409, "conflict")):
            for m in ("GET", "HEAD"):
                r = e.run(m, path)
                expect(r, status, reason)
                check(b"TOPSECRET" not in r.body, "%s: served the secret"
                      % r.what())
        unchanged(e, {"a.txt": b"hello", ".hidden": b"TOPSECRET"}, 5)


@test("dav: the hrefs of a deep path are percent-encoded segments")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/a b"), 201, "created", head=True)
        put(e, "/a b/%41?#.txt", b"1")
        res = ok207(propfind(e, "/a b/"))
        eq(set(res), {"/upload/a%20b/", "/upload/a%20b/%2541%3F%23.txt"},
           "hrefs")
        eq({urllib.parse.unquote(h) for h in res},
           {"/upload/a b/", "/upload/a b/%41?#.txt"}, "hrefs decoded")
