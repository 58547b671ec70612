# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""tus-js-client, the tus client of browsers and Node, through the
streaming hosting paths (README, "Resumable uploads"; upgate(8),
"Resumable uploads"): Node uploads a file in PATCHes of 1 MiB, aborts
in the middle of a PATCH, and a second Node process finds the upload's
URL in tus-js-client's URL storage, asks the offset with HEAD and sends
the rest.  The resumed upload starts at or past every offset the server
acknowledged (none lost), the file comes out byte-exact, and the ledger
holds its size as usage with nothing reserved or temporary left.

Needs node and tests/browser/node_modules (make servers runs npm ci
there when it is missing)."""

import json
import os
import shutil
import subprocess

import harness
from servers import MiB, Fixture, Group, check, eq, expect, skip

QUOTA = "alice 20M\n"
STREAMING = ("lighttpd-fastcgi", "apache-proxy-fcgi")
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "tus_client.js")
CLIENT = os.path.join(HERE, "..", "browser", "node_modules", "tus-js-client")
SIZE = 6 * MiB + 12345      # the last PATCH a short one
CHUNK = MiB
CUT_AT = 3 * MiB + MiB // 2  # in the middle of the fourth PATCH


def _setup(path):
    def setup():
        if shutil.which("node") is None:
            skip("node is not installed")
        if not os.path.isdir(CLIENT):
            skip("tests/browser/node_modules has no tus-js-client "
                 "(npm ci in tests/browser)")
        return Fixture("tus-js-" + path, path, QUOTA, {})
    return setup


def _node(fx, phase, *args):
    """Runs tus_client.js; returns its JSON report."""
    argv = ["node", SCRIPT, phase, fx.srv.url(""), "alice"] + \
        [str(a) for a in args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    check(out.strip(), "%s: tus_client.js %s printed nothing (exit %d): %s"
          % (fx.path, phase, p.returncode,
             p.stderr.decode("utf-8", "replace")[-1500:]))
    return json.loads(out.strip().splitlines()[-1])


def _register(path):
    g = Group("tus-js-" + path, _setup(path))

    @g.case("%s: tus-js-client uploads in chunks, is cut off mid-PATCH, "
            "a new process resumes from the server's offset, byte-exact"
            % path)
    def _(fx):
        e = fx.env
        work = os.path.join(fx.root, "client")
        os.makedirs(work)
        src = os.path.join(work, "holiday.mp4")
        data = os.urandom(SIZE)
        with open(src, "wb") as f:
            f.write(data)
        store = os.path.join(work, "tus-urls.json")

        cut = _node(fx, "cut", src, "holiday.mp4", store, CHUNK, CUT_AT)
        eq(cut["outcome"], "cut", "%s: the first run: %r" % (path, cut))
        methods = [r["method"] for r in cut["requests"]]
        eq(methods[0], "POST", "%s: the first request (%r)" % (path, methods))
        eq(cut["requests"][0]["status"], 201, "%s: creation" % path)
        check(all(r["status"] == 204 for r in cut["requests"][1:]),
              "%s: PATCHes before the cut: %r" % (path, cut["requests"]))
        check(cut["acked"] and cut["acked"][-1] < CUT_AT,
              "%s: offsets acknowledged before the cut: %r"
              % (path, cut["acked"]))
        check(e.stored("alice") == {} or
              all(n.startswith(harness.TMP_PREFIX)
                  for n in e.stored("alice")),
              "%s: a file under its name before the end: %r"
              % (path, sorted(e.stored("alice"))))
        eq(len(e.tmp_files()), 1, "%s: the unfinished upload's file" % path)

        done = _node(fx, "resume", src, "holiday.mp4", store, CHUNK)
        eq(done["outcome"], "finished", "%s: the resumed run: %r"
           % (path, done))
        eq(done["url"], cut["url"], "%s: the upload resumed" % path)
        first = done["requests"][0]
        eq(first["method"], "HEAD", "%s: the resumed run's first request "
           "(%r)" % (path, done["requests"]))
        # every HEAD: the 409s of a server still busy with the PATCH that
        # was cut off make the client ask again
        heads = [r["offset"] for r in done["requests"]
                 if r["method"] == "HEAD"]
        check(all(cut["acked"][-1] <= o < SIZE for o in heads),
              "%s: HEAD's offsets %r, acknowledged before the cut %d"
              % (path, heads, cut["acked"][-1]))
        check(heads == sorted(heads), "%s: HEAD's offsets went backwards: "
              "%r" % (path, heads))
        check("POST" not in [r["method"] for r in done["requests"]],
              "%s: the resumed run created a new upload: %r"
              % (path, done["requests"]))
        eq(done["acked"][-1], SIZE, "%s: the last offset" % path)

        eq(e.stored("alice"), {"holiday.mp4": data}, "%s: files" % path)
        eq(e.usage("alice"), SIZE, "%s: usage" % path)
        r = fx.curl("GET", "")
        expect(r, 200)
        eq(r.json()["quota"]["reserved"], 0, "%s: reserved" % path)
        eq(e.tmp_files(), [], "%s: temporary files" % path)
        # tus-js-client leaves a finished upload's URL to its expiry;
        # terminating it forgets the lease and keeps the file
        expect(fx.curl("DELETE", "/.resumable/" + done["url"].rsplit("/")[-1],
                       headers=["Tus-Resumable: 1.0.0"]), 204, "deleted")
        eq(e.stored("alice"), {"holiday.mp4": data}, "%s: files" % path)
        e.assert_clean("%s: " % path)


for _p in STREAMING:
    _register(_p)
