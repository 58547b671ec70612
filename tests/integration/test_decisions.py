# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Decisions rows 1 to 9 and 12, 13, run through the real upgate.cgi."""

import os

from harness import (ALLOWED_DAV, Env, MiB, check, eq, expect,
                     expect_no_quota_headers, expect_quota_headers,
                     expect_refusal_before_body, log_of, long_rel, test)

QUOTA = "# test table\nalice 1M\nbob 1M\n"
LIMIT = MiB


def env(**conf):
    return Env(quota=QUOTA, conf=conf)


def nothing_stored(e, user="alice", used=0, what=""):
    s = e.stored(user)
    check(not s, "%sfiles left in %s's folder: %r" % (what, user, sorted(s)))
    eq(e.usage(user), used, "%sledger usage of %s" % (what, user))
    e.assert_clean(what)


# ------------------------------------------------------------------ row 1

def _allow_ok(r):
    allow = r.header("Allow")
    check(allow is not None, "%s: no Allow header" % r.what())
    got = {m.strip() for m in allow.split(",")}
    eq(got, ALLOWED_DAV, "%s: methods in Allow" % r.what())


for _m in ("PATCH", "put", "TRACE", "LOCK", "Get"):
    def _t(m=_m):
        with env() as e:
            r = e.run(m, "/a.txt", body=b"hello")
            expect(r, 405, "method_not_allowed", user=None)
            _allow_ok(r)
            expect_refusal_before_body(r)
            nothing_stored(e)
    test("row1: %s -> 405 method_not_allowed + Allow" % _m)(_t)


@test("row1: 405 comes before a broken configuration (row 2)")
def _():
    with env() as e:
        e.write_conf("this is not a configuration\n")
        r = e.run("PATCH", "/a.txt", body=b"x")
        expect(r, 405, "method_not_allowed", user=None)
        _allow_ok(r)


@test("row1: an untrusted method is not logged raw")
def _():
    with env() as e:
        r = e.run("X\x1b[31mY", "/a.txt", body=b"")
        w = r.what()
        eq(r.status, 405, "%s: status" % w)
        lines = r.log_lines()
        eq(len(lines), 1, "%s: log lines %r" % (w, r.stderr))
        check("\x1b" not in r.stderr, "%s: raw ESC byte written to the log: "
              "%r" % (w, r.stderr))
        m = log_of(r)
        check(m["status"] == "405", "%s: log %r" % (w, lines))


@test("OPTIONS: 204 + Allow without configuration or identity, no log")
def _():
    with env() as e:
        r = e.run("OPTIONS", None, user=None, config=False,
                  extra={"UPGATE_CONFIG": os.path.join(e.root, "missing")})
        expect(r, 204, user=None)
        _allow_ok(r)
        r = e.run("OPTIONS", "/a.txt")
        expect(r, 204)
        _allow_ok(r)


# ------------------------------------------------------------------ row 2

def _diag_before_log(r, pattern_prefix, what):
    """Config problem lines 'upgate: FILE:LINE: message' before the
    request's own line (upgate(8), Logs)."""
    lines = [l for l in r.stderr.splitlines() if l.startswith("upgate: ")]
    hits = [i for i, l in enumerate(lines) if l.startswith(pattern_prefix)]
    check(hits, "%s: no stderr line starting %r; stderr %r"
          % (what, pattern_prefix, r.stderr))
    logi = [i for i, l in enumerate(lines) if l.startswith("upgate: user=")]
    check(logi and max(hits) < logi[0], "%s: problem lines must come before "
          "the request's log line: %r" % (what, lines))
    for i in hits:
        check(len(lines[i]) > len(pattern_prefix) + 1,
              "%s: problem line without a message: %r" % (what, lines[i]))


@test("row2: UPGATE_CONFIG names a missing file -> 500 server_error")
def _():
    with env() as e:
        missing = os.path.join(e.root, "nope.conf")
        r = e.run("PUT", "/a.txt", body=b"hello",
                  extra={"UPGATE_CONFIG": missing})
        expect(r, 500, "server_error", user=None)
        expect_refusal_before_body(r)
        _diag_before_log(r, "upgate: %s" % missing, r.what())
        nothing_stored(e)


BAD_CONFIGS = [
    # (name, lines after upload_dir (line 1), bad line number or None)
    ("unknown key", ["colour = blue"], 2),
    ("repeated key", ["max_upload_size = 1M", "max_upload_size = 2M"], 3),
    ("empty value", ["max_upload_size ="], 2),
    ("bad boolean", ["per_user_dirs = true"], 2),
    ("relative path", ["quota_file = quota"], 2),
    ("size above 2^63-1", ["max_upload_size = 9223372036854775808"], 2),
    ("size with a space", ["max_upload_size = 10 M"], 2),
    ("bad size suffix", ["max_upload_size = 10X"], 2),
    ("bad percentage", ["min_free_space = 5%%"], 2),
    ("bad default_format", ["default_format = yaml"], 2),
    ("bad upgrade_url", ["upgrade_url = ftp://example.com/"], 2),
    ("upgrade_url with a quote", ['upgrade_url = https://x/"a'], 2),
    ("invalid anonymous_user", ["anonymous_user = ../x"], 2),
    ("line without =", ["allow_overwrite"], 2),
    ("bad number", ["largest_files = many"], 2),
]


