"""SPEC §10: upgate-quota check, show, report, recount, usage errors."""

import json
import os
import re

from harness import Env, check, eq, expect, fail, test


def _tool_ok(e, *args):
    rc, out, err = e.quota_tool(*args)
    check(rc == 0, "upgate-quota %s: exit %s, stdout %r, stderr %r"
          % (" ".join(args), rc, out, err))
    return out, err


@test("quota tool: check on a good configuration prints nothing, exit 0")
def _():
    with Env(quota="alice 1G\n* 10M\n") as e:
        rc, out, err = e.quota_tool("check")
        eq((rc, out, err), (0, "", ""), "upgate-quota check")


@test("quota tool: check on a broken table -> FILE:LINE: lines, exit 1")
def _():
    with Env(quota="alice 1G\nbob 10X\n# c\nalice 2G\ncarol\n") as e:
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        eq(out, "", "stdout")
        for ln in (2, 4, 5):
            check(re.search(r"(^|\s)%s:%d: \S" % (re.escape(e.quota_path),
                                                  ln), err, re.M),
                  "no '%s:%d: message' line in %r" % (e.quota_path, ln, err))
        eq(len([l for l in err.splitlines() if l.strip()]), 3,
           "one line per problem: %r" % err)


@test("quota tool: check on a broken configuration -> FILE:LINE:, exit 1")
def _():
    with Env() as e:
        e.write_conf("upload_dir = %s\n\ncolour = blue\n" % e.upload)
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        check(re.search(r"(^|\s)%s:3: \S" % re.escape(e.conf_path), err),
              "no '%s:3: message' in %r" % (e.conf_path, err))


@test("quota tool: check with an unusable state_dir -> exit 1")
def _():
    with Env(write=False) as e:
        bad = os.path.join(e.root, "state-file")
        with open(bad, "w") as f:
            f.write("not a folder\n")
        e.conf["state_dir"] = bad
        e.write_conf()
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stdout %r stderr %r)" % (out, err))
        check(err.strip(), "no message on stderr")


