# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Requests (POST multipart/form-data), upgate(8), Decisions rows 7, 10, 11, 13 and 14 for
forms, upgate(8) Responses (the POST 201 body) and Logs (its log line).  Bodies are built
byte for byte here (RFC 7578 / RFC 2046 §5.1), so every test names the
exact bytes the program got."""

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time

from harness import (Env, KiB, MiB, check, eq, expect, fail, skip,
                     expect_no_quota_headers, expect_quota_headers,
                     expect_quota_obj, expect_refusal_before_body, log_of,
                     test)

BOUNDARY = b"----upgateFormBoundary7MA4YWxkTrZu0gW"
CT = "multipart/form-data; boundary=" + BOUNDARY.decode()
CRLF = b"\r\n"


# ------------------------------------------------------------ form bodies

def _b(x):
    return x.encode("utf-8") if isinstance(x, str) else x


def fpart(field, filename, data, ctype=b"application/octet-stream",
          star=None, raw_disposition=None):
    """A file part: (header lines, data).  filename goes between quotes
    as given (bytes or str, no escaping); star, when given, is the raw
    filename*= value (e.g. b"UTF-8''r%C3%A9sum%C3%A9.pdf")."""
    if raw_disposition is not None:
        cd = raw_disposition
    else:
        cd = b'Content-Disposition: form-data; name="' + _b(field) + b'"'
        if filename is not None:
            cd += b'; filename="' + _b(filename) + b'"'
        if star is not None:
            cd += b"; filename*=" + _b(star)
    hdrs = [cd]
    if ctype is not None:
        hdrs.append(b"Content-Type: " + _b(ctype))
    return hdrs, _b(data)


def tpart(field, value):
    """A text field."""
    return [b'Content-Disposition: form-data; name="' + _b(field) + b'"'], \
        _b(value)


def form(parts, boundary=BOUNDARY, close=True, nl=CRLF, preamble=b""):
    """The body: each part behind a delimiter, then the close delimiter."""
    out = bytearray(preamble)
    for hdrs, data in parts:
        out += b"--" + boundary + nl
        for h in hdrs:
            out += h + nl
        out += nl + data + nl
    if close:
        out += b"--" + boundary + b"--" + nl
    return bytes(out)


def padded(parts, total, field="pad", boundary=BOUNDARY):
    """form(parts + a text field) of exactly total bytes."""
    base = len(form(parts + [tpart(field, b"")], boundary))
    check(total >= base, "test bug: a form of %d bytes cannot be padded "
          "to %d" % (base, total))
    body = form(parts + [tpart(field, b"p" * (total - base))], boundary)
    eq(len(body), total, "test bug: padded body length")
    return body


def post(e, parts, path=None, content_type=CT, **kw):
    body = form(parts) if isinstance(parts, list) else parts
    return e.run("POST", path, body=body, content_type=content_type, **kw)


# ---------------------------------------------------------- expectations

def created(r, files, limit=None, used=None):
    """201 with exactly files = [(field, name, stored_as, size)], the
    quota object, no Location, and a log line with size = the length."""
    expect(r, 201, "stored")
    w = r.what()
    eq(r.media_type(), "application/json", "%s: Content-Type" % w)
    check(r.header("Location") is None, "%s: Location on a POST 201: %r"
          % (w, r.header("Location")))
    j = r.json()
    eq(sorted(j), ["files", "quota", "status"], "%s: JSON fields" % w)
    eq(j.get("status"), 201, "%s: JSON status" % w)
    got = j.get("files")
    check(isinstance(got, list), "%s: files is not a list: %r" % (w, got))
    for f in got:
        check(isinstance(f, dict) and
              sorted(f) == ["field", "name", "size", "stored_as"],
              "%s: files[] fields: expected field, name, stored_as, size; "
              "got %r" % (w, f))
    eq([(f["field"], f["name"], f["stored_as"], f["size"]) for f in got],
       list(files), "%s: files" % w)
    if used is not None:
        expect_quota_obj(j.get("quota"), limit, used, 0, w)
        if limit is None:
            expect_no_quota_headers(r)
        else:
            expect_quota_headers(r, used, limit)
    lg = log_of(r)
    eq(lg["reason"], "stored", "%s: log reason" % w)
    eq(lg["size"], r.req["length"], "%s: log size (the announced length)"
       % w)
    return j


def nothing_stored(e, before=None, used=0, what=""):
    """The user's folder holds exactly before (default: nothing), the
    ledger says used, and no temporary file or reservation is left."""
    eq(e.stored(), before or {}, "%sfiles in alice's folder" % what)
    eq(e.usage(), used, "%sledger usage" % what)
    e.assert_clean(what)


def refused_before_body(e, length, content_type=CT, path=None, **kw):
    """Starts a POST announcing length and sends no body byte: the answer
    must be complete (stdout closed / END_REQUEST) all the same."""
    c, req = e.start("POST", path, length=length, content_type=content_type,
                     **kw)
    try:
        got = c.wait_stdout_eof(10)
        early = bytes(c.out)
    finally:
        c.close_stdin()
    check(got, "POST %s (CONTENT_LENGTH=%s, %s): no complete answer while "
          "the body is withheld; got so far %r" % (path, length,
                                                   content_type, early))
    r = c.finish(req)
    expect_refusal_before_body(r)
    eq(r.written, 0, "%s: body bytes sent" % r.what())
    return r


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ------------------------------------------------------------- successes

@test("multipart: one file -> 201 files[], quota, no Location, ledger, log")
def _():
    with Env(quota="alice 1M\n") as e:
        data = os.urandom(12345)
        r = post(e, [fpart("upload", "report.pdf", data)])
        created(r, [("upload", "report.pdf", "report.pdf", 12345)],
                MiB, 12345)
        eq(e.stored(), {"report.pdf": data}, "files on disk")
        eq(e.usage(), 12345, "ledger usage")
        eq(e.record("alice/report.pdf"), ("alice", 12345), "ledger record")
        e.assert_clean()


@test("multipart: a=@x, note=text, b=@y -> both files, in order, text "
      "ignored")
def _():
    with Env(quota="alice 1M\n") as e:
        x, y = os.urandom(3000), b"hello\r\n--not a delimiter\r\n"
        r = post(e, [fpart("a", "x.bin", x), tpart("note", "some text"),
                     fpart("b", "y.txt", y, ctype="text/plain"),
                     tpart("last", "")])
        created(r, [("a", "x.bin", "x.bin", 3000),
                    ("b", "y.txt", "y.txt", len(y))], MiB, 3000 + len(y))
        eq(e.stored(), {"x.bin": x, "y.txt": y}, "files on disk")
        eq(e.record("alice/x.bin"), ("alice", 3000), "record x.bin")
        eq(e.record("alice/y.txt"), ("alice", len(y)), "record y.txt")
        eq(e.usage(), 3000 + len(y), "ledger usage")


@test("multipart: an empty file (filename given, no bytes) is stored, "
      "size 0")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "empty.txt", b"")])
        created(r, [("f", "empty.txt", "empty.txt", 0)], None, 0)
        eq(e.stored(), {"empty.txt": b""}, "files")
        eq(e.record("alice/empty.txt"), ("alice", 0), "record")


def _cd(field, filename=None):
    cd = b'Content-Disposition: form-data; name="' + _b(field) + b'"'
    if filename is not None:
        cd += b'; filename="' + _b(filename) + b'"'
    return cd + CRLF


@test("multipart: a part with no body (the delimiter right after the "
      "headers' blank line, RFC 2046) is an empty file; the next part "
      "is its own")
def _():
    with Env(quota="alice 1M\n") as e:
        body = (b"--abc\r\n" + _cd("a", "a.txt") + b"\r\n--abc\r\n" +
                _cd("b", "b.txt") + b"\r\nhello\r\n--abc--\r\n")
        r = post(e, body, content_type="multipart/form-data; boundary=abc")
        created(r, [("a", "a.txt", "a.txt", 0), ("b", "b.txt", "b.txt", 5)],
                MiB, 5)
        eq(e.stored(), {"a.txt": b"", "b.txt": b"hello"}, "files on disk")
        eq(e.record("alice/a.txt"), ("alice", 0), "record a.txt")
        eq(e.record("alice/b.txt"), ("alice", 5), "record b.txt")
        eq(e.usage(), 5, "ledger usage")
        e.assert_clean()


@test("multipart: an empty text field before a file, an empty last file "
      "part; content that only starts like a delimiter stays content")
def _():
    with Env(quota="alice 1M\n") as e:
        d = b"--" + BOUNDARY
        # an empty text field, then a file
        body = (d + CRLF + _cd("note") + CRLF + d + CRLF +
                _cd("f", "after.txt") + CRLF + b"after" + CRLF + d + b"--" +
                CRLF)
        r = post(e, body)
        created(r, [("f", "after.txt", "after.txt", 5)], MiB, 5)
        # a file, then an empty last file part
        body = (d + CRLF + _cd("f", "first.txt") + CRLF + b"first" + CRLF +
                d + CRLF + _cd("g", "last.txt") + CRLF + d + b"--" + CRLF)
        r = post(e, body)
        created(r, [("f", "first.txt", "first.txt", 5),
                    ("g", "last.txt", "last.txt", 0)], MiB, 10)
        # the boundary and more at the start of a part: content
        data = [d + b"def", d + b"X", d + b"-x", d + b" \tx", d + b"\rx",
                d + b"\n" + CRLF + b"z"]
        names = ["data%d.bin" % i for i in range(len(data))]
        r = post(e, [fpart("p%d" % i, n, x)
                     for i, (n, x) in enumerate(zip(names, data))])
        created(r, [("p%d" % i, n, n, len(x))
                    for i, (n, x) in enumerate(zip(names, data))])
        want = {"after.txt": b"after", "first.txt": b"first",
                "last.txt": b""}
        want.update(zip(names, data))
        eq(e.stored(), want, "files on disk")
        eq(e.usage(), 10 + sum(len(x) for x in data), "ledger usage")
        e.assert_clean()


@test("multipart: the same name twice in one form -> report.pdf, "
      "report-1.pdf")
def _():
    with Env(quota="alice 1M\n") as e:
        r = post(e, [fpart("a", "report.pdf", b"one"),
                     fpart("b", "report.pdf", b"two"),
                     fpart("c", "report.pdf", b"three")])
        created(r, [("a", "report.pdf", "report.pdf", 3),
                    ("b", "report.pdf", "report-1.pdf", 3),
                    ("c", "report.pdf", "report-2.pdf", 5)], MiB, 11)
        eq(e.stored(), {"report.pdf": b"one", "report-1.pdf": b"two",
                        "report-2.pdf": b"three"}, "files")
        for n, s in (("report.pdf", 3), ("report-1.pdf", 3),
                     ("report-2.pdf", 5)):
            eq(e.record("alice/" + n), ("alice", s), "record " + n)


@test("multipart: never overwrites: existing names get -1/-2 before the "
      "last extension (a.tar-1.gz, README-1)")
def _():
    with Env(quota="alice 1M\n") as e:
        expect(e.run("PUT", "/report.pdf", body=b"old"), 201, "stored")
        expect(e.run("PUT", "/report-1.pdf", body=b"old1"), 201, "stored")
        expect(e.run("PUT", "/a.tar.gz", body=b"tgz"), 201, "stored")
        e.plant("README", b"planted outside upgate")
        os.makedirs(e.path("alice", "photo.jpg"))   # a folder takes it too
        r = post(e, [fpart("a", "report.pdf", b"new"),
                     fpart("b", "a.tar.gz", b"new tgz"),
                     fpart("c", "README", b"new readme"),
                     fpart("d", "photo.jpg", b"jpg"),
                     fpart("e", "report.pdf", b"newer")])
        created(r, [("a", "report.pdf", "report-2.pdf", 3),
                    ("b", "a.tar.gz", "a.tar-1.gz", 7),
                    ("c", "README", "README-1", 10),
                    ("d", "photo.jpg", "photo-1.jpg", 3),
                    ("e", "report.pdf", "report-3.pdf", 5)],
                MiB, 3 + 4 + 3 + 28)
        eq(e.stored(), {"report.pdf": b"old", "report-1.pdf": b"old1",
                        "report-2.pdf": b"new", "report-3.pdf": b"newer",
                        "a.tar.gz": b"tgz", "a.tar-1.gz": b"new tgz",
                        "README": b"planted outside upgate",
                        "README-1": b"new readme",
                        "photo-1.jpg": b"jpg"}, "files")
        eq(e.record("alice/report.pdf"), ("alice", 3), "old record kept")
        eq(e.record("alice/a.tar-1.gz"), ("alice", 7), "record a.tar-1.gz")
        eq(e.usage(), 3 + 4 + 3 + 28, "ledger usage")


@test("multipart: a 255-byte multibyte name taken -> suffixed name stays "
      "<= 255 bytes, valid UTF-8, cut on a character boundary")
def _():
    with Env() as e:
        name = "ab" + "\u20ac" * 83 + ".pdf"        # 2 + 249 + 4 bytes
        nb = name.encode()
        eq(len(nb), 255, "test bug: name length")
        r = post(e, [fpart("a", name, b"1"), fpart("b", name, b"2")])
        expect(r, 201, "stored")
        files = r.json().get("files") or []
        eq(len(files), 2, "%s: number of files" % r.what())
        eq(files[0].get("stored_as"), name, "first stored_as")
        got = files[1].get("stored_as")
        check(isinstance(got, str), "second stored_as %r" % got)
        gb = got.encode("utf-8", "surrogateescape")
        check(len(gb) <= 255, "suffixed name is %d bytes (> 255): %r"
              % (len(gb), got))
        check(valid_utf8(gb), "suffixed name is not valid UTF-8: %r" % gb)
        check(got.endswith("-1.pdf"), "suffixed name %r does not end in "
              "-1.pdf" % got)
        stem = got[:-len("-1.pdf")]
        check(stem and name.startswith(stem), "suffixed name %r: the stem "
              "is not a prefix of %r" % (got, name))
        # the best cut: 255 - len("-1.pdf") = 249 bytes, one byte of a
        # 3-byte character over: 248
        eq(got, "ab" + "\u20ac" * 82 + "-1.pdf", "suffixed name")
        disk = {k.encode("utf-8", "surrogateescape"): v
                for k, v in e.stored().items()}
        eq(disk, {nb: b"1", gb: b"2"}, "files on disk")
        eq(e.record("alice/" + got), ("alice", 1), "record of the suffixed")


@test("multipart: a 255-byte name is accepted as is")
def _():
    with Env() as e:
        name = "\u00e9" * 125 + "x.txt"          # 250 + 5 bytes
        eq(len(name.encode()), 255, "test bug: name length")
        r = post(e, [fpart("f", name, b"data")])
        created(r, [("f", name, name, 4)])
        eq(list(e.stored()), [name], "files")


@test("multipart: Windows path C:\\Users\\a\\report.pdf -> report.pdf "
      "(no backslash escapes)")
def _():
    with Env() as e:
        r = post(e, [fpart("f", b"C:\\Users\\a\\report.pdf", b"pdf")])
        created(r, [("f", "report.pdf", "report.pdf", 3)], None, 3)
        eq(e.stored(), {"report.pdf": b"pdf"}, "files")
        # a backslash right before the closing quote escapes nothing
        r = post(e, [fpart("f", b"C:\\dir\\x.txt", b"x"),
                     fpart("g", b"mixed/dir\\y.txt", b"y")])
        created(r, [("f", "x.txt", "x.txt", 1), ("g", "y.txt", "y.txt", 1)])


@test("multipart: filename=\"../../etc/passwd\" -> passwd in the user's "
      "folder")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "../../etc/passwd", b"root:x:0:0")])
        created(r, [("f", "passwd", "passwd", 10)], None, 10)
        eq(e.stored(), {"passwd": b"root:x:0:0"}, "files")
        eq(e.stored(None), {"alice/passwd": b"root:x:0:0"}, "upload_dir")
        check(not os.listdir(e.outside), "written outside")
        r = post(e, [fpart("f", "/abs/path/x", b"x")])
        created(r, [("f", "x", "x", 1)])


@test("multipart: filename* (RFC 5987) wins over filename, either order")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "fallback.pdf", b"a",
                           star=b"UTF-8''r%C3%A9sum%C3%A9%20v2.pdf")])
        created(r, [("f", "r\u00e9sum\u00e9 v2.pdf", "r\u00e9sum\u00e9 v2.pdf",
                     1)])
        cd = (b'Content-Disposition: form-data; name="g"; '
              b"filename*=utf-8''%E6%97%A5%E6%9C%AC.txt; "
              b'filename="fallback.txt"')
        r = post(e, [fpart("g", None, b"bb", raw_disposition=cd)])
        created(r, [("g", "\u65e5\u672c.txt", "\u65e5\u672c.txt", 2)])
        eq(sorted(e.stored()), sorted(["r\u00e9sum\u00e9 v2.pdf",
                                       "\u65e5\u672c.txt"]), "files")
        # filename* with a path is reduced too
        r = post(e, [fpart("h", "z.txt", b"c",
                           star=b"UTF-8''..%2F..%2Fevil.txt")])
        created(r, [("h", "evil.txt", "evil.txt", 1)])
        check(not os.listdir(e.outside), "written outside")


@test("multipart: a raw UTF-8 filename is kept as is")
def _():
    with Env() as e:
        name = "r\u00e9sum\u00e9 \u65e5\u672c \U0001F600.txt"
        r = post(e, [fpart("f", name.encode(), b"utf8")])
        created(r, [("f", name, name, 4)], None, 4)
        eq(e.stored(), {name: b"utf8"}, "files")
        eq(e.record("alice/" + name), ("alice", 4), "record")


@test("multipart: an empty file field (filename=\"\", no bytes) is skipped")
def _():
    with Env(quota="alice 1000\n") as e:
        r = post(e, [fpart("empty", "", b""), fpart("f", "y.txt", b"yy"),
                     fpart("empty2", "", b"")])
        created(r, [("f", "y.txt", "y.txt", 2)], 1000, 2)
        eq(e.stored(), {"y.txt": b"yy"}, "files")
        eq(e.usage(), 2, "usage")


# ----------------------------------------------------- forms storing nothing

@test("multipart: a form with only text fields -> 400 bad_request")
def _():
    with Env(quota="alice 1000\n") as e:
        r = post(e, [tpart("a", "1"), tpart("b", "two")])
        expect(r, 400, "bad_request")
        expect_quota_headers(r, 0, 1000)
        eq(log_of(r)["size"], r.req["length"], "log size")
        nothing_stored(e)


@test("multipart: a form with only an empty file field -> 400 bad_request")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "", b"", ctype=None)])
        expect(r, 400, "bad_request")
        nothing_stored(e)


@test("multipart: a form with no part at all -> 400 bad_request")
def _():
    with Env() as e:
        r = post(e, b"--" + BOUNDARY + b"--\r\n")
        expect(r, 400, "bad_request")
        nothing_stored(e)


BAD_NAMES = [
    (".htaccess", "a leading dot"),
    ("..", "dot-dot"),
    ("a/..", "dot-dot after a path"),
    (".upgate-tmp-x", "the temporary prefix"),
    ("a\x01b.txt", "a C0 control character"),
    ("a\tb.txt", "a TAB"),
    ("a\x7fb.txt", "DEL"),
    ("a\xc2\x85b.txt".encode("latin-1"), "C1 NEL (U+0085)"),
    (b"\xff\xfe.txt", "invalid UTF-8"),
    (b"a\xc3.txt", "truncated UTF-8"),
    (b"\xc0\xae\xc0\xae", "overlong UTF-8"),
    ("n" * 256, "256 bytes"),
    ("\u00e9" * 128, "256 bytes of 2-byte characters"),
]

for _n, _why in BAD_NAMES:
    def _t(name=_n):
        with Env(quota="alice 1M\n") as e:
            expect(e.run("PUT", "/old.txt", body=b"old"), 201, "stored")
            before = {"old.txt": b"old"}
            for parts in ([fpart("good", "good.txt", b"fine"),
                           fpart("bad", name, b"evil")],
                          [fpart("bad", name, b"evil"),
                           fpart("good", "good.txt", b"fine")]):
                r = post(e, parts)
                expect(r, 400, "bad_request")
                expect_quota_headers(r, 3, MiB)
                nothing_stored(e, before, 3, "%s: " % r.what())
                check(not os.listdir(e.outside), "written outside")
    test("multipart: bad file name (%s) -> 400, nothing stored" % _why)(_t)


@test("multipart: bad name in filename* (invalid UTF-8, leading dot) -> "
      "400")
def _():
    with Env() as e:
        for star in (b"UTF-8''%FF%FE.txt", b"UTF-8''.htaccess",
                     b"UTF-8''a%00b.txt", b"UTF-8''a%0Ab.txt"):
            r = post(e, [fpart("g", "good.txt", b"fine"),
                         fpart("f", "ok.txt", b"x", star=star)])
            expect(r, 400, "bad_request")
            nothing_stored(e, what="filename*=%r: " % star)


# ------------------------------------------------------------ PATH_INFO

@test("multipart: POST into an existing folder (with or without a "
      "trailing /)")
def _():
    with Env(quota="alice 1M\n") as e:
        os.makedirs(e.path("alice", "docs/2024"))
        r = post(e, [fpart("f", "a.txt", b"aaa")], path="/docs/2024")
        created(r, [("f", "a.txt", "docs/2024/a.txt", 3)], MiB, 3)
        r = post(e, [fpart("f", "a.txt", b"bbbb")], path="/docs/2024/")
        created(r, [("f", "a.txt", "docs/2024/a-1.txt", 4)], MiB, 7)
        eq(e.stored(), {"docs/2024/a.txt": b"aaa",
                        "docs/2024/a-1.txt": b"bbbb"}, "files")
        eq(e.record("alice/docs/2024/a.txt"), ("alice", 3), "record")
        eq(e.record("alice/docs/2024/a-1.txt"), ("alice", 4), "record")


@test("multipart: PATH_INFO \"/\" is the user's folder")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "a.txt", b"a")], path="/")
        created(r, [("f", "a.txt", "a.txt", 1)], None, 1)
        eq(e.stored(), {"a.txt": b"a"}, "files")


@test("multipart: POST into a missing folder -> 409 before the body")
def _():
    with Env(quota="alice 1M\n") as e:
        os.makedirs(e.user_dir())
        r = post(e, [fpart("f", "a.txt", b"aaa")], path="/missing")
        expect(r, 409, "conflict")
        expect_refusal_before_body(r)
        check(not os.path.exists(e.path("alice", "missing")),
              "folder created without create_parents")
        nothing_stored(e)
        r = refused_before_body(e, 1000, path="/missing/deeper")
        expect(r, 409, "conflict")


@test("multipart: create_parents = yes creates the folder; a failing form "
      "removes it again")
def _():
    with Env(quota="alice 1M\n", conf={"create_parents": "yes"}) as e:
        r = post(e, [fpart("f", "a.txt", b"aaa")], path="/new/deep")
        created(r, [("f", "a.txt", "new/deep/a.txt", 3)], MiB, 3)
        eq(e.stored(), {"new/deep/a.txt": b"aaa"}, "files")
        eq(e.record("alice/new/deep/a.txt"), ("alice", 3), "record")
        # a bad name, a malformed body, an incomplete body: no folder left
        bodies = [
            ("bad name", form([fpart("f", "ok.txt", b"x"),
                               fpart("g", ".htaccess", b"y")]), None, 400,
             "bad_request"),
            ("no close delimiter", form([fpart("f", "ok.txt", b"x")],
                                        close=False), None, 400,
             "bad_request"),
            ("short body", form([fpart("f", "ok.txt", b"x" * 100)]), 5000,
             400, "incomplete_body"),
            ("no file", form([tpart("t", "v")]), None, 400, "bad_request"),
        ]
        for what, body, length, st, reason in bodies:
            kw = {"length": length} if length is not None else {}
            r = post(e, body, path="/other/sub", **kw)
            expect(r, st, reason)
            check(not os.path.exists(e.path("alice", "other")),
                  "%s (%s): folder 'other' left behind" % (r.what(), what))
            nothing_stored(e, {"new/deep/a.txt": b"aaa"}, 3,
                           "%s (%s): " % (r.what(), what))


@test("multipart: POST into a symlinked folder -> 403, nothing written "
      "there")
def _():
    with Env() as e:
        os.makedirs(e.user_dir())
        os.symlink(e.outside, e.path("alice", "link"))
        for p in ("/link", "/link/", "/link/sub"):
            r = post(e, [fpart("f", "a.txt", b"evil")], path=p)
            expect(r, 403, "forbidden")
            expect_refusal_before_body(r)
            check(not os.listdir(e.outside), "%s: written through the "
                  "symlink: %r" % (r.what(), os.listdir(e.outside)))
        eq(e.usage(), 0, "usage")
        e.assert_clean()


@test("multipart: POST through a file where a folder is needed -> 409")
def _():
    with Env(conf={"create_parents": "yes"}) as e:
        expect(e.run("PUT", "/a.txt", body=b"file"), 201, "stored")
        for p in ("/a.txt", "/a.txt/sub"):
            r = post(e, [fpart("f", "x.txt", b"x")], path=p)
            expect(r, 409, "conflict")
            expect_refusal_before_body(r)
            nothing_stored(e, {"a.txt": b"file"}, 4, "%s: " % r.what())


@test("multipart: bad POST folders -> 400 before the body")
def _():
    with Env(conf={"create_parents": "yes"}) as e:
        for p in ("/../x", "/.hidden", "/a//b", "/a\\b", "/.upgate"):
            r = post(e, [fpart("f", "x.txt", b"x")], path=p)
            expect(r, 400, "bad_request")
            expect_refusal_before_body(r)
            nothing_stored(e, what="%s: " % r.what())
            check(not os.listdir(e.outside), "written outside")


# ----------------------------------------------------------------- quota

@test("multipart: 1,000 bytes left: a 1,000-byte file in a 1,200-byte "
      "body fits, 1,001 bytes do not (507, nothing stored)")
def _():
    with Env(quota="alice 1300\n") as e:
        expect(e.run("PUT", "/old", body=b"o" * 300), 201, "stored")
        bd = b"xyz"
        ct = "multipart/form-data; boundary=xyz"
        big = padded([fpart("f", "big.bin", b"b" * 1001, ctype=None)], 1200,
                     boundary=bd)
        r = post(e, big, content_type=ct)
        expect(r, 507, "quota_exceeded")
        w = r.what()
        expect_quota_headers(r, 300, 1300)
        j = r.json()
        expect_quota_obj(j["quota"], 1300, 300, 0, w)
        check(j["upload"]["shortage"] > 0, "%s: shortage %r"
              % (w, j["upload"]))
        eq(log_of(r)["size"], "1200", "%s: log size" % w)
        nothing_stored(e, {"old": b"o" * 300}, 300)
        eq(e.record("alice/big.bin"), None, "record of the refused file")

        fits = padded([fpart("f", "big.bin", b"b" * 1000, ctype=None)], 1200,
                      boundary=bd)
        r = post(e, fits, content_type=ct)
        created(r, [("f", "big.bin", "big.bin", 1000)], 1300, 1300)
        check(r.header("X-Quota-Warning") in ("90",), "%s: X-Quota-Warning"
              " at 100%%: %r" % (r.what(), r.header("X-Quota-Warning")))
        eq(e.stored(), {"old": b"o" * 300, "big.bin": b"b" * 1000}, "files")
        eq(e.usage(), 1300, "usage")
        eq(e.record("alice/big.bin"), ("alice", 1000), "record")


@test("multipart: the third of three files breaks the quota -> 507, none "
      "stored, ledger unchanged")
def _():
    with Env(quota="alice 1100\n") as e:
        expect(e.run("PUT", "/old", body=b"o" * 100), 201, "stored")
        r = post(e, [fpart("a", "a.bin", b"a" * 400),
                     tpart("t", "text"),
                     fpart("b", "b.bin", b"b" * 400),
                     fpart("c", "c.bin", b"c" * 400)])
        expect(r, 507, "quota_exceeded")
        expect_quota_headers(r, 100, 1100)
        nothing_stored(e, {"old": b"o" * 100}, 100)
        for n in ("a.bin", "b.bin", "c.bin"):
            eq(e.record("alice/" + n), None, "record " + n)
        # the same form without the third file is fine
        r = post(e, [fpart("a", "a.bin", b"a" * 400),
                     fpart("b", "b.bin", b"b" * 400)])
        created(r, [("a", "a.bin", "a.bin", 400), ("b", "b.bin", "b.bin",
                                                   400)], 1100, 900)


@test("multipart: a form of exactly room + 64 KiB is read (the framing "
      "allowance), and its file stored")
def _():
    with Env(quota="alice 1000\n") as e:
        length = 1000 + 64 * KiB
        body = padded([fpart("f", "a.bin", b"a" * 1000)], length)
        c, req = e.start("POST", None, length=length, content_type=CT,
                         body=body)
        early = c.wait_stdout_eof(1.0)
        check(not early, "POST (CONTENT_LENGTH=%d, 1000 bytes of quota "
              "left): refused before the body although it exceeds the room "
              "by exactly 64 KiB: %r" % (length, bytes(c.out[:400])))
        c.write(body)
        r = c.finish(req)
        created(r, [("f", "a.bin", "a.bin", 1000)], 1000, 1000)
        eq(e.stored(), {"a.bin": b"a" * 1000}, "files")


@test("multipart: length > room + 64 KiB -> 507 before the body, "
      "Connection: close, nothing read")
def _():
    with Env(quota="alice 1000\n") as e:
        length = 1000 + 64 * KiB + 1
        r = refused_before_body(e, length)
        expect(r, 507, "quota_exceeded")
        expect_quota_headers(r, 0, 1000)
        j = r.json()
        eq(j["upload"].get("size"), length, "%s: upload.size" % r.what())
        eq(log_of(r)["size"], str(length), "log size")
        nothing_stored(e)
        # and with a body sent whole, still refused, still nothing stored
        body = padded([fpart("f", "a.bin", b"a" * 10)], length)
        r = post(e, body)
        expect(r, 507, "quota_exceeded")
        nothing_stored(e)


@test("multipart: unlimited user and no quota table: no quota refusal")
def _():
    with Env(quota="carol unlimited\n") as e:
        data = os.urandom(200 * KiB)
        r = post(e, [fpart("f", "a.bin", data)], user="carol")
        expect(r, 201, "stored", user="carol")
        expect_no_quota_headers(r)
        eq(e.stored("carol"), {"a.bin": data}, "files")


# -------------------------------------------------------- per-form limits

@test("multipart: max_files = 2 with three files -> 413 too_large limit 2 "
      "size 3, nothing stored")
def _():
    with Env(quota="alice 1M\n", conf={"max_files": "2"}) as e:
        three = [fpart("a", "a.txt", b"a"), fpart("b", "b.txt", b"b"),
                 tpart("t", "text"), fpart("c", "c.txt", b"c")]
        r = post(e, three)
        expect(r, 413, "too_large")
        j = r.json()
        eq((j.get("limit"), j.get("size")), (2, 3), "%s: too_large limit/"
           "size" % r.what())
        nothing_stored(e)
        # two files (and an empty field that does not count) are fine
        r = post(e, [fpart("a", "a.txt", b"a"), fpart("e", "", b""),
                     fpart("b", "b.txt", b"b")])
        created(r, [("a", "a.txt", "a.txt", 1), ("b", "b.txt", "b.txt", 1)],
                MiB, 2)


@test("multipart: a text field of 65,537 bytes -> 413 limit 65536; 65,536 "
      "is fine")
def _():
    with Env() as e:
        r = post(e, [fpart("f", "a.txt", b"a"), tpart("t", b"t" * 65537)])
        expect(r, 413, "too_large")
        j = r.json()
        eq((j.get("limit"), j.get("size")), (65536, 65537),
           "%s: too_large limit/size" % r.what())
        nothing_stored(e)
        r = post(e, [fpart("f", "a.txt", b"a"), tpart("t", b"t" * 65536)])
        created(r, [("f", "a.txt", "a.txt", 1)])


@test("multipart: 10,000 tiny file parts with max_files = 0 -> 413 at the "
      "1,000-file cap, nothing stored", slow=True)
def _():
    with Env(conf={"max_files": "0"}) as e:
        parts = [fpart("f", "f%d.txt" % i, b"x", ctype=None)
                 for i in range(10000)]
        r = post(e, parts)
        expect(r, 413, "too_large")
        j = r.json()
        eq((j.get("limit"), j.get("size")), (1000, 1001),
           "%s: too_large limit/size" % r.what())
        nothing_stored(e)


@test("multipart: 1,000 tiny file parts with max_files = 0 are all "
      "stored", slow=True)
def _():
    with Env(conf={"max_files": "0"}) as e:
        parts = [fpart("f", "f%d.txt" % i, b"%d" % i, ctype=None)
                 for i in range(1000)]
        r = post(e, parts, timeout=120)
        expect(r, 201, "stored")
        eq(len(r.json().get("files") or []), 1000, "files listed")
        got = e.stored()
        eq(len(got), 1000, "files on disk")
        eq(got.get("f999.txt"), b"999", "f999.txt")
        eq(e.usage(), sum(len(b"%d" % i) for i in range(1000)), "usage")


@test("multipart: allow_unknown_length, a body growing past "
      "max_upload_size -> 413")
def _():
    conf = {"allow_unknown_length": "yes", "max_upload_size": "2000"}
    with Env(conf=conf) as e:
        body = form([fpart("f", "a.bin", b"a" * 3000)])
        r = e.run("POST", None, body=[body[:1000], body[1000:]],
                  length=None, content_type=CT)
        expect(r, 413, "too_large")
        j = r.json()
        eq(j.get("limit"), 2000, "too_large limit")
        check(isinstance(j.get("size"), int) and j["size"] > 2000,
              "too_large size should be the bytes received (> 2000), got %r"
              % j.get("size"))
        nothing_stored(e)
        small = form([fpart("f", "a.bin", b"a" * 100)])
        r = e.run("POST", None, body=small, length=None, content_type=CT)
        expect(r, 201, "stored")
        eq(log_of(r)["size"], str(len(small)), "log size = bytes received")
        eq(e.stored(), {"a.bin": b"a" * 100}, "files")


@test("multipart: length > max_upload_size -> 413 before the body")
def _():
    with Env(conf={"max_upload_size": "1000"}) as e:
        r = refused_before_body(e, 1001)
        expect(r, 413, "too_large")
        eq((r.json().get("limit"), r.json().get("size")), (1000, 1001),
           "too_large limit/size")
        nothing_stored(e)


# ------------------------------------------------------------ malformed

def _malformed_cases():
    good = fpart("g", "good.txt", b"fine")
    one = form([good, fpart("f", "a.txt", b"a" * 100)])
    lf = form([good, fpart("f", "a.txt", b"a" * 100)], nl=b"\n")
    nocd = form([good, ([b"Content-Type: text/plain"], b"data")])
    noname = form([good, fpart("f", None, b"x", raw_disposition=(
        b"Content-Disposition: attachment; filename=\"x.txt\""))])
    bighdr = form([good, ([b'Content-Disposition: form-data; name="f"; '
                           b'filename="big.txt"',
                           b"X-Pad: " + b"p" * (16 * KiB)], b"x")])
    garbage = b"this is not a multipart body at all\r\n"
    bad_line = form([good, ([b'Content-Disposition: form-data; name="f"; '
                             b'filename="b.txt"', b"no colon here"], b"x")])
    return [
        ("no close delimiter", one[:-len(b"--" + BOUNDARY + b"--\r\n")]),
        ("body cut inside a part", one[:len(one) - 40]),
        ("bare LF line endings", lf),
        ("a part without Content-Disposition", nocd),
        ("a header block over 16 KiB", bighdr),
        ("not a multipart body", garbage),
        ("a header line without a colon", bad_line),
        ("Content-Disposition not form-data", noname),
    ]


for _what, _body in _malformed_cases():
    def _t(body=_body):
        with Env(quota="alice 1M\n") as e:
            r = post(e, body)
            expect(r, 400, "bad_request")
            expect_quota_headers(r, 0, MiB)
            eq(log_of(r)["size"], str(len(body)), "log size")
            nothing_stored(e, what="%s: " % r.what())
    test("multipart: malformed: %s -> 400 bad_request" % _what)(_t)


@test("multipart: body shorter than CONTENT_LENGTH -> 400 incomplete_body")
def _():
    with Env(quota="alice 1M\n") as e:
        body = form([fpart("g", "good.txt", b"fine"),
                     fpart("f", "a.bin", b"a" * 5000)])

        def trickle():
            yield body[:2000]
            time.sleep(0.2)
            yield body[2000:3000]
        r = post(e, trickle(), length=len(body) + 10)
        expect(r, 400, "incomplete_body")
        eq(log_of(r)["size"], str(len(body) + 10), "log size")
        nothing_stored(e)
        # the whole form but CONTENT_LENGTH one byte more
        r = post(e, body, length=len(body) + 1)
        expect(r, 400, "incomplete_body")
        nothing_stored(e)


@test("multipart: preamble, epilogue, transport padding and a quoted "
      "boundary are accepted (RFC 2046)")
def _():
    with Env() as e:
        body = form([fpart("f", "a.txt", b"aaa")],
                    preamble=b"This is the preamble.\r\n")
        body = body[:-2] + b"\r\nThis is the epilogue.\r\n"
        r = post(e, body)
        created(r, [("f", "a.txt", "a.txt", 3)])
        # transport padding (LWSP) after a delimiter
        body = b"--" + BOUNDARY + b"  \t\r\n" + \
            b'Content-Disposition: form-data; name="f"; ' \
            b'filename="b.txt"\r\n\r\nbbb\r\n--' + BOUNDARY + b"--\r\n"
        r = post(e, body)
        created(r, [("f", "b.txt", "b.txt", 3)])
        # quoted boundary with a space (bchars allow it inside)
        bd = b"a quoted boundary'()+_,-./:=?"
        body = form([fpart("f", "c.txt", b"ccc")], boundary=bd)
        r = post(e, body, content_type='multipart/form-data; boundary="%s"'
                 % bd.decode())
        created(r, [("f", "c.txt", "c.txt", 3)])
        eq(sorted(e.stored()), ["a.txt", "b.txt", "c.txt"], "files")


@test("multipart: a file whose bytes hold near-delimiters is stored byte "
      "for byte")
def _():
    with Env() as e:
        d = b"--" + BOUNDARY
        # CRLF--BOUNDARY itself may not occur in a part (RFC 2046 5.1.1);
        # everything short of it must come through
        data = (b"\r\n" + d[:-1] + b"X\n" + d + b"\r" + d + b"--\r\n-" +
                d[2:] + b"\r\n--" + BOUNDARY[:10] + os.urandom(5000) +
                b"\r\n" + d[2:] + b"\r\n-" + d[2:] + b"\r\n\r")
        r = post(e, [fpart("f", "tricky.bin", data), tpart("t", d[:-1])])
        created(r, [("f", "tricky.bin", "tricky.bin", len(data))])
        eq(e.stored(), {"tricky.bin": data}, "file bytes")

        def chunks(body, n):
            for i in range(0, len(body), n):
                yield body[i:i + n]
        for n in (1, 7, 37):
            body = form([fpart("f", "c%d.bin" % n, data)])
            r = post(e, chunks(body, n), length=len(body))
            created(r, [("f", "c%d.bin" % n, "c%d.bin" % n, len(data))])
            eq(e.stored().get("c%d.bin" % n), data, "bytes in %d-byte "
               "chunks" % n)


# ------------------------------------------------------ Content-Type (415)

_TYPES = [
    ("multipart/form-data without boundary", "multipart/form-data"),
    ("an empty boundary", "multipart/form-data; boundary="),
    ("a 71-char boundary", "multipart/form-data; boundary=" + "b" * 71),
    ("text/plain", "text/plain"),
    ("multipart/mixed", "multipart/mixed; boundary=" + BOUNDARY.decode()),
]

for _what, _ct in _TYPES:
    def _t(ct=_ct):
        with Env(quota="alice 1M\n") as e:
            r = refused_before_body(e, 500, content_type=ct)
            expect(r, 415, "unsupported_media_type")
            expect_quota_headers(r, 0, MiB)
            eq(log_of(r)["size"], "500", "log size")
            nothing_stored(e)
    test("multipart: Content-Type %s -> 415 before the body" % _what)(_t)


@test("multipart: a 70-char boundary and a case-insensitive type are "
      "accepted")
def _():
    with Env() as e:
        bd = b"7" * 70
        r = post(e, form([fpart("f", "a.txt", b"a")], boundary=bd),
                 content_type="Multipart/Form-Data; charset=utf-8; "
                 "BOUNDARY=" + bd.decode())
        created(r, [("f", "a.txt", "a.txt", 1)])


# ---------------------------------------------------------------- formats

@test("multipart: Accept: text/html on a 201 lists the stored files, "
      "escaped")
def _():
    with Env(quota="alice 1M\n") as e:
        # no '/' (a separator) and no '"' (it ends the value): upgate(8), Requests
        evil = "<b>x<i>&'.txt"
        r = post(e, [fpart("a", evil, b"html"),
                     fpart("b", "plain.txt", b"p"),
                     fpart("c", "plain.txt", b"q")],
                 accept="text/html")
        expect(r, 201, "stored")
        w = r.what()
        eq(r.media_type(), "text/html", "%s: Content-Type" % w)
        html = r.body.decode("utf-8")
        check("<b>x<i>" not in html, "%s: the file name is not escaped: %r"
              % (w, html[:1500]))
        check("&lt;b&gt;x&lt;i&gt;&amp;" in html, "%s: escaped file name "
              "&lt;b&gt;x&lt;i&gt;&amp;... not in the page: %r"
              % (w, html[:1500]))
        for n in ("plain.txt", "plain-1.txt"):
            check(n in html, "%s: %s not listed: %r" % (w, n, html[:1500]))
        check(re.search(r"(?i)<html|<!doctype", html), "%s: not an HTML "
              "page: %r" % (w, html[:300]))
        eq(sorted(e.stored()), sorted([evil, "plain.txt", "plain-1.txt"]),
           "files")


@test("multipart: Accept: application/xml on a 201 mirrors the JSON")
def _():
    with Env(quota="alice 1M\n") as e:
        r = post(e, [fpart("a", "a&b.txt", b"xml")],
                 accept="application/xml")
        expect(r, 201, "stored")
        eq(r.media_type(), "application/xml", "Content-Type")
        root = r.xml()
        text = " ".join((x.text or "") for x in root.iter())
        check("a&b.txt" in text, "%s: the file name is not in the XML: %r"
              % (r.what(), r.body[:800]))


# ------------------------------------------------------ more edges

@test("multipart: header names and form-data are case-insensitive")
def _():
    with Env() as e:
        cd = (b'content-DISPOSITION: Form-Data; NAME="f"; '
              b'FILENAME="case.txt"')
        r = post(e, [fpart("f", None, b"1", raw_disposition=cd,
                           ctype=None)])
        created(r, [("f", "case.txt", "case.txt", 1)])


@test("multipart: a '\"' ends the filename value: trailing bytes make the "
      "part malformed; %22 is kept as is")
def _():
    with Env() as e:
        r = post(e, [fpart("f", b'a"b.txt', b"1")])
        expect(r, 400, "bad_request")
        nothing_stored(e)
        r = post(e, [fpart("f", "a%22b.txt", b"1")])
        created(r, [("f", "a%22b.txt", "a%22b.txt", 1)])


@test("multipart: a 255-byte name whose 'extension' is 253 bytes gets the "
      "suffix at the end, still <= 255 bytes")
def _():
    with Env() as e:
        name = "a." + "b" * 253
        r = post(e, [fpart("f", name, b"1"), fpart("g", name, b"2")])
        expect(r, 201, "stored")
        got = [f["stored_as"] for f in r.json()["files"]]
        eq(got[0], name, "first stored_as")
        check(len(got[1].encode()) <= 255 and got[1] != name and
              got[1].endswith("-1"), "second stored_as %r (%d bytes)"
              % (got[1], len(got[1].encode())))
        eq(len(e.stored()), 2, "files on disk")


@test("multipart: CONTENT_LENGTH 0 -> 400 bad_request")
def _():
    with Env(quota="alice 0\n") as e:
        r = post(e, b"")
        expect(r, 400, "bad_request")
        nothing_stored(e)


@test("multipart: a file part with an empty name but content -> 400")
def _():
    with Env() as e:
        for fn in ("", "dir/", "C:\\dir\\"):
            r = post(e, [fpart("g", "good.txt", b"fine"),
                         fpart("f", fn, b"data")])
            expect(r, 400, "bad_request")
            nothing_stored(e, what="filename=%r: " % fn)


@test("multipart: no free space at all: an empty file is stored, a byte "
      "is refused 507 disk_full, 64 KiB + 1 before the body")
def _():
    with Env(quota="alice 1M\n", conf={"min_free_space": "100%"}) as e:
        r = post(e, [fpart("f", "empty", b"")])
        created(r, [("f", "empty", "empty", 0)], MiB, 0)
        r = post(e, [fpart("f", "one", b"1")])
        expect(r, 507, "disk_full")
        check(r.header("Retry-After") == "3600", "%s: Retry-After %r"
              % (r.what(), r.header("Retry-After")))
        expect_quota_headers(r, 0, MiB)
        eq(log_of(r)["size"], r.req["length"], "log size")
        nothing_stored(e, {"empty": b""})
        # exactly 64 KiB more than the space: read, then refused
        body = padded([fpart("f", "one", b"1")], 64 * KiB)
        r = post(e, body)
        expect(r, 507, "disk_full")
        nothing_stored(e, {"empty": b""})
        # one byte more: refused before the body
        r = refused_before_body(e, 64 * KiB + 1)
        expect(r, 507, "disk_full")
        j = r.json()
        eq(j["details"].get("required_space"), 64 * KiB + 1,
           "required_space")
        eq(j["details"].get("available_space"), 0, "available_space")
        nothing_stored(e, {"empty": b""})


@test("multipart: quota 0: an empty file is stored, a byte is refused")
def _():
    with Env(quota="alice 0\n") as e:
        r = post(e, [fpart("f", "empty", b"")])
        created(r, [("f", "empty", "empty", 0)], 0, 0)
        r = post(e, [fpart("f", "one", b"1")])
        expect(r, 507, "quota_exceeded")
        nothing_stored(e, {"empty": b""})


@test("multipart: per_user_dirs = no: a name another user stored gets a "
      "suffix, never overwritten")
def _():
    with Env(conf={"per_user_dirs": "no"}) as e:
        r = e.run("PUT", "/report.pdf", body=b"bob's", user="bob")
        expect(r, 201, "stored", user="bob")
        r = post(e, [fpart("f", "report.pdf", b"alice's")])
        created(r, [("f", "report.pdf", "report-1.pdf", 7)], None, 7)
        eq(e.stored(None), {"report.pdf": b"bob's",
                            "report-1.pdf": b"alice's"}, "upload_dir")
        eq(e.record("report.pdf"), ("bob", 5), "bob's record")
        eq(e.record("report-1.pdf"), ("alice", 7), "alice's record")
        eq((e.usage("alice"), e.usage("bob")), (7, 5), "usages")


def _run_all(e, bodies, timeout=120):
    """Starts every POST, then sends all bodies at once."""
    started = [e.start("POST", None, length=len(b), content_type=CT)
               for b in bodies]
    barrier = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def go(i, c, req):
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        c.write(bodies[i])
        results[i] = c.finish(req, timeout)
    ts = [threading.Thread(target=go, args=(i, c, req))
          for i, (c, req) in enumerate(started)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 30)
    for i, r in enumerate(results):
        if r is None:
            fail("concurrent POST %d did not finish" % i)
    return results


@test("multipart: 12 concurrent forms, each with report.pdf twice -> 24 "
      "distinct files, none overwritten", slow=True)
def _():
    with Env() as e:
        e.fcgi_threads = 4
        n = 12
        bodies = [form([fpart("a", "report.pdf", b"form %d a" % i),
                        fpart("b", "report.pdf", b"form %d b" % i)])
                  for i in range(n)]
        results = _run_all(e, bodies)
        names = []
        for r in results:
            expect(r, 201, "stored")
            names += [f["stored_as"] for f in r.json()["files"]]
        want = ["report.pdf"] + ["report-%d.pdf" % k
                                 for k in range(1, 2 * n)]
        eq(sorted(names), sorted(want), "stored_as over all answers")
        got = e.stored()
        eq(sorted(got), sorted(want), "files on disk")
        eq(sorted(got.values()), sorted(b"form %d %s" % (i, x)
                                        for i in range(n)
                                        for x in (b"a", b"b")),
           "contents")
        eq(e.usage(), sum(len(v) for v in got.values()), "usage")


@test("multipart: 8 concurrent 200 KiB forms against 1 MiB of quota: "
      "never more than the limit stored, ledger = disk", slow=True)
def _():
    with Env(quota="alice 1M\n") as e:
        e.fcgi_threads = 4
        bodies = [form([fpart("f", "f%d.bin" % i, os.urandom(200 * KiB))])
                  for i in range(8)]
        results = _run_all(e, bodies)
        ok = 0
        for r in results:
            if r.status == 201:
                expect(r, 201, "stored")
                ok += 1
            else:
                expect(r, 507, "quota_exceeded")
        got = e.stored()
        total = sum(len(v) for v in got.values())
        check(total <= MiB, "stored %d bytes > 1 MiB" % total)
        eq(len(got), ok, "files on disk = 201 answers")
        check(ok >= 5, "only %d of 8 forms stored; 5 fit in 1 MiB" % ok)
        eq(e.usage(), total, "usage")
        e.assert_clean()


# ------------------------------------------- real curl -F through a shim

class _Shim(http.server.ThreadingHTTPServer):
    """HTTP on 127.0.0.1 in front of Env.run (so the CGI, or the responder
    with --fcgi): /upload[PATH] -> POST with PATH_INFO = PATH."""
    daemon_threads = True

    def __init__(self, env):
        self.env = env
        self.responses = []
        super().__init__(("127.0.0.1", 0), _ShimHandler)


class _ShimHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        path = self.path[len("/upload"):] or None
        r = self.server.env.run("POST", path, body=body,
                                content_type=self.headers.get(
                                    "Content-Type"),
                                accept=self.headers.get("Accept"))
        self.server.responses.append(r)
        self.send_response(r.status or 502)
        for k, v in r.headers:
            if k.lower() != "status":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.body)))
        self.end_headers()
        self.wfile.write(r.body)


def _curl(shim, *args):
    url = "http://127.0.0.1:%d/upload" % shim.server_address[1]
    p = subprocess.run(["curl", "-sS", "-H", "Expect:", "-H",
                        "Accept: application/json", "-w", "\\n%{http_code}",
                        "-X", "POST", url] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0, "curl %r: exit %d, %s" % (
        args, p.returncode, p.stderr.decode("utf-8", "replace")))
    body, code = out.rsplit("\n", 1)
    return int(code), body


@test("multipart: real curl -F (a=@x, note=text, b=@y;filename=...) "
      "through an HTTP shim")
def _():
    if shutil.which("curl") is None:
        skip("curl is not installed")
    with Env(quota="alice 1M\n") as e:
        src = os.path.join(e.root, "src")
        os.makedirs(src)
        x, y = os.urandom(70000), b"second file\r\n--\r\n"
        for n, d in (("x.bin", x), ("y.txt", y)):
            with open(os.path.join(src, n), "wb") as f:
                f.write(d)
        shim = _Shim(e)
        t = threading.Thread(target=shim.serve_forever, daemon=True)
        t.start()
        try:
            code, body = _curl(
                shim, "-F", "a=@%s/x.bin" % src, "-F", "note=some text",
                "-F", "b=@%s/y.txt;filename=r\u00e9sum\u00e9 v2.txt;"
                "type=text/plain" % src,
                "-F", "c=@%s/y.txt;filename=C:\\Users\\a\\win.txt" % src)
            eq(code, 201, "curl -F status (body %r)" % body[:300])
            r = shim.responses[-1]
            created(r, [("a", "x.bin", "x.bin", 70000),
                        ("b", "r\u00e9sum\u00e9 v2.txt",
                         "r\u00e9sum\u00e9 v2.txt", len(y)),
                        ("c", "win.txt", "win.txt", len(y))],
                    MiB, 70000 + 2 * len(y))
            eq(json.loads(body)["files"][0]["name"], "x.bin",
               "JSON through HTTP")
            eq(e.stored(), {"x.bin": x, "r\u00e9sum\u00e9 v2.txt": y,
                            "win.txt": y}, "files")
            # again: suffixes; and a folder through PATH_INFO
            os.makedirs(e.path("alice", "docs"))
            code, body = _curl(shim, "-F", "a=@%s/x.bin" % src)
            eq(code, 201, "second curl status (body %r)" % body[:300])
            eq(json.loads(body)["files"][0]["stored_as"], "x-1.bin",
               "stored_as")
            url = "http://127.0.0.1:%d/upload/docs" % shim.server_address[1]
            p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                                "%{http_code}", "-F", "a=@%s/y.txt" % src,
                                url], stdout=subprocess.PIPE, timeout=60)
            eq(p.stdout, b"201", "curl into /docs")
            eq(e.stored().get("docs/y.txt"), y, "docs/y.txt")
            # only a text field: 400
            code, body = _curl(shim, "-F", "note=only text")
            eq(code, 400, "curl text only (body %r)" % body[:300])
            eq(json.loads(body)["reason"], "bad_request", "reason")
            eq(e.usage(), 140000 + 3 * len(y), "usage")
            e.assert_clean()
        finally:
            shim.shutdown()
            shim.server_close()
