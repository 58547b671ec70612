# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate(8), Decisions row 11 (quota_exceeded) and upgate(8), Responses's quota body, through the CGI."""

import os

import harness

from harness import (Env, check, eq, expect, expect_quota_headers,
                     expect_quota_obj, expect_refusal_before_body, log_of,
                     test)


def _fill(e, files):
    for name, size in files:
        r = e.run("PUT", "/" + name, body=b"f" * size)
        expect(r, 201, "stored")


@test("row11: quota exceeded -> 507 with quota/upload/actions/analysis")
def _():
    with Env(quota="alice 1000\n", conf={"create_parents": "yes"}) as e:
        _fill(e, [("a.bin", 300), ("b.bin", 100), ("sub/c.bin", 200)])
        r = e.run("PUT", "/d.bin", body=b"d" * 500)
        expect(r, 507, "quota_exceeded")
        w = r.what()
        expect_refusal_before_body(r)
        expect_quota_headers(r, 600, 1000)
        check(r.header("Retry-After") is None, "%s: Retry-After on a quota "
              "507: %r" % (w, r.header("Retry-After")))
        check(r.header("Link") is None, "%s: Link without upgrade_url: %r"
              % (w, r.header("Link")))
        j = r.json()
        expect_quota_obj(j.get("quota"), 1000, 600, 0, w)
        eq(j["quota"]["percentage_used"], 60.0, "%s: percentage_used" % w)
        eq(j.get("upload"), {"size": 500, "shortage": 100}, "%s: upload" % w)
        eq(j.get("actions"), {}, "%s: actions without URLs" % w)
        eq(j.get("storage_analysis"),
           {"largest_files": [{"name": "a.bin", "size": 300},
                              {"name": "sub/c.bin", "size": 200},
                              {"name": "b.bin", "size": 100}]},
           "%s: storage_analysis" % w)
        check("details" not in j, "%s: disk details in a quota body" % w)
        lg = log_of(r)
        eq((lg["size"], lg["used"], lg["limit"]), ("500", "600", "1000"),
           "%s: log size/used/limit" % w)
        eq(e.usage(), 600, "usage after the refusal")
        check("d.bin" not in e.stored(), "refused file stored")
        e.assert_clean()


@test("row11: upgrade_url/cleanup_url -> actions and Link header")
def _():
    conf = {"upgrade_url": "https://example.com/plans?from=upgate&x=1",
            "cleanup_url": "/files/manage", "largest_files": "2"}
    with Env(quota="alice 100\n", conf=conf) as e:
        _fill(e, [("a", 10), ("b", 30), ("c", 20)])
        r = e.run("PUT", "/d", body=b"d" * 50)
        expect(r, 507, "quota_exceeded")
        w = r.what()
        eq(r.header("Link"),
           '<https://example.com/plans?from=upgate&x=1>; rel="upgrade"',
           "%s: Link" % w)
        a = r.json().get("actions") or {}
        eq(sorted(a), ["cleanup", "upgrade"], "%s: actions keys" % w)
        eq(a["upgrade"].get("url"), conf["upgrade_url"], "upgrade.url")
        eq(a["cleanup"].get("url"), conf["cleanup_url"], "cleanup.url")
        for k in ("upgrade", "cleanup"):
            check(isinstance(a[k].get("description"), str) and
                  a[k]["description"].strip(),
                  "%s: actions.%s.description %r" % (w, k, a[k]))
        eq(r.json()["storage_analysis"]["largest_files"],
           [{"name": "b", "size": 30}, {"name": "c", "size": 20}],
           "%s: largest_files = 2" % w)


@test("row11: largest_files = 0 lists none")
def _():
    with Env(quota="alice 10\n", conf={"largest_files": "0"}) as e:
        _fill(e, [("a", 5)])
        r = e.run("PUT", "/b", body=b"x" * 6)
        expect(r, 507, "quota_exceeded")
        eq(r.json().get("storage_analysis"), {"largest_files": []},
           "storage_analysis")


@test("row11: exactly filling the quota is allowed, one more byte is not")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 1000), 201, "stored")
        r = e.run("PUT", "/b", body=b"x")
        expect(r, 507, "quota_exceeded")
        j = r.json()
        eq(j["quota"]["available"], 0, "available")
        eq(j["upload"], {"size": 1, "shortage": 1}, "upload")
        eq(e.usage(), 1000, "usage")


