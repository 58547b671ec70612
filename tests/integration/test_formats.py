# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Responses: body formats (JSON, WebDAV XML, HTML, text), Accept
negotiation, escaping of client strings."""

import html

from harness import Env, check, dav_children, eq, expect, test, u_text


def _quota_env(**conf):
    e = Env(quota="alice 100\n", conf=conf)
    try:
        expect(e.run("PUT", "/a", body=b"x" * 60), 201, "stored")
    except BaseException:
        e.cleanup()
        raise
    return e


def _refuse(e, accept):
    return e.run("PUT", "/b", body=b"y" * 50, accept=accept)


def _message(e):
    r = _refuse(e, "application/json")
    expect(r, 507, "quota_exceeded")
    return r.json()["message"]


@test("XML quota refusal: DAV error with <D:quota-not-exceeded/>")
def _():
    with _quota_env() as e:
        r = _refuse(e, "application/xml")
        expect(r, 507, "quota_exceeded")
        eq(r.media_type(), "application/xml", "Content-Type")
        root = r.xml()
        eq(root.tag, "{DAV:}error", "root element")
        eq(dav_children(root), ["{DAV:}quota-not-exceeded"],
           "DAV elements in the error")
        eq(u_text(root, "reason"), "quota_exceeded", "u:reason")
        check(u_text(root, "message"), "no u:message")
        eq(u_text(root, "limit"), "100", "u:limit")
        eq(u_text(root, "used"), "60", "u:used")
        check(b'xmlns:D="DAV:"' in r.body, "namespace prefix D not declared "
              "as in RFC 4918: %r" % r.body[:200])


@test("XML with Accept: text/xml answers text/xml")
def _():
    with _quota_env() as e:
        r = _refuse(e, "text/xml")
        expect(r, 507, "quota_exceeded")
        eq(r.media_type(), "text/xml", "Content-Type")
        eq(r.xml().tag, "{DAV:}error", "root")


@test("XML disk_full: <D:sufficient-disk-space/>; other refusals: no DAV "
      "element")
def _():
    with Env(conf={"min_free_space": "100%", "max_upload_size": "1000"}) as e:
        r = e.run("PUT", "/a", body=b"x" * 10, accept="application/xml")
        expect(r, 507, "disk_full")
        root = r.xml()
        eq(dav_children(root), ["{DAV:}sufficient-disk-space"],
           "DAV elements")
        eq(u_text(root, "reason"), "disk_full", "u:reason")
        r = e.run("PUT", "/a", body=b"x" * 1001, accept="application/xml")
        expect(r, 413, "too_large")
        root = r.xml()
        eq(root.tag, "{DAV:}error", "root")
        eq(dav_children(root), [], "DAV elements of a 413")
        eq(u_text(root, "reason"), "too_large", "u:reason")
        r = e.run("PATCH", "/a", accept="application/xml")
        expect(r, 405, "method_not_allowed", user=None)
        eq(dav_children(r.xml()), [], "DAV elements of a 405")


@test("XML success bodies mirror JSON (GET, PUT 201)")
def _():
    with Env(quota="alice 100\n") as e:
        r = e.run("PUT", "/a<&>'\".txt", body=b"x" * 7,
                  accept="application/xml")
        expect(r, 201, "stored")
        root = r.xml()
        eq(u_text(root, "stored_as"), "a<&>'\".txt", "u:stored_as")
        eq(u_text(root, "size"), "7", "u:size")
        r = e.run("GET", accept="application/xml")
        expect(r, 200)
        root = r.xml()
        eq(u_text(root, "user"), "alice", "u:user")
        eq(u_text(root, "used"), "7", "u:used")
        eq(u_text(root, "limit"), "100", "u:limit")


@test("HTML: a page with the message, escaped client strings")
def _():
    with _quota_env() as e:
        msg = _message(e)
        r = _refuse(e, "text/html")
        expect(r, 507, "quota_exceeded")
        eq(r.media_type(), "text/html", "Content-Type")
        body = r.body.decode("utf-8")
        check("<html" in body.lower(), "no <html> element: %r" % body[:200])
        check(html.escape(msg, quote=False) in body or
              html.escape(msg) in body or msg in body,
              "message %r not in the HTML page" % msg)
        r = e.run("PUT", "/x<script>alert(1)<\u2215script>.txt", body=b"1",
                  accept="text/html", user="bob")
        expect(r, 201, "stored", user="bob")
        body = r.body.decode("utf-8")
        check("<script>" not in body, "client name not escaped in HTML: %r"
              % body)
        check("&lt;script&gt;" in body, "stored file name missing from the "
              "HTML success page: %r" % body[:500])


@test("text/plain: the message and figures, a line each")
def _():
    with _quota_env() as e:
        msg = _message(e)
        r = _refuse(e, "text/plain")
        expect(r, 507, "quota_exceeded")
        eq(r.media_type(), "text/plain", "Content-Type")
        lines = r.body.decode("utf-8").splitlines()
        check(msg in lines, "message %r is not a line of %r" % (msg, lines))
        check(any("100" in l for l in lines) and any("60" in l for l in lines),
              "figures missing from %r" % lines)


@test("JSON escapes client strings (json-c)")
def _():
    with Env() as e:
        name = 'q"uo\\te\u00e9 \u2603.txt'
        r = e.run("PUT", "/" + name.replace("\\", "_"), body=b"1")
        expect(r, 201, "stored")
        eq(r.json()["file"]["name"], name.replace("\\", "_"), "file.name")


ACCEPT_CASES = [
    # (Accept, default_format, expected media type)
    (None, None, "application/json"),
    ("*/*", None, "application/json"),
    ("image/png", None, "application/json"),          # never 406
    ("application/json", None, "application/json"),
    ("text/plain", None, "text/plain"),
    ("text/html", None, "text/html"),
    ("application/xml", None, "application/xml"),
    ("application/json;q=0.5, text/plain", None, "text/plain"),
    ("text/plain;q=0.2, text/html;q=0.9", None, "text/html"),
    ("application/json;q=0, text/plain", None, "text/plain"),
    ("text/html, application/json", None, "application/json"),
    ("text/html, text/plain", None, "text/html"),
    ("text/plain, text/html", None, "text/plain"),
    (None, "xml", "application/xml"),
    (None, "html", "text/html"),
    (None, "text", "text/plain"),
    ("*/*", "text", "text/plain"),
    ("image/png", "html", "text/html"),
    ("text/html, application/xml", "xml", "application/xml"),
    ("text/*, application/json;q=0.5", None, None),  # text/* : html or plain
]

for _a, _d, _mt in ACCEPT_CASES:
    def _t(a=_a, d=_d, mt=_mt):
        conf = {"default_format": d} if d else {}
        with Env(conf=conf) as e:
            r = e.run("GET", accept=a)
            expect(r, 200)
            got = r.media_type()
            if mt is None:
                check(got in ("text/html", "text/plain"),
                      "Accept %r: expected a text/ type, got %r" % (a, got))
            else:
                eq(got, mt, "Accept %r, default_format %r: Content-Type"
                   % (a, d))
            if got == "application/json":
                r.json()
            elif got in ("application/xml", "text/xml"):
                r.xml()
    test("Accept %r, default_format %r -> %s" % (_a, _d, _mt))(_t)


@test("Cache-Control: no-store and Content-Type on every kind of response")
def _():
    # expect() checks both on every response; this walks one of each kind
    with Env(quota="alice 100\n", conf={"max_upload_size": "1000"}) as e:
        for fmt in ("application/json", "application/xml", "text/html",
                    "text/plain"):
            expect(e.run("OPTIONS", accept=fmt), 204, user=None)
            expect(e.run("GET", accept=fmt), 200)
            expect(e.run("HEAD", accept=fmt), 200)
            expect(e.run("PUT", "/a", body=b"1", accept=fmt), 201, "stored")
            expect(e.run("PUT", "/a", body=b"2", accept=fmt), 204,
                   "replaced")
            expect(e.run("DELETE", "/a", accept=fmt), 204, "deleted")
            expect(e.run("PUT", "/a", body=b"x" * 1001, accept=fmt), 413,
                   "too_large")
            expect(e.run("PUT", "/a", body=b"x" * 101, accept=fmt), 507,
                   "quota_exceeded")
            expect(e.run("PATCH", accept=fmt), 405, "method_not_allowed",
                   user=None)


@test("too_large JSON carries limit and size as integers")
def _():
    with Env(conf={"max_upload_size": "1M"}) as e:
        r = e.run("PUT", "/a", body=b"", length=str(5 * 1024 * 1024))
        expect(r, 413, "too_large")
        j = r.json()
        eq((j.get("limit"), j.get("size")), (1048576, 5242880), "limit/size")
        check(isinstance(j.get("status"), int), "status is not an integer")