for _n, _lines, _ln in BAD_CONFIGS:
    def _t(lines=_lines, ln=_ln):
        with env() as e:
            text = "upload_dir = %s\n" % e.upload + "".join(
                l + "\n" for l in lines)
            e.write_conf(text)
            r = e.run("PUT", "/a.txt", body=b"hello")
            expect(r, 500, "server_error", user=None)
            expect_refusal_before_body(r)
            _diag_before_log(r, "upgate: %s:%d: " % (e.conf_path, ln),
                             r.what() + " with config %r" % text)
            nothing_stored(e)
    test("row2: config %s -> 500 + 'upgate: FILE:LINE: message'" % _n)(_t)


@test("row2: config without upload_dir -> 500 + 'upgate: FILE: message'")
def _():
    with env() as e:
        e.write_conf("max_upload_size = 1M\n")
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error", user=None)
        _diag_before_log(r, "upgate: %s: " % e.conf_path, r.what())


@test("row2: upload_dir that does not exist -> 500")
def _():
    with env() as e:
        e.write_conf("upload_dir = %s/none\n" % e.root)
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error", user=None)
        _diag_before_log(r, "upgate: %s:" % e.conf_path, r.what())


@test("row2: state_dir inside upload_dir under a non-dot name -> 500")
def _():
    with env() as e:
        e.write_conf("upload_dir = %s\nstate_dir = %s/state\n"
                     % (e.upload, e.upload))
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error", user=None)
        _diag_before_log(r, "upgate: %s:" % e.conf_path, r.what())
        check(not os.path.exists(os.path.join(e.upload, "alice", "a.txt")),
              "file stored despite the bad configuration")


@test("row2: two config problems -> two lines, both before the log line")
def _():
    with env() as e:
        e.write_conf("upload_dir = %s\ncolour = blue\n# c\n"
                     "allow_overwrite = maybe\n" % e.upload)
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error", user=None)
        _diag_before_log(r, "upgate: %s:2: " % e.conf_path, r.what())
        _diag_before_log(r, "upgate: %s:4: " % e.conf_path, r.what())


@test("row2: broken config refuses GET and DELETE too (500)")
def _():
    with env() as e:
        e.write_conf("upload_dir = %s\ncolour = blue\n" % e.upload)
        expect(e.run("GET"), 500, "server_error", user=None)
        e.plant("a.txt")
        expect(e.run("DELETE", "/a.txt"), 500, "server_error", user=None)
        check(os.path.exists(e.path("alice", "a.txt")),
              "DELETE with a broken config removed the file")


@test("row2: comments, blank lines and '#' inside values are fine")
def _():
    with env() as e:
        e.write_conf("# upgate\n\nupload_dir = %s   # the root\n"
                     "quota_file = %s\n"
                     "   # indented comment\n"
                     "upgrade_url = https://example.com/#plans\n"
                     "max_upload_size = 1KiB\n" % (e.upload, e.quota_path))
        e.write_quota("alice 10\n")
        r = e.run("PUT", "/a.txt", body=b"x" * 20)
        expect(r, 507, "quota_exceeded")
        eq(r.header("Link"), '<https://example.com/#plans>; rel="upgrade"',
           "%s: Link header" % r.what())
        r = e.run("PUT", "/b.txt", body=b"x" * 1025)
        expect(r, 413, "too_large")
        eq(r.json().get("limit"), 1024, "max_upload_size = 1KiB")


BAD_TABLES = [
    ("bad size", "alice 1G\nbob 10X\n", 2),
    ("repeated user", "alice 1G\n# c\nalice 2G\n", 3),
    ("missing limit", "alice\n", 1),
    ("invalid user name", "../x 1G\n", 1),
    ("size above 2^63-1", "bob 9223372036854775808\n", 1),
    ("negative limit", "alice -5\n", 1),
]

for _n, _text, _ln in BAD_TABLES:
    def _t(text=_text, ln=_ln):
        with env() as e:
            e.write_quota(text)
            r = e.run("PUT", "/a.txt", body=b"hello")
            expect(r, 500, "server_error", user=None)
            expect_refusal_before_body(r)
            _diag_before_log(r, "upgate: %s:%d: " % (e.quota_path, ln),
                             r.what() + " with quota table %r" % text)
            nothing_stored(e)
            expect(e.run("GET"), 500, "server_error", user=None)
    test("row2: quota table %s -> 500 + 'upgate: FILE:LINE: message'"
         % _n)(_t)


@test("row2: quota_file that is missing -> 500")
def _():
    with env() as e:
        os.unlink(e.quota_path)
        r = e.run("PUT", "/a.txt", body=b"hello")
        expect(r, 500, "server_error", user=None)
        nothing_stored(e)


@test("row2: the quota table is re-read when replaced by rename")
def _():
    with env() as e:
        expect(e.run("PUT", "/a.txt", body=b"x" * 100), 201, "stored")
        e.write_quota("alice 50\n")
        r = e.run("GET")
        expect(r, 200)
        eq(r.json()["quota"]["limit"], 50, "limit after the table changed")
        expect(e.run("PUT", "/b.txt", body=b"x"), 507, "quota_exceeded")
        e.write_quota("alice 1G\n")
        expect(e.run("PUT", "/b.txt", body=b"x"), 201, "stored")


