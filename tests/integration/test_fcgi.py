# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Decisions and upgate(8), Limits: the FastCGI responder itself (run with --fcgi): graceful
stop, refusals before the body, drain, re-read of configuration and quota
table, clients that go away, kill -9, a quota race through one responder,
how it is started (options, descriptor 0, TCP) and FastCGI framing."""

import os
import signal
import socket
import stat
import subprocess
import threading
import time

import fcgi_client
import harness
from harness import (Env, KiB, MiB, Responder, check, eq, expect,
                     expect_quota_obj, expect_refusal_before_body, fail,
                     fcgi_only, sha, test)


def _env(threads=2, **kw):
    e = Env(**kw)
    e.fcgi_threads = threads
    return e


def _until(cond, timeout=10.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def _tmp_count(e, n, timeout=10.0):
    return _until(lambda: len(e.tmp_files(e.upload)) >= n, timeout)


def _recount_quiet(e, what):
    rc, out, err = e.quota_tool("recount")
    eq((rc, out), (0, ""), "%s: upgate-quota recount (stderr %r)"
       % (what, err))


def _hold(e, r, name, n=10):
    """An accepted upload held open: it keeps one worker busy."""
    c, req = e.fcgi_request("PUT", name, responder=r, length=n)
    return c, req


def _release(e, held, data=None):
    out = []
    for c, req in held:
        n = int(req["length"])
        c.write(data or b"h" * n)
        out.append(c.finish(req))
    return out


# ------------------------------------------------------------ SIGTERM (upgate(8))

@test("fcgi: SIGTERM while 4 slow uploads stream: all complete (201), exit "
      "0, nothing partial or temporary left", slow=True)
@fcgi_only
def _():
    with _env(threads=4, quota="alice 10M\n") as e:
        r = e.responder()
        n, step = 256 * KiB, 8 * KiB
        bodies = [harness.randbytes(n, seed="term%d" % i) for i in range(4)]
        conns = [e.fcgi_request("PUT", "/up%d.bin" % i, responder=r,
                                length=n) for i in range(4)]
        results = [None] * 4
        gate = threading.Event()

        def feed(i):
            c, req = conns[i]
            for k in range(0, n, step):
                if k == n // 4:
                    gate.wait(10)      # the signal comes mid-body
                c.write(bodies[i][k:k + step])
                time.sleep(0.02)
            results[i] = c.finish(req, 60)
        ts = [threading.Thread(target=feed, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        check(_tmp_count(e, 4), "4 uploads in flight: expected 4 "
              ".upgate-tmp- files, found %r" % e.tmp_files())
        r.p.send_signal(signal.SIGTERM)
        t_sig = time.monotonic()
        time.sleep(0.2)
        alive = r.alive()
        gate.set()
        for t in ts:
            t.join(90)
        try:
            rc = r.p.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        dt = time.monotonic() - t_sig
        check(alive, "upgate.fcgi exited right after SIGTERM with 4 "
              "uploads in flight (exit %s)" % r.p.returncode)
        for i, res in enumerate(results):
            check(res is not None, "upload %d did not finish" % i)
            expect(res, 201, "stored")
        eq(rc, 0, "exit status after SIGTERM (%.1f s after the signal)" % dt)
        eq({k: sha(v) for k, v in e.stored().items()},
           {"up%d.bin" % i: sha(bodies[i]) for i in range(4)},
           "files after the graceful stop")
        eq(e.usage(), 4 * n, "ledger usage")
        e.assert_clean("after SIGTERM: ")
        _recount_quiet(e, "after SIGTERM")


@test("fcgi: SIGTERM with no request in flight: exit 0 at once")
@fcgi_only
def _():
    with _env() as e:
        r = e.responder()
        expect(e.fcgi_run("GET", responder=r), 200)
        t0 = time.monotonic()
        rc = r.terminate(10)
        eq(rc, 0, "exit status after SIGTERM")
        check(time.monotonic() - t0 < 3, "took %.1f s to stop"
              % (time.monotonic() - t0))


# ------------------------------------------------- refusals before the body

@test("fcgi: 507 quota arrives before any STDIN record is sent, with "
      "Connection: close; the responder keeps serving")
@fcgi_only
def _():
    with _env(quota="alice 100\n") as e:
        r = e.responder()
        for i in range(3):
            c, req = e.fcgi_request("PUT", "/big.bin", responder=r,
                                    length=MiB)
            got = c.wait_stdout_eof(10)
            eq(c.conn.stdin_records, 0, "STDIN records sent")
            check(got and c.conn.got_end(), "no END_REQUEST while the body "
                  "is withheld; stdout so far %r" % bytes(c.out[:300]))
            # the responder ends its side too (libfcgi half-closes)
            check(c.conn.wait_closed(5), "the responder did not close its "
                  "side of the connection after the refusal")
            res = c.finish(req)
            expect(res, 507, "quota_exceeded")
            expect_refusal_before_body(res)
            eq(res.written, 0, "body bytes sent")
        expect(e.fcgi_run("PUT", "/a", body=b"x" * 100, responder=r), 201,
               "stored")
        expect(e.fcgi_run("PUT", "/b", body=b"x", responder=r), 507,
               "quota_exceeded")
        eq(e.stored(), {"a": b"x" * 100}, "files")
        check(r.alive(), "the responder died")


@test("fcgi: a refused body sent whole is drained (buffering servers), the "
      "responder keeps serving")
@fcgi_only
def _():
    with _env(threads=1, quota="alice 100\n") as e:
        r = e.responder()
        body = os.urandom(4 * MiB)
        res = e.fcgi_run("PUT", "/a", responder=r, whole=True,
                         length=len(body),
                         body=[body[i:i + 256 * KiB]
                               for i in range(0, len(body), 256 * KiB)])
        expect(res, 507, "quota_exceeded")
        check(not res.epipe and res.written == len(body),
              "the responder stopped reading its connection after the "
              "answer (sent %d of %d bytes): a server that sends the whole "
              "body would see a reset" % (res.written, len(body)))
        expect(e.fcgi_run("PUT", "/b", body=b"y" * 10, responder=r), 201,
               "stored")


@test("fcgi: an idle client after a refusal does not hold a worker for "
      "long (--threads 1)", slow=True)
@fcgi_only
def _():
    with _env(threads=1, quota="alice 100\n") as e:
        r = e.responder()
        c, req = e.fcgi_request("PUT", "/a", responder=r, length=MiB)
        check(c.wait_stdout_eof(10), "no answer")
        # the refused connection stays open and silent
        t0 = time.monotonic()
        g = e.fcgi_run("GET", responder=r, timeout=30)
        dt = time.monotonic() - t0
        res = c.finish(req)
        expect(res, 507, "quota_exceeded")
        expect(g, 200)
        check(dt < 12, "the only worker was held %.1f s by an idle client "
              "after its refusal" % dt)


# ------------------------------------------------- re-read without restart

@test("fcgi: configuration changed in place and quota table replaced are "
      "picked up by every worker without restart")
@fcgi_only
def _():
    with _env(threads=2, quota="alice 100000\n",
              conf={"max_upload_size": "2000"}) as e:
        r = e.responder()
        # both workers load the first configuration
        held = [_hold(e, r, "/h1"), _hold(e, r, "/h2")]
        check(_tmp_count(e, 2), "two held uploads: %r" % e.tmp_files())
        for x in _release(e, held):
            expect(x, 201, "stored")
        expect(e.fcgi_run("PUT", "/a", body=b"a" * 1500, responder=r), 201,
               "stored")
        # same size, same inode: only the modification time tells
        e.conf["max_upload_size"] = "1000"
        e.write_conf()
        held = [_hold(e, r, "/h3")]   # one worker busy: the other answers
        check(_tmp_count(e, 1), "held upload")
        x = e.fcgi_run("PUT", "/b", body=b"b" * 1500, responder=r)
        expect(x, 413, "too_large")
        eq(x.json().get("limit"), 1000, "limit after the change")
        for x in _release(e, held):
            expect(x, 201, "stored")
        expect(e.fcgi_run("PUT", "/b", body=b"b" * 1500, responder=r), 413,
               "too_large")
        used = 20 + 1500 + 10
        eq(e.usage(), used, "usage")
        # the quota table, replaced by rename (upgate.conf(5), "The quota table")
        e.write_quota("alice %d\n" % (used + 30))
        held = [_hold(e, r, "/h4")]
        check(_tmp_count(e, 1), "held upload")
        g = e.fcgi_run("GET", responder=r)
        expect(g, 200)
        expect_quota_obj(g.json()["quota"], used + 30, used, 10, g.what())
        expect(e.fcgi_run("PUT", "/c", body=b"c" * 25, responder=r), 507,
               "quota_exceeded")
        for x in _release(e, held):
            expect(x, 201, "stored")
        # the table rewritten in place
        with open(e.quota_path, "w") as f:
            f.write("alice %d\n" % (used + 90))
        for _i in range(2):
            g = e.fcgi_run("GET", responder=r)
            eq(g.json()["quota"]["limit"], used + 90, "limit after an "
               "in-place rewrite")
        expect(e.fcgi_run("PUT", "/c", body=b"c" * 25, responder=r), 201,
               "stored")
        check(r.alive() and r.pid == e.responder().pid, "restarted")


@test("fcgi: a configuration broken and then fixed: 500, then served")
@fcgi_only
def _():
    with _env() as e:
        r = e.responder()
        expect(e.fcgi_run("PUT", "/a", body=b"1", responder=r), 201,
               "stored")
        good = open(e.conf_path).read()
        e.write_conf(good + "colour = blue\n")
        for _i in range(3):
            expect(e.fcgi_run("PUT", "/b", body=b"2", responder=r), 500,
                   "server_error", user=None)
        os.unlink(e.conf_path)
        expect(e.fcgi_run("GET", responder=r), 500, "server_error",
               user=None)
        e.write_conf(good)
        for _i in range(3):
            expect(e.fcgi_run("GET", responder=r), 200)
        expect(e.fcgi_run("PUT", "/b", body=b"2", responder=r), 201,
               "stored")
        e.write_conf(good.replace("upload_dir", "state_dir = %s/st\n"
                                  "upload_dir" % e.root))
        expect(e.fcgi_run("PUT", "/c", body=b"3", responder=r), 201,
               "stored")
        check(os.path.isdir(os.path.join(e.root, "st")), "the new state_dir "
              "is not used")


# --------------------------------------------------- clients that go away

@test("fcgi: a client that disconnects mid-body leaves nothing; the "
      "responder keeps serving")
@fcgi_only
def _():
    with _env(quota="alice 10M\n", conf={"create_parents": "yes"}) as e:
        r = e.responder()
        expect(e.fcgi_run("PUT", "/old.bin", body=b"o" * 1000, responder=r),
               201, "stored")
        for name in ("/new/dir/big.bin", "/old.bin"):
            c, req = e.fcgi_request("PUT", name, responder=r,
                                    length=2 * MiB)
            c.write(os.urandom(MiB))
            check(_until(lambda: any(
                os.path.exists(t) and os.stat(t).st_size > 0
                for t in e.tmp_files(e.upload))), "no temporary file")
            lines = c.abort()
            check(lines, "PUT %s: no log line for a request whose client "
                  "went away" % name)
            m = harness.LOG_RE.match(lines[-1])
            check(m and m.group("status") == "400" and
                  m.group("reason") == "incomplete_body",
                  "PUT %s: log line of an aborted upload: %r" % (name, lines))
            check(_until(lambda: not e.tmp_files()), "temporary files left "
                  "after the client went away: %r" % e.tmp_files())
            e.assert_clean("after the disconnect: ")
        eq(e.stored(), {"old.bin": b"o" * 1000}, "files")
        check(not os.path.exists(e.path("alice", "new")), "folder created "
              "by the aborted upload left behind")
        eq(e.usage(), 1000, "usage")
        expect(e.fcgi_run("PUT", "/next", body=b"n" * 10, responder=r), 201,
               "stored")
        check(r.alive(), "the responder died")
        _recount_quiet(e, "after the disconnects")


@test("fcgi: a client that disconnects before sending a body, or in the "
      "middle of its PARAMS, leaves nothing")
@fcgi_only
def _():
    with _env(quota="alice 10M\n") as e:
        r = e.responder()
        c, req = e.fcgi_request("PUT", "/a.bin", responder=r, length=5000)
        check(_tmp_count(e, 1), "no temporary file")
        lines = c.abort(status=400)
        check(lines and "reason=incomplete_body" in lines[-1],
              "log of an upload whose client left before its body: %r"
              % lines)
        check(_until(lambda: not e.tmp_files()), "temporary file left")
        # half a PARAMS stream, then gone
        s = fcgi_client.connect(r.sock)
        s.sendall(fcgi_client.begin_request(1) + fcgi_client.record(
            fcgi_client.PARAMS, 1, fcgi_client.name_value(
                "REQUEST_METHOD", "PUT"))[:20])
        s.close()
        r.claim_any(timeout=0.5)     # a line or none: it never began
        expect(e.fcgi_run("PUT", "/b", body=b"b", responder=r), 201,
               "stored")
        e.assert_clean()


# ------------------------------------------------------------- kill -9

@test("fcgi: kill -9 of the responder with 3 uploads in flight: the next "
      "responder reclaims every reservation and temporary file")
@fcgi_only
def _():
    with _env(threads=4, quota="alice 10M\nbob 10M\n") as e:
        r = e.responder()
        cs = []
        for i, u in enumerate(("alice", "alice", "bob")):
            c, req = e.fcgi_request("PUT", "/f%d" % i, responder=r,
                                    user=u, length=MiB)
            c.write(b"z" * (MiB // 2))
            cs.append(c)
        check(_tmp_count(e, 3), "3 temporary files: %r" % e.tmp_files())
        eq(len(e.reservations()), 3, "reservations while 3 uploads run")
        r.kill()
        for c in cs:
            c.conn.close()
        r2 = e.responder()
        check(r2.pid != r.pid, "no new responder")
        for u in ("alice", "bob"):
            g = e.fcgi_run("GET", user=u, responder=r2)
            expect(g, 200, user=u)
            expect_quota_obj(g.json()["quota"], 10 * MiB, 0, 0, g.what())
        eq(e.stored("alice"), {}, "alice's files")
        eq(e.stored("bob"), {}, "bob's files")
        e.assert_clean("after the next requests: ")
        expect(e.fcgi_run("PUT", "/f0", body=b"x" * 100, responder=r2), 201,
               "stored")


# ----------------------------------------------------------- quota race

@test("fcgi: 32 concurrent uploads through one responder (--threads 8) "
      "race for a quota: never over, recount prints nothing", slow=True)
@fcgi_only
def _():
    size, limit, procs = 100 * KiB, MiB, 32
    for rnd in range(3):
        with _env(threads=8, quota="alice %d\n" % limit) as e:
            r = e.responder()
            bodies = [os.urandom(size) for _ in range(procs)]
            names = ["/r%d-%02d.bin" % (rnd, i) for i in range(procs)]
            barrier = threading.Barrier(procs)
            res = [None] * procs

            def go(i):
                try:
                    barrier.wait(10)
                except threading.BrokenBarrierError:
                    pass
                res[i] = e.fcgi_run("PUT", names[i], body=bodies[i],
                                    responder=r)
            ts = [threading.Thread(target=go, args=(i,))
                  for i in range(procs)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            ok = []
            for i, x in enumerate(res):
                check(x is not None, "round %d: upload %d did not finish"
                      % (rnd, i))
                if x.status == 201:
                    expect(x, 201, "stored")
                    ok.append(i)
                else:
                    expect(x, 507, "quota_exceeded")
                    expect_refusal_before_body(x)
            stored = e.stored()
            total = sum(len(b) for b in stored.values())
            check(total <= limit, "round %d: stored %d bytes > limit %d"
                  % (rnd, total, limit))
            eq(len(ok), limit // size, "round %d: uploads stored" % rnd)
            eq(sorted(stored), sorted(names[i][1:] for i in ok),
               "round %d: files vs 201 answers" % rnd)
            for i in ok:
                eq(sha(stored[names[i][1:]]), sha(bodies[i]),
                   "round %d: sha256 of %s" % (rnd, names[i]))
            eq(e.usage(), total, "round %d: ledger vs files" % rnd)
            e.assert_clean("round %d: " % rnd)
            _recount_quiet(e, "round %d" % rnd)
            eq(e.usage(), total, "round %d: usage after recount" % rnd)


# ------------------------------------------------------- how it is started

def _fcgi_bin():
    return os.path.join(harness.BUILD, "upgate.fcgi")


@test("fcgi: usage errors exit 2 with a message")
@fcgi_only
def _():
    with _env() as e:
        sock = os.path.join(e.root, "u.sock")
        for args in (["--bogus"], ["--threads", "0"], ["--threads", "257"],
                     ["--threads", "x"], ["--listen", sock, "extra"],
                     ["--config"]):
            p = subprocess.run([_fcgi_bin()] + args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=10)
            eq(p.returncode, 2, "upgate.fcgi %s: exit status (stderr %r)"
               % (" ".join(args), p.stderr))
            check(p.stderr.strip(), "upgate.fcgi %s: no message"
                  % " ".join(args))


@test("fcgi: without --listen, a descriptor 0 that is not a socket: exit "
      "2 with a message")
@fcgi_only
def _():
    p = subprocess.run([_fcgi_bin()], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    eq(p.returncode, 2, "exit status (stderr %r)" % p.stderr)
    check(b"--listen" in p.stderr, "message %r does not mention --listen"
          % p.stderr)


def _run_with(e, r, what):
    try:
        x = e.fcgi_run("PUT", "/a.txt", body=b"hello", responder=r)
        expect(x, 201, "stored")
        eq(e.stored(), {"a.txt": b"hello"}, "%s: files" % what)
        expect(e.fcgi_run("GET", responder=r), 200)
    finally:
        probs = r.stop(True)
    check(not probs, "; ".join(probs))


@test("fcgi: the listening socket on descriptor 0 (a process manager), "
      "the configuration from UPGATE_CONFIG in its environment")
@fcgi_only
def _():
    with _env() as e:
        path = os.path.join(e.root, "pm.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(16)
        env = dict(os.environ, UPGATE_CONFIG=e.conf_path)
        try:
            r = Responder(e.root, e.conf_path, argv=[_fcgi_bin()], env=env,
                          stdin=ls.fileno(), sock=path)
        finally:
            ls.close()
        _run_with(e, r, "descriptor 0")


@test("fcgi: --listen 127.0.0.1:PORT (TCP)")
@fcgi_only
def _():
    with _env() as e:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        r = Responder(e.root, e.conf_path, argv=[
            _fcgi_bin(), "--listen", "127.0.0.1:%d" % port, "--threads", "2",
            "--config", e.conf_path], sock=("127.0.0.1", port))
        _run_with(e, r, "TCP")


@test("fcgi: --listen /path.sock makes the socket mode 0660")
@fcgi_only
def _():
    with _env() as e:
        r = e.responder()
        mode = stat.S_IMODE(os.stat(r.sock).st_mode)
        eq(oct(mode), oct(0o660), "mode of %s" % r.sock)


@test("fcgi: --config wins over UPGATE_CONFIG; an UPGATE_CONFIG param from "
      "the server is ignored")
@fcgi_only
def _():
    with _env() as e:
        other = Env(conf={"max_upload_size": "1"})
        try:
            env = dict(os.environ, UPGATE_CONFIG=other.conf_path)
            r = Responder(e.root, e.conf_path, argv=[
                _fcgi_bin(), "--listen", os.path.join(e.root, "c.sock"),
                "--config", e.conf_path], env=env,
                sock=os.path.join(e.root, "c.sock"))
            try:
                # as a server would pass a SetEnv: a param, not the process
                env2 = e.cgi_env("PUT", "/b.txt", body=b"hello")
                params = dict(harness._fcgi_params(env2),
                              UPGATE_CONFIG=other.conf_path)
                c = harness.FcgiCgi(r, env2, {"method": "PUT",
                                              "path": "/b.txt",
                                              "user": "alice"}, params)
                c.write(b"hello")
                x = c.finish(c.req)
                expect(x, 201, "stored")
                eq(e.stored(), {"b.txt": b"hello"}, "files (stored where "
                   "--config says)")
                eq(other.stored(), {}, "files under UPGATE_CONFIG's "
                   "upload_dir")
            finally:
                probs = r.stop(True)
            check(not probs, "; ".join(probs))
        finally:
            other.cleanup()


# ------------------------------------------------------------ framing

@test("fcgi: PARAMS over 65535 bytes (several records, 4-byte lengths) "
      "and a body in 1-byte STDIN records")
@fcgi_only
def _():
    with _env() as e:
        r = e.responder()
        name = "n" * 200 + ".txt"          # a 4-byte length (> 127)
        x = e.fcgi_run("PUT", "/" + name, responder=r, body=b"hello",
                       headers={"X-Filler": "f" * 100000,
                                "Accept": "text/plain;q=0.1, " +
                                "application/json"})
        expect(x, 201, "stored")
        c, req = e.fcgi_request("PUT", "/b.txt", responder=r, length=5)
        for b in b"world":
            c.write(bytes([b]))
        expect(c.finish(req), 201, "stored")
        eq(e.stored(), {name: b"hello", "b.txt": b"world"}, "files")


@test("fcgi: FCGI_KEEP_CONN: a second request on the kept connection is "
      "answered (or the connection closed after the first)")
@fcgi_only
def _():
    with _env(threads=1) as e:
        r = e.responder()
        params = harness._fcgi_params(e.cgi_env("GET"))
        s = fcgi_client.connect(r.sock)
        try:
            got = []
            for i in range(2):
                try:
                    s.sendall(fcgi_client.begin_request(1, keep_conn=True) +
                              fcgi_client.stream(
                                  fcgi_client.PARAMS, 1,
                                  fcgi_client.encode_params(params)) +
                              fcgi_client.record(fcgi_client.STDIN, 1))
                except OSError:
                    got.append("closed")
                    break
                s.settimeout(5)
                data = b""
                try:
                    while b"\x01\x03\x00\x01" not in data:
                        b = s.recv(65536)
                        if not b:
                            break
                        data += b
                except socket.timeout:
                    got.append("no answer in 5 s")
                    break
                got.append("answered" if b"Status: 200" in data
                           else "closed" if not data else data[:80])
        finally:
            s.close()
        check(got[0] == "answered", "first request: %r" % got)
        check(len(got) == 2 and got[1] in ("answered", "closed"),
              "second request on a kept connection (FCGI_KEEP_CONN, "
              "mod_proxy_fcgi enablereuse=on, nginx fastcgi_keep_conn): "
              "expected an answer or the connection closed, got %r" % got)


@test("fcgi: SIGTERM while a kept connection (FCGI_KEEP_CONN) is idle: "
      "exit 0 within 10 s")
@fcgi_only
def _():
    with _env(threads=1) as e:
        r = e.responder()
        params = harness._fcgi_params(e.cgi_env("GET"))
        s = fcgi_client.connect(r.sock)
        try:
            s.sendall(fcgi_client.begin_request(1, keep_conn=True) +
                      fcgi_client.stream(fcgi_client.PARAMS, 1,
                                         fcgi_client.encode_params(params)) +
                      fcgi_client.record(fcgi_client.STDIN, 1))
            s.settimeout(5)
            data = b""
            while b"\x01\x03\x00\x01" not in data:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            rc = r.terminate(10)
            if rc is None:
                r.kill()
                fail("upgate.fcgi still running 10 s after SIGTERM while a "
                     "kept connection is open and idle (killed)")
            eq(rc, 0, "exit status")
        finally:
            s.close()
