# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Shared pieces of the torture tests (tests/torture/test_*.py): test
registration, figures, a raw HTTP/1.1 client on sockets (so a test can
pace, cut or abandon a body at any byte), multipart bodies, and a
lighttpd fixture whose upgate.fcgi may get extra arguments.

Builds on tests/servers/servers.py (real servers, as www-data) and
tests/integration/harness.py (the CGI and a standalone responder); it
does not change them.  Python 3 standard library only.
"""

import base64
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import servers  # noqa: E402
import harness  # noqa: E402
from harness import check, eq, fail  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
TMP_PREFIX = harness.TMP_PREFIX

LONG = False        # set by run.py --long
SEED = None         # set by run.py (--seed, else random): printed
STRICT_LEDGER = False   # run.py --strict-ledger: no over-count after kill


# ------------------------------------------------------------ registration

TESTS = []          # [(name, fn, needs_root)]
FIGURES = []        # [(torture, line)]
_FIG_LOCK = threading.Lock()


def test(name, root=True):
    """Registers a torture; root: it needs root (servers run as www-data,
    tmpfs) and is skipped loudly without it."""
    def deco(fn):
        TESTS.append((name, fn, root))
        return fn
    return deco


def figure(torture, fmt, *args):
    """A measured figure, printed as a '# ' line after the results."""
    with _FIG_LOCK:
        FIGURES.append((torture, fmt % args if args else fmt))


def rng(name):
    """A random.Random of its own for each torture, from the run's seed,
    so a failing run can be replayed with --seed."""
    return random.Random("%s:%s" % (SEED, name))


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


# ------------------------------------------------------------------- HTTP

class Resp:
    """An HTTP answer read off a socket: status (None when none came),
    headers, body, sent (body bytes that left), error (what went wrong on
    the wire, or None), elapsed."""

    def __init__(self, req):
        self.req = req
        self.status = None
        self.headers = []
        self.body = b""
        self.sent = 0
        self.error = None
        self.send_error = None
        self.elapsed = 0.0

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            fail("%s: body is not JSON (%s): %r" % (self.what(), e,
                                                    self.body[:300]))

    def reason(self):
        """The JSON reason of a refusal, or None."""
        try:
            return json.loads(self.body.decode("utf-8")).get("reason")
        except Exception:
            return None

    def what(self):
        r = self.req
        return "%s /upload%s (user=%s, %s)" % (
            r["method"], r["path"], r["user"],
            "length=%s" % r["length"] if r["length"] is not None
            else "chunked")

    def summary(self):
        return "status %s, headers %r, body %r, body bytes sent %d, " \
            "error %r, send error %r, %.2fs" % (
                self.status, self.headers, self.body[:300], self.sent,
                self.error, self.send_error, self.elapsed)


def auth_header(user):
    return "Basic " + base64.b64encode(("%s:%s" % (user, user)).encode())\
        .decode()


def request_head(method, path, user, length=None, ctype=None, extra=(),
                 chunked=False):
    lines = ["%s /upload%s HTTP/1.1" % (method, path),
             "Host: 127.0.0.1", "Connection: close",
             "Accept: application/json"]
    if user is not None:
        lines.append("Authorization: " + auth_header(user))
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append("Content-Length: %d" % length)
    if ctype:
        lines.append("Content-Type: " + ctype)
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(raw):
    """(status, headers) of raw bytes ending at the blank line."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() \
        else None
    hdrs = []
    for l in lines[1:]:
        if b":" in l:
            k, v = l.split(b":", 1)
            hdrs.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    return status, hdrs


def _dechunk(b):
    out = bytearray()
    i = 0
    while True:
        j = b.find(b"\r\n", i)
        if j < 0:
            return bytes(out), False
        n = int(b[i:j].split(b";")[0] or b"0", 16)
        if n == 0:
            return bytes(out), True
        if len(b) < j + 2 + n + 2:
            return bytes(out), False
        out += b[j + 2:j + 2 + n]
        i = j + 2 + n + 2