# ------------------------------------------------------------------ row 3

@test("row3: no REMOTE_USER and no anonymous_user -> 403")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", user=None)
        expect(r, 403, "forbidden", user="-")
        expect_refusal_before_body(r)
        expect_no_quota_headers(r)
        check(not os.listdir(e.upload) or os.listdir(e.upload) == [".upgate"],
              "something stored: %r" % os.listdir(e.upload))
        expect(e.run("GET", user=None), 403, "forbidden", user="-")


@test("row3: a client header cannot supply the identity")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", user=None,
                  headers={"Remote-User": "alice", "X-Remote-User": "alice",
                           "Authorization": "Basic YWxpY2U6YWxpY2U="})
        expect(r, 403, "forbidden", user="-")
        nothing_stored(e)


for _u in ("../alice", ".upgate", "-bob", "a" * 65, "", "al ice", "alice/x",
           "alice\\x", "b\xe9b", "ali\x01ce", "*"):
    def _t(u=_u):
        with env() as e:
            r = e.run("PUT", "/a.txt", body=b"hello", user=u)
            expect(r, 403, "forbidden", user="-")
            expect_refusal_before_body(r)
            expect_no_quota_headers(r)
            ents = sorted(os.listdir(e.upload))
            check(ents in ([], [".upgate"]), "%s: upload_dir now holds %r"
                  % (r.what(), ents))
            check(not os.listdir(e.root + "/outside"), "written outside")
            check(not os.path.exists(os.path.join(e.root, "alice")),
                  "%s: created a folder outside upload_dir" % r.what())
    test("row3: invalid user name %r -> 403, logged as user=-" % _u)(_t)


for _u in ("a" * 64, "x@y.example", "A_b-c.d", "0"):
    def _t(u=_u):
        with env() as e:
            r = e.run("PUT", "/a.txt", body=b"hello", user=u)
            expect(r, 201, "stored", user=u)
            eq(e.stored(u), {"a.txt": b"hello"}, "files of %r" % u)
            eq(e.usage(u), 5, "usage of %r" % u)
    test("row3: valid user name %r is accepted" % _u[:20])(_t)


@test("row3: user names are case-sensitive (ALICE is not alice)")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", user="ALICE")
        expect(r, 201, "stored", user="ALICE")
        expect_no_quota_headers(r)   # ALICE has no rule and there is no '*'
        eq(e.usage("alice"), 0, "alice's usage")
        eq(e.usage("ALICE"), 5, "ALICE's usage")


@test("row3: anonymous_user stands in for a missing REMOTE_USER")
def _():
    with Env(quota="guest 100\n", conf={"anonymous_user": "guest"}) as e:
        r = e.run("PUT", "/a.txt", body=b"hello", user=None)
        expect(r, 201, "stored", user="guest")
        eq(e.stored("guest"), {"a.txt": b"hello"}, "guest's files")
        eq(e.usage("guest"), 5, "guest usage")
        expect_quota_headers(r, 5, 100)
        r = e.run("GET", user=None)
        expect(r, 200)
        eq(r.json().get("user"), "guest", "GET user")
        # REMOTE_USER wins when present
        r = e.run("PUT", "/b.txt", body=b"hi", user="alice")
        expect(r, 201, "stored", user="alice")
        eq(e.stored("alice"), {"b.txt": b"hi"}, "alice's files")


# ------------------------------------------------------------------ row 4

@test("row4: PUT without CONTENT_LENGTH -> 411, X-Quota-* present")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", length=None)
        expect(r, 411, "length_required")
        expect_refusal_before_body(r)
        expect_quota_headers(r, 0, LIMIT)
        eq(log_of(r)["size"], "-", "log size of an unknown length")
        eq(log_of(r)["limit"], str(LIMIT), "log limit")
        nothing_stored(e)


@test("row4: PUT with an empty CONTENT_LENGTH -> 411")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", length="")
        expect(r, 411, "length_required")
        nothing_stored(e)


@test("row4: POST without CONTENT_LENGTH -> 411 (before row 7)")
def _():
    with env() as e:
        r = e.run("POST", None, body=b"hello", length=None,
                  content_type="text/plain")
        expect(r, 411, "length_required")


@test("row4: X-Expected-Entity-Length stands in for CONTENT_LENGTH")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", length=None,
                  headers={"X-Expected-Entity-Length": "5"})
        expect(r, 201, "stored")
        eq(e.stored(), {"a.txt": b"hello"}, "stored files")
        eq(e.usage(), 5, "usage")
        eq(log_of(r)["size"], "5", "log size")
        e.assert_clean()


@test("row4: DELETE and GET need no CONTENT_LENGTH")
def _():
    with env() as e:
        expect(e.run("PUT", "/a.txt", body=b"hello"), 201, "stored")
        expect(e.run("DELETE", "/a.txt", length=None), 204, "deleted")
        expect(e.run("GET", length=None), 200)


