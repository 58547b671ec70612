# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""litmus (Debian's, neon's WebDAV test suite) against upgate: `basic`
and `copymove` pass whole, `props` in every test that needs no dead
property (README "WebDAV clients").  Each suite runs once per server, in
a folder of its own (litmus makes litmus/ there and removes it at the
end), and its results are shared by the cases below."""

import re

import davclients as dc
from davclients import case, check, fail

# What upgate offers only with COPY and MOVE (and the folder DELETE
# that comes with them): litmus basic's two folder DELETEs.
FOLDER_DELETE = ("delete_fragment", "delete_coll")

# props: the tests that need no dead property.  The others set, read,
# move or remove properties of their own (propset, propget, propmove,
# propdeletes, propreplace, propnullns, prophighunicode, propremoveset,
# propsetremove, propvalnspace, propmanyns): upgate keeps none, and
# answers their PROPPATCH 207 with 403 for each (upgate(8), WebDAV).
PROPS_LIVE = ("init", "begin", "propfind_invalid", "propfind_invalid2",
              "propfind_d0", "propinit", "propextended", "propwformed",
              "propcleanup", "finish")

_TEST_RE = re.compile(r"^\s*(\d+)\. (\w+)\.*\s?(.*)$")


def parse(out):
    """{"N name": "pass" | "FAIL (why)" | "SKIPPED"} from litmus's output,
    whose lines it rewrites with carriage returns, and whose warnings
    push a test's verdict to a line of dots of its own."""
    res, cur = {}, None
    for seg in re.split(r"[\r\n]", out):
        m = _TEST_RE.match(seg)
        if m:
            cur = "%s %s" % (m.group(1), m.group(2))
            rest = m.group(3)
        else:
            rest = re.sub(r"^\s*\.+\s*", "", seg)
        if cur is None:
            continue
        for word in ("pass", "FAIL", "SKIPPED"):
            if rest.startswith(word):
                res[cur] = rest.strip()
    return res


def litmus(fx, suite):
    """Runs the suite once per server, in /litmus-SUITE/, as the litmus
    user; returns (results, output)."""
    cache = fx.__dict__.setdefault("litmus_runs", {})
    if suite not in cache:
        dc.need_tool("litmus")
        folder = "/litmus-%s/" % suite
        dc.mkcol(fx, dc.LITMUS, folder)
        cwd = dc.workdir(fx, "litmus-" + suite)
        # TESTS picks the suite; HTDOCS is where its sample files are;
        # it writes debug.log and child.log into its working folder.
        env = {"PATH": "/usr/bin:/bin", "TESTS": suite,
               "HTDOCS": "/usr/share/litmus/htdocs"}
        _, out = dc.run(["litmus", dc.url(fx, folder), dc.LITMUS,
                         dc.LITMUS], "litmus %s" % suite, env=env, cwd=cwd,
                        timeout=300)
        res = parse(out)
        check(res, "litmus %s via %s printed no result: %r"
              % (suite, fx.path, out[-1500:]))
        cache[suite] = (res, out)
        dc.settled(fx, dc.LITMUS, "litmus %s" % suite)
        # litmus leaves its collection (basic its file res in it): gone
        # with one DELETE of the suite's folder where DELETE takes one
        if {"COPY", "MOVE"} <= dc.offered(fx):
            r = fx.curl("DELETE", folder, user=dc.LITMUS)
            check(r.status == 204, "DELETE %s via %s after litmus %s: %s"
                  % (folder, fx.path, suite, r.summary()))
    return cache[suite]


def expect_pass(fx, suite, names=None, but=()):
    """Every test of the suite passed (or those named), except but."""
    res, out = litmus(fx, suite)
    bad = ["%s: %s" % (k, v) for k, v in sorted(
        res.items(), key=lambda kv: int(kv[0].split()[0]))
        if (names is None or k.split()[1] in names) and
        k.split()[1] not in but and not v.startswith("pass")]
    if names is not None:
        ran = {k.split()[1] for k in res}
        bad += ["%s: not run" % n for n in names if n not in ran]
    if bad:
        fail("litmus %s via %s: %s" % (suite, fx.path, "; ".join(bad)))
    return res


@case("litmus basic")
def t_basic(fx):
    copy_move = {"COPY", "MOVE"} <= dc.offered(fx)
    expect_pass(fx, "basic", but=() if copy_move else FOLDER_DELETE)


@case("litmus basic: folder DELETE")
def t_basic_folders(fx):
    dc.needs_copy_move(fx, "litmus %s: a folder DELETE"
                       % ", ".join(FOLDER_DELETE))
    expect_pass(fx, "basic", names=FOLDER_DELETE)
    check(not dc.settled(fx, dc.LITMUS, "litmus basic"),
          "litmus basic via %s: its files are left" % fx.path)


@case("litmus copymove")
def t_copymove(fx):
    dc.needs_copy_move(fx, "litmus copymove")
    expect_pass(fx, "copymove")
    check(not dc.settled(fx, dc.LITMUS, "litmus copymove"),
          "litmus copymove via %s: its files are left" % fx.path)


@case("litmus props (no dead property)")
def t_props(fx):
    expect_pass(fx, "props", names=PROPS_LIVE)
