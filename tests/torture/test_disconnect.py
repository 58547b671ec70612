# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Clients that disconnect mid-body (upgate(8), Accounting, upgate(8), Requests, upgate(8), Limits): 50 times, at a
random byte of the body, a client drops its connection — half of them
with a plain close (FIN), half with a reset (SO_LINGER 0) — through
lighttpd + upgate.fcgi; then 50 times a FastCGI connection to a
standalone upgate.fcgi is dropped at a random byte of its STDIN stream
(so also inside a record header or a record's content), as a web server
does whose client left.

Uploads are a new PUT, a PUT replacing base.bin, or a multipart POST of
64 KiB to 4 MiB.  After each: the responder logs the request (a 400
incomplete_body: it did not hang waiting for bytes that will not come),
nothing is stored (base.bin untouched, no new file, no temporary file,
no reservation), the ledger is unchanged and equals the disk (`recount`
prints nothing), and the responder keeps serving: a GET and, every tenth
time, a PUT succeed within a few seconds.  The responder is the same
process from start to end.

--long runs 200 of each.
"""

import os
import re
import socket
import struct
import time

import fcgi_client
import harness
import torture
from harness import Env, expect
from torture import (KiB, MiB, LighttpdFixture, check, eq, figure,
                     multipart, request_head, test)

USER = "carol"
LIMIT = 100 * MiB
COUNT = 50
COUNT_LONG = 200
LOG = re.compile(r"upgate: user=(\S+) method=(\S+) status=(\d+) "
                 r"reason=(\S+)")


def _log_lines(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    return [m.groups() for m in map(LOG.search, text.splitlines()) if m]


def _job(rand, n):
    kind = rand.choice(("PUT", "PUT-replace", "POST"))
    data = rand.randbytes(rand.randint(64 * KiB, 4 * MiB))
    name = "base.bin" if kind == "PUT-replace" else "x%03d.bin" % n
    return kind, name, data


def _drop_http(fx, rand, n, stats):
    kind, name, data = _job(rand, n)
    if kind == "POST":
        ct, body = multipart(name, data)
        head = request_head("POST", "", USER, len(body), ct)
    else:
        body = data
        head = request_head("PUT", "/" + name, USER, len(body))
    cut = rand.randint(0, len(body) - 1)
    reset = rand.random() < 0.5
    s = torture.connect(fx.port)
    try:
        s.sendall(head)
        off = 0
        while off < cut:
            k = min(cut - off, rand.choice((1, 1000, 16 * KiB, 256 * KiB)))
            s.sendall(body[off:off + k])
            off += k
            if rand.random() < 0.1:
                time.sleep(rand.random() * 0.02)
    finally:
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        s.close()
    stats["reset" if reset else "fin"] += 1
    stats["bytes"] += cut
    return kind, name, cut, len(body), reset


def _drop_fcgi(e, resp, rand, n, stats):
    kind, name, data = _job(rand, n)
    if kind == "POST":
        ct, body = multipart(name, data)
        env = e.cgi_env("POST", None, user=USER, length=len(body),
                        content_type=ct)
    else:
        body = data
        env = e.cgi_env("PUT", "/" + name, user=USER, length=len(body))
    stream = fcgi_client.stream(fcgi_client.STDIN, 1, body)
    cut = rand.randint(0, len(stream) - 1)
    torture.fcgi_raw_abort(resp.sock, harness._fcgi_params(env),
                           stream[:cut])
    stats["bytes"] += cut
    return kind, name, cut, len(stream), True


def _check_after(what, env, before_files, used_before, recount, logs,
                 nlog, stats, serve):
    # the responder saw the end of the body and logged the request
    got = torture.wait_until(lambda: len(logs()) > nlog, 10)
    lines = logs()
    if not got:
        # dropped before the responder had it: nothing may be in flight
        stats["no_line"] += 1
        check(not env.tmp_files() and not env.reservations(),
              "%s: no log line within 10 s and an upload still in flight "
              "(temporary files %r, reservations %r): a worker waits for "
              "bytes that will not come" % (what, env.tmp_files(),
                                            env.reservations()))
    else:
        eq(len(lines), nlog + 1, "%s: log lines (%r)" % (what,
                                                        lines[nlog:]))
        user, method, status, reason = lines[-1]
        check((status, reason) == ("400", "incomplete_body"),
              "%s: logged status=%s reason=%s, expected 400 "
              "incomplete_body" % (what, status, reason))
        stats["400"] += 1
    # nothing stored, nothing left
    ok = torture.wait_until(lambda: not env.tmp_files() and
                            not env.reservations(), 5)
    check(ok, "%s: 5 s after the request was logged: temporary files %r, "
          "reservations %r" % (what, env.tmp_files(), env.reservations()))
    now = env.stored(USER)
    eq(sorted(now), sorted(before_files), "%s: carol's files" % what)
    for k, v in before_files.items():
        check(now[k] == v, "%s: %s changed" % (what, k))
    eq(env.usage(USER), used_before, "%s: carol's usage" % what)
    rc, out, err = recount()
    eq((rc, out), (0, ""), "%s: upgate-quota recount (stderr %r)"
       % (what, err))
    t0 = time.monotonic()
    serve()
    stats["serve"].append(time.monotonic() - t0)


@test("disconnects through lighttpd: %d clients (--long: %d) drop the "
      "connection at a random body byte (FIN or RST): nothing stored, "
      "ledger unchanged, upgate.fcgi keeps serving" % (COUNT, COUNT_LONG))
def _():
    count = COUNT_LONG if torture.LONG else COUNT
    rand = torture.rng("disconnect-http")
    stats = {"fin": 0, "reset": 0, "bytes": 0, "no_line": 0, "400": 0,
             "serve": []}
    t0 = time.monotonic()
    fx = LighttpdFixture("disconnect", "%s %d\n" % (USER, LIMIT),
                         {"max_upload_size": "1G"})
    try:
        e = fx.env
        base = rand.randbytes(200 * KiB)
        r = fx.http("PUT", "/base.bin", USER, body=base)
        check(r.status == 201, "%s: %s" % (r.what(), r.summary()))
        pids = torture.responder_pids(fx)
        eq(len(pids), 1, "upgate.fcgi processes")

        def logs():
            return _log_lines(fx.srv.out)

        def serve(n):
            def go():
                r = fx.http("GET", "", USER, timeout=10)
                check(r.status == 200, "GET after disconnect %d: expected "
                      "200 within 10 s, got %s" % (n, r.summary()))
                if n % 10 == 9:
                    b = os.urandom(100 * KiB)
                    r = fx.http("PUT", "/ok%03d.bin" % n, USER, body=b,
                                timeout=10)
                    check(r.status == 201, "PUT after disconnect %d: "
                          "expected 201 within 10 s, got %s"
                          % (n, r.summary()))
                    r = fx.http("DELETE", "/ok%03d.bin" % n, USER,
                                timeout=10)
                    check(r.status == 204, "DELETE: %s" % r.summary())
            return go
        for n in range(count):
            before = e.stored(USER)
            used = e.usage(USER)
            nlog = len(logs())
            kind, name, cut, total, reset = _drop_http(fx, rand, n, stats)
            what = "disconnect %d: %s %s dropped (%s) after %d of %d body " \
                "bytes" % (n, kind, name, "RST" if reset else "FIN", cut,
                           total)
            _check_after(what, e, before, used, fx.recount, logs, nlog,
                         stats, serve(n))
        eq(torture.responder_pids(fx), pids, "upgate.fcgi after %d "
           "disconnects (the same process)" % count)
    finally:
        problem = fx.close()
    check(problem is None, "at teardown: %s" % problem)
    s = stats["serve"]
    figure("disconnects through lighttpd", "%d dropped in %.1fs (%d FIN, "
           "%d RST, %.1f MiB sent before the drops): %d logged 400 "
           "incomplete_body, %d dropped before upgate had the request; the "
           "next GET took median %.0f ms, max %.0f ms", count,
           time.monotonic() - t0, stats["fin"], stats["reset"],
           stats["bytes"] / MiB, stats["400"], stats["no_line"],
           1000 * torture.pct(s, 50), 1000 * max(s))


@test("disconnects over FastCGI: %d connections (--long: %d) to a "
      "standalone upgate.fcgi dropped at a random byte of the STDIN "
      "stream: nothing stored, ledger unchanged, it keeps serving"
      % (COUNT, COUNT_LONG), root=False)
def _():
    count = COUNT_LONG if torture.LONG else COUNT
    rand = torture.rng("disconnect-fcgi")
    stats = {"fin": 0, "reset": 0, "bytes": 0, "no_line": 0, "400": 0,
             "serve": []}
    t0 = time.monotonic()
    with Env(quota="%s %d\n" % (USER, LIMIT)) as e:
        resp = e.responder()
        pid = resp.pid
        base = rand.randbytes(200 * KiB)
        expect(e.fcgi_run("PUT", "/base.bin", body=base, user=USER), 201,
               "stored", user=USER)

        def logs():
            return [m.groups() for m in
                    map(LOG.search, resp.stderr_text().splitlines()) if m]

        def serve(n):
            def go():
                r = e.fcgi_run("GET", user=USER, timeout=10)
                expect(r, 200, user=USER)
                if n % 10 == 9:
                    r = e.fcgi_run("PUT", "/ok%03d.bin" % n,
                                   body=os.urandom(100 * KiB), user=USER,
                                   timeout=10)
                    expect(r, 201, "stored", user=USER)
                    expect(e.fcgi_run("DELETE", "/ok%03d.bin" % n,
                                      user=USER, timeout=10), 204,
                           "deleted", user=USER)
            return go
        for n in range(count):
            before = e.stored(USER)
            used = e.usage(USER)
            nlog = len(logs())
            kind, name, cut, total, _ = _drop_fcgi(e, resp, rand, n, stats)
            # the dropped requests' lines are no request's answer: claim
            # them so that the final check does not count them
            what = "FastCGI disconnect %d: %s %s dropped after %d of %d " \
                "STDIN stream bytes" % (n, kind, name, cut, total)

            def recount():
                return e.quota_tool("recount")
            _check_after(what, e, before, used, recount, logs, nlog, stats,
                         serve(n))
            resp.claim_any(400, 0.5)
        check(resp.alive() and e.responder().pid == pid,
              "upgate.fcgi died during the disconnects: %r"
              % resp.stderr_text()[-600:])
    s = stats["serve"]
    figure("disconnects over FastCGI", "%d dropped in %.1fs (%.1f MiB of "
           "STDIN stream sent before the drops): %d logged 400 "
           "incomplete_body, %d dropped before the request was complete "
           "enough to log; the next GET took median %.0f ms, max %.0f ms",
           count, time.monotonic() - t0, stats["bytes"] / MiB,
           stats["400"], stats["no_line"], 1000 * torture.pct(s, 50),
           1000 * max(s))
