#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Soak test of build/upgate.fcgi under valgrind (upgate(8), Limits: "keeps no
per-request state between requests, leaks nothing over millions of
requests").

    python3 tests/integration/soak_fcgi.py --build build [--count 10000]
        [--clients 2] [--threads 2] [--no-valgrind] [--rss-slack KIB]

One responder (--threads 2) under memcheck serves COUNT requests of mixed
outcomes from CLIENTS client threads, each with a user of its own: 201
store, 204 replace, 200 GET/HEAD, 204 DELETE, 404, 409, 411, 413, 507
quota, 400 bad path, 403, 412, 405, 415, 204 OPTIONS, 400 incomplete body,
and refusals whose body is left unread (held back, or sent whole and
drained), in every body format.  Each answer is checked as the integration
tests check it (status, headers, body, log line).  Then SIGTERM: the
responder must exit 0, and memcheck (--leak-check=full
--errors-for-leak-kinds=definite,indirect --error-exitcode=9) must report
no error and no leak.  VmRSS is sampled after 1,000 requests, half-way
and at the end, and printed; the end may not exceed the first sample by
more than --rss-slack KiB.  About 15 s for 10,000 requests under
valgrind.  Prints "ok - ..." or "FAIL - ..." and exits 1 on failure.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import Env, KiB, MiB, expect, expect_refusal_before_body  # noqa

ACCEPTS = ["application/json", "application/xml", "text/html",
           "text/plain"]


def _cycle(u):
    """One round of requests for user u: (label, kwargs for fcgi_run or a
    callable, expected status, reason)."""
    big = {"length": 5 * MiB, "body": b""}          # 413 before the body
    over = {"length": 2 * MiB, "body": b""}         # 507 before the body
    return [
        ("store", ("PUT", "/f.bin"), {"body": b"s" * 3000}, 201, "stored"),
        ("replace", ("PUT", "/f.bin"), {"body": b"r" * 1500}, 204,
         "replaced"),
        ("412", ("PUT", "/f.bin"), {"body": b"x",
                                    "headers": {"If-None-Match": "*"}},
         412, "precondition_failed"),
        ("get", ("GET",), {}, 200, None),
        ("head", ("HEAD",), {}, 200, None),
        ("delete", ("DELETE", "/f.bin"), {}, 204, "deleted"),
        ("404", ("DELETE", "/f.bin"), {}, 404, "not_found"),
        ("409", ("PUT", "/no/dir/x"), {"body": b"y" * 10}, 409, "conflict"),
        ("411", ("PUT", "/g"), {"body": b"z", "length": None}, 411,
         "length_required"),
        ("413", ("PUT", "/g"), big, 413, "too_large"),
        ("507", ("PUT", "/g"), over, 507, "quota_exceeded"),
        ("507 drained", ("PUT", "/g"), {"body": b"d" * (8 * KiB),
                                        "user": "tiny", "whole": True},
         507, "quota_exceeded"),
        ("400 path", ("PUT", "/../x"), {"body": b"p"}, 400, "bad_request"),
        ("403", ("PUT", "/x"), {"body": b"q", "user": "../x"}, 403,
         "forbidden"),
        ("400 incomplete", ("PUT", "/h"), {"body": b"i" * 500,
                                           "length": 1000},
         400, "incomplete_body"),
        ("405", ("PATCH", "/x"), {"body": b""}, 405, "method_not_allowed"),
        ("415", ("POST",), {"body": b"a=b", "content_type": "text/plain"},
         415, "unsupported_media_type"),
        ("options", ("OPTIONS",), {}, 204, None),
    ]


