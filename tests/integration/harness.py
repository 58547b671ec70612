# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Integration harness: runs build/upgate.cgi exactly as a web server
would (CGI/1.1 environment + body on stdin) against a temporary upload
folder, and reads back the response, the log, the files and the ledger.

With run.py --fcgi (MODE "fcgi") the same requests go to build/upgate.fcgi
instead: Env.start() hands the environment as FastCGI PARAMS to a
responder started for the request's configuration file (--listen on a
Unix socket in the Env's folder, --threads FCGI_THREADS, stderr to a
file), and each Response gets the log lines its request wrote there.  At
the end of a test every responder is stopped with SIGTERM and must exit 0
with no log line left that no request accounts for.

Python 3 standard library only.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import sys
import xml.etree.ElementTree as ET

# fcgi_client sits next to this file, whoever imports the harness
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
import fcgi_client  # noqa: E402

BUILD = "build"          # set by run.py
RUN_ROOT = None          # set by run.py: the folder of this run's Envs
MODE = "cgi"             # set by run.py: "cgi", or "fcgi" for --fcgi
FCGI_THREADS = 2         # --threads of the responders the harness starts
PG = None                # set by run.py --ledger postgresql: a pgtmp.PgTmp
_SCHEMAS = iter(range(1, 1 << 30))
KEEP = os.environ.get("UPGATE_KEEP") == "1"