@test("row11: replacing PUT is charged the difference")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 600), 201, "stored")
        # 900 replaces 600: charge 300, 600 + 300 <= 1000
        expect(e.run("PUT", "/a", body=b"y" * 900), 204, "replaced")
        eq(e.usage(), 900, "usage")
        # 1100 replaces 900: charge 200, 900 + 200 > 1000
        r = e.run("PUT", "/a", body=b"z" * 1100)
        expect(r, 507, "quota_exceeded")
        eq(r.json()["upload"].get("shortage"), 100, "shortage (charge "
           "200, available 100)")
        eq(e.stored(), {"a": b"y" * 900}, "file kept")
        eq(e.usage(), 900, "usage kept")
        e.assert_clean()
        # exactly to the limit by replacement
        expect(e.run("PUT", "/a", body=b"w" * 1000), 204, "replaced")
        eq(e.usage(), 1000, "usage")


@test("row11: over quota (limit lowered): shrinking replace and empty body "
      "pass, growth is refused")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 900), 201, "stored")
        e.write_quota("alice 500\n")
        r = e.run("PUT", "/new", body=b"x")
        expect(r, 507, "quota_exceeded")
        j = r.json()
        eq(j["quota"]["available"], 0, "available when over quota")
        eq(j["quota"]["percentage_used"], 180.0, "percentage_used")
        expect_quota_headers(r, 900, 500)
        expect(e.run("PUT", "/a", body=b"x" * 100), 204, "replaced")
        eq(e.usage(), 100, "usage after shrinking")
        e.write_quota("alice 50\n")
        expect(e.run("PUT", "/empty", body=b""), 201, "stored")
        eq(e.usage(), 100, "usage after empty")


@test("row11: limit 0 refuses any non-empty upload, never an empty one")
def _():
    with Env(quota="alice 0\n") as e:
        r = e.run("PUT", "/a", body=b"x")
        expect(r, 507, "quota_exceeded")
        eq(r.json()["quota"]["percentage_used"], 100, "percentage_used")
        expect(e.run("PUT", "/b", body=b""), 201, "stored")
        eq(e.stored(), {"b": b""}, "files")


@test("row11: '*' applies to users the table does not name")
def _():
    with Env(quota="alice 1G\n* 10\n") as e:
        r = e.run("PUT", "/a", body=b"x" * 11, user="zed")
        expect(r, 507, "quota_exceeded", user="zed")
        expect(e.run("PUT", "/a", body=b"x" * 11), 201, "stored")


