# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""WebDAV class 1 (upgate(8), "WebDAV"; RFC 4918, RFC 4331): OPTIONS,
PROPFIND, PROPPATCH, MKCOL, LOCK, GET and HEAD of stored files, and their
refusals, with the disk, the ledger and the log checked after each; the
attacks: links and dot names on the path, XXE, billion laughs, a 100 MB
PROPFIND body."""

import os
import threading
import urllib.parse

from harness import (ALLOWED, ALLOWED_DAV, Env, MiB, check, eq, expect,
                     expect_quota_headers, expect_refusal_before_body,
                     log_of, long_rel, test)

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


@test("dav: MKCOL and a COPY's or MOVE's Destination are held to PUT's "
      "limit (upgate(8), Limits): a folder leaves room for a 255-byte "
      "name, a file's whole path stays within PATH_MAX")
def _():
    with env(create_parents="yes") as e:
        too_long = "the path is too long"
        # a folder: itself, a '/' and 255 bytes of name
        rel = long_rel(e, 4096 - 256)
        parent = rel.rsplit("/", 1)[0]
        expect(e.run("PUT", "/" + parent + "/f.txt", body=b"x"), 201)
        r = e.run("MKCOL", "/" + rel)
        expect(r, 400, "bad_request")
        check(too_long in r.json()["message"], "%s: message %r"
              % (r.what(), r.json()["message"]))
        eq(sorted(os.listdir(os.path.join(e.user_dir(), parent))),
           ["f.txt"], "folders made by a refused MKCOL")
        ok = long_rel(e, 4095 - 256)
        expect(e.run("MKCOL", "/" + ok), 201, "created", head=True)
        # a file's Destination: the whole path within PATH_MAX
        put(e, "/a.txt", b"hello")
        for method in ("COPY", "MOVE"):
            far = long_rel(e, 4096)
            r = e.run(method, "/a.txt", headers=dest("/" + far))
            expect(r, 400, "bad_request")
            check(too_long in r.json()["message"], "%s: message %r"
                  % (r.what(), r.json()["message"]))
        near = long_rel(e, 4095)
        os.makedirs(os.path.join(e.user_dir(), near.rsplit("/", 1)[0]))
        expect(e.run("COPY", "/a.txt", headers=dest("/" + near)), 201,
               "copied", head=True)
        # a folder's Destination: as MKCOL's
        r = e.run("COPY", "/" + ok, headers=dest("/" + rel))
        expect(r, 400, "bad_request")
        check(too_long in r.json()["message"], "%s: message %r"
              % (r.what(), r.json()["message"]))
        eq(e.usage(), 11, "usage: f.txt, a.txt and its copy")
        eq(e.record("alice/a.txt"), ("alice", 5), "the source's record")


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


# ------------------------------------------------------------ DELETE folder

def tree_of(e, user="alice"):
    """Every folder and file below the user's folder, dot names too."""
    out = set()
    top = e.user_dir(user)
    for dp, dns, fns in os.walk(top):
        for n in dns:
            p = os.path.join(dp, n)
            out.add(os.path.relpath(p, top) + ("" if os.path.islink(p)
                                               else "/"))
        for n in fns:
            out.add(os.path.relpath(os.path.join(dp, n), top))
    return out


def statuses(r):
    """{href: status} of a 207 whose responses carry a status alone."""
    check(r.media_type() == "application/xml", "%s: 207 type" % r.what())
    return {x.find(D + "href").text: int(x.find(D + "status").text.split()[1])
            for x in r.xml().findall(D + "response")}