TMP_PREFIX = ".upgate-tmp-"
ALLOWED = {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"}
# with webdav = yes, the default (upgate(8), "WebDAV")
DAV_METHODS = {"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE"}
ALLOWED_DAV = ALLOWED | DAV_METHODS
# successes that are not logged (upgate(8), "LOGS")
QUIET = ("GET", "HEAD", "OPTIONS", "PROPFIND", "PROPPATCH")

# RFC 9110 reason phrases (upgate(8), Responses: 413 is "Content Too Large").
PHRASES = {
    200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
    207: "Multi-Status", 304: "Not Modified", 416: "Range Not Satisfiable",
    400: "Bad Request",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 411: "Length Required", 412: "Precondition Failed",
    413: "Content Too Large", 415: "Unsupported Media Type",
    500: "Internal Server Error", 503: "Service Unavailable",
    507: "Insufficient Storage",
    460: "Checksum Mismatch",       # tus 1.0.0 (upgate(8))
}

# upgate(8), Decisions: reason -> status
REASONS = {
    "method_not_allowed": 405, "server_error": 500, "forbidden": 403,
    "length_required": 411, "bad_request": 400, "too_large": 413,
    "unsupported_media_type": 415, "not_found": 404,
    "precondition_failed": 412, "conflict": 409, "disk_full": 507,
    "quota_exceeded": 507, "incomplete_body": 400, "busy": 503,
    "range_not_satisfiable": 416, "checksum_mismatch": 460,
}

# upgate(8), Logs, fields in this order; a 500 ends with its cause.
LOG_RE = re.compile(
    r"^upgate: user=(?P<user>\S+) method=(?P<method>\S+)"
    r" status=(?P<status>\d{3}) reason=(?P<reason>[a-z_]+)"
    r" size=(?P<size>\d+|-) used=(?P<used>\d+|-)"
    r" limit=(?P<limit>\d+|unlimited|-) ms=(?P<ms>\d+)"
    r"(?: cause=(?P<cause>\S+))?$")
# the cause of a 500: the failing call and its errno name, or "config"
CAUSE_RE = re.compile(r"^(config|[a-z_0-9]+:E[A-Z0-9]+|postgresql:\S+)$")
# upgate(8), Logs: the method is logged as sent when it is an RFC 9110 token of
# at most 32 characters
TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$")


def log_method(method):
    """The method the log line names for a REQUEST_METHOD."""
    return method if method is not None and TOKEN_RE.match(method) else "-"

KiB = 1024
MiB = 1024 * 1024

F_OFD_SETLK = 37
F_WRLCK = 1


# ---------------------------------------------------------------- results

class Failure(Exception):
    """A check failed: the message says request, expected, got."""


class Skip(Exception):
    """The test cannot run here (e.g. not root)."""


def fail(msg):
    raise Failure(msg)


def skip(msg):
    raise Skip(msg)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


TESTS = []


def test(name, slow=False):
    """Registers a test function under name (order kept)."""
    def deco(fn):
        TESTS.append((name, fn, slow))
        return fn
    return deco


def cgi_only(reason):
    """Marks a test that exercises the CGI process itself: in --fcgi mode
    it is reported as skipped, with reason.  Put it below @test."""
    def deco(fn):
        def wrapped():
            if MODE == "fcgi":
                skip("CGI only: " + reason)
            return fn()
        wrapped.modes = {"cgi"}
        return wrapped
    return deco


def fcgi_only(fn):
    """Marks a test of the FastCGI responder: run.py runs it only with
    --fcgi (it is not listed in the CGI run).  Put it below @test."""
    fn.modes = {"fcgi"}
    return fn


def randbytes(n, seed=None):
    if seed is None:
        return os.urandom(n)
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s:%d" % (str(seed).encode(), i)).digest()
        i += 1
    return bytes(out[:n])


def sha(b):
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------- response

class Response:
    def __init__(self, req, raw, stderr, rc, elapsed, written, epipe):
        self.req = req            # dict describing the request
        self.raw = raw
        self.stderr = stderr.decode("utf-8", "replace")
        self.stderr_raw = stderr
        self.rc = rc
        self.elapsed = elapsed
        self.written = written    # body bytes the harness got into stdin
        self.epipe = epipe        # the program closed stdin before the end
        self.status = None
        self.phrase = None
        self.headers = []         # [(name, value)] in order
        self.body = b""
        self.parse_error = None
        self._parse()

    def _parse(self):
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            self.parse_error = ("no CRLF blank line ending the headers in %r"
                                % raw[:300])
            return
        head, self.body = raw[:end], raw[end + 4:]
        for line in head.split(b"\r\n"):
            if b":" not in line:
                self.parse_error = "header line without ':': %r" % line
                return
            k, v = line.split(b":", 1)
            self.headers.append((k.decode("latin-1"),
                                 v.strip().decode("latin-1")))
        st = self.header("Status")
        if st is None:
            self.parse_error = "no Status header in %r" % head[:300]
            return
        m = re.match(r"^(\d{3}) (.+)$", st)
        if not m:
            self.parse_error = "bad Status header %r" % st
            return
        self.status, self.phrase = int(m.group(1)), m.group(2)

    def header(self, name):
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def media_type(self):
        ct = self.header("Content-Type") or ""
        return ct.split(";")[0].strip().lower()

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            fail("%s: body is not JSON (%s): %r" % (self.what(), e,
                                                    self.body[:300]))

    def xml(self):
        try:
            return ET.fromstring(self.body)
        except Exception as e:
            fail("%s: body is not XML (%s): %r" % (self.what(), e,
                                                   self.body[:300]))

    def log_lines(self):
        return [l for l in self.stderr.splitlines()
                if l.startswith("upgate: user=")]

    def logs(self):
        return [LOG_RE.match(l) for l in self.log_lines()]

    def diag_lines(self):
        return [l for l in self.stderr.splitlines()
                if l.startswith("upgate: ") and
                not l.startswith("upgate: user=")]

    def what(self):
        r = self.req
        s = "%s %s" % (r.get("method"), r.get("path") or "")
        extra = []
        if r.get("user") is not None:
            extra.append("user=%s" % r["user"])
        if r.get("length") is not None:
            extra.append("CONTENT_LENGTH=%r" % r["length"])
        for k, v in sorted((r.get("headers") or {}).items()):
            extra.append("%s=%r" % (k, v))
        if extra:
            s += " (" + ", ".join(extra) + ")"
        return s

    def summary(self):
        b = self.body[:400]
        return "status %s, headers %r, body %r, stderr %r" % (
            self.status, self.headers, b, self.stderr[-600:])


# ------------------------------------------------------------- the process

class Cgi:
    """One running upgate.cgi; lets a test feed stdin by hand."""

    def __init__(self, env, argv=None):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv or [os.path.join(BUILD, "upgate.cgi")],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        self.out = bytearray()
        self.err = bytearray()
        self.out_eof = threading.Event()
        self.written = 0
        self.epipe = False
        self._t = [threading.Thread(target=self._pump,
                                    args=(self.p.stdout, self.out,
                                          self.out_eof), daemon=True),
                   threading.Thread(target=self._pump,
                                    args=(self.p.stderr, self.err, None),
                                    daemon=True)]
        for t in self._t:
            t.start()

    @staticmethod
    def _pump(f, acc, ev):
        while True:
            b = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
            if not b:
                break
            acc += b
        if ev is not None:
            ev.set()

    def write(self, data):
        """Writes data to stdin; False once the program closed stdin."""
        if self.epipe or self.p.stdin is None:
            return False
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
            self.written += len(data)
            return True
        except (BrokenPipeError, ValueError, OSError):
            self.epipe = True
            return False

    def close_stdin(self):
        if self.p.stdin is not None:
            try:
                self.p.stdin.close()
            except OSError:
                pass

    def wait_stdout_eof(self, timeout):
        return self.out_eof.wait(timeout)

    def kill(self):
        try:
            self.p.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, req, timeout=60):
        self.close_stdin()
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.p.wait()
            for t in self._t:
                t.join(5)
            fail("%s %s: upgate.cgi still running after %ss (killed); "
                 "stdout %r stderr %r" % (req.get("method"), req.get("path"),
                                          timeout, bytes(self.out[:300]),
                                          bytes(self.err[-300:])))
        for t in self._t:
            t.join(10)
        el = time.monotonic() - self.t0
        return Response(req, bytes(self.out), bytes(self.err), rc, el,
                        self.written, self.epipe)


# ------------------------------------------------------ the FastCGI responder