class Soak:
    def __init__(self, e, r, count, clients):
        self.e, self.r = e, r
        self.count = count
        self.clients = clients
        self.done = 0
        self.lock = threading.Lock()
        self.samples = {}
        self.errors = []
        self.marks = sorted({min(1000, count), max(min(1000, count),
                                                   count // 2), count})

    def client(self, k):
        u = "user%d" % k
        i = 0
        try:
            while True:
                for label, args, kw, status, reason in _cycle(u):
                    with self.lock:
                        if self.done >= self.count:
                            return
                        self.done += 1
                        n = self.done
                    kw = dict(kw)
                    user = kw.setdefault("user", u)
                    kw["accept"] = ACCEPTS[i % len(ACCEPTS)]
                    res = self.e.fcgi_run(*args, responder=self.r, **kw)
                    who = None if status == 405 else \
                        "-" if user == "../x" else user
                    expect(res, status, reason, user=who)
                    if status in (413, 507) and not kw.get("whole"):
                        expect_refusal_before_body(res)
                    if n in self.marks:
                        self.samples[n] = self.r.rss_kib()
                i += 1
        except Exception as ex:
            self.errors.append("client %d: %s" % (k, ex if isinstance(
                ex, harness.Failure) else traceback.format_exc()))

    def run(self):
        ts = [threading.Thread(target=self.client, args=(k,))
              for k in range(self.clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-valgrind", action="store_true")
    ap.add_argument("--rss-slack", type=int, default=None,
                    help="KiB the RSS may grow from request 1,000 to the "
                    "end (default 1024, or 16384 under valgrind, whose "
                    "freed-block quarantine grows up to 20 MB)")
    a = ap.parse_args()
    harness.BUILD = os.path.abspath(a.build)
    harness.MODE = "fcgi"
    harness.RUN_ROOT = tempfile.mkdtemp(prefix="upgate-soak-")
    name = "soak: %d requests through upgate.fcgi%s" % (
        a.count, "" if a.no_valgrind else " under valgrind")
    failures = []
    t0 = time.monotonic()
    e = Env(quota="tiny 10\n* 1M\n", conf={"max_upload_size": "4M"})
    vlog = os.path.join(e.root, "valgrind.log")
    if not a.no_valgrind:
        e.fcgi_wrapper = ["valgrind", "-q", "--tool=memcheck",
                          "--leak-check=full",
                          "--errors-for-leak-kinds=definite,indirect",
                          "--show-leak-kinds=definite,indirect",
                          "--error-exitcode=9", "--log-file=" + vlog]
    e.fcgi_threads = a.threads
    rc = None
    try:
        r = e.responder()
        s = Soak(e, r, a.count, a.clients)
        s.run()
        failures += s.errors
        t_run = time.monotonic() - t0
        rc = r.terminate(120)
        if rc is None:
            r.kill()
            failures.append("still running 120 s after SIGTERM (killed)")
        elif rc != 0:
            failures.append("exit status %s after SIGTERM%s" % (
                rc, " (9: valgrind found errors or leaks)" if rc == 9
                else ""))
        vtext = ""
        if os.path.exists(vlog):
            with open(vlog, errors="replace") as f:
                vtext = f.read()
        if vtext.strip():
            failures.append("valgrind reports:\n" + vtext[-4000:])
        err = r.stderr_text()
        bad = [l for l in err.splitlines()
               if l and not l.startswith("upgate: user=")]
        if bad:
            failures.append("unexpected stderr lines: %r" % bad[:5])
        nlog = len(re.findall(r"(?m)^upgate: user=", err))
        rss = s.samples
        marks = s.marks
        print("# %d requests in %.1f s (%.1f ms each), %d log lines; "
              "VmRSS %s" % (s.done, t_run, 1000.0 * t_run / max(1, s.done),
                            nlog, ", ".join("%s KiB after %d" % (rss.get(m),
                                                                 m)
                                            for m in marks)))
        first, last = rss.get(marks[0]), rss.get(marks[-1])
        slack = a.rss_slack if a.rss_slack is not None else \
            1024 if a.no_valgrind else 16384
        if len(marks) > 1 and None not in (first, last) and \
                last - first > slack:
            failures.append("VmRSS grew by %d KiB between request %d and %d "
                            "(%r, allowed %d KiB)" % (last - first, marks[0],
                                                      marks[-1], rss, slack))
        e.assert_clean("after the soak: ")
    except Exception as ex:
        failures.append(str(ex) if isinstance(ex, harness.Failure)
                        else traceback.format_exc())
    finally:
        e.cleanup()
        shutil.rmtree(harness.RUN_ROOT, ignore_errors=True)
    if failures:
        print("FAIL - %s: %s" % (name, "; ".join(failures)))
        return 1
    print("ok - %s (%.0f s)" % (name, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