@test("dav: DELETE of a folder removes what PROPFIND shows and frees its "
      "bytes (204, logged deleted with the bytes freed)")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        expect(e.run("MKCOL", "/d/e"), 201, "created", head=True)
        expect(e.run("MKCOL", "/d/e/empty"), 201, "created", head=True)
        put(e, "/d/a.txt", b"12345")
        put(e, "/d/e/b.txt", b"123")
        put(e, "/keep.txt", b"k")
        os.symlink(e.outside, os.path.join(e.user_dir(), "d", "e", "out"))
        with open(os.path.join(e.outside, "o.txt"), "w") as f:
            f.write("outside")
        # a link inside stays, and so does its folder: 409 in the 207
        r = e.run("DELETE", "/d/")
        expect(r, 207, "deleted", log=True)
        eq(statuses(r), {"/upload/d/e/": 409}, "what stayed")
        eq(log_of(r)["size"], "8", "bytes freed")
        eq(tree_of(e), {"keep.txt", "d/", "d/e/", "d/e/out"}, "what is left")
        eq(os.listdir(e.outside), ["o.txt"], "followed the link")
        unchanged(e, {"keep.txt": b"k"}, 1)
        os.unlink(os.path.join(e.user_dir(), "d", "e", "out"))
        r = e.run("DELETE", "/d")
        expect(r, 204, "deleted")
        eq(log_of(r)["size"], "0", "nothing left to free")
        eq(tree_of(e), {"keep.txt"}, "the folder went")
        unchanged(e, {"keep.txt": b"k"}, 1)


@test("dav: DELETE of a folder leaves dot names and their folder (207 "
      "409); the user's folder 403; file/ 409; nothing there 404")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        put(e, "/d/a.txt", b"12345")
        put(e, "/d/b.txt", b"67")
        e.plant("d/.upgate-tmp-0123456789abcdef", b"partial")
        r = e.run("DELETE", "/d")
        expect(r, 207, "deleted", log=True)
        eq(statuses(r), {"/upload/d/": 409}, "what stayed")
        eq(tree_of(e), {"d/", "d/.upgate-tmp-0123456789abcdef"}, "left")
        eq(e.usage(), 0, "ledger")
        os.unlink(os.path.join(e.user_dir(), "d",
                               ".upgate-tmp-0123456789abcdef"))
        put(e, "/f.txt", b"x")
        for path, status, reason in (("/", 403, "forbidden"),
                                     (None, 403, "forbidden"),
                                     ("/f.txt/", 409, "conflict"),
                                     ("/nope/", 404, "not_found"),
                                     ("/d/.x/", 400, "bad_request")):
            r = e.run("DELETE", path)
            expect(r, status, reason)
            if path in ("/", None):
                check("folder" in r.json()["message"],
                      "%s: message %r" % (r.what(), r.json()["message"]))
        unchanged(e, {"f.txt": b"x"}, 1)
        check(os.path.isdir(os.path.join(e.user_dir(), "d")), "d went")


@test("dav: a folder DELETE racing an upload into it leaves the ledger "
      "exact")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        put(e, "/d/a.txt", b"a" * 1000)
        import time as _t
        c, req = e.start("PUT", "/d/late.bin", body=b"", length=2000)
        c.write(b"b" * 1000)
        # the upload streams into its temporary file in d: d stays
        deadline = _t.time() + 10
        while not e.tmp_files(e.user_dir()) and _t.time() < deadline:
            _t.sleep(0.01)
        r = e.run("DELETE", "/d")
        expect(r, 207, "deleted", log=True)
        eq(statuses(r), {"/upload/d/": 409}, "the folder with the upload")
        c.write(b"b" * 1000)
        c.close_stdin()
        expect(c.finish(req), 201, "stored")
        unchanged(e, {"d/late.bin": b"b" * 2000}, 2000)


# --------------------------------------------------------------- COPY, MOVE

def dest(path):
    return {"Destination": "http://localhost/upload" + path,
            "Host": "localhost"}


@test("dav: COPY of a file: 201 with ETag and Last-Modified, charged; "
      "204 replacing; Overwrite: F 412; logged copied with its size")
