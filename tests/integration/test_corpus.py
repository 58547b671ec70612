# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""The bad-input corpus (tests/corpus/*.req, format in its README.md): one
request per file, each run against a fresh upload folder holding fixture
files, and checked for the status and reason upgate(8), Decisions gives, that nothing
was stored (upgate(8), Requests: no file, no folder, no temporary file, no ledger
change), that no server path shows in the body (upgate(8), Responses, expose_paths),
and that the log is one upgate(8), Logs line with no raw control bytes."""

import glob
import hashlib
import html.parser
import json
import os
import re
import xml.etree.ElementTree as ET

from harness import Env, Failure, check, eq, expect, fail, test

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.normpath(os.path.join(HERE, "..", "corpus"))

QUOTA = "# corpus\nalice 1M\nbob 1M\n"
BOUNDARY = "corpusBoundary"
USER_RE = re.compile(r"^[A-Za-z0-9_@][A-Za-z0-9._@-]{0,63}$")  # upgate.conf(5), "The quota table"
# fixtures: (user, name, bytes), stored through upgate before each case
FIXTURES = [("alice", "keep.txt", b"keep"), ("bob", "secret.txt", b"bob's!")]
DECOY = b"decoy outside upload_dir"
MEDIA = {"json": ("application/json",),
         "xml": ("application/xml", "text/xml"),
         "html": ("text/html",), "text": ("text/plain",)}


# ---------------------------------------------------------------- parsing

_ESC = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[\\nrt0])")
_REP = re.compile(rb"\{\{(\d+)\*(.*?)\}\}")
_SIMPLE = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"0": b"\0"}


def unescape(raw):
    """{{N*TEXT}} repeats TEXT N times; then \\\\ \\n \\r \\t \\0 \\xHH."""
    raw = _REP.sub(lambda m: m.group(2) * int(m.group(1)), raw)

    def one(m):
        s = m.group(1)
        return bytes([int(s[1:], 16)]) if s[:1] == b"x" else _SIMPLE[s]
    return _ESC.sub(one, raw)


def text(b):
    """bytes as an environment value (invalid UTF-8 kept as surrogates)."""
    return b.decode("utf-8", "surrogateescape")


def gen_body(spec):
    """body-gen: parts N file|text, or header N."""
    w = spec.split()
    bd = b"--" + BOUNDARY.encode()
    if len(w) == 3 and w[0] == "parts" and w[2] in ("file", "text"):
        out = bytearray()
        for i in range(int(w[1])):
            cd = b'Content-Disposition: form-data; name="f%d"' % i
            if w[2] == "file":
                cd += b'; filename="f%d.txt"' % i
            out += bd + b"\r\n" + cd + b"\r\n\r\nx\r\n"
        return bytes(out + bd + b"--\r\n")
    if len(w) == 2 and w[0] == "header":
        pad = b"X-Pad: "
        return (bd + b'\r\nContent-Disposition: form-data; name="f"; '
                b'filename="big.txt"\r\n' + pad +
                b"p" * (int(w[1]) - len(pad)) + b"\r\n\r\nx\r\n" + bd +
                b"--\r\n")
    fail("corpus: unknown body-gen %r" % spec)


class Case:
    KEYS = {"method", "path", "user", "unset", "env", "header",
            "content-type", "accept", "config", "expect", "expect-format",
            "expect-stored", "body-gen", "body-eol"}

    def __init__(self, path):
        self.file = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        head, sep, body = data.partition(b"\n\n")
        self.what = None
        self.method = None
        self.path = None
        self.user = b"alice"
        self.unset = []
        self.env = {}
        self.headers = {}
        self.content_type = None
        self.accept = None
        self.config = {}
        self.status = None
        self.reason = None
        self.format = None
        self.stored = []
        self.body_gen = None
        self.eol = "crlf"
        for line in head.split(b"\n"):
            self._line(line)
        check(self.what and self.method is not None and self.status,
              "corpus %s: '# what:', 'method:' and 'expect:' are required"
              % self.file)
        if body.endswith(b"\n"):
            body = body[:-1]
        if self.eol == "crlf":
            body = body.replace(b"\n", b"\r\n")
        self.body = unescape(body) if sep else b""

    def _line(self, line):
        if line.startswith(b"# what:"):
            self.what = line[7:].decode("utf-8").strip()
            return
        if not line.strip() or line.startswith(b"#"):
            return
        k, colon, v = line.partition(b":")
        k = k.decode("ascii").strip().lower()
        check(colon and k in self.KEYS, "corpus %s: bad line %r"
              % (self.file, line))
        if v.startswith(b" "):
            v = v[1:]
        if k == "method":
            self.method = text(unescape(v))
        elif k == "path":
            self.path = text(unescape(v))
        elif k == "user":
            self.user = unescape(v)
        elif k == "unset":
            self.unset.append(v.decode("ascii").strip())
        elif k == "env":
            n, _, val = v.partition(b"=")
            self.env[n.decode("ascii").strip()] = text(unescape(val))
        elif k == "header":
            n, _, val = v.partition(b":")
            self.headers[n.decode("ascii").strip()] = \
                text(unescape(val.lstrip(b" ")))
        elif k == "content-type":
            self.content_type = text(unescape(v))
        elif k == "accept":
            self.accept = text(unescape(v))
        elif k == "config":
            n, _, val = v.partition(b"=")
            self.config[n.decode().strip()] = val.decode().strip()
        elif k == "expect":
            w = v.decode().split()
            self.status = int(w[0])
            self.reason = w[1] if len(w) > 1 else None
        elif k == "expect-format":
            self.format = v.decode().strip()
        elif k == "expect-stored":
            self.stored.append(text(unescape(v)))
        elif k == "body-gen":
            self.body_gen = v.decode().strip()
        elif k == "body-eol":
            self.eol = v.decode().strip()

    def request_body(self):
        return gen_body(self.body_gen) if self.body_gen else self.body

    def log_user(self):
        """The user the log line must name, whatever the row that refused
        (a 405 included)."""
        if "REMOTE_USER" in self.unset:
            return "-"
        u = text(self.user)
        return u if USER_RE.match(u) else "-"


def load():
    return [Case(p) for p in sorted(glob.glob(os.path.join(CORPUS,
                                                           "*.req")))]


# ------------------------------------------------------------ the checks

def snapshot(e):
    """{path: (kind, content)} of everything below upload_dir (but
    state_dir) and the decoy folder outside it."""
    out = {}
    for top in (e.upload, e.outside):
        for dp, dns, fns in os.walk(top):
            if dp == e.upload:
                dns[:] = [d for d in dns
                          if os.path.join(dp, d) != e.state]
            for n in dns + fns:
                p = os.path.join(dp, n)
                rel = os.path.relpath(p, e.root)
                if os.path.islink(p):
                    out[rel] = ("link", os.readlink(p))
                elif os.path.isdir(p):
                    out[rel] = ("dir", None)
                elif os.path.isfile(p):
                    with open(p, "rb") as f:
                        out[rel] = ("file", hashlib.sha256(
                            f.read()).hexdigest())
                else:
                    out[rel] = ("other", None)
    return out


def ledger_users(e):
    if e.schema is not None:
        return sorted(r[0] for r in e.sql("SELECT owner FROM upgate_usage"))
    try:
        return sorted(os.listdir(os.path.join(e.state, "usage")))
    except FileNotFoundError:
        return []


def setup(e):
    """The fixtures, stored through upgate under a base configuration (so
    the ledger knows them), and a decoy file outside upload_dir."""
    base = os.path.join(e.root, "base.conf")
    with open(base, "w") as f:
        f.write("upload_dir = %s\nquota_file = %s\n" % (e.upload,
                                                       e.quota_path))
        if "ledger" in e.conf:
            f.write("ledger = %s\n" % e.conf["ledger"])
    for user, name, data in FIXTURES:
        r = e.run("PUT", "/" + name, body=data, user=user,
                  extra={"UPGATE_CONFIG": base})
        expect(r, 201, "stored", user=user)
    with open(os.path.join(e.outside, "decoy"), "wb") as f:
        f.write(DECOY)


def check_format(c, r):
    w = "%s (%s)" % (r.what(), c.file)
    mt = r.media_type()
    want = MEDIA.get(c.format, ()) if c.format != "any" else \
        sum(MEDIA.values(), ())
    check(mt in want, "%s: Content-Type %r, expected one of %r"
          % (w, mt, want))
    try:
        if mt == "application/json":
            json.loads(r.body.decode("utf-8"))
        elif mt in MEDIA["xml"]:
            ET.fromstring(r.body)
        elif mt == "text/html":
            p = html.parser.HTMLParser()
            p.feed(r.body.decode("utf-8"))
            p.close()
            check(b"<html" in r.body.lower(), "no <html> element")
        else:
            check(r.body.decode("utf-8").strip(), "empty text body")
    except Failure:
        raise
    except Exception as x:
        fail("%s: the %s body does not parse (%s): %r"
             % (w, mt, x, r.body[:300]))



def check_log(c, r, w):
    """upgate(8), Logs: one line per request, untrusted bytes never raw."""
    for line in r.stderr.split("\n"):
        check(not line or line.startswith("upgate: "), "%s: a stderr line "
              "that is not an upgate line (a log line split by raw "
              "bytes?): %r" % (w, line[:300]))
    bad = [ch for ch in r.stderr if (ord(ch) < 0x20 and ch != "\n") or
           0x7f <= ord(ch) <= 0x9f or ch == "\ufffd"]
    check(not bad, "%s: raw control or invalid bytes on stderr %r: %r"
          % (w, bad[:5], r.stderr[-600:]))


def check_nothing_stored(c, e, before, users_before):
    after = snapshot(e)
    w = c.file
    want = dict(before)
    new = {}
    for n in c.stored:
        rel = os.path.join("upload", "alice", n)
        check(rel in after and after[rel][0] == "file",
              "%s: expected %r stored in alice's folder; alice's files: %r"
              % (w, n, sorted(e.stored())))
        want[rel] = after[rel]
        new[n] = os.path.getsize(os.path.join(e.root, rel))
    added = sorted(set(after) - set(want))
    gone = sorted(set(want) - set(after))
    changed = sorted(k for k in want if k in after and after[k] != want[k])
    check(not added and not gone and not changed,
          "%s: the disk changed: added %r, removed %r, changed %r"
          % (w, added, gone, changed))
    eq(e.usage("alice"), len(FIXTURES[0][2]) + sum(new.values()),
       "%s: alice's ledger usage" % w)
    eq(e.usage("bob"), len(FIXTURES[1][2]), "%s: bob's ledger usage" % w)
    eq(ledger_users(e), users_before, "%s: users in the ledger" % w)
    e.assert_clean("%s: " % w)


def run_case(c):
    conf = dict(c.config)
    with Env(quota=QUOTA, conf=conf) as e:
        setup(e)
        before = snapshot(e)
        users_before = ledger_users(e)
        extra = dict(c.env)
        for n in c.unset:
            extra[n] = None
        ct = c.content_type
        if ct is None and c.body_gen:
            ct = "multipart/form-data; boundary=" + BOUNDARY
        r = e.run(c.method, c.path, body=c.request_body(),
                  user=text(c.user), content_type=ct, accept=c.accept,
                  headers=c.headers, extra=extra, timeout=120)
        w = "%s (%s)" % (r.what()[:200], c.file)
        try:
            expect(r, c.status, c.reason, user=c.log_user())
        except Failure as x:
            fail("%s: %s" % (c.file, str(x)[:1500]))
        if c.format:
            check_format(c, r)
        for p in (e.upload, e.state, e.root):
            check(p.encode() not in r.body, "%s: the body reveals the "
                  "server path %s: %r" % (w, p, r.body[:400]))
        check_log(c, r, w)
        check_nothing_stored(c, e, before, users_before)


_CASES = load()
for _c in _CASES:
    test("corpus: %s: %s -> %s%s" % (
        _c.file[:-4], _c.what, _c.status,
        " " + _c.reason if _c.reason else ""),
        slow=bool(_c.body_gen))(lambda c=_c: run_case(c))


@test("corpus: at least 60 requests, each with a unique description")
def _():
    check(len(_CASES) >= 60, "corpus holds %d requests, expected >= 60"
          % len(_CASES))
    whats = [c.what for c in _CASES]
    dup = sorted({x for x in whats if whats.count(x) > 1})
    check(not dup, "descriptions used twice: %r" % dup)
