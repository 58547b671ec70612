#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""What common HTTP clients do with an early refusal, as measured:
python3 bench/clients.py --build DIR [--paths P,P] [--size MiB] [--rate KiB/s]

Each client uploads one file of --size MiB (a PUT, or a form where the
client only posts forms) as a user who is over quota, through a hosting
path started from the shipped configurations (tests/servers).  A relay
between client and server counts the body bytes the client sent and how
many connections it opened (wget retries on its own), and may slow the
link to --rate KiB/s.  Prints, per client and path: the status the client
reported, the bytes it sent, its connections, the seconds it took, and
what it printed last.  Nothing is asserted: the figures go to the
README's table of clients.

Needs root and what the hosting tests need, plus wget, python3-requests
and httpie (installed here when missing)."""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import harness  # noqa: E402
import servers  # noqa: E402

MiB = 1024 * 1024
QUOTA = "alice 10M\nbob 1M\n"
CONF = {"max_upload_size": "8G"}


class Relay:
    """A TCP relay on a free loopback port to the server's: counts the
    bytes each connection carried from the client, at most rate bytes a
    second when rate is set."""

    def __init__(self, port, rate=None):
        self.target = port
        self.rate = rate
        self.lock = threading.Lock()
        self.sent = 0
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self.lock:
            self.sent = 0
            self.connections = 0

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(c, s, True),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, False),
                             daemon=True).start()

    def _pipe(self, src, dst, upstream):
        chunk = 65536 if self.rate is None else max(1024, self.rate // 10)
        try:
            while True:
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if upstream:
                    with self.lock:
                        self.sent += len(data)
                    if self.rate:
                        time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


PY_URLLIB = """
import base64, sys, urllib.request, urllib.error
url, path = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, data=open(path, "rb"), method="PUT")
req.add_header("Content-Length", str(__import__("os").path.getsize(path)))
req.add_header("Authorization", "Basic " +
               base64.b64encode(b"bob:bob").decode())
try:
    r = urllib.request.urlopen(req, timeout=120)
    print("status", r.status)
except urllib.error.HTTPError as e:
    print("status", e.code)
except Exception as e:
    print("error", type(e).__name__, e)
"""

PY_REQUESTS = """
import sys, requests
url, path = sys.argv[1], sys.argv[2]
try:
    with open(path, "rb") as f:
        r = requests.put(url, data=f, auth=("bob", "bob"), timeout=120)
    print("status", r.status_code)
except Exception as e:
    print("error", type(e).__name__, e)
"""


def clients(url, path):
    """name -> argv; url is the upload URL, path the file to send."""
    auth = "bob:bob"
    folder = url.rsplit("/", 1)[0] + "/"
    return {
        "curl -T": ["curl", "-sS", "-o", "/dev/null", "-w", "status %{http_code}",
                    "-u", auth, "-T", path, url],
        "curl -T, no Expect": ["curl", "-sS", "-o", "/dev/null", "-w",
                               "status %{http_code}", "-H", "Expect:",
                               "-u", auth, "-T", path, url],
        "curl -F": ["curl", "-sS", "-o", "/dev/null", "-w",
                    "status %{http_code}", "-u", auth,
                    "-F", "file=@" + path, folder],
        "wget --method=PUT": ["wget", "-O", "/dev/null",
                              "--user=bob", "--password=bob",
                              "--auth-no-challenge", "--method=PUT",
                              "--body-file=" + path, url],
        "wget --tries=1 --content-on-error": [
            "wget", "-O", "/dev/null", "--tries=1", "--content-on-error",
            "--user=bob", "--password=bob", "--auth-no-challenge",
            "--method=PUT", "--body-file=" + path, url],
        "python3 urllib": ["python3", "-c", PY_URLLIB, url, path],
        "python3 requests": ["python3", "-c", PY_REQUESTS, url, path],
        # HTTPie streams a body it reads from standard input (run_one)
        "HTTPie": ["http", "--check-status", "-a", auth, "PUT", url],
    }


def run_one(name, argv, path, timeout):
    stdin = open(path, "rb") if name == "HTTPie" else subprocess.DEVNULL
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
    finally:
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    return rc, summary(out), time.monotonic() - t0


def summary(out):
    """The status the client reported, or the error it printed last."""
    m = re.findall(r'(?:status|ERROR|"status":) ?(\d{3})', out)
    if m:
        return "status " + m[-1]
    m = re.findall(r"^error (\w+)", out, re.M)
    if m:
        return m[-1]
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def ensure_clients():
    need = [p for p, cmd in (("wget", "wget"), ("httpie", "http"))
            if shutil.which(cmd) is None]
    try:
        import requests  # noqa: F401
    except ImportError:
        need.append("python3-requests")
    if need:
        subprocess.run(["apt-get", "install", "-y", "-qq",
                        "--no-install-recommends"] + need, check=True,
                       stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--paths", default="lighttpd-fastcgi,apache-proxy-fcgi")
    ap.add_argument("--size", type=int, default=256, help="MiB")
    ap.add_argument("--rate", type=int, default=0,
                    help="KiB/s from the client, 0: no limit")
    ap.add_argument("--timeout", type=int, default=180)
    args = ap.parse_args()
    ensure_clients()
    harness.BUILD = os.path.abspath(args.build)
    servers.BUILD = servers.reachable_build(harness.BUILD)
    harness.RUN_ROOT = tempfile.mkdtemp(prefix="upgate-clients-")
    os.chmod(harness.RUN_ROOT, 0o755)
    body = os.path.join(harness.RUN_ROOT, "body.bin")
    servers.sparse_file(body, args.size * MiB)
    os.chmod(body, 0o644)
    rate = args.rate * 1024 or None
    print("# %d MiB upload by a user over quota%s" % (
        args.size, ", link %d KiB/s" % args.rate if rate else ""))
    print("%-18s %-36s %-22s %12s %5s %7s" % (
        "path", "client", "result", "sent bytes", "conns", "seconds"))
    try:
        for path in args.paths.split(","):
            fx = servers.Fixture("clients-" + path, path, QUOTA, CONF)
            relay = Relay(fx.srv.port, rate)
            try:
                url = fx.srv.url("/big.bin").replace(
                    ":%d/" % fx.srv.port, ":%d/" % relay.port)
                for name, argv in clients(url, body).items():
                    relay.reset()
                    rc, last, secs = run_one(name, argv, body, args.timeout)
                    time.sleep(0.2)
                    print("%-18s %-36s %-22s %12d %5d %7.1f" % (
                        path, name, (last or "exit %s" % rc)[:22], relay.sent,
                        relay.connections, secs))
                    sys.stdout.flush()
            finally:
                relay.close()
                fx.close()
    finally:
        shutil.rmtree(harness.RUN_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