def _():
    with env() as e:
        put(e, "/a.txt", b"12345")
        r = e.run("COPY", "/a.txt", headers=dest("/b.txt"))
        expect(r, 201, "copied", head=True)
        eq(log_of(r)["size"], "5", "log size")
        expect_quota_headers(r, 10, MiB)
        g = e.run("GET", "/b.txt")
        eq(r.header("ETag"), g.header("ETag"), "COPY's ETag")
        eq(r.header("Last-Modified"), g.header("Last-Modified"),
           "COPY's Last-Modified")
        eq(e.record("alice/b.txt"), ("alice", 5), "record")
        put(e, "/c.txt", b"123")
        r = e.run("COPY", "/c.txt", headers=dest("/a.txt"))
        expect(r, 204, "copied")
        unchanged(e, {"a.txt": b"123", "b.txt": b"12345", "c.txt": b"123"},
                  11)
        h = dest("/b.txt")
        h["Overwrite"] = "F"
        expect(e.run("COPY", "/c.txt", headers=h), 412, "precondition_failed")
        unchanged(e, {"a.txt": b"123", "b.txt": b"12345", "c.txt": b"123"},
                  11)


@test("dav: COPY over quota: 507 before anything is copied")
def _():
    with Env(quota="alice 10\n") as e:
        put(e, "/a.txt", b"123456")
        r = e.run("COPY", "/a.txt", headers=dest("/b.txt"))
        expect(r, 507, "quota_exceeded")
        eq(r.json()["upload"]["size"], 6, "upload.size")
        unchanged(e, {"a.txt": b"123456"}, 6)
        # replacing what it copies over is charged the difference
        put(e, "/c.txt", b"1234")
        expect(e.run("COPY", "/a.txt", headers=dest("/c.txt")), 507,
               "quota_exceeded")
        expect(e.run("COPY", "/c.txt", headers=dest("/a.txt")), 204,
               "copied")
        unchanged(e, {"a.txt": b"1234", "c.txt": b"1234"}, 8)


@test("dav: COPY and MOVE refusals: Destination elsewhere, through links, "
      "encoded .., the user's folder, the source itself, no parent")
def _():
    with env() as e:
        put(e, "/a.txt", b"12345")
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        os.symlink(e.outside, os.path.join(e.user_dir(), "out"))
        e.plant("x.txt", b"bob's", user="bob")
        cases = [
            ({}, 400, "bad_request"),
            ({"Destination": "http://elsewhere/upload/b.txt"}, 403,
             "forbidden"),
            ({"Destination": "https://localhost/upload/b.txt"}, 403,
             "forbidden"),
            ({"Destination": "/other/b.txt"}, 403, "forbidden"),
            ({"Destination": "/upload/%2e%2e/bob/y.txt"}, 403, "forbidden"),
            ({"Destination": "/upload/../bob/y.txt"}, 403, "forbidden"),
            ({"Destination": "/upload/.hidden"}, 403, "forbidden"),
            ({"Destination": "/upload/"}, 403, "forbidden"),
            ({"Destination": "/upload"}, 403, "forbidden"),
            ({"Destination": "/upload/a.txt"}, 403, "forbidden"),
            ({"Destination": "/upload/out/b.txt"}, 403, "forbidden"),
            ({"Destination": "/upload/out"}, 403, "forbidden"),
            ({"Destination": "/upload/no/b.txt"}, 409, "conflict"),
            ({"Destination": "/upload/a.txt/b"}, 409, "conflict"),
            ({"Destination": "/upload/b%00.txt"}, 400, "bad_request"),
            ({"Destination": "/upload/a%5Cb"}, 400, "bad_request"),
            ({"Destination": "ftp://localhost/upload/b"}, 400, "bad_request"),
        ]
        for m in ("COPY", "MOVE"):
            # one Destination parser: MOVE takes a sample of the table
            for h, status, reason in cases if m == "COPY" else cases[3:12:2]:
                expect(e.run(m, "/a.txt", headers=dict(h)), status, reason)
            expect(e.run(m, "/", headers=dest("/z/")), 403, "forbidden")
            expect(e.run(m, "/missing", headers=dest("/z")), 404,
                   "not_found")
            expect(e.run(m, "/d", headers=dest("/d/in")), 409, "conflict")
            expect(e.run(m, "/out", headers=dest("/z")), 403, "forbidden")
        eq(os.listdir(e.outside), [], "written through a link")
        unchanged(e, {"a.txt": b"12345"}, 5)
        eq(e.stored("bob"), {"x.txt": b"bob's"}, "bob's files")