_USER_RE = re.compile(r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$")
_STATUS_RE = re.compile(rb"(?m)^Status: (\d{3})")
_NAMES = iter(range(1, 1 << 30))


class Responder:
    """One build/upgate.fcgi listening on a Unix socket in root, its
    standard error in a file.  Each request's log lines are handed to the
    request that caused them (claim)."""

    def __init__(self, root, config, threads=2, wrapper=None,
                 start_timeout=None, argv=None, env=None, stdin=None,
                 sock=None):
        """argv, env, stdin, sock: another way to start it (a listening
        socket on descriptor 0, TCP, its configuration from UPGATE_CONFIG);
        sock is then where to connect: a path or (host, port)."""
        n = next(_NAMES)
        self.root = root
        self.config = config
        self.sock = sock or os.path.join(root, "fcgi-%d.sock" % n)
        self.err_path = os.path.join(root, "fcgi-%d.stderr" % n)
        self.out_path = os.path.join(root, "fcgi-%d.stdout" % n)
        self.argv = argv or list(wrapper or []) + [
            os.path.join(BUILD, "upgate.fcgi"), "--listen", self.sock,
            "--threads", str(threads)]
        if argv is None and config is not None:
            self.argv += ["--config", config]
        if env is None:
            env = dict(os.environ)
            env.pop("UPGATE_CONFIG", None)
        self.lock = threading.Lock()
        self.entries = []       # [lines, log line, claimed, offset]
        self.pending = []       # (offset, line) not yet followed by a log
        self.inflight = 0
        self.live = set()       # FcgiCgi in flight
        self.killed = False
        self._pos = 0
        self._tail = b""
        with open(self.err_path, "wb") as ef, open(self.out_path, "wb") as of:
            self.p = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL if stdin is None
                else stdin, stdout=of, stderr=ef, env=env)
        self.pid = self.p.pid
        timeout = start_timeout or (60 if wrapper else 10)
        deadline = time.monotonic() + timeout
        # a TCP port is retried by the client's connect instead
        while not isinstance(self.sock, tuple) and \
                not os.path.exists(self.sock):
            if self.p.poll() is not None:
                fail("%s exited with %s at start: %r" % (
                    " ".join(self.argv), self.p.returncode,
                    self.stderr_text()[-600:]))
            if time.monotonic() > deadline:
                self.kill()
                fail("%s: no socket after %ss" % (" ".join(self.argv),
                                                  timeout))
            time.sleep(0.01)

    def alive(self):
        return self.p.poll() is None

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def rss_kib(self):
        """VmRSS of the process, in KiB (None when gone)."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def kill(self):
        """kill -9."""
        self.killed = True
        try:
            self.p.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self, timeout=60):
        """SIGTERM and wait; the exit status (None if still running)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, check=True):
        """SIGTERM; with check, the problems seen (a list of strings)."""
        if self.killed:
            self.p.wait(30)
            return []
        rc = self.terminate(60)
        if rc is None:
            self.kill()
        if not check:
            return []
        who = "upgate.fcgi (config %s)" % self.config
        err = self.stderr_text()
        out = []
        if rc != 0:
            out.append("%s: exit status %s after SIGTERM (expected 0); "
                       "stderr %r" % (who, "none within 60 s" if rc is None
                                      else rc, err[-600:]))
        if "AddressSanitizer" in err or "runtime error:" in err or \
                "LeakSanitizer" in err:
            out.append("%s: sanitizer report: %r" % (who, err[-1500:]))
        with self.lock:
            self._refresh()
            left = [e[1] for e in self.entries if not e[2]]
        if left:
            out.append("%s: log lines no request accounts for (a line too "
                       "many?): %r" % (who, left[:5]))
        return out

    # -- log lines
    def _refresh(self):
        try:
            with open(self.err_path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return
        off = self._pos - len(self._tail)
        self._pos += len(data)
        data = self._tail + data
        lines = data.split(b"\n")
        self._tail = lines.pop()
        for b in lines:
            line = b.decode("utf-8", "replace")
            if line.startswith("upgate: user="):
                self.entries.append([[x for _, x in self.pending] + [line],
                                     line, False,
                                     self.pending[0][0] if self.pending
                                     else off])
                self.pending = []
            else:
                self.pending.append((off, line))
            off += len(b) + 1

    def begin(self, c):
        """A request starts: where the log stands, and whether it shares
        its time with another request."""
        with self.lock:
            try:
                since = os.path.getsize(self.err_path)
            except OSError:
                since = 0
            c.overlapped = bool(self.live)
            for o in self.live:
                o.overlapped = True
            self.live.add(c)
            self.inflight += 1
            return since

    def end(self, c):
        with self.lock:
            if c in self.live:
                self.live.discard(c)
                self.inflight -= 1

    @staticmethod
    def _matches(line, method, status, user):
        m = LOG_RE.match(line)
        if not m or int(m.group("status")) != status:
            return False
        if m.group("method") not in (method, "-"):
            return False
        return user is None or m.group("user") == user

    def claim(self, method, status, user, alone, want, timeout=5.0,
              since=0):
        """The stderr lines of one finished request, among those written
        from offset since on (when it began).  alone: no other request was
        in flight at any time during its own, so all those lines are its
        own (as a CGI's stderr would be); else the first unclaimed log
        line that matches method, status and user, with the lines before
        it.  want: a log line is due, so wait up to timeout for it."""
        deadline = time.monotonic() + (timeout if want else 0)
        while True:
            with self.lock:
                self._refresh()
                got = self._take(method, status, user, alone, since)
                if got or time.monotonic() >= deadline:
                    if alone:
                        got += [x for o, x in self.pending if o >= since]
                        self.pending = [(o, x) for o, x in self.pending
                                        if o < since]
                    return got
            time.sleep(0.01)

    def _take(self, method, status, user, alone, since=0):
        todo = [e for e in self.entries if not e[2] and e[3] >= since]
        if alone:
            pick = todo
        else:
            pick = [e for e in todo
                    if self._matches(e[1], method, status, user)][:1] or \
                [e for e in todo
                 if self._matches(e[1], method, status, None)][:1]
        out = []
        for e in pick:
            e[2] = True
            out += e[0]
        if pick and len(self.entries) > 256:     # long runs: stay O(1)
            self.entries = [e for e in self.entries if not e[2]]
        return out

    def claim_any(self, status=None, timeout=5.0, since=0):
        """Waits for an unclaimed log line (of status, written from offset
        since on) and claims it: for a request whose client went away,
        which no answer tells about."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                self._refresh()
                for e in self.entries:
                    m = LOG_RE.match(e[1])
                    if not e[2] and e[3] >= since and (status is None or
                                     (m and int(m.group("status")) ==
                                      status)):
                        e[2] = True
                        return e[0]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def log_count(self):
        with self.lock:
            self._refresh()
            return len(self.entries)


def _fcgi_params(env):
    """The request's meta-variables: the CGI environment without what
    belongs to a process (the responder takes its configuration from its
    own --config or environment, upgate.conf(5), Keys)."""
    drop = {"UPGATE_CONFIG", "PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
            "LSAN_OPTIONS"}
    return {k: v for k, v in env.items() if k not in drop}


class FcgiCgi:
    """One request to a Responder, with the interface of Cgi: write(),
    close_stdin(), wait_stdout_eof(), kill(), finish(), p."""

    def __init__(self, responder, env, req, params=None):
        self.t0 = time.monotonic()
        self.r = responder
        self.p = responder.p
        self.req = req
        self.written = 0
        self.epipe = False
        self.finished = False
        self.stop_on_end = True   # False: the whole body even after END
        self.user = env.get("REMOTE_USER")
        if self.user is not None and not _USER_RE.match(self.user):
            self.user = None
        self.overlapped = False
        self.since = responder.begin(self)
        try:
            self.conn = fcgi_client.Connection(
                responder.sock, params if params is not None
                else _fcgi_params(env))
        except OSError as e:
            self._done()
            fail("%s %s: cannot reach upgate.fcgi at %s: %s (stderr %r)"
                 % (req.get("method"), req.get("path"), responder.sock, e,
                    responder.stderr_text()[-600:]))

    @property
    def out(self):
        return self.conn.stdout

    def _done(self):
        if not self.finished:
            self.finished = True
            self.r.end(self)

    def write(self, data):
        """Sends data as STDIN records; False once the answer is complete
        (the responder will not read more) or the connection broke."""
        if self.epipe:
            return False
        before = self.conn.sent
        ok = self.conn.send_stdin(data, self.stop_on_end)
        self.written += self.conn.sent - before
        if not ok:
            self.epipe = True
        return ok

    def close_stdin(self):
        self.conn.end_stdin(self.stop_on_end)

    def wait_stdout_eof(self, timeout):
        return self.conn.wait(timeout)

    def kill(self):
        """kill -9 of the responder serving a request still in flight
        (the FastCGI form of killing the CGI handler)."""
        if not self.finished:
            self.r.kill()

    def abort(self, status=None, timeout=5.0):
        """The client goes away mid-request: the connection is dropped.
        Returns the log lines the request then left (None if none came
        within timeout)."""
        self.conn.abort()
        lines = self.r.claim_any(status, timeout, self.since)
        self._done()
        return lines

    def finish(self, req, timeout=60):
        self.close_stdin()
        if not self.conn.wait(timeout):
            self.conn.abort()
            self._done()
            fail("%s %s: no END_REQUEST from upgate.fcgi after %ss; stdout "
                 "so far %r, stderr %r" % (
                     req.get("method"), req.get("path"), timeout,
                     bytes(self.conn.stdout[:300]),
                     self.r.stderr_text()[-300:]))
        self.conn.close()
        el = (self.conn.t_end or time.monotonic()) - self.t0
        raw = bytes(self.conn.stdout)
        note = b""
        if self.conn.got_end():
            rc = self.conn.app_status
            if self.conn.protocol_status != fcgi_client.REQUEST_COMPLETE:
                rc = rc or 1
                note = b"fcgi: END_REQUEST protocolStatus %d\n" % \
                    self.conn.protocol_status
        else:
            rc = -1
            note = b"fcgi: the connection closed without END_REQUEST\n"
        if self.conn.error:
            rc = rc or 1
            note += b"fcgi: protocol error: %s\n" % \
                self.conn.error.encode()
        m = _STATUS_RE.search(raw)
        status = int(m.group(1)) if m else 0
        method = req.get("method")
        want = not (status < 400 and method in QUIET)
        with self.r.lock:
            alone = not self.overlapped
        lines = self.r.claim(method, status, self.user, alone,
                             want and rc != -1, since=self.since)
        self._done()
        err = "".join(l + "\n" for l in lines).encode("utf-8") + \
            bytes(self.conn.stderr) + note
        return Response(req, raw, err, rc, el, self.written, self.epipe)


# ---------------------------------------------------------- the environment

class Env:
    """A temporary upload folder, state folder, configuration and quota
    table.  conf: extra config keys; quota: quota table text or None;
    pg: the PostgreSQL cluster of its ledger (default PG, the run's)."""

    def __init__(self, quota=None, conf=None, root=None, upload=None,
                 state_dir=None, write=True, pg=None):
        self.root = root or tempfile.mkdtemp(prefix="env-", dir=RUN_ROOT)
        self.upload = upload or os.path.join(self.root, "upload")
        os.makedirs(self.upload, exist_ok=True)
        self.state = state_dir or os.path.join(self.upload, ".upgate")
        self.conf_path = os.path.join(self.root, "upgate.conf")
        self.quota_path = os.path.join(self.root, "quota")
        self.outside = os.path.join(self.root, "outside")
        os.makedirs(self.outside, exist_ok=True)
        self.conf = {"upload_dir": self.upload}
        if state_dir:
            self.conf["state_dir"] = state_dir
        self.schema = None
        self.pg = pg or PG
        if self.pg is not None:
            # a ledger of its own: a schema first on the search path
            self.schema = "env%d" % next(_SCHEMAS)
            self.pg.psql("CREATE SCHEMA %s AUTHORIZATION upgate"
                         % self.schema, db="upgate")
            self.conf["ledger"] = self.pg.uri + \
                "&options=-csearch_path%%3D%s" % self.schema
        if quota is not None:
            self.write_quota(quota)
            self.conf["quota_file"] = self.quota_path
        if conf:
            self.conf.update(conf)
        if write:
            self.write_conf()
        self.fcgi_threads = FCGI_THREADS   # set before the first request
        self.fcgi_wrapper = None           # argv prefix, e.g. valgrind
        self._fcgi = {}                    # config path -> Responder
        self._fcgi_lock = threading.Lock()
        self._fcgi_dead = []               # responders killed with -9

    # -- setup
    def write_conf(self, text=None):
        if text is None:
            text = "# written by tests/integration\n" + "".join(
                "%s = %s\n" % (k, v) for k, v in self.conf.items()
                if v is not None)
        with open(self.conf_path, "w") as f:
            f.write(text)

    def write_quota(self, text):
        """Replaces the table atomically, by rename (upgate.conf(5), "The quota table")."""
        tmp = self.quota_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.quota_path)

    def user_dir(self, user="alice"):
        return os.path.join(self.upload, user)

    def path(self, user, rel):
        return os.path.join(self.upload, user, rel) if user else \
            os.path.join(self.upload, rel)

    def plant(self, rel, data=b"x", user="alice"):
        p = self.path(user, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def __enter__(self):
        return self

    def __exit__(self, etype, *exc):
        try:
            if etype is None:
                # every test: nothing temporary left behind (upgate(8), Requests)
                self.assert_clean("at the end of the test: ")
                self.fcgi_stop(check=True)
        finally:
            self.cleanup()
        return False

    def cleanup(self):
        self.fcgi_stop(check=False)
        if not KEEP:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- environment of a request
    def cgi_env(self, method, path=None, user="alice", length="auto",
                body=b"", content_type=None, accept=None, headers=None,
                extra=None, config=True):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "upgate-integration",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "SCRIPT_NAME": "/upload",
            "REQUEST_METHOD": method,
            "REQUEST_URI": "/upload" + (path or ""),
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        if config:
            env["UPGATE_CONFIG"] = self.conf_path
        if path is not None:
            env["PATH_INFO"] = path
        if user is not None:
            env["REMOTE_USER"] = user
        if length == "auto":
            if isinstance(body, (bytes, bytearray)) and \
                    (len(body) or method in ("PUT", "POST")):
                env["CONTENT_LENGTH"] = str(len(body))
        elif length is not None:
            env["CONTENT_LENGTH"] = str(length)
        if content_type is not None:
            env["CONTENT_TYPE"] = content_type
        if accept is not None:
            env["HTTP_ACCEPT"] = accept
        for k, v in (headers or {}).items():
            env["HTTP_" + k.upper().replace("-", "_")] = v
        if extra:
            for k, v in extra.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
        return env

    def start(self, method, path=None, **kw):
        env = self.cgi_env(method, path, **kw)
        hdrs = {k[5:].replace("_", "-").title(): v for k, v in env.items()
                if k.startswith("HTTP_")}
        req = {"method": method, "path": path,
               "user": env.get("REMOTE_USER"),
               "length": env.get("CONTENT_LENGTH"), "headers": hdrs,
               "sent_method": env.get("REQUEST_METHOD")}
        if MODE == "fcgi":
            return self.fcgi_start(env, req), req
        return Cgi(env), req

    # -- the FastCGI responder (--fcgi mode, and the tests of upgate.fcgi)
    def responder(self, config="default"):
        """The running upgate.fcgi for config (default: this Env's
        configuration file; None: no --config, so /etc/upgate/upgate.conf),
        started on first use and again after it died."""
        if config == "default":
            config = self.conf_path
        with self._fcgi_lock:
            r = self._fcgi.get(config)
            if r is not None and not r.alive():
                self._fcgi_dead.append(r)
                r = None
            if r is None:
                r = Responder(self.root, config, self.fcgi_threads,
                              self.fcgi_wrapper)
                self._fcgi[config] = r
            return r

    def fcgi_start(self, env, req, responder=None):
        """Sends the request's head to the responder; the body is then
        fed with write() as for a Cgi."""
        r = responder or self.responder(env.get("UPGATE_CONFIG"))
        return FcgiCgi(r, env, req)

    def fcgi_request(self, method, path=None, responder=None, **kw):
        """As start(), but through upgate.fcgi whatever the mode."""
        env = self.cgi_env(method, path, **kw)
        hdrs = {k[5:].replace("_", "-").title(): v for k, v in env.items()
                if k.startswith("HTTP_")}
        req = {"method": method, "path": path,
               "user": env.get("REMOTE_USER"),
               "length": env.get("CONTENT_LENGTH"), "headers": hdrs,
               "sent_method": env.get("REQUEST_METHOD")}
        return self.fcgi_start(env, req, responder), req

    def fcgi_run(self, method, path=None, body=b"", timeout=60,
                 responder=None, whole=False, **kw):
        """As run(), but through upgate.fcgi whatever the mode.  whole:
        send every body byte even after the answer (as a server that
        buffers the body does); else stop once the answer is complete."""
        kw["body"] = body
        c, req = self.fcgi_request(method, path, responder, **kw)
        c.stop_on_end = not whole
        chunks = [body] if isinstance(body, (bytes, bytearray)) else body
        for ch in chunks:
            if ch and not c.write(ch):
                break
        return c.finish(req, timeout)

    def fcgi_stop(self, check=True):
        """SIGTERM to every responder of this Env; with check, each must
        exit 0, with no sanitizer report and no log line that no request
        claimed."""
        if getattr(self, "_fcgi_lock", None) is None:
            return                  # an Env built without __init__
        with self._fcgi_lock:
            rs, self._fcgi = list(self._fcgi.values()), {}
            dead, self._fcgi_dead = self._fcgi_dead, []
        problems = []
        for r in rs:
            problems += r.stop(check)
        for r in dead:
            r.stop(False)
        if check and problems:
            fail("; ".join(problems))

    def run(self, method, path=None, body=b"", timeout=60, **kw):
        """Runs one request.  body: bytes, or an iterable of byte chunks
        (a generator may sleep between chunks, or stop early)."""
        kw["body"] = body
        cgi, req = self.start(method, path, **kw)

        def feed():
            chunks = [body] if isinstance(body, (bytes, bytearray)) else body
            for c in chunks:
                if c and not cgi.write(c):
                    break
            cgi.close_stdin()
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        t.join(timeout)     # the feeder closes stdin when it is done
        return cgi.finish(req, timeout)

    # -- the ledger (upgate(8), Accounting / common/ledger.h)
    def sql(self, query):
        """Rows of a query of this Env's PostgreSQL ledger; none before
        upgate made its tables."""
        try:
            return self.pg.psql("SET search_path = %s; %s"
                                % (self.schema, query), db="upgate")
        except Exception as x:
            if "does not exist" in str(x):
                return []
            raise

    def usage(self, user="alice"):
        """Bytes the ledger says user uses (0 when it has no file)."""
        if self.schema is not None:
            rows = self.sql("SELECT used FROM upgate_usage WHERE owner = "
                            "'%s'" % user.replace("'", "''"))
            return int(rows[0][0]) if rows else 0
        p = os.path.join(self.state, "usage", user)
        try:
            with open(p) as f:
                txt = f.read()
        except FileNotFoundError:
            return 0
        check(re.match(r"^ *\d+\n$", txt) and len(txt) == 21,
              "usage file %s holds %r, expected \"USED\\n\", the digits "
              "right-aligned on 20 columns" % (p, txt))
        return int(txt)

    def record(self, rel):
        """(owner, size) of files/REL, or None."""
        if self.schema is not None:
            rows = self.sql("SELECT owner, size FROM upgate_records WHERE "
                            "rel = convert_to('%s', 'UTF8')"
                            % rel.replace("'", "''"))
            return (rows[0][0], int(rows[0][1])) if rows else None
        p = os.path.join(self.state, "files", rel)
        try:
            txt = _read_below(os.path.join(self.state, "files"), rel)
        except FileNotFoundError:
            return None
        m = re.match(r"^(\S+) (\d+)\n$", txt)
        check(m, "ledger record %s holds %r, expected \"USER SIZE\\n\""
              % (p, txt))
        return m.group(1), int(m.group(2))

    def reservations(self):
        """Every reservation file, as USER/ID, below state_dir/resv (with
        PostgreSQL, every reservation's USER/ID).  The spare files that
        workers keep in resv/.idle are none, as long as they hold 0 bytes
        and no path."""
        if self.schema is not None:
            return sorted("%s/%s" % r for r in self.sql(
                "SELECT owner, id FROM upgate_reservations"))
        d = os.path.join(self.state, "resv")
        out = []
        for dp, dns, fns in os.walk(d):
            for n in fns:
                p = os.path.join(dp, n)
                if os.path.basename(dp) == ".idle" and self._spare(p):
                    continue
                out.append(os.path.relpath(p, d))
        return sorted(out)

    @staticmethod
    def _spare(path):
        try:
            with open(path, "rb") as f:
                return f.read() == b"%20d\n" % 0
        except FileNotFoundError:
            return True

    def tmp_files(self, top=None):
        """Every .upgate-tmp- file below top (default the whole root)."""
        out = []
        for dp, dns, fns in os.walk(top or self.root):
            for n in fns + dns:
                if n.startswith(TMP_PREFIX):
                    out.append(os.path.join(dp, n))
        return out

    def stored(self, user="alice"):
        """{rel: bytes} of the regular files in the user's folder (or in
        upload_dir without the state folder when user is None)."""
        top = self.user_dir(user) if user else self.upload
        out = {}
        for dp, dns, fns in os.walk(top):
            if user is None and dp == self.upload:
                dns[:] = [d for d in dns if not d.startswith(".upgate")]
            for n in fns:
                p = os.path.join(dp, n)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                with open(p, "rb") as f:
                    out[os.path.relpath(p, top)] = f.read()
        return out

    def disk_usage(self, user="alice"):
        return sum(len(b) for n, b in self.stored(user).items()
                   if not os.path.basename(n).startswith(TMP_PREFIX))

    def assert_clean(self, what=""):
        """No temporary file anywhere and no live reservation left."""
        t = self.tmp_files()
        check(not t, "%stemporary files left behind: %r" % (what, t))
        r = self.reservations()
        check(not r, "%sreservations left in state_dir/resv: %r" % (what, r))

    # -- upgate-quota
    def quota_tool(self, *args, config=True, timeout=60):
        argv = [os.path.join(BUILD, "upgate-quota")]
        check(os.access(argv[0], os.X_OK), "%s is missing" % argv[0])
        if config:
            argv += ["--config", self.conf_path]
        argv += list(args)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    # -- the ledger's locks, held from the test (upgate(8), row 15)
    def hold_lock(self, user=None, rel=None):
        """Takes, with F_OFD_SETLK, every lock of the files ledger (what
        upgate-quota recount holds), or only user's, or only the lock of
        the file rel; returns the fd (close it to release)."""
        if self.schema is not None:
            skip("holds a lock of the files ledger")
        os.makedirs(self.state, exist_ok=True)
        fd = os.open(os.path.join(self.state, "lock"), os.O_RDWR | os.O_CREAT,
                     0o600)
        start, length = 0, 0
        if user is not None:
            start, length = lock_offset("u", user), 1
        elif rel is not None:
            start, length = lock_offset("f", rel), 1
        fl = struct.pack("hhqqi4x", F_WRLCK, os.SEEK_SET, start, length, 0)
        fcntl.fcntl(fd, F_OFD_SETLK, fl)
        return fd


def long_rel(e, total):
    """A path below alice's folder whose whole path on the server,
    upload_dir/alice/REL, is total bytes: folders of 200 bytes, the last
    component 55 to 255 bytes (longer than a temporary name)."""
    n = total - len(e.upload) - len("/alice/")
    comps = []
    while n > 255:
        comps.append(chr(ord("a") + len(comps) % 26) * 200)
        n -= 201
    comps.append("z" * n)
    rel = "/".join(comps)
    eq(len(os.path.join(e.upload, "alice", rel)), total, "test path length")
    return rel


def _read_below(top, rel):
    """The text of top/REL, opened one folder at a time as upgate does:
    with a long REL the whole path may pass PATH_MAX."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for comp in rel.split("/")[:-1]:
            nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(rel.split("/")[-1], os.O_RDONLY, dir_fd=fd)
    finally:
        os.close(fd)
    with os.fdopen(ffd) as f:
        return f.read()


def lock_offset(domain, key):
    """The byte of state_dir/lock that the files ledger locks for a user
    ("u") or a file ("f"): a 64-bit FNV-1a of domain and key, the low 62
    bits, plus one (common/ledger_files.c)."""
    h = 0xcbf29ce484222325
    for b in domain.encode() + key.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return (h & 0x3fffffffffffffff) + 1


# --------------------------------------------------------------- expectations

def expect(r, status, reason=None, user="alice", log=None, head=False):
    """Checks what every response must satisfy (upgate(8), Responses, upgate(8), Logs) and the
    status/reason.  log: True/False whether a log line is due (default:
    every refusal, store and delete; no line for GET/HEAD/OPTIONS
    successes)."""
    w = r.what()
    if r.parse_error:
        fail("%s: %s (exit %s, stderr %r)" % (w, r.parse_error, r.rc,
                                              r.stderr[-600:]))
    if r.status != status:
        fail("%s: expected status %s%s, got %s; %s" % (
            w, status, " " + reason if reason else "", r.status,
            r.summary()))
    eq(r.phrase, PHRASES.get(status), "%s: Status phrase" % w)
    eq(r.header("Cache-Control"), "no-store", "%s: Cache-Control" % w)
    check(r.header("Content-Type"), "%s: no Content-Type header (%r)"
          % (w, r.headers))
    method = r.req.get("method")
    if status == 204 or head or method == "HEAD":
        eq(r.body, b"", "%s: body of a %s%s" % (w, status,
                                              " HEAD" if method == "HEAD"
                                              else ""))
    else:
        check(r.body, "%s: empty body on a %s" % (w, status))
    check(r.rc == 0, "%s: upgate.cgi exited with %s; stderr %r"
          % (w, r.rc, r.stderr[-600:]))
    check("AddressSanitizer" not in r.stderr and
          "runtime error:" not in r.stderr,
          "%s: sanitizer report on stderr: %r" % (w, r.stderr[-1500:]))
    if reason is not None and status >= 400 and \
            r.media_type() == "application/json" and \
            not head and method != "HEAD":
        j = r.json()
        eq(j.get("status"), status, "%s: JSON status" % w)
        eq(j.get("error"), PHRASES[status], "%s: JSON error" % w)
        eq(j.get("reason"), reason, "%s: JSON reason" % w)
        check(isinstance(j.get("message"), str) and j["message"].strip()
              and "\n" not in j["message"],
              "%s: JSON message should be one sentence, got %r"
              % (w, j.get("message")))
    if r.media_type() == "application/json" and r.body and \
            method != "HEAD":
        _json_keys(r, status, r.json())
    # upgate(8), Logs
    if log is None:
        log = not (status < 400 and method in QUIET)
    lines = r.log_lines()
    if not log:
        check(not lines, "%s: no log line expected, got %r" % (w, lines))
    else:
        check(len(lines) == 1, "%s: expected one log line, got %r"
              % (w, r.stderr.splitlines()))
        m = LOG_RE.match(lines[0])
        check(m, "%s: log line does not follow upgate(8), Logs (fields, order): %r"
              % (w, lines[0]))
        eq(int(m.group("status")), status, "%s: log status" % w)
        if reason is not None:
            eq(m.group("reason"), reason, "%s: log reason" % w)
        eq(m.group("method"), log_method(r.req.get("sent_method", method)),
           "%s: log method" % w)
        if status == 500:
            check(m.group("cause") and CAUSE_RE.match(m.group("cause")),
                  "%s: a 500's log line ends with cause=CALL:ERRNO or "
                  "cause=config: %r" % (w, lines[0]))
        else:
            eq(m.group("cause"), None, "%s: cause on a %s" % (w, status))
        if user is not None:
            eq(m.group("user"), user, "%s: log user" % w)
        # the request's line is the last upgate line
        ul = [l for l in r.stderr.splitlines() if l.startswith("upgate: ")]
        eq(ul[-1], lines[0], "%s: the request's log line comes last" % w)
    return r


ERROR_KEYS = {"status", "error", "reason", "message"}
EXTRA_KEYS = {
    "disk_full": {"details", "retry_after"},
    "quota_exceeded": {"quota", "upload", "actions", "storage_analysis"},
    "too_large": {"limit", "size"},
}
QUOTA_KEYS = {"limit", "used", "reserved", "available", "percentage_used"}


def _keys(obj, want, what):
    check(isinstance(obj, dict), "%s: expected an object, got %r"
          % (what, obj))
    eq(sorted(obj), sorted(want), "%s: fields" % what)


def _json_keys(r, status, j):
    """The JSON fields of upgate(8), Responses, no more, no fewer."""
    w = r.what() + ": JSON"
    if status >= 400:
        reason = j.get("reason")
        _keys(j, ERROR_KEYS | EXTRA_KEYS.get(reason, set()), w)
        if reason == "disk_full":
            d = j["details"]
            want = {"required_space", "available_space", "shortage"}
            _keys(d, want | ({"storage_path"} & set(d)), w + " details")
        elif reason == "quota_exceeded":
            _keys(j["quota"], QUOTA_KEYS | {"source"}, w + " quota")
            check(j["quota"]["source"] in ("upgate", "filesystem"),
                  "%s: quota.source %r" % (w, j["quota"]["source"]))
            _keys(j["upload"], {"size", "shortage"}, w + " upload")
            _keys(j["storage_analysis"], {"largest_files"},
                  w + " storage_analysis")
            for f in j["storage_analysis"]["largest_files"]:
                _keys(f, {"name", "size"}, w + " largest_files[]")
            for k, a in j["actions"].items():
                check(k in ("upgrade", "cleanup"), "%s: action %r" % (w, k))
                _keys(a, {"url", "description"}, w + " actions." + k)
    elif status == 200:
        _keys(j, {"status", "user", "quota"}, w)
        _keys(j["quota"], QUOTA_KEYS, w + " quota")
    elif status == 201 and "file" in j:
        _keys(j, {"status", "file", "quota"}, w)
        _keys(j["file"], {"name", "stored_as", "size"}, w + " file")
        _keys(j["quota"], QUOTA_KEYS, w + " quota")


def log_of(r):
    m = LOG_RE.match(r.log_lines()[0])
    return m.groupdict()


def expect_refusal_before_body(r):
    """Rows 1-11 with a body: Connection: close (upgate(8), Decisions)."""
    eq((r.header("Connection") or "").lower(), "close",
       "%s: Connection header of a refusal with the body unread" % r.what())


def expect_quota_headers(r, used, limit):
    w = r.what()
    eq(r.header("X-Quota-Used"), str(used), "%s: X-Quota-Used" % w)
    eq(r.header("X-Quota-Limit"), str(limit), "%s: X-Quota-Limit" % w)
    eq(r.header("X-Quota-Available"), str(max(0, limit - used)),
       "%s: X-Quota-Available" % w)


def expect_no_quota_headers(r):
    for h in ("X-Quota-Used", "X-Quota-Limit", "X-Quota-Available",
              "X-Quota-Warning"):
        check(r.header(h) is None, "%s: unexpected %s: %s"
              % (r.what(), h, r.header(h)))


def pct_ok(p, used, limit):
    """percentage_used: a number with one decimal (upgate(8), Responses)."""
    if limit == 0:
        return p == 100
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        return False
    if abs(p * 10 - round(p * 10)) > 1e-6:
        return False
    # one decimal, rounded or truncated (upgate(8), Responses does not say which)
    x = 100.0 * used / limit
    return abs(p - x) <= 0.05 + 1e-9 or \
        abs(p - int(x * 10 + 1e-9) / 10.0) <= 1e-9


def expect_quota_obj(q, limit, used, reserved=0, what=""):
    check(isinstance(q, dict), "%s: quota is not an object: %r" % (what, q))
    eq(q.get("used"), used, "%s quota.used" % what)
    eq(q.get("reserved"), reserved, "%s quota.reserved" % what)
    if limit is None:
        eq(q.get("limit", "absent"), None, "%s quota.limit" % what)
        eq(q.get("available", "absent"), None, "%s quota.available" % what)
        eq(q.get("percentage_used", "absent"), None,
           "%s quota.percentage_used" % what)
    else:
        eq(q.get("limit"), limit, "%s quota.limit" % what)
        eq(q.get("available"), max(0, limit - used - reserved),
           "%s quota.available" % what)
        p = q.get("percentage_used")
        check(pct_ok(p, used, limit) or pct_ok(p, used + reserved, limit),
              "%s quota.percentage_used: expected %.1f (one decimal), "
              "got %r" % (what, 100.0 if limit == 0 else
                          100.0 * used / limit, q.get("percentage_used")))


def dav_children(root):
    return [e.tag for e in root.iter() if e.tag.startswith("{DAV:}")
            and e is not root]


def u_text(root, name):
    """Text of the first {urn:upgate}name element, or None."""
    for e in root.iter("{urn:upgate}" + name):
        return (e.text or "").strip()
    return None
