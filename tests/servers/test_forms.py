# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Forms through every hosting path (upgate(8), Requests, upgate(8), Decisions rows 7, 11 and 14 with
the 64 KiB framing allowance, upgate(8), Responses): real `curl -F` uploads -- one file,
several files with text fields between them, a taken name -- come back
201 with the JSON list of stored files, and the disk and the ledger are
checked afterwards; a browser's Accept gets the HTML page.  Through
lighttpd-fastcgi also the exact quota on file bytes (a form whose
framing passes the quota but whose file fits is stored; one byte more is
507) and all or nothing (the third file of three breaks the quota:
nothing stored, ledger unchanged)."""

import itertools
import os
import re
import time

import harness
from servers import (KiB, MiB, PATHS, Fixture, Group, check, curl_form, eq,
                     expect, fail)

# dave: 11,000 bytes, so that a 10,000-byte PUT leaves exactly 1,000
QUOTA = "alice 10M\nbob 1M\ncarol unlimited\ndave 11000\n"
CONF = {"max_upload_size": "32M"}
FULL = {"lighttpd-fastcgi"}          # the paths with the quota cases too

# what a browser sends for a page load (Firefox)
BROWSER_ACCEPT = "Accept: text/html,application/xhtml+xml," \
    "application/xml;q=0.9,*/*;q=0.8"
_SEQ = itertools.count(1)


def _setup(path):
    def setup():
        return Fixture("forms-" + path, path, QUOTA, CONF)
    return setup


def _file(fx, name, data):
    """An input file for curl -F, in a folder of its own so that the
    part's filename is name."""
    d = os.path.join(fx.root, "in-%d" % next(_SEQ))
    os.makedirs(d)
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def _created(r, files, limit, used):
    """201, exactly files = [(field, name, stored_as, size)] in the JSON
    list, the quota object and headers, no Location."""
    expect(r, 201, "stored")
    w = r.what()
    eq(r.media_type(), "application/json", "%s: Content-Type" % w)
    check(r.header("Location") is None, "%s: Location on a POST 201: %r"
          % (w, r.header("Location")))
    j = r.json()
    eq(sorted(j), ["files", "quota", "status"], "%s: JSON fields" % w)
    got = j["files"]
    check(isinstance(got, list) and all(
        isinstance(f, dict) and
        sorted(f) == ["field", "name", "size", "stored_as"] for f in got),
        "%s: files: expected a list of {field, name, stored_as, size}, "
        "got %r" % (w, got))
    eq([(f["field"], f["name"], f["stored_as"], f["size"]) for f in got],
       list(files), "%s: files" % w)
    harness.expect_quota_obj(j["quota"], limit, used, what=w)
    if limit is not None:
        harness.expect_quota_headers(r, used, limit)
    return j


def _on_disk(fx, user, want, what):
    """The user's folder holds exactly want ({name: bytes}), the ledger
    counts their sizes, nothing temporary is left."""
    e = fx.env
    got = e.stored(user)
    eq(sorted(got), sorted(want), "%s: files in %s's folder" % (what, user))
    for n, b in want.items():
        check(got[n] == b, "%s: %s/%s holds %d bytes that differ from "
              "the %d sent" % (what, user, n, len(got[n]), len(b)))
    eq(e.usage(user), sum(len(b) for b in want.values()),
       "%s: %s's ledger (the sum of the stored sizes)" % (what, user))
    e.assert_clean("%s: " % what)


def _logged(fx, prefix, timeout=5):
    """The upgate(8), Logs line reaches the server's (or responder's) log."""
    end = time.monotonic() + timeout
    while True:
        lines = [l[l.index("upgate: "):] for l in fx.srv.logs().splitlines()
                 if "upgate: " in l]
        if any(l.startswith(prefix) for l in lines):
            return
        if time.monotonic() > end:
            fail("%s: no log line starting %r; upgate lines: %r"
                 % (fx.path, prefix, lines[-5:]))
        time.sleep(0.1)