@test("quota tool: show USER gives limit, used, reserved, available, %")
def _():
    with Env(quota="alice 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 250), 201, "stored")
        out, err = _tool_ok(e, "show", "alice")
        check(out.strip(), "show printed nothing")
        for word in ("limit", "used", "reserved", "available"):
            check(word in out.lower(), "%r missing from %r" % (word, out))
        check("250" in out, "used 250 not shown: %r" % out)
        check("1000" in out or "1000 bytes" in out or "1,000" in out or
              "1000" in out.replace(" ", ""), "limit 1000 missing: %r" % out)
        check("25.0" in out, "percentage 25.0 missing: %r" % out)


@test("quota tool: report --json: order, flags and fields")
def _():
    table = "alice 1000\nbob 1000\ncarol unlimited\ndave 1000\nfred 1000\n"
    with Env(quota=table) as e:
        for user, size in (("alice", 950), ("bob", 850), ("dave", 1000),
                           ("carol", 10), ("fred", 100)):
            expect(e.run("PUT", "/f", body=b"x" * size, user=user), 201,
                   "stored", user=user)
        e.write_quota(table + "# eve is unnamed\n")
        expect(e.run("PUT", "/f", body=b"x" * 5, user="eve"), 201, "stored",
               user="eve")
        out, err = _tool_ok(e, "report", "--json")
        try:
            j = json.loads(out)
        except ValueError as ex:
            fail("report --json is not JSON (%s): %r" % (ex, out))
        users = j.get("users")
        check(isinstance(users, list), "no users list: %r" % j)
        names = [u.get("user") for u in users]
        eq(names[:4], ["dave", "alice", "bob", "fred"],
           "order: highest percentage first")
        eq(sorted(names[4:]), ["carol", "eve"], "unlimited users last")
        by = {u["user"]: u for u in users}
        eq(by["dave"].get("flag"), "full", "dave flag")
        eq(by["alice"].get("flag"), "90%", "alice flag")
        eq(by["bob"].get("flag"), "80%", "bob flag")
        eq(by["fred"].get("flag", "absent"), None, "fred flag")
        eq(by["carol"].get("flag", "absent"), None, "carol flag")
        want = {"user": "alice", "limit": 1000, "used": 950, "reserved": 0,
                "available": 50, "percentage_used": 95.0, "flag": "90%"}
        eq(by["alice"], want, "alice's entry")
        eq(by["carol"], {"user": "carol", "limit": None, "used": 10,
                         "reserved": 0, "available": None,
                         "percentage_used": None, "flag": None},
           "carol's entry")
        eq(by["eve"].get("used"), 5, "eve (ledger only) used")


@test("quota tool: report (text) lists every known user")
def _():
    with Env(quota="alice 1000\nbob 2000\n") as e:
        expect(e.run("PUT", "/f", body=b"x" * 900), 201, "stored")
        out, err = _tool_ok(e, "report")
        check("alice" in out and "bob" in out, "report %r" % out)
        check("90%" in out, "alice's 90%% flag missing: %r" % out)


@test("quota tool: recount after a file vanished behind the ledger's back")
def _():
    with Env(quota="alice 1000\nbob 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 300), 201, "stored")
        expect(e.run("PUT", "/b", body=b"x" * 200), 201, "stored")
        expect(e.run("PUT", "/c", body=b"x" * 7, user="bob"), 201, "stored",
               user="bob")
        os.unlink(e.path("alice", "a"))
        out, err = _tool_ok(e, "recount")
        lines = [l for l in out.splitlines() if l.strip()]
        eq(len(lines), 1, "recount output lines %r" % out)
        check("alice" in lines[0], "recount line does not name alice: %r"
              % lines[0])
        eq(e.usage("alice"), 200, "alice usage after recount")
        eq(e.usage("bob"), 7, "bob usage after recount")
        eq(e.record("alice/a"), None, "record of the vanished file")
        out, err = _tool_ok(e, "recount")
        eq(out, "", "second recount output")
        r = e.run("GET")
        eq(r.json()["quota"]["used"], 200, "GET used after recount")


@test("quota tool: recount USER counts a file added behind the ledger")
def _():
    with Env(quota="alice 1000\nbob 1000\n") as e:
        expect(e.run("PUT", "/a", body=b"x" * 300), 201, "stored")
        e.plant("extra", b"y" * 50)
        e.plant("extra", b"y" * 70, user="bob")
        out, err = _tool_ok(e, "recount", "alice")
        check("alice" in out and "bob" not in out, "recount alice: %r" % out)
        eq(e.usage("alice"), 350, "alice usage")
        eq(e.usage("bob"), 0, "bob untouched by 'recount alice'")


@test("quota tool: recount reclaims a dead reservation and its temp file")
def _():
    import time
    with Env(quota="alice 10M\n") as e:
        cgi, req = e.start("PUT", "/big", length=1 << 20)
        try:
            cgi.write(b"z" * 1000)
            deadline = time.monotonic() + 10
            while not e.tmp_files() and time.monotonic() < deadline:
                time.sleep(0.02)
            check(e.tmp_files(), "no temporary file")
        finally:
            cgi.kill()
        cgi.p.wait(10)
        rc, out, err = e.quota_tool("recount")
        eq(rc, 0, "recount exit (stderr %r)" % err)
        e.assert_clean("after recount: ")
        eq(e.usage(), 0, "usage")


USAGE_ERRORS = [[], ["frobnicate"], ["show"], ["show", "a", "b"],
                ["report", "--xml"], ["recount", "a", "b"], ["--config"],
                ["check", "extra"]]

for _args in USAGE_ERRORS:
    def _t(args=_args):
        with Env() as e:
            if args == ["--config"]:
                rc, out, err = e.quota_tool("--config", config=False)
            else:
                rc, out, err = e.quota_tool(*args)
            eq(rc, 2, "upgate-quota %s: exit status (stderr %r)"
               % (" ".join(args), err))
            check(err.strip(), "usage error without a message on stderr")
    test("quota tool: usage error %r -> exit 2" % (_args,))(_t)


@test("quota tool: check with a missing quota table -> exit 1")
def _():
    with Env(quota="alice 1G\n") as e:
        os.unlink(e.quota_path)
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "exit status (stderr %r)" % err)
        check(e.quota_path in err, "message does not name %s: %r"
              % (e.quota_path, err))


@test("quota tool: show for a user without a ledger or rule")
def _():
    with Env(quota="alice 1G\n") as e:
        out, err = _tool_ok(e, "show", "nobody")
        check("nobody" in out or "unlimited" in out.lower() or out.strip(),
              "show nobody printed %r" % out)