def _complete(buf):
    """(done, status, headers, body) of what arrived so far."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False, None, [], b""
    status, hdrs = _parse_head(bytes(buf[:end]))
    rest = bytes(buf[end + 4:])
    d = dict((k.lower(), v) for k, v in hdrs)
    if status is not None and 100 <= status < 200:
        done, st, h, b = _complete(buf[end + 4:])
        return done, st, h, b
    if "chunked" in d.get("transfer-encoding", "").lower():
        body, done = _dechunk(rest)
        return done, status, hdrs, body
    if "content-length" in d:
        n = int(d["content-length"])
        return len(rest) >= n, status, hdrs, rest[:n]
    return False, status, hdrs, rest        # up to the close


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(port, method, path, user="alice", body=b"", ctype=None,
            extra=(), chunked=False, length="auto", timeout=60):
    """One request on its own connection (Connection: close).  body:
    bytes, or an iterable of byte chunks (a generator may sleep between
    them).  chunked: Transfer-Encoding: chunked, no length.  The body is
    sent from a thread while the answer is read, as a browser does, so an
    early refusal is seen even while the body is still going out."""
    if length == "auto":
        length = len(body) if isinstance(body, (bytes, bytearray)) else None
    r = Resp({"method": method, "path": path, "user": user,
              "length": None if chunked else length})
    t0 = time.monotonic()
    try:
        s = connect(port)
    except OSError as e:
        r.error = "connect: %s" % e
        return r
    s.settimeout(timeout)
    head = request_head(method, path, user, None if chunked else length,
                        ctype, extra, chunked)
    stop = threading.Event()

    def send():
        try:
            s.sendall(head)
            chunks = [body] if isinstance(body, (bytes, bytearray)) \
                else body
            for c in chunks:
                if stop.is_set():
                    return
                if not c:
                    continue
                s.sendall(b"%x\r\n%s\r\n" % (len(c), c) if chunked else c)
                r.sent += len(c)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError as e:
            r.send_error = str(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    buf = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                r.error = "no complete answer within %ss" % timeout
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                r.error = "no complete answer within %ss" % timeout
                break
            except OSError as e:
                r.error = "recv: %s" % e
                break
            if not d:
                break
            buf += d
            done, st, h, b = _complete(buf)
            if done:
                break
    finally:
        stop.set()
        done, r.status, r.headers, r.body = _complete(buf)
        if r.status is not None and not done and r.error is None:
            # closed before the announced end: keep what came
            if any(k.lower() in ("content-length", "transfer-encoding")
                   for k, _ in r.headers):
                r.error = "connection closed mid-answer"
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
        t.join(10)
        r.elapsed = time.monotonic() - t0
    return r


def paced(data, chunk, pause):
    """data in pieces of chunk bytes, pause seconds apart: an upload that
    stays in flight."""
    for i in range(0, len(data), chunk):
        yield data[i:i + chunk]
        if pause:
            time.sleep(pause)


def multipart(filename, data, boundary=None, field="file"):
    """(content type, body) of a form with one text field and one file."""
    b = boundary or "torture%016x" % random.getrandbits(64)
    pre = ("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
           "torture\r\n--%s\r\nContent-Disposition: form-data; "
           "name=\"%s\"; filename=\"%s\"\r\nContent-Type: "
           "application/octet-stream\r\n\r\n" % (b, b, field, filename))\
        .encode()
    post = ("\r\n--%s--\r\n" % b).encode()
    return "multipart/form-data; boundary=" + b, pre + data + post


def stored_name(r, kind, name):
    """The name a 201 stored: the PUT's own, the form's stored_as."""
    if kind == "PUT":
        return name
    j = r.json()
    files = j.get("files") or []
    eq(len(files), 1, "%s: files in the 201 answer" % r.what())
    return files[0].get("stored_as")


# ---------------------------------------------------------------- on disk

def user_files(upload, user):
    """{name: st_size} of the user's folder, every entry (temporary ones
    too), without reading contents."""
    out = {}
    top = os.path.join(upload, user)
    for dp, dns, fns in os.walk(top):
        for n in fns:
            p = os.path.join(dp, n)
            try:
                out[os.path.relpath(p, top)] = os.lstat(p).st_size
            except FileNotFoundError:
                pass
    return out


def visible_total(upload, user):
    """Bytes under final names in the user's folder (temporary files do
    not count: upgate(8), Accounting charges st_size of the files upgate stored)."""
    return sum(sz for n, sz in user_files(upload, user).items()
               if not os.path.basename(n).startswith(TMP_PREFIX))


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def wait_until(pred, timeout, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def ledger_matches(env, user, recount_fn, what):
    """upgate(8), Accounting as the issue words it: `upgate-quota recount` prints
    nothing (and exits 0), and the usage file equals the sum of st_size
    of the user's files; no temporary file, no live reservation."""
    disk = visible_total(env.upload, user)
    eq(env.usage(user), disk, "%s: %s's usage file against the sum of "
       "st_size of the files" % (what, user))
    rc, out, err = recount_fn()
    eq((rc, out), (0, ""), "%s: upgate-quota recount (stderr %r)"
       % (what, err))
    env.assert_clean(what + ": ")
    return disk