@test("row4: allow_unknown_length = yes stores a body without length")
def _():
    with env(allow_unknown_length="yes") as e:
        body = os.urandom(70000)
        r = e.run("PUT", "/a.bin", body=[body[:1000], body[1000:]],
                  length=None)
        expect(r, 201, "stored")
        eq(r.json()["file"]["size"], 70000, "file.size")
        eq(e.stored(), {"a.bin": body}, "stored content")
        eq(e.usage(), 70000, "usage")
        eq(log_of(r)["size"], "70000", "log size = bytes received")
        e.assert_clean()


# ------------------------------------------------------------------ row 5

for _v in ("-1", "+5", " 5", "5 ", "0x10", "9223372036854775808",
           "99999999999999999999999", "5.0", "1e3", "abc"):
    def _t(v=_v):
        with env() as e:
            r = e.run("PUT", "/a.txt", body=b"hello", length=v)
            expect(r, 400, "bad_request")
            expect_refusal_before_body(r)
            expect_quota_headers(r, 0, LIMIT)
            nothing_stored(e)
    test("row5: CONTENT_LENGTH %r -> 400 bad_request" % _v)(_t)


for _v in ("-1", "abc", "0x10", "9223372036854775808"):
    def _t(v=_v):
        with env() as e:
            r = e.run("PUT", "/a.txt", body=b"hello", length=None,
                      headers={"X-Expected-Entity-Length": v})
            expect(r, 400, "bad_request")
            nothing_stored(e)
    test("row5: X-Expected-Entity-Length %r -> 400 bad_request" % _v)(_t)


@test("row5: CONTENT_LENGTH with leading zeros is plain decimal digits")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", length="00005")
        expect(r, 201, "stored")
        eq(e.stored(), {"a.txt": b"hello"}, "stored")


@test("row5: CONTENT_LENGTH 2^63-1 is a number: 507 disk_full, not 400")
def _():
    with Env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello", length="9223372036854775807")
        expect(r, 507, "disk_full")
        expect_refusal_before_body(r)
        j = r.json()
        eq(j["details"]["required_space"], 9223372036854775807,
           "required_space")
        nothing_stored(e)


# ------------------------------------------------------------------ row 6

@test("row6: length > max_upload_size -> 413 too_large with limit and size")
def _():
    with env(max_upload_size="1K") as e:
        r = e.run("PUT", "/a.txt", body=b"x" * 1025)
        expect(r, 413, "too_large")
        expect_refusal_before_body(r)
        expect_quota_headers(r, 0, LIMIT)
        j = r.json()
        eq(j.get("limit"), 1024, "too_large limit")
        eq(j.get("size"), 1025, "too_large size")
        eq(log_of(r)["size"], "1025", "log size")
        check(r.header("Retry-After") is None, "413 with Retry-After")
        nothing_stored(e)
        expect(e.run("PUT", "/a.txt", body=b"x" * 1024), 201, "stored")


@test("row6: 413 via X-Expected-Entity-Length, POST, and before rows 7-9")
def _():
    with env(max_upload_size="100") as e:
        r = e.run("PUT", "/a.txt", body=b"x" * 101, length=None,
                  headers={"X-Expected-Entity-Length": "101"})
        expect(r, 413, "too_large")
        r = e.run("POST", None, body=b"x" * 101, content_type="text/plain")
        expect(r, 413, "too_large")
        r = e.run("PUT", "/../a.txt", body=b"x" * 101)
        expect(r, 413, "too_large")
        nothing_stored(e)


# ------------------------------------------------------------------ row 7

for _ct in ("text/plain", None, "application/x-www-form-urlencoded",
            "application/json"):
    def _t(ct=_ct):
        with env() as e:
            r = e.run("POST", None, body=b"a=b", content_type=ct)
            expect(r, 415, "unsupported_media_type")
            expect_refusal_before_body(r)
            expect_quota_headers(r, 0, LIMIT)
            nothing_stored(e)
    test("row7: POST with Content-Type %r -> 415" % _ct)(_t)


# ------------------------------------------------------------------ row 8

BAD_PATHS = ["/../x", "/.htaccess", "/a//b", "/a.txt/", "/", "", "/a/./b",
             "/a/../b", "/a\\b", "/.upgate-tmp-x", "/.upgate/usage/alice",
             "/a\x01b", "/a\x7fb", "/\xc2\x85x", "/" + "n" * 256, "/\udcff",
             "/a\tb"]

for _p in BAD_PATHS:
    def _t(p=_p):
        with env() as e:
            r = e.run("PUT", p, body=b"hello")
            expect(r, 400, "bad_request")
            expect_refusal_before_body(r)
            expect_quota_headers(r, 0, LIMIT)
            nothing_stored(e)
            check(not os.path.exists(os.path.join(e.upload, "x")) and
                  not os.path.exists(os.path.join(e.root, "x")),
                  "%s: a file escaped the user's folder" % r.what())
    test("row8: PUT %r -> 400 bad_request" % _p[:40])(_t)


@test("row8: PUT without PATH_INFO -> 400 bad_request")
def _():
    with env() as e:
        r = e.run("PUT", None, body=b"hello")
        expect(r, 400, "bad_request")
        nothing_stored(e)


