# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Slow clients (upgate(8), Limits, the issue's "must not starve"): 200 connections
through lighttpd + upgate.fcgi each send a PUT head with a length of
100,000 and then trickle 2 to 5 body bytes a second, for 20 s.  Meanwhile
a GET starts every second and a 4 KiB PUT every two: each must be
answered (200, 201) within 5 s.  Then the slow clients leave (RST), and
nothing of theirs may stay (no file, no temporary file, no reservation;
ledger = recount); the probes' files are stored whole.

What the servers do, as measured here: lighttpd with
server.stream-request-body = 2 forwards each request to upgate.fcgi as
soon as its head is in and hands over body bytes as they come; a worker
thread of upgate.fcgi that took such a request stays in its body loop
until the last byte or the end of the connection.  lighttpd's
server.max-read-idle (60 s by default) drops only a client that sends
nothing at all for that long, so a client sending a byte a second is
never dropped; upgate.fcgi has no timeout of its own while it reads a
body.  With --threads N, N slow uploads take every worker, and the other
requests wait in the listening socket's queue until one ends.

Run twice: with upgate.fcgi as lighttpd-conf/upgate-fastcgi.conf starts
it (default --threads 4), and with --threads 256 (more workers than slow
clients), to show what --threads changes.  The figures (latencies,
answers, workers busy) are printed either way.
"""

import os
import socket
import struct
import threading
import time

import torture
from torture import (KiB, LighttpdFixture, check, eq, figure,
                     ledger_matches, request_head, sha, test)

USER = "alice"
SLOW = 200
SLOW_LENGTH = 100000
TRICKLE_S = 20
BOUND_S = 5.0
PROBE_TIMEOUT = 15


def _open_slow(fx, n, rand, socks):
    """Opens n slow uploads into socks (the caller closes them)."""
    for i in range(n):
        s = torture.connect(fx.port)
        socks.append(s)
        s.sendall(request_head("PUT", "/slow%03d.bin" % i, USER,
                               SLOW_LENGTH))
        s.sendall(b"s" * rand.randint(1, 5))
        s.setblocking(False)


def _trickle(socks, rand, stop, sent):
    while not stop.wait(1.0):
        for s in socks:
            try:
                sent[0] += s.send(b"s" * rand.randint(2, 5))
            except (BlockingIOError, InterruptedError):
                sent[1] += 1            # lighttpd holds it back
            except OSError:
                sent[2] += 1            # dropped by the server


def _probe(fx, kind, n, out, lock):
    t0 = time.monotonic()
    if kind == "GET":
        r = fx.http("GET", "", USER, timeout=PROBE_TIMEOUT)
        body = None
    else:
        body = os.urandom(4 * KiB)
        r = fx.http("PUT", "/probe%03d.bin" % n, USER, body=body,
                    timeout=PROBE_TIMEOUT)
    with lock:
        out.append((kind, n, t0, time.monotonic() - t0, r, body))


def _torture(fx, label):
    rand = torture.rng("slow-" + label)
    e = fx.env
    r = fx.http("GET", "", USER, timeout=10)
    check(r.status == 200, "GET before the slow clients: %s" % r.summary())
    pid = torture.responder_pids(fx)
    eq(len(pid), 1, "upgate.fcgi processes")
    threads = torture.responder_threads(pid[0]) - 1     # less main
    socks = []
    stop = threading.Event()
    sent = [0, 0, 0]
    tr = threading.Thread(target=_trickle, args=(socks, rand, stop, sent))
    probes, lock, pts = [], threading.Lock(), []
    busy = []
    try:
        t_open = time.monotonic()
        _open_slow(fx, SLOW, rand, socks)
        t_open = time.monotonic() - t_open
        tr.start()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < TRICKLE_S:
            for kind in ("GET",) + (("PUT",) if n % 2 else ()):
                t = threading.Thread(target=_probe,
                                     args=(fx, kind, n, probes, lock))
                t.start()
                pts.append(t)
            busy.append(len(e.tmp_files(e.user_dir(USER))))
            n += 1
            time.sleep(max(0.0, t0 + n - time.monotonic()))
    finally:
        stop.set()
        if tr.is_alive():
            tr.join(10)
        t_leave = time.monotonic()
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            except OSError:
                pass
            s.close()
        for t in pts:
            t.join(PROBE_TIMEOUT + 10)
    # the server recovers once they left
    r = fx.http("GET", "", USER, timeout=30)
    recover = time.monotonic() - t_leave
    check(r.status == 200, "GET after the slow clients left: %s"
          % r.summary())
    torture.wait_until(lambda: not e.tmp_files() and not e.reservations(),
                       30)
    # figures first, so that a failure below still reports them
    lat = [p[3] for p in probes if p[4].status in (200, 201)]
    late = [p for p in probes if p[4].status not in (200, 201) or
            p[3] > BOUND_S]
    first_late = min((p[2] - t0 for p in late), default=None)
    figure("slow clients " + label, "%d slow PUTs opened in %.1fs (upgate."
           "fcgi with %s workers), trickled %d bytes in %ds (%d sends held "
           "back, %d failed); uploads in upgate's body loop (temporary "
           "files): %s", SLOW, t_open, threads, sent[0], TRICKLE_S, sent[1],
           sent[2], "min %d max %d" % (min(busy), max(busy)) if busy
           else "-")
    figure("slow clients " + label, "%d probes (GET each second, 4 KiB PUT "
           "every two): %d answered within %.0f s; answered ones took "
           "median %.0f ms, max %.0f ms; %d late or unanswered (statuses %s)"
           "%s; first GET after the slow clients left: %.2fs",
           len(probes), len(probes) - len(late), BOUND_S,
           1000 * torture.pct(lat, 50), 1000 * max(lat or [0]), len(late),
           sorted(set(str(p[4].status) for p in late)) or "-",
           "" if first_late is None else
           ", the first one started %.1fs into the trickle" % first_late,
           recover)
    figure("slow clients " + label, "probes (start s: status after s): %s",
           ", ".join("%s@%.0f:%s/%.1f" % (p[0], p[2] - t0, p[4].status,
                                          p[3])
                     for p in sorted(probes, key=lambda p: p[2])))
    # nothing of the slow clients stayed; the probes that got 201 are
    # stored whole; one whose client gave up may be stored (its whole
    # body was in), and then whole too
    files = e.stored(USER)
    sent_puts = {"probe%03d.bin" % p[1]: p for p in probes if p[0] == "PUT"}
    for k in files:
        check(k in sent_puts, "alice's folder after the slow clients left: "
              "%s, which no probe sent (a slow upload stored?)" % k)
        check(sha(files[k]) == sha(sent_puts[k][5]), "%s differs from what "
              "was sent" % k)
    for k, p in sent_puts.items():
        if p[4].status == 201:
            check(k in files, "%s: 201, but no such file" % k)
        elif p[4].status is not None:
            check(k not in files, "%s: answered %s, yet stored"
                  % (k, p[4].status))
    ledger_matches(e, USER, fx.recount, "after the slow clients left")
    # the issue: the slow clients must not starve the other requests
    check(not late, "%d of %d requests made while %d clients trickled "
          "bytes were not answered within %.0f s (the first started %.1fs "
          "into the trickle): %s" % (
              len(late), len(probes), SLOW, BOUND_S, first_late or 0,
              "; ".join("%s #%d: %s after %.1fs" % (
                  p[0], p[1], p[4].status if p[4].status else
                  p[4].error, p[3]) for p in late[:6])))


@test("slow clients: %d connections trickling bytes through lighttpd + "
      "upgate.fcgi (default --threads 4) must not starve other requests: "
      "GET and PUT answered within %.0f s" % (SLOW, BOUND_S))
def _():
    fx = LighttpdFixture("slow-default", "%s 1G\n" % USER,
                         {"max_upload_size": "1G"})
    try:
        _torture(fx, "(default threads)")
    finally:
        problem = fx.close()
    check(problem is None, "at teardown: %s" % problem)


@test("slow clients, --threads 256: the same with more workers than "
      "slow clients")
def _():
    fx = LighttpdFixture("slow-256", "%s 1G\n" % USER,
                         {"max_upload_size": "1G"},
                         args=["--threads", "256"])
    try:
        _torture(fx, "(--threads 256)")
    finally:
        problem = fx.close()
    check(problem is None, "at teardown: %s" % problem)