# ------------------------------------------------------ lighttpd fixture

class LighttpdFixture(servers.Fixture):
    """servers.Fixture on lighttpd-fastcgi, with upgate.fcgi started as
    "upgate.fcgi ARGS" by lighttpd (bin-path takes arguments) when args
    is given, e.g. ["--threads", "256"]."""

    def __init__(self, name, quota, conf, tmpfs_size=None, args=None):
        self._args = args
        if args:
            orig = servers.Server._write
            extra = " ".join(args)

            def write(srv):
                orig(srv)
                snip = os.path.join(srv.root,
                                    os.path.basename(srv.snippet_src))
                with open(snip) as f:
                    text = f.read()
                old = '"bin-path" => "%s/upgate.fcgi"' % srv.build
                check(old in text, "lighttpd snippet: no %s" % old)
                text = text.replace(old, '"bin-path" => "%s/upgate.fcgi '
                                    '%s"' % (srv.build, extra))
                with open(snip, "w") as f:
                    f.write(text)
            self._patched = write
        else:
            self._patched = None
        super().__init__(name, "lighttpd-fastcgi", quota, conf, tmpfs_size)

    def __setattr__(self, k, v):
        # Fixture.__init__ builds its Server and starts it at once: give
        # that very object the patched _write before start() runs.
        if k == "srv" and getattr(self, "_patched", None) is not None:
            patched = self._patched
            v._write = lambda: patched(v)
        object.__setattr__(self, k, v)

    @property
    def port(self):
        return self.srv.port

    def http(self, method, path, user="alice", **kw):
        return request(self.srv.port, method, path, user, **kw)

    def recount(self):
        return servers.recount(self)


def responder_pids(fx):
    return servers.responder_pids(fx)


def responder_threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None


# ------------------------------------------------- a standalone responder

def fcgi_raw_abort(sock_path, params, prefix):
    """Connects to a FastCGI responder, sends BEGIN_REQUEST + PARAMS and
    then the first `prefix` bytes of what else was given (STDIN records,
    perhaps cut inside a record header), and drops the connection."""
    import fcgi_client
    s = fcgi_client.connect(sock_path)
    try:
        s.sendall(fcgi_client.begin_request(1) +
                  fcgi_client.stream(fcgi_client.PARAMS, 1,
                                     fcgi_client.encode_params(params)))
        if prefix:
            s.sendall(prefix)
    finally:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def rmtree(p):
    if not harness.KEEP:
        shutil.rmtree(p, ignore_errors=True)