@test("dav: MOVE of a file and a folder: 201/204, costs nothing, the "
      "ledger's records follow")
def _():
    with env() as e:
        put(e, "/a.txt", b"12345")
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        put(e, "/d/b.txt", b"123")
        r = e.run("MOVE", "/a.txt", headers=dest("/d/c.txt"))
        expect(r, 201, "moved", head=True)
        eq(log_of(r)["size"], "-", "log size")
        eq(e.record("alice/a.txt"), None, "old record")
        eq(e.record("alice/d/c.txt"), ("alice", 5), "new record")
        r = e.run("MOVE", "/d/", headers=dest("/e/"))
        expect(r, 201, "moved", head=True)
        eq(e.record("alice/e/b.txt"), ("alice", 3), "a folder's records")
        eq(e.record("alice/d/b.txt"), None, "old folder record")
        unchanged(e, {"e/b.txt": b"123", "e/c.txt": b"12345"}, 8)
        put(e, "/f.txt", b"1")
        r = e.run("MOVE", "/f.txt", headers=dest("/e/b.txt"))
        expect(r, 204, "moved")
        eq(e.record("alice/e/b.txt"), ("alice", 1), "replaced record")
        unchanged(e, {"e/b.txt": b"1", "e/c.txt": b"12345"}, 6)
        # a folder over a folder: the target set aside, then dropped
        expect(e.run("MKCOL", "/g"), 201, "created", head=True)
        put(e, "/g/z.txt", b"zz")
        expect(e.run("MOVE", "/g", headers=dest("/e")), 204, "moved")
        unchanged(e, {"e/z.txt": b"zz"}, 2)


@test("dav: COPY of a folder, Depth infinity and 0: charged, records made")
def _():
    with env() as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        expect(e.run("MKCOL", "/d/sub"), 201, "created", head=True)
        expect(e.run("MKCOL", "/d/empty"), 201, "created", head=True)
        put(e, "/d/a.txt", b"12345")
        put(e, "/d/sub/b.txt", b"123")
        e.plant("d/.hidden", b"h")
        r = e.run("COPY", "/d/", headers=dest("/c/"))
        expect(r, 201, "copied", head=True)
        eq(log_of(r)["size"], "8", "log size")
        eq(e.record("alice/c/sub/b.txt"), ("alice", 3), "record")
        eq(tree_of(e) - {"d/.hidden"}, {
            "d/", "d/sub/", "d/empty/", "d/a.txt", "d/sub/b.txt", "c/",
            "c/sub/", "c/empty/", "c/a.txt", "c/sub/b.txt"}, "tree")
        h = dest("/z")
        h["Depth"] = "0"
        expect(e.run("COPY", "/d", headers=h), 201, "copied", head=True)
        check(os.listdir(os.path.join(e.user_dir(), "z")) == [], "Depth 0")
        h["Depth"] = "1"
        expect(e.run("COPY", "/d", headers=h), 400, "bad_request")
        eq(e.usage(), 16, "ledger")
        eq(e.disk_usage(), 17, "disk (with the dot file)")
        # over a folder: replaced whole, charged the difference
        expect(e.run("PUT", "/d/a.txt", body=b"1"), 204, "replaced")
        put(e, "/c/only.txt", b"12")
        expect(e.run("COPY", "/d", headers=dest("/c")), 204, "copied")
        eq(e.record("alice/c/a.txt"), ("alice", 1), "replaced record")
        eq(e.record("alice/c/only.txt"), None, "record of what went")
        eq(tree_of(e) - {"d/.hidden"}, {
            "d/", "d/sub/", "d/empty/", "d/a.txt", "d/sub/b.txt", "c/",
            "c/sub/", "c/empty/", "c/a.txt", "c/sub/b.txt", "z/"}, "tree")
        eq(e.usage(), 8, "ledger")
        e.assert_clean()


