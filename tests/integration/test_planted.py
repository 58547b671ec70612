# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""FIFOs planted in state_dir (upgate(8), FILES): whoever can write there
(the web server's user, on a shared host) must not hang the gate or
upgate-quota.  Each name is opened without waiting (O_NONBLOCK) and its
type checked: the CGI, the responder and upgate-quota show, check and
recount answer within a bounded time — a timeout fails the test — with
the request served, or 500 and the cause in the log, and nothing left
behind."""

import os
import stat

from harness import Env, check, eq, expect, test

WAIT = 20      # seconds: a hang, not a measure

REQUESTS = [("GET", None, 200), ("PUT", "/b.txt", 201),
            ("PUT", "/a.txt", 204), ("DELETE", "/a.txt", 204)]
ALL, NONE, A_TXT = (0, 1, 2, 3), (), (2, 3)

# name below state_dir (with a PostgreSQL ledger only the quota index
# and table are there); which of REQUESTS get 500, and the cause their
# log names; the exit status of show, check, recount; whether recount
# (or the gate) replaces or removes the FIFO
PLANTS = [
    ("quota.idx", NONE, None, (0, 0, 0), True),
    ("usage/alice", ALL, "the ledger failed: usage:EINVAL", (1, 0, 0),
     True),
    ("files/alice/a.txt", A_TXT, "the ledger failed: record:EINVAL",
     (0, 0, 0), True),
    ("resv/alice/00000000000000ff", NONE, None, (0, 0, 0), True),
    ("resv/.idle/00000000000000fe", NONE, None, (0, 0, 0), True),
    ("lock", ALL, "cannot open the ledger: ledger input/output error "
     "(lock:EINVAL)", (1, 1, 1), False),
    ("quota", ALL, "quota: not a regular file", (1, 1, 1), False),
]


def _requests(e, name, fails, want):
    for i, (method, path, ok) in enumerate(REQUESTS):
        body = b"y" * 5 if method == "PUT" else b""
        r = e.run(method, path, body=body, timeout=WAIT)
        if i not in fails:
            expect(r, ok)
            continue
        user = None if name in ("lock", "quota") else "alice"
        expect(r, 500, "server_error", user=user)
        check(any(x.endswith(want) for x in r.diag_lines()),
              "%s: %s %s: the cause is not logged: %r"
              % (name, method, path, r.stderr))


@test("a FIFO planted in state_dir (index, usage, record, reservation, "
      "lock, quota table) hangs neither the gate nor upgate-quota")
def _():
    for name, fails, want, codes, replaced in PLANTS:
        with Env(quota="alice 100000\n") as e:
            if e.schema is not None and ("/" in name or name == "lock"):
                continue        # the files ledger's: not there
            fifo = os.path.join(e.state, name)
            if name == "quota":         # the table kept in state_dir
                os.makedirs(e.state)
                e.conf["quota_file"] = fifo
                e.write_conf()
                with open(fifo, "w") as f:
                    f.write("alice 100000\n")
            eq(e.quota_tool("show", "alice")[0], 0, "%s: show" % name)
            expect(e.run("PUT", "/a.txt", body=b"x" * 10), 201, "stored")
            e.fcgi_stop()       # a responder started with the FIFO there
            os.makedirs(os.path.dirname(fifo), exist_ok=True)
            if os.path.exists(fifo):
                os.unlink(fifo)
            os.mkfifo(fifo, 0o600)
            _requests(e, name, fails, want)
            for cmd, code in zip(("show", "check", "recount"), codes):
                args = (cmd, "alice") if cmd == "show" else (cmd,)
                rc, out, err = e.quota_tool(*args, timeout=WAIT)
                eq(rc, code, "%s: upgate-quota %s (stderr %r)"
                   % (name, cmd, err))
                check(code == 0 or err.strip(), "%s: %s says nothing"
                      % (name, cmd))
            mode = os.lstat(fifo).st_mode if os.path.lexists(fifo) else 0
            eq(not stat.S_ISFIFO(mode), replaced, "%s: replaced or removed"
               % name)
            if stat.S_ISFIFO(mode):
                os.unlink(fifo)
            if name == "quota":
                with open(fifo, "w") as f:
                    f.write("alice 100000\n")
            # whole again: served, and the figures right
            e.fcgi_stop()
            expect(e.run("PUT", "/c.txt", body=b"z" * 7), 201, "stored")
            eq(e.quota_tool("recount")[0], 0, "%s: recount" % name)
            eq(e.usage(), sum(os.path.getsize(os.path.join(e.user_dir(), n))
                              for n in os.listdir(e.user_dir())),
               "%s: usage after recount" % name)