# a final '/' names a folder: with webdav = yes a DELETE of a file named
# so is 409, as for the other WebDAV methods (upgate(8), "WebDAV")
for _p, _dav, _st, _r in (("/../x", "yes", 400, "bad_request"),
                          ("/.htaccess", "yes", 400, "bad_request"),
                          ("/a.txt/", "no", 400, "bad_request"),
                          ("/a.txt/", "yes", 409, "conflict"),
                          ("/a//b", "yes", 400, "bad_request")):
    def _t(p=_p, dav=_dav, status=_st, reason=_r):
        with env(webdav=dav) as e:
            e.plant("a.txt")
            r = e.run("DELETE", p)
            expect(r, status, reason)
            check(os.path.exists(e.path("alice", "a.txt")), "file deleted")
    test("row8: DELETE %r, webdav = %s -> %d %s" % (_p, _dav, _st, _r))(_t)


@test("row8: a name of 255 bytes is valid, UTF-8 names too")
def _():
    with env() as e:
        n = "n" * 251 + ".txt"
        expect(e.run("PUT", "/" + n, body=b"x"), 201, "stored")
        expect(e.run("PUT", "/r\u00e9sum\u00e9 \u2014 1.txt", body=b"y"),
               201, "stored")
        eq(sorted(e.stored()), sorted([n, "r\u00e9sum\u00e9 \u2014 1.txt"]),
           "stored names")


def _symlink_env(target):
    e = env(create_parents="yes")
    os.makedirs(e.user_dir("alice"))
    os.makedirs(e.user_dir("bob"))
    with open(os.path.join(e.user_dir("bob"), "secret.txt"), "wb") as f:
        f.write(b"bob's")
    with open(os.path.join(e.outside, "passwd"), "wb") as f:
        f.write(b"decoy")
    dst = {"outside": e.outside, "bob": e.user_dir("bob"),
           "file": os.path.join(e.outside, "passwd"),
           "bobfile": os.path.join(e.user_dir("bob"), "secret.txt")}[target]
    os.symlink(dst, os.path.join(e.user_dir("alice"), "link"))
    return e


def _untouched(e, what):
    with open(os.path.join(e.outside, "passwd"), "rb") as f:
        eq(f.read(), b"decoy", "%s: the file outside" % what)
    eq(sorted(os.listdir(e.outside)), ["passwd"], "%s: outside folder" % what)
    eq(e.stored("bob"), {"secret.txt": b"bob's"}, "%s: bob's folder" % what)
    eq(e.usage("alice"), 0, "%s: alice's usage" % what)
    e.assert_clean(what + ": ")


# (method, path, link target): the link as a parent and as the target
SYMLINK_CASES = [
    ("PUT", "/link/passwd", "outside"),
    ("PUT", "/link/new.txt", "outside"),
    ("PUT", "/link/secret.txt", "bob"),
    ("PUT", "/link/sub/new.txt", "bob"),
    ("PUT", "/link", "file"),
    ("PUT", "/link", "bobfile"),
    ("DELETE", "/link/passwd", "outside"),
    ("DELETE", "/link/secret.txt", "bob"),
    ("DELETE", "/link", "file"),
]

for _m, _p, _tgt in SYMLINK_CASES:
    def _t(m=_m, p=_p, tgt=_tgt):
        with _symlink_env(tgt) as e:
            r = e.run(m, p, body=b"evil" if m == "PUT" else b"")
            expect(r, 403, "forbidden")
            if m == "PUT":
                expect_refusal_before_body(r)
            _untouched(e, r.what())
            check(os.path.islink(os.path.join(e.user_dir(), "link")),
                  "%s: the symbolic link itself was removed" % r.what())
    test("row8: %s %s with a symlink to %s -> 403" % (_m, _p, _tgt))(_t)


@test("row8: the user's folder itself a symlink -> 403")
def _():
    with env() as e:
        os.symlink(e.outside, e.user_dir("alice"))
        r = e.run("PUT", "/a.txt", body=b"evil")
        expect(r, 403, "forbidden")
        eq(os.listdir(e.outside), [], "outside folder")
        e.assert_clean()


@test("row8: DELETE of a missing file -> 404 not_found")
def _():
    with env() as e:
        expect(e.run("PUT", "/a.txt", body=b"x"), 201, "stored")
        r = e.run("DELETE", "/b.txt")
        expect(r, 404, "not_found")
        expect_quota_headers(r, 1, LIMIT)
        r = e.run("DELETE", "/sub/b.txt")
        check(r.status in (404, 409), "%s: DELETE below a missing folder: "
              "expected 404 or 409, got %s" % (r.what(), r.status))
        eq(e.usage(), 1, "usage")


@test("row8: If-None-Match: * on an existing file -> 412, new file 201")
def _():
    with env() as e:
        hdr = {"If-None-Match": "*"}
        expect(e.run("PUT", "/a.txt", body=b"one", headers=hdr), 201,
               "stored")
        r = e.run("PUT", "/a.txt", body=b"two!", headers=hdr)
        expect(r, 412, "precondition_failed")
        expect_refusal_before_body(r)
        expect_quota_headers(r, 3, LIMIT)
        eq(e.stored(), {"a.txt": b"one"}, "files after 412")
        eq(e.usage(), 3, "usage after 412")
        e.assert_clean()
        r = e.run("PUT", "/a.txt", body=b"two!",
                  headers={"If-None-Match": '"abc"'})
        expect(r, 204, "replaced")