@test("dav: COPY racing uploads for the last bytes of a quota: never over")
def _():
    with Env(quota="alice 10000\n") as e:
        put(e, "/a.bin", b"a" * 3000)
        results = []

        def copy(i):
            results.append(e.run("COPY", "/a.bin",
                                 headers=dest("/c%d.bin" % i)))

        def upload(i):
            results.append(e.run("PUT", "/p%d.bin" % i, body=b"p" * 3000))
        ts = [threading.Thread(target=copy, args=(i,)) for i in range(4)]
        ts += [threading.Thread(target=upload, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = [r for r in results if r.status == 201]
        eq(len(ok), 2, "requests that fit")
        for r in results:
            if r.status == 201:
                expect(r, 201, "copied" if r.req["method"] == "COPY" else
                       "stored", head=r.req["method"] == "COPY")
            else:
                expect(r, 507, "quota_exceeded")
        eq(e.usage(), 9000, "ledger")
        eq(e.disk_usage(), 9000, "disk")
        e.assert_clean()


@test("dav: PUT answers ETag and Last-Modified; If-Match another ETag or "
      "on a missing file: 412")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"12345")
        expect(r, 201, "stored")
        g = e.run("GET", "/a.txt")
        eq(r.header("ETag"), g.header("ETag"), "PUT's ETag")
        eq(r.header("Last-Modified"), g.header("Last-Modified"),
           "PUT's Last-Modified")
        r = e.run("PUT", "/a.txt", body=b"1", headers={"If-Match": '"x"'})
        expect(r, 412, "precondition_failed")
        r = e.run("PUT", "/b.txt", body=b"1",
                  headers={"If-Match": g.header("ETag")})
        expect(r, 412, "precondition_failed")
        r = e.run("PUT", "/a.txt", body=b"678",
                  headers={"If-Match": g.header("ETag")})
        expect(r, 204, "replaced")
        check(r.header("ETag") not in (None, g.header("ETag")), "new ETag")
        unchanged(e, {"a.txt": b"678"}, 3)


@test("dav: COPY of a file over a folder: the folder goes only once the "
      "copy is made, and stays whole when it holds a dot name (409)")
def _():
    with env() as e:
        put(e, "/a.txt", b"12345")
        expect(e.run("MKCOL", "/f"), 201, "created", head=True)
        put(e, "/f/x.txt", b"xx")
        e.plant("f/.keep", b"k")
        for m in ("COPY", "MOVE"):
            r = e.run(m, "/a.txt", headers=dest("/f"))
            expect(r, 409, "conflict")
            eq(tree_of(e), {"a.txt", "f/", "f/x.txt", "f/.keep"},
               "what is left")
            eq(e.usage(), 7, "ledger")
            e.assert_clean()
        os.unlink(os.path.join(e.user_dir(), "f", ".keep"))
        expect(e.run("COPY", "/a.txt", headers=dest("/f")), 204, "copied")
        unchanged(e, {"a.txt": b"12345", "f": b"12345"}, 10)


@test("dav: each refusal's message names what the request meant to do")
def _():
    with env() as e:
        put(e, "/a.txt", b"12345")
        cases = [("PROPFIND", "/nope", {"Depth": "0"},
                  "The properties cannot be listed: "),
                 ("PROPPATCH", "/nope", {}, "The properties cannot be "
                  "changed: "),
                 ("MKCOL", "/no/pe", {}, "The folder cannot be created: "),
                 ("GET", "/nope", {}, "The file cannot be served: "),
                 ("HEAD", "/.x", {}, None),
                 ("GET", "/.x", {}, "The file cannot be served: "),
                 ("DELETE", "/nope/", {}, "The folder cannot be deleted: "),
                 ("COPY", "/a.txt", {}, "The copy cannot be made: "),
                 ("MOVE", "/a.txt", {"Destination": "/upload/"},
                  "The move cannot be made: ")]
        for m, path, h, start in cases:
            r = e.run(m, path, headers=dict(h))
            check(r.status >= 400, "%s: status %s" % (r.what(), r.status))
            if start is None:
                continue
            msg = r.json()["message"]
            check(msg.startswith(start), "%s: message %r, expected %r..."
                  % (r.what(), msg, start))
        r = e.run("COPY", "/a.txt", headers=dest("/b.txt"))
        expect(r, 201, "copied", head=True)
        e.write_quota("alice 12\n")
        r = e.run("COPY", "/a.txt", headers=dest("/c.txt"))
        expect(r, 507, "quota_exceeded")
        check(r.json()["message"].startswith("The copy of 5 bytes would "
                                             "exceed your quota"),
              "507 message %r" % r.json()["message"])


@test("dav: per_user_dirs = no: another user's file blocks a folder's "
      "DELETE (207 403) and MOVE (403), and is never replaced; a COPY of "
      "it is the copier's")
def _():
    with env(per_user_dirs="no") as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        put(e, "/d/mine.txt", b"123")
        expect(e.run("PUT", "/d/bobs.txt", body=b"bob", user="bob"), 201,
               "stored", user="bob")
        r = e.run("DELETE", "/d")
        expect(r, 207, "deleted", log=True)
        eq(statuses(r), {"/upload/d/bobs.txt": 403}, "what stayed")
        eq(e.stored(None), {"d/bobs.txt": b"bob"}, "files")
        eq((e.usage("alice"), e.usage("bob")), (0, 3), "ledger")
        put(e, "/d/mine.txt", b"123")
        for m, path, to in (("MOVE", "/d", "/e"),
                            ("MOVE", "/d/bobs.txt", "/x.txt"),
                            ("COPY", "/d/mine.txt", "/d/bobs.txt"),
                            ("MOVE", "/d/mine.txt", "/d/bobs.txt")):
            expect(e.run(m, path, headers=dest(to)), 403, "forbidden")
        r = e.run("COPY", "/d/bobs.txt", headers=dest("/copy.txt"))
        expect(r, 201, "copied", head=True)
        eq(e.record("copy.txt"), ("alice", 3), "the copy's owner")
        eq(e.stored(None), {"d/bobs.txt": b"bob", "d/mine.txt": b"123",
                            "copy.txt": b"bob"}, "files")
        eq((e.usage("alice"), e.usage("bob")), (6, 3), "ledger")
        e.assert_clean()


@test("dav: a folder DELETE that cannot remove a file: 207 with 500 for it, "
      "its cause logged, the ledger exact")
def _():
    import subprocess
    from harness import skip

    def immutable(path, on):
        return subprocess.run(["chattr", "+i" if on else "-i", path],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    with env() as e:
        expect(e.run("MKCOL", "/d"), 201, "created", head=True)
        put(e, "/d/a.txt", b"12345")
        put(e, "/d/b.txt", b"67")
        stuck = os.path.join(e.user_dir(), "d", "a.txt")
        if os.geteuid() != 0 or not immutable(stuck, True):
            skip("no chattr +i here")
        try:
            r = e.run("DELETE", "/d/")
        finally:
            immutable(stuck, False)
        expect(r, 207, "deleted", log=True)
        eq(statuses(r), {"/upload/d/a.txt": 500}, "what stayed")
        eq(log_of(r)["size"], "2", "bytes freed")
        check(any(l.endswith("alice/d/a.txt could not be removed: "
                             "cause=unlinkat:EPERM")
                  for l in r.stderr.splitlines()),
              "%s: the cause is not logged: %r" % (r.what(), r.stderr))
        unchanged(e, {"d/a.txt": b"12345"}, 5)
