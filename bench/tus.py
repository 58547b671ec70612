#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""What a resumable upload costs (README, "Resumable uploads"), through
lighttpd + upgate.fcgi (tests/servers/servers.py starts it from
lighttpd-conf/upgate-fastcgi.conf), the same run, one after the other:

  large   1 GiB as one PUT (curl -T) against the same 1 GiB as a tus
          upload: the creation, then PATCHes of 16 MiB one after the
          other over one connection (one curl, each PATCH after --next),
          as tus-js-client sends chunks; wall-clock time of the whole.
          Also the same PATCHes with a curl process and a new connection
          each, which shows what a connection and a process cost.  The
          order alternates between rounds.  Target: tus at least 0.8x.
  small   uploads per second of 4 KiB: a PUT to a new name against a
          tus upload (the creation, then the PATCH that completes and
          publishes it: two requests), over keep-alive connections, one
          and then 8 at once, each for --seconds.

The body and the chunks are files on the same filesystem as upload_dir
(the real disk: --dir, default /var/tmp), written once and in the page
cache; each large file is removed after its run, the small ones (new
names every time, through the gate's ledger) at the end.  Figures are medians
of --rounds; nothing is asserted.

  python3 bench/tus.py --build DIR [--size MIB] [--chunk MIB]
                       [--rounds N] [--seconds S] [--dir DIR]
                       [--conf KEY=VALUE] [--keep]

Needs root (the server's children run as www-data), lighttpd and curl.
"""

import argparse
import base64
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

import servers  # noqa: E402
import harness  # noqa: E402  (tests/integration, via servers)
from hosting import make_body, remove  # noqa: E402

MiB = 1 << 20
MB = 1000 * 1000
USER = "alice"
AUTH = "Basic " + base64.b64encode(b"alice:alice").decode()
TUS = ["-H", "Tus-Resumable: 1.0.0"]


def curl(argv, timeout):
    """curl -sS ARGV; (status, stdout+stderr)."""
    p = subprocess.run(["curl", "-sS", "--http1.1", "-u", "alice:alice",
                        "-H", "Expect:", "--max-time", str(timeout),
                        "-o", "/dev/null", "-D", "-"] + argv,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = p.stdout.decode("latin-1")
    try:
        return int(out.split(None, 2)[1]), out
    except (IndexError, ValueError):
        return 0, out


def header(out, name):
    for line in out.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def put_large(fx, body, name, timeout):
    t0 = time.monotonic()
    st, out = curl(["-T", body, fx.srv.url("/" + name)], timeout)
    dt = time.monotonic() - t0
    return dt if st == 201 else None, out


def create(fx, size, name, timeout):
    """The creation: (Location as a URL, None), or (None, curl's output)."""
    meta = "filename " + base64.b64encode(name.encode()).decode()
    st, out = curl(["-X", "POST", "-H", "Content-Length: 0", "-H",
                    "Upload-Length: %d" % size, "-H",
                    "Upload-Metadata: " + meta] + TUS + [fx.srv.url("")],
                   timeout)
    if st != 201:
        return None, out
    return "http://127.0.0.1:%d%s" % (fx.srv.port,
                                      header(out, "Location")), out


def patch_argv(url, chunk, off):
    return ["-X", "PATCH", "-T", chunk, "-H", "Content-Type: "
            "application/offset+octet-stream", "-H", "Upload-Offset: %d"
            % off] + TUS + [url]


def tus_large(fx, chunks, size, name, timeout):
    """A curl per PATCH: a new process and connection for every chunk."""
    t0 = time.monotonic()
    url, out = create(fx, size, name, timeout)
    if url is None:
        return None, out
    off = 0
    for c in chunks:
        st, out = curl(patch_argv(url, c, off), timeout)
        if st != 204:
            return None, out
        off = int(header(out, "Upload-Offset"))
    dt = time.monotonic() - t0
    return dt if off == size else None, out


def tus_large_kept(fx, chunks, size, name, timeout):
    """The PATCHes one after the other over one kept connection, as
    tus-js-client and the other clients send them: one curl, each
    request after --next (curl reuses the connection), each offset the
    one the previous PATCH must have answered; every answer checked."""
    t0 = time.monotonic()
    url, out = create(fx, size, name, timeout)
    if url is None:
        return None, out
    argv, off = [], 0
    for c in chunks:
        if argv:
            argv.append("--next")
        argv += ["-sS", "--http1.1", "-u", "alice:alice", "-H", "Expect:",
                 "--max-time", str(timeout), "-o", "/dev/null", "-D", "-",
                 "-w", "connects %{num_connects}\r\n"]
        argv += patch_argv(url, c, off)
        off += os.path.getsize(c)
    p = subprocess.run(["curl"] + argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    dt = time.monotonic() - t0
    out = p.stdout.decode("latin-1")
    lines = out.split("\r\n")
    codes = [int(x.split()[1]) for x in lines if x.startswith("HTTP/")]
    offsets = [int(x.split(":", 1)[1]) for x in lines
               if x.lower().startswith("upload-offset:")]
    connects = sum(int(x.split()[1]) for x in lines
                   if x.startswith("connects "))
    step = os.path.getsize(chunks[0])
    ok = p.returncode == 0 and codes == [204] * len(chunks) and \
        offsets == [min(size, (i + 1) * step) for i in range(len(chunks))]
    if ok and connects != 1:
        harness.fail("the PATCHes took %d connections, not one" % connects)
    return dt if ok else None, out


def large(fx, run_root, size, chunk, rounds, timeout):
    body = os.path.join(run_root, "body")
    make_body(body, size)
    chunks = []
    with open(body, "rb") as f:
        for i in range(0, size, chunk):
            p = os.path.join(run_root, "chunk%04d" % len(chunks))
            with open(p, "wb") as o:
                o.write(f.read(chunk))
            chunks.append(p)
    runs = {"PUT": put_large, "tus": tus_large_kept, "tus-curls": tus_large}
    res = {kind: [] for kind in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(list(runs)))
        for kind in order:
            name = "large-%d-%s.bin" % (r, kind)
            os.sync()
            if kind == "PUT":
                dt, out = put_large(fx, body, name, timeout)
            else:
                dt, out = runs[kind](fx, chunks, size, name, timeout)
            where = os.path.join(fx.env.user_dir(USER), name)
            ok = dt is not None and os.path.getsize(where) == size \
                if os.path.exists(where) else False
            remove(where)
            if not ok:
                harness.fail("%s of %d MiB failed: %s" % (kind, size >> 20,
                                                           out[-600:]))
            res[kind].append(size / dt / MB)
            print("# round %d %-9s %7.1f MB/s  %6.2fs; load %.2f"
                  % (r + 1, kind, size / dt / MB, dt, os.getloadavg()[0]),
                  flush=True)
    for p in chunks + [body]:
        remove(p)
    return res


# ------------------------------------------------------------ small

class Client:
    """A keep-alive connection to the gate."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def req(self, method, path, body=b"", headers=None):
        h = {"Authorization": AUTH, "Content-Length": str(len(body))}
        h.update(headers or {})
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        r.read()
        return r.status, r


def small_put(cl, name, data):
    st, _ = cl.req("PUT", "/upload/" + name, data)
    return st == 201


def small_tus(cl, name, data):
    st, r = cl.req("POST", "/upload", b"", {
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
        "Upload-Metadata": "filename " +
        base64.b64encode(name.encode()).decode()})
    if st != 201:
        return False
    st, r = cl.req("PATCH", r.getheader("Location"), data, {
        "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    return st == 204 and r.getheader("Upload-Offset") == str(len(data))


def small(fx, kind, conns, seconds, tag):
    """Uploads of 4 KiB per second over conns connections."""
    data = os.urandom(4096)
    fn = small_put if kind == "PUT" else small_tus
    counts = [0] * conns
    errors = []
    end = time.monotonic() + seconds

    def loop(i):
        cl = Client(fx.srv.port)
        n = 0
        try:
            while time.monotonic() < end:
                if not fn(cl, "s-%s-%s-%d-%d.bin" % (tag, kind, i, n), data):
                    errors.append("%s %d" % (kind, n))
                    return
                n += 1
        except Exception as e:      # a benchmark reports, it does not stop
            errors.append(repr(e))
        counts[i] = n
    t0 = time.monotonic()
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        harness.fail("small %s: %s" % (kind, errors[:3]))
    small.stored += sum(counts)
    return sum(counts) / dt


small.stored = 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=int, default=1024, help="MiB")
    ap.add_argument("--chunk", type=int, default=16, help="MiB per PATCH")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--conf", action="append", default=[],
                    metavar="KEY=VALUE", help="an upgate.conf(5) key for "
                    "both, say sync=no")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + \
        ":/usr/sbin:/sbin"
    build = os.path.abspath(a.build)
    harness.BUILD = servers.BUILD = build
    harness.KEEP = a.keep
    run_root = tempfile.mkdtemp(prefix="upgate-bench-tus-", dir=a.dir)
    os.chmod(run_root, 0o755)
    harness.RUN_ROOT = run_root
    t0 = time.monotonic()
    fx = None
    try:
        print("# load %.2f %.2f %.2f at the start (%d CPUs)"
              % (os.getloadavg() + (os.cpu_count(),)), flush=True)
        conf = dict(kv.split("=", 1) for kv in a.conf)
        fx = servers.Fixture("tus", "lighttpd-fastcgi", "alice 64G\n", conf)
        big = large(fx, run_root, a.size * MiB, a.chunk * MiB, a.rounds,
                    a.timeout)
        rates = {}
        for r in range(a.rounds):
            for conns in (1, 8):
                kinds = ("PUT", "tus") if r % 2 == 0 else ("tus", "PUT")
                for kind in kinds:
                    v = small(fx, kind, conns, a.seconds, "%d-%d" % (r,
                                                                     conns))
                    rates.setdefault((kind, conns), []).append(v)
                    print("# round %d 4 KiB %-3s x%d: %7.1f uploads/s; "
                          "load %.2f" % (r + 1, kind, conns, v,
                                         os.getloadavg()[0]), flush=True)
    except harness.Failure as e:
        print("bench-tus: %s" % e, file=sys.stderr)
        return 1
    finally:
        if fx is not None:
            fx.close()
        if not a.keep:
            shutil.rmtree(run_root, ignore_errors=True)
    put = statistics.median(big["PUT"])
    tus = statistics.median(big["tus"])
    curls = statistics.median(big["tus-curls"])
    print("# %d MiB, median of %d: PUT %.1f MB/s, tus (PATCHes of %d MiB "
          "over one connection) %.1f MB/s: %.2fx" % (a.size, a.rounds, put,
                                                     a.chunk, tus, tus / put))
    print("# the same PATCHes, a curl process and connection each: "
          "%.1f MB/s: %.2fx" % (curls, curls / put))
    for conns in (1, 8):
        p = statistics.median(rates["PUT", conns])
        t = statistics.median(rates["tus", conns])
        print("# 4 KiB, %d connection%s, median of %d: PUT %.0f uploads/s, "
              "tus (creation + PATCH) %.0f uploads/s (%.0f requests/s): "
              "%.2fx" % (conns, "" if conns == 1 else "s", a.rounds, p, t,
                         2 * t, t / p))
    # flat cost: a user's finished uploads must not slow their requests
    print("# 4 KiB PUT on 1 connection, the last round against the first "
          "(%d uploads stored in all, tus and PUT): %.2fx"
          % (small.stored, rates["PUT", 1][-1] / rates["PUT", 1][0]))
    print("# load %.2f %.2f %.2f at the end; %.0fs in all"
          % (os.getloadavg() + (time.monotonic() - t0,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