@test("row8/9: If-None-Match: * wins over allow_overwrite = no (412)")
def _():
    with env(allow_overwrite="no") as e:
        expect(e.run("PUT", "/a.txt", body=b"one"), 201, "stored")
        r = e.run("PUT", "/a.txt", body=b"two", headers={"If-None-Match": "*"})
        expect(r, 412, "precondition_failed")


# ------------------------------------------------------------------ row 9

@test("row9: missing parent with create_parents = no -> 409")
def _():
    with env() as e:
        r = e.run("PUT", "/sub/dir/a.txt", body=b"hello")
        expect(r, 409, "conflict")
        expect_refusal_before_body(r)
        expect_quota_headers(r, 0, LIMIT)
        nothing_stored(e)
        check(not os.path.exists(e.path("alice", "sub")), "folder created")


@test("row9: create_parents = yes creates the folders")
def _():
    with env(create_parents="yes") as e:
        r = e.run("PUT", "/sub/dir/a.txt", body=b"hello")
        expect(r, 201, "stored")
        eq(e.stored(), {"sub/dir/a.txt": b"hello"}, "stored")
        eq(r.json()["file"]["stored_as"], "sub/dir/a.txt", "stored_as")
        eq(e.record("alice/sub/dir/a.txt"), ("alice", 5), "ledger record")


@test("row9: a file where a folder is needed -> 409 (PUT and DELETE)")
def _():
    with env(create_parents="yes") as e:
        expect(e.run("PUT", "/f", body=b"file"), 201, "stored")
        r = e.run("PUT", "/f/x.txt", body=b"hello")
        expect(r, 409, "conflict")
        r = e.run("DELETE", "/f/x.txt")
        expect(r, 409, "conflict")
        eq(e.stored(), {"f": b"file"}, "files")
        eq(e.usage(), 4, "usage")
        e.assert_clean()


@test("row9: target is a folder -> 409 (PUT; DELETE with webdav = no)")
def _():
    # with webdav = yes a DELETE of a folder removes it (test_dav.py)
    with env(webdav="no") as e:
        os.makedirs(e.path("alice", "dir"))
        r = e.run("PUT", "/dir", body=b"hello")
        expect(r, 409, "conflict")
        r = e.run("DELETE", "/dir")
        expect(r, 409, "conflict")
        check(os.path.isdir(e.path("alice", "dir")), "folder removed")
        nothing_stored(e)


@test("row9: target is a FIFO (not a regular file) -> 409")
def _():
    with env() as e:
        os.makedirs(e.user_dir())
        os.mkfifo(e.path("alice", "fifo"))
        r = e.run("PUT", "/fifo", body=b"hello", timeout=20)
        expect(r, 409, "conflict")
        r = e.run("DELETE", "/fifo", timeout=20)
        expect(r, 409, "conflict")


@test("row9: allow_overwrite = no and the target exists -> 409")
def _():
    with env(allow_overwrite="no") as e:
        expect(e.run("PUT", "/a.txt", body=b"one"), 201, "stored")
        r = e.run("PUT", "/a.txt", body=b"two")
        expect(r, 409, "conflict")
        expect_refusal_before_body(r)
        eq(e.stored(), {"a.txt": b"one"}, "files")
        eq(e.usage(), 3, "usage")
        e.assert_clean()


@test("row9: 409 comes before quota (row 11)")
def _():
    with Env(quota="alice 10\n") as e:
        r = e.run("PUT", "/missing/a.txt", body=b"x" * 100)
        expect(r, 409, "conflict")
        expect_quota_headers(r, 0, 10)


# ------------------------------------------- row 8: the path's length

def _nothing_left(e, what):
    """Nothing of alice's on disk, in the ledger, or reserved."""
    check(not os.path.exists(e.user_dir()) or not e.stored(),
          "%s: files left: %r" % (what, sorted(e.stored())))
    eq(e.usage(), 0, "%s: ledger usage" % what)
    e.assert_clean(what + ": ")


@test("row8: PUT of a path past PATH_MAX on the server -> 400 before the "
      "body; 4095 bytes -> 201 (create_parents = yes)")
def _():
    # upgate(8), "Limits": upload_dir/USER/PATH stays within PATH_MAX
    with env(create_parents="yes") as e:
        rel = long_rel(e, 4096)
        r = e.run("PUT", "/" + rel, body=b"hello")
        expect(r, 400, "bad_request")
        expect_refusal_before_body(r)
        check("too long" in r.json()["message"] and
              "cannot be stored" in r.json()["message"],
              "%s: message %r" % (r.what(), r.json()["message"]))
        _nothing_left(e, r.what())
        made = os.listdir(e.user_dir()) if os.path.exists(e.user_dir()) \
            else []
        eq(made, [], "%s: folders made" % r.what())
        # the issue's own: 16 folders of 254 bytes and a name, 4085 bytes
        p16 = "".join("/" + chr(ord("a") + i) * 254 for i in range(16))
        r = e.run("PUT", p16 + "/f.txt", body=b"hello")
        expect(r, 400, "bad_request")
        _nothing_left(e, r.what())
        rel = long_rel(e, 4095)
        r = expect(e.run("PUT", "/" + rel, body=b"hello"), 201, "stored")
        eq(e.stored(), {rel: b"hello"}, "stored at 4095 bytes")
        eq(e.record("alice/" + rel), ("alice", 5), "ledger record")
        r = e.run("DELETE", "/" + rel)
        expect(r, 204, "deleted")
        eq(e.usage(), 0, "usage after DELETE")