def _register(path):
    g = Group("forms-" + path, _setup(path))
    p = path
    # alice's files so far, {name: bytes}: the cases run in order
    alice = {}

    @g.case("%s: curl -F a=@x -> 201, the file listed and stored" % p)
    def _(fx):
        data = os.urandom(3000)
        r = curl_form(fx.srv, ["a=@" + _file(fx, "x.bin", data)])
        alice["x.bin"] = data
        _created(r, [("a", "x.bin", "x.bin", 3000)], 10 * MiB, 3000)
        _on_disk(fx, "alice", alice, r.what())
        _logged(fx, "upgate: user=alice method=POST status=201 "
                "reason=stored size=%d used=3000 limit=10485760 ms="
                % r.size_upload)

    @g.case("%s: -F a=@x -F note=hello -F b=@y -> 201, both files, the "
            "text field not stored" % p)
    def _(fx):
        x, y = os.urandom(20 * KiB), b"plain text\r\n" * 100
        used = sum(len(b) for b in alice.values())
        r = curl_form(fx.srv, ["a=@" + _file(fx, "photo.jpg", x),
                               "note=hello",
                               "b=@" + _file(fx, "notes.txt", y),
                               "tail=world"])
        used += len(x) + len(y)
        alice.update({"photo.jpg": x, "notes.txt": y})
        _created(r, [("a", "photo.jpg", "photo.jpg", len(x)),
                     ("b", "notes.txt", "notes.txt", len(y))],
                 10 * MiB, used)
        _on_disk(fx, "alice", alice, r.what())

    @g.case("%s: a taken name gets a suffix before its extension "
            "(report.pdf -> report-1.pdf, a.tar.gz -> a.tar-1.gz)" % p)
    def _(fx):
        used = sum(len(b) for b in alice.values())
        rows = []
        for i, (name, stored) in enumerate((
                ("report.pdf", "report.pdf"), ("report.pdf", "report-1.pdf"),
                ("report.pdf", "report-2.pdf"), ("a.tar.gz", "a.tar.gz"),
                ("a.tar.gz", "a.tar-1.gz"))):
            data = os.urandom(100 + i)
            r = curl_form(fx.srv, ["f=@" + _file(fx, name, data)])
            used += len(data)
            alice[stored] = data
            _created(r, [("f", name, stored, len(data))], 10 * MiB, used)
            rows.append(r)
        _on_disk(fx, "alice", alice, rows[-1].what())
        # twice the same name in one form: both kept
        d1, d2 = b"first", b"second!"
        r = curl_form(fx.srv, ["a=@" + _file(fx, "same.txt", d1),
                               "b=@" + _file(fx, "same.txt", d2)])
        used += len(d1) + len(d2)
        alice.update({"same.txt": d1, "same-1.txt": d2})
        _created(r, [("a", "same.txt", "same.txt", len(d1)),
                     ("b", "same.txt", "same-1.txt", len(d2))],
                 10 * MiB, used)
        _on_disk(fx, "alice", alice, r.what())

    @g.case("%s: a browser's Accept (text/html first) on a 201 -> the HTML "
            "page listing the stored files" % p)
    def _(fx):
        x, y = b"<html> is not special here", os.urandom(500)
        r = curl_form(fx.srv, ["a=@" + _file(fx, "page.txt", x),
                               "b=@" + _file(fx, "b&w <1>.png", y)],
                      headers=[BROWSER_ACCEPT])
        alice.update({"page.txt": x, "b&w <1>.png": y})
        expect(r, 201)
        w = r.what()
        eq(r.media_type(), "text/html", "%s: Content-Type" % w)
        html = r.body.decode("utf-8", "replace")
        check(re.search(r"(?i)<html|<!doctype", html), "%s: not an HTML "
              "page: %r" % (w, html[:300]))
        check("page.txt" in html, "%s: page.txt not listed: %r"
              % (w, html[:1500]))
        check("b&amp;w &lt;1&gt;.png" in html, "%s: b&w <1>.png not listed "
              "escaped: %r" % (w, html[:1500]))
        check("<1>" not in html, "%s: a file name written raw: %r"
              % (w, html[:1500]))
        _on_disk(fx, "alice", alice, w)

    if path not in FULL:
        return

    @g.case("%s: 1,000 bytes left: a 1,001-byte file -> 507 quota_exceeded,"
            " nothing stored; a 1,000-byte one -> 201 (framing not charged)"
            % p)
    def _(fx):
        e = fx.env
        base = os.urandom(10000)
        expect(fx.curl("PUT", "/base.bin", user="dave", data=base), 201,
               "stored")
        dave = {"base.bin": base}
        r = curl_form(fx.srv, ["a=@" + _file(fx, "over.bin",
                                             os.urandom(1001))],
                      user="dave")
        expect(r, 507, "quota_exceeded")
        harness.expect_quota_headers(r, 10000, 11000)
        j = r.json()
        eq((j["quota"]["limit"], j["quota"]["used"]), (11000, 10000),
           "%s: JSON quota limit, used" % r.what())
        _on_disk(fx, "dave", dave, r.what())
        data = os.urandom(1000)
        r = curl_form(fx.srv, ["a=@" + _file(fx, "fits.bin", data)],
                      user="dave")
        check(r.size_upload > 1000, "%s: the form (%d bytes) is no larger "
              "than its file" % (r.what(), r.size_upload))
        dave["fits.bin"] = data
        _created(r, [("a", "fits.bin", "fits.bin", 1000)], 11000, 11000)
        _on_disk(fx, "dave", dave, r.what())
        eq(e.usage("dave"), 11000, "dave's ledger")

    @g.case("%s: the third of three files breaks the quota -> 507, none of "
            "the three stored, ledger unchanged" % p)
    def _(fx):
        keep = os.urandom(48576)          # leaves bob exactly 1,000,000
        expect(fx.curl("PUT", "/keep.bin", user="bob", data=keep), 201,
               "stored")
        bob = {"keep.bin": keep}
        parts = [("a", "one.bin", 400000), ("b", "two.bin", 400000),
                 ("c", "three.bin", 200001)]
        r = curl_form(fx.srv, ["%s=@%s" % (f, _file(fx, n, os.urandom(s)))
                               for f, n, s in parts] + ["note=hi"],
                      user="bob")
        check(r.size_upload < 1000000 + 64 * KiB, "%s: the form is %d "
              "bytes: over the 64 KiB framing allowance, so refused before "
              "its body, not while streaming" % (r.what(), r.size_upload))
        expect(r, 507, "quota_exceeded")
        harness.expect_quota_headers(r, 48576, MiB)
        _on_disk(fx, "bob", bob, r.what())
        # and the same form without the byte too many is stored whole
        parts[2] = ("c", "three.bin", 200000)
        datas = {n: os.urandom(s) for _, n, s in parts}
        r = curl_form(fx.srv, ["%s=@%s" % (f, _file(fx, n, datas[n]))
                               for f, n, _ in parts] + ["note=hi"],
                      user="bob")
        _created(r, [(f, n, n, s) for f, n, s in parts], MiB, MiB)
        bob.update(datas)
        _on_disk(fx, "bob", bob, r.what())


for _p in PATHS:
    _register(_p)