@test("row11: quotas are per user")
def _():
    with Env(quota="alice 100\nbob 100\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 100), 201, "stored")
        r = e.run("PUT", "/a", body=b"x" * 100, user="bob")
        expect(r, 201, "stored", user="bob")
        expect(e.run("PUT", "/b", body=b"x"), 507, "quota_exceeded")
        eq((e.usage("alice"), e.usage("bob")), (100, 100), "usages")


@test("row11: quota refusal decided before the body (X-Expected-Entity-"
      "Length)")
def _():
    with Env(quota="alice 10\n") as e:
        r = e.run("PUT", "/a", body=b"x" * 20, length=None,
                  headers={"X-Expected-Entity-Length": "20"})
        expect(r, 507, "quota_exceeded")
        expect_refusal_before_body(r)
        check(not e.stored(), "stored")


@test("row10 before row 11: both would refuse -> disk_full")
def _():
    with Env(quota="alice 10\n", conf={"min_free_space": "100%"}) as e:
        r = e.run("PUT", "/a", body=b"x" * 20)
        expect(r, 507, "disk_full")
        expect_quota_headers(r, 0, 10)


@test("row11: a refused PUT with create_parents leaves no folder behind")
def _():
    with Env(quota="alice 10\n", conf={"create_parents": "yes"}) as e:
        r = e.run("PUT", "/new/deep/a", body=b"x" * 20)
        expect(r, 507, "quota_exceeded")
        check(not os.path.exists(e.path("alice", "new")),
              "folder 'new' left behind by a refused upload")
        e.assert_clean()


def _set_usage(e, user, used):
    """What a recount that raced a removal leaves: usage without the file,
    its record still there."""
    if e.schema is not None:
        e.sql("UPDATE upgate_usage SET used = %d WHERE owner = '%s'"
              % (used, user))
        return
    with open(os.path.join(e.state, "usage", user), "w") as f:
        f.write("%20d\n" % used)


@test("row11: a record whose file is gone never lowers the charge of a "
      "new file of that name (PUT and form)")
def _():
    from test_multipart import CT, form, fpart
    with Env(quota="alice 10000\n") as e:
        expect(e.run("PUT", "/big.bin", body=b"b" * 4000), 201, "stored")
        expect(e.run("PUT", "/f.bin", body=b"f" * 3000), 201, "stored")
        os.unlink(e.path("alice", "big.bin"))
        os.unlink(e.path("alice", "f.bin"))
        _set_usage(e, "alice", 0)
        check(e.record("alice/big.bin") is not None, "the stale record")
        r = e.run("PUT", "/big.bin", body=b"n" * 9000)
        expect(r, 201, "stored")
        eq(e.usage(), 9000, "usage after a PUT over a stale record")
        r = e.run("POST", body=form([fpart("a", "f.bin", b"g" * 900)]),
                  content_type=CT)
        expect(r, 201, "stored")
        eq(e.usage(), 9900, "usage after a form over a stale record")
        eq(e.usage(), e.disk_usage(), "ledger = disk")
        r = e.run("PUT", "/more.bin", body=b"m" * 200)
        expect(r, 507, "quota_exceeded")
        e.assert_clean()


def _damage_index(path, how):
    """Changes quota.idx in place (same inode), as another program
    might: cut to nothing, its header overwritten, or its records."""
    if how == "cut":
        os.truncate(path, 0)
        return
    with open(path, "r+b") as f:
        if how == "header":
            f.write(b"garbage!" * 4)
        else:
            f.seek(96)      # the header's size (common/quota.c)
            f.write(b"\xff" * (os.path.getsize(path) - 96))


@test("quota.idx cut or rewritten under the gate: the right limit, the "
      "problem logged, the index whole again, the responder alive")
def _():
    # no '*' rule: a user the index loses would be unlimited
    with Env(quota="alice 1000\nbob 5000\n") as e:
        idx = os.path.join(e.state, "quota.idx")
        rc, out, err = e.quota_tool("show", "alice")    # writes the index
        eq(rc, 0, "upgate-quota show (stderr %r)" % err)
        whole = open(idx, "rb").read()
        expect(e.run("PUT", "/a", body=b"a" * 100), 201, "stored")
        fcgi = harness.MODE == "fcgi"
        for how in ("cut", "header", "records"):
            # the responder's workers hold the whole index before it changes
            for _i in range(3):
                expect(e.run("GET", user="bob"), 200, user="bob")
            pid = e.responder().pid if fcgi else None
            _damage_index(idx, how)
            diag = []
            for _i in range(3):
                g = e.run("GET", user="bob")
                expect(g, 200, user="bob")
                eq(g.json()["quota"]["limit"], 5000, "%s: bob's limit" % how)
                diag += g.diag_lines()
            r = e.run("PUT", "/b", body=b"b" * 1000)
            expect(r, 507, "quota_exceeded")
            eq(r.json()["quota"]["limit"], 1000, "%s: limit" % how)
            diag += r.diag_lines()
            # a cut or a foreign header may be found on opening the index
            # (a CGI, a worker's first request), compiled again silently
            # as a stale index is; records only by a lookup, which says so
            if how == "records":
                check(any("quota.idx: cannot be read" in x for x in diag),
                      "%s: the problem is not logged: %r" % (how, diag))
            eq(open(idx, "rb").read(), whole, "%s: the index afterwards"
               % how)
            if not fcgi:    # a worker not asked yet may still hold it
                g = e.run("GET", user="bob")
                eq(g.diag_lines(), [], "%s: a whole index logs nothing"
                   % how)
            if pid is not None:
                check(e.responder().pid == pid, "%s: the responder died"
                      % how)
                e.fcgi_stop()   # the next one's workers read the index
        # upgate-quota likewise: the limit from the table, the cause said
        for cmd in (("show", "alice"), ("report",)):
            _damage_index(idx, "records")
            rc, out, err = e.quota_tool(*cmd)
            eq(rc, 0, "%s: exit status (stderr %r)" % (cmd[0], err))
            check("quota.idx: cannot be read" in err, "%s: stderr %r"
                  % (cmd[0], err))
            check(("limit: 1000 bytes" if cmd[0] == "show" else
                   "alice  1000 bytes") in out, "%s: %r" % (cmd[0], out))
            eq(open(idx, "rb").read(), whole, "%s: the index afterwards"
               % cmd[0])
        eq(e.usage(), 100, "usage")
        left = [n for n in os.listdir(e.state) if n.startswith("quota.idx")]
        eq(left, ["quota.idx"], "no temporary index left")