@test("row8: DELETE past PATH_MAX on the server -> 400 'cannot be deleted'")
def _():
    with env() as e:
        rel = long_rel(e, 4100)
        r = e.run("DELETE", "/" + rel)
        expect(r, 400, "bad_request")
        m = r.json()["message"]
        check(m.startswith("The file cannot be deleted: the path is too "
                           "long"), "%s: message %r" % (r.what(), m))


@test("row8: POST into a folder that leaves no room for a 255-byte name "
      "-> 400 before the body; one byte less -> 201")
def _():
    body, ct = _one_file_form("a.txt", b"hello")
    with env(create_parents="yes") as e:
        # the folder, a '/' and 255 bytes of name: 4096 is past PATH_MAX
        rel = long_rel(e, 4096 - 256)
        r = e.run("POST", "/" + rel + "/", body=body, content_type=ct)
        expect(r, 400, "bad_request")
        expect_refusal_before_body(r)
        check(r.json()["message"].startswith("The files cannot be stored: "
                                             "the path is too long"),
              "%s: message %r" % (r.what(), r.json()["message"]))
        _nothing_left(e, r.what())
        rel = long_rel(e, 4095 - 256)
        r = e.run("POST", "/" + rel + "/", body=body, content_type=ct)
        expect(r, 201, "stored")
        eq(e.stored(), {rel + "/a.txt": b"hello"}, "stored")
        eq(e.usage(), 5, "usage")


def _one_file_form(name, data):
    b = "upgateMsgBoundary"
    body = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; "
            b"name=\"f\"; filename=\"" + name.encode() + b"\"\r\n\r\n" +
            data + b"\r\n--" + b.encode() + b"--\r\n")
    return body, "multipart/form-data; boundary=" + b


# ------------------------------------------------- messages, rows 3 to 9

def _said(r, status, reason, start, *parts, user="alice"):
    """The refusal's message names what the request meant to do (start)
    and its one cause (parts), in JSON and in text (upgate(8),
    "Decisions")."""
    expect(r, status, reason, user=user)
    m = r.json()["message"]
    check(m.startswith(start) and all(p in m for p in parts),
          "%s: message %r should start with %r and say %r"
          % (r.what(), m, start, parts))
    return m


@test("messages: each 4xx of rows 3 to 9 names its cause and its verb")
def _():
    stored, deleted = "The file cannot be stored: ", \
        "The file cannot be deleted: "
    form = "The files cannot be stored: "
    # webdav = no: a DELETE of a folder is row 9's (test_dav.py has it
    # with webdav = yes)
    with env(allow_overwrite="no", webdav="no") as e:
        os.makedirs(e.path("alice", "somefolder"))
        expect(e.run("PUT", "/f", body=b"file"), 201, "stored")
        os.symlink(e.outside, e.path("alice", "link"))
        # the issue's: DELETE of a folder is not "cannot be stored there"
        m = _said(e.run("DELETE", "/somefolder"), 409, "conflict", deleted,
                  "is a folder")
        check("stored" not in m, "DELETE's message %r" % m)
        _said(e.run("PUT", "/somefolder", body=b"x"), 409, "conflict",
              stored, "is a folder")
        _said(e.run("PUT", "/f", body=b"x"), 409, "conflict", stored,
              "overwriting is turned off")
        _said(e.run("PUT", "/f/x.txt", body=b"x"), 409, "conflict", stored,
              "a file is in the way")
        _said(e.run("DELETE", "/f/x.txt"), 409, "conflict", deleted,
              "a file is in the way")
        m = _said(e.run("PUT", "/no/x.txt", body=b"x"), 409, "conflict",
                  stored, "a folder on its path is missing",
                  "creating folders is turned off")
        check("overwrit" not in m and "in the way" not in m,
              "a 409 names one cause: %r" % m)
        body, ct = _one_file_form("a.txt", b"x")
        _said(e.run("POST", "/no/", body=body, content_type=ct), 409,
              "conflict", form, "a folder on its path is missing")
        _said(e.run("DELETE", "/gone.txt"), 404, "not_found", deleted,
              "no such file")
        _said(e.run("DELETE", "/link/x"), 403, "forbidden", deleted,
              "symbolic link")
        _said(e.run("PUT", "/link/x", body=b"x"), 403, "forbidden", stored,
              "symbolic link")
        _said(e.run("PUT", "/a\u202eexe.txt", body=b"x"), 400, "bad_request",
              stored, "path is not valid", "bidirectional")
        _said(e.run("DELETE", "/.htaccess"), 400, "bad_request", deleted,
              "path is not valid")
        _said(e.run("PUT", "/g", body=b"x", length="0x1"), 400,
              "bad_request", stored, "announced length")
        _said(e.run("PUT", "/f", body=b"x",
                    headers={"If-None-Match": "*"}), 412,
              "precondition_failed", stored, "If-None-Match")
        _said(e.run("GET", user=None), 403, "forbidden",
              "The quota status cannot be shown: ",
              "no user is authenticated", user="-")
        _said(e.run("DELETE", "/f", user="a b"), 403, "forbidden", deleted,
              "user name is not valid", user="-")
        eq(sorted(e.stored()), ["f"], "files")
        eq(e.usage(), 4, "usage")


