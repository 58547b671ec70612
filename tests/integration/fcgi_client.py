# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""A small FastCGI 1.0 client (the web server's side of the protocol), for
driving build/upgate.fcgi from the integration tests.

Python 3 standard library only.  One Connection is one request on its own
connection (FCGI_KEEP_CONN is not set, as mod_proxy_fcgi and lighttpd do
by default): BEGIN_REQUEST with role RESPONDER, the PARAMS stream (name-
value pairs with 1- or 4-byte lengths) ended by an empty PARAMS record,
then STDIN records of at most 65535 bytes ended by an empty STDIN record.
A reader thread collects STDOUT, STDERR and END_REQUEST as they come, so
a test can see the answer while it still holds the body back.

The body can be sent whole (send_stdin with stop_on_end=False: every byte
even after the answer, as a buffering server would), lazily (the default:
stop as soon as END_REQUEST arrived, as a streaming server does), or the
connection can be dropped mid-body (abort).
"""

import errno
import os
import socket
import struct
import threading
import time

VERSION = 1
BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

RESPONDER = 1
KEEP_CONN = 1

REQUEST_COMPLETE = 0
MAX_CONTENT = 65535

HEADER = struct.Struct("!BBHHBx")


def _b(s):
    """bytes of a str as the environment would carry it (surrogates kept)."""
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    return os.fsencode(s)


def record(rtype, req_id, content=b""):
    """One record, padded to a multiple of 8 bytes."""
    if len(content) > MAX_CONTENT:
        raise ValueError("record content of %d bytes" % len(content))
    pad = -len(content) % 8
    return HEADER.pack(VERSION, rtype, req_id, len(content), pad) + \
        bytes(content) + b"\0" * pad


def _length(n):
    if n < 128:
        return bytes([n])
    return struct.pack("!I", n | 0x80000000)


def name_value(name, value):
    """One name-value pair: lengths of 1 byte below 128, else 4 bytes."""
    n, v = _b(name), _b(value)
    return _length(len(n)) + _length(len(v)) + n + v


def stream(rtype, req_id, data):
    """data as records of at most 65535 bytes, then the empty record that
    ends the stream."""
    out = [record(rtype, req_id, data[i:i + MAX_CONTENT])
           for i in range(0, len(data), MAX_CONTENT)]
    out.append(record(rtype, req_id))
    return b"".join(out)


def encode_params(params):
    return b"".join(name_value(k, v) for k, v in params.items())


def begin_request(req_id=1, role=RESPONDER, keep_conn=False):
    body = struct.pack("!HB5x", role, KEEP_CONN if keep_conn else 0)
    return record(BEGIN_REQUEST, req_id, body)


def connect(path, timeout=10.0):
    """A connected stream socket to path (a Unix socket), or to (host,
    port) over TCP; retries while the responder is still coming up
    (ENOENT, ECONNREFUSED)."""
    deadline = time.monotonic() + timeout
    while True:
        if isinstance(path, tuple):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if e.errno not in (errno.ENOENT, errno.ECONNREFUSED) or \
                    time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Connection:
    """One request over one connection to a FastCGI responder."""

    def __init__(self, path, params, req_id=1, connect_timeout=10.0,
                 sock=None):
        self.req_id = req_id
        self.sock = sock or connect(path, connect_timeout)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.ended = threading.Event()   # END_REQUEST seen
        self.closed = threading.Event()  # the responder closed its side
        self.app_status = None
        self.protocol_status = None
        self.other = []                  # records of unexpected types
        self.error = None                # a protocol error seen
        self.sent = 0                    # STDIN content bytes sent
        self.stdin_records = 0           # non-empty STDIN records sent
        self.stdin_ended = False
        self.broken = False              # a send failed
        self.t_end = None
        self._wlock = threading.Lock()
        self._send(begin_request(req_id) +
                   stream(PARAMS, req_id, encode_params(params)))
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- sending
    def _send(self, data):
        with self._wlock:
            self.sock.sendall(data)

    def send_stdin(self, data, stop_on_end=True):
        """Sends data as STDIN records of at most 65535 bytes.  With
        stop_on_end, stops before any record once the answer is complete.
        False when it stopped or the connection broke."""
        data = memoryview(bytes(data))
        for i in range(0, len(data), MAX_CONTENT):
            if self.broken or (stop_on_end and self.ended.is_set()):
                return False
            chunk = data[i:i + MAX_CONTENT]
            try:
                self._send(record(STDIN, self.req_id, chunk))
            except OSError:
                self.broken = True
                return False
            self.sent += len(chunk)
            self.stdin_records += 1
        return True

    def send_body(self, body, stop_on_end=True, end=True):
        """body: bytes, or an iterable of byte chunks (a generator may
        sleep between them).  The chunks are pulled lazily: with
        stop_on_end none is pulled once the answer is complete.  Ends the
        stream with an empty STDIN record when end and all was sent."""
        chunks = [body] if isinstance(body, (bytes, bytearray)) else body
        for c in chunks:
            if stop_on_end and self.ended.is_set():
                return False
            if c and not self.send_stdin(c, stop_on_end):
                return False
        if end:
            return self.end_stdin(stop_on_end)
        return True

    def end_stdin(self, stop_on_end=True):
        """The empty STDIN record that ends the body."""
        if self.stdin_ended or self.broken or \
                (stop_on_end and self.ended.is_set()):
            return False
        try:
            self._send(record(STDIN, self.req_id))
        except OSError:
            self.broken = True
            return False
        self.stdin_ended = True
        return True

    def abort_request(self):
        """FCGI_ABORT_REQUEST, as a server sends when its client left."""
        try:
            self._send(record(ABORT_REQUEST, self.req_id))
        except OSError:
            self.broken = True

    def abort(self):
        """Drops the connection, as a server whose client disconnected."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(5)

    # -- receiving
    def _recv_exact(self, n, buf):
        while len(buf) < n:
            try:
                b = self.sock.recv(max(65536, n - len(buf)))
            except OSError:
                b = b""
            if not b:
                return False
            buf += b
        return True

    def _read_loop(self):
        buf = bytearray()
        try:
            while True:
                if not self._recv_exact(HEADER.size, buf):
                    if buf:
                        self.error = "truncated record header %r" % buf
                    return
                ver, rtype, rid, clen, plen = HEADER.unpack(
                    bytes(buf[:HEADER.size]))
                if not self._recv_exact(HEADER.size + clen + plen, buf):
                    self.error = "truncated record of type %d" % rtype
                    return
                content = bytes(buf[HEADER.size:HEADER.size + clen])
                del buf[:HEADER.size + clen + plen]
                if ver != VERSION:
                    self.error = "record version %d" % ver
                self._record(rtype, rid, content)
        finally:
            self.closed.set()
            self.ended.set()        # nothing more will come either way

    def _record(self, rtype, rid, content):
        if rid != self.req_id and rtype != UNKNOWN_TYPE:
            self.error = "record of type %d for request %d" % (rtype, rid)
        if rtype == STDOUT:
            self.stdout += content
        elif rtype == STDERR:
            self.stderr += content
        elif rtype == END_REQUEST:
            if len(content) != 8:
                self.error = "END_REQUEST of %d bytes" % len(content)
            else:
                self.app_status, self.protocol_status = \
                    struct.unpack("!IB3x", content)
                self.app_status = struct.unpack(
                    "!i", struct.pack("!I", self.app_status))[0]
            self.t_end = time.monotonic()
            self.ended.set()
        else:
            self.other.append((rtype, content))

    def got_end(self):
        """END_REQUEST was received (not merely the connection closed)."""
        return self.protocol_status is not None

    def wait(self, timeout):
        return self.ended.wait(timeout)

    def wait_closed(self, timeout):
        return self.closed.wait(timeout)


def request(path, params, body=b"", stop_on_end=True, timeout=60):
    """One whole request: (stdout bytes, stderr bytes, Connection)."""
    c = Connection(path, params)
    try:
        c.send_body(body, stop_on_end)
        c.wait(timeout)
    finally:
        c.close()
    return bytes(c.stdout), bytes(c.stderr), c