@test("messages: a form's bad file name says the files cannot be stored")
def _():
    with env() as e:
        body, ct = _one_file_form("a\u202eexe.txt", b"x")
        _said(e.run("POST", None, body=body, content_type=ct), 400,
              "bad_request", "The files cannot be stored: ",
              "bidirectional")
        nothing_stored(e)


# ---------------------------------------------------------- rows 12, 13

def _trickle(body, stop_at, pause=0.0):
    import time
    yield body[:stop_at // 2]
    if pause:
        time.sleep(pause)
    yield body[stop_at // 2:stop_at]


@test("row12: body ends early -> 400 incomplete_body, nothing left")
def _():
    with env() as e:
        body = os.urandom(200000)
        r = e.run("PUT", "/a.bin", body=_trickle(body, 100000, 0.2),
                  length=200000)
        expect(r, 400, "incomplete_body")
        expect_quota_headers(r, 0, LIMIT)
        nothing_stored(e)


@test("row12: incomplete replacement keeps the old file and the ledger")
def _():
    with env(create_parents="yes") as e:
        expect(e.run("PUT", "/d/a.bin", body=b"old"), 201, "stored")
        body = os.urandom(5000)
        r = e.run("PUT", "/d/a.bin", body=_trickle(body, 10), length=5000)
        expect(r, 400, "incomplete_body")
        eq(e.stored(), {"d/a.bin": b"old"}, "files")
        eq(e.usage(), 3, "usage")
        eq(e.record("alice/d/a.bin"), ("alice", 3), "record")
        e.assert_clean()


@test("row12: incomplete body removes the folders it created")
def _():
    with env(create_parents="yes") as e:
        r = e.run("PUT", "/new/deep/a.bin", body=_trickle(b"x" * 100, 10),
                  length=100)
        expect(r, 400, "incomplete_body")
        check(not os.path.exists(e.path("alice", "new")),
              "folder 'new' left behind")
        nothing_stored(e)


@test("row12: with X-Expected-Entity-Length, a short body -> 400 incomplete")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hel", length=None,
                  headers={"X-Expected-Entity-Length": "5"})
        expect(r, 400, "incomplete_body")
        nothing_stored(e)


@test("row13: body longer than X-Expected-Entity-Length -> 400 bad_request")
def _():
    with env() as e:
        r = e.run("PUT", "/a.txt", body=b"hello, world", length=None,
                  headers={"X-Expected-Entity-Length": "5"})
        expect(r, 400, "bad_request")
        nothing_stored(e)


@test("row13: unknown length growing past max_upload_size -> 413")
def _():
    with env(allow_unknown_length="yes", max_upload_size="1000") as e:
        r = e.run("PUT", "/a.bin", body=[b"x" * 600, b"y" * 600, b"z" * 600],
                  length=None)
        expect(r, 413, "too_large")
        j = r.json()
        eq(j.get("limit"), 1000, "too_large limit")
        check(isinstance(j.get("size"), int) and j["size"] > 1000,
              "too_large size should be the bytes received (>1000), got %r"
              % j.get("size"))
        nothing_stored(e)
        r = e.run("PUT", "/a.bin", body=b"x" * 1000, length=None)
        expect(r, 201, "stored")


@test("row14: unknown length growing past the quota -> 507 quota_exceeded")
def _():
    with Env(quota="alice 1000\n", conf={"allow_unknown_length": "yes"}) as e:
        expect(e.run("PUT", "/a", body=b"x" * 300, length=None), 201,
               "stored")
        r = e.run("PUT", "/b", body=[b"x" * 500, b"y" * 500], length=None)
        expect(r, 507, "quota_exceeded")
        check(r.header("Retry-After") is None, "quota 507 with Retry-After")
        eq(e.stored(), {"a": b"x" * 300}, "files")
        eq(e.usage(), 300, "usage")
        e.assert_clean()


@test("row8: symlink to /etc as a parent -> 403, nothing written to /etc")
def _():
    probe = "upgate-integration-probe-%d" % os.getpid()
    etc_file = os.path.join("/etc", probe)
    check(not os.path.exists(etc_file), "%s exists before the test"
          % etc_file)
    with env() as e:
        os.makedirs(e.user_dir())
        os.symlink("/etc", os.path.join(e.user_dir(), "etc"))
        try:
            r = e.run("PUT", "/etc/" + probe, body=b"evil")
            escaped = os.path.exists(etc_file)
        finally:
            if os.path.exists(etc_file):
                os.unlink(etc_file)
        check(not escaped, "PUT through a symlink wrote %s" % etc_file)
        expect(r, 403, "forbidden")
        r = e.run("DELETE", "/etc/hostname")
        expect(r, 403, "forbidden")
        eq(e.usage(), 0, "usage")
