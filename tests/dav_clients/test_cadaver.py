# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""A scripted cadaver session against upgate: mkcol, put, ls, delete;
then move, copy and rmcol (README "WebDAV clients").  cadaver reads its
commands from standard input and its credentials from ~/.netrc (a
temporary HOME here)."""

import os

import davclients as dc
from davclients import case, check, eq

import harness

DATA = harness.randbytes(150000, seed=21)


def cadaver(fx, commands):
    """Runs the commands in one session; returns its output."""
    dc.need_tool("cadaver")
    home = dc.workdir(fx, "cadaver")
    netrc = os.path.join(home, ".netrc")
    with open(netrc, "w") as f:
        f.write("machine 127.0.0.1\nlogin %s\npassword %s\n"
                % (dc.CADAVER, dc.CADAVER))
    os.chmod(netrc, 0o600)
    src = os.path.join(home, "f.bin")
    with open(src, "wb") as f:
        f.write(DATA)
    script = "".join(c.replace("SRC", src) + "\n" for c in commands)
    _, out = dc.run(["cadaver", dc.url(fx, "/")], "cadaver via %s" % fx.path,
                    env={"PATH": "/usr/bin:/bin", "HOME": home}, cwd=home,
                    stdin=script.encode(), timeout=60)
    return out


def succeeded(fx, out, steps):
    """cadaver says "succeeded" or "failed" after each step's own words
    (it exits 0 either way)."""
    for words in steps:
        at = out.find(words)
        check(at >= 0, "cadaver via %s: no %r in %r" % (fx.path, words,
                                                        out[-2000:]))
        line = out[at:].split("\n", 2)
        check("succeeded" in "\n".join(line[:2]),
              "cadaver via %s: %s did not succeed: %r"
              % (fx.path, words, "\n".join(line[:2])))


@case("cadaver mkcol, put, ls, delete")
def t_cadaver(fx):
    out = cadaver(fx, ["mkcol cd", "cd cd", "put SRC f.bin", "ls",
                       "put SRC g.bin", "delete g.bin", "ls"])
    succeeded(fx, out, ["Creating `cd'", "Uploading", "Listing collection",
                        "Deleting `g.bin'"])
    check("f.bin" in out and str(len(DATA)) in out,
          "cadaver ls via %s does not list f.bin of %d bytes: %r"
          % (fx.path, len(DATA), out[-2000:]))
    eq(dc.settled(fx, dc.CADAVER, "cadaver"), {"cd/f.bin": DATA},
       "cadaver via %s: the files on disk" % fx.path)


@case("cadaver move, copy, rmcol")
def t_cadaver_copy_move(fx):
    dc.needs_copy_move(fx, "cadaver move, copy, rmcol")
    out = cadaver(fx, ["mkcol cm", "cd cm", "put SRC f.bin",
                       "move f.bin g.bin", "copy g.bin h.bin",
                       "delete g.bin", "ls"])
    succeeded(fx, out, ["Moving", "Copying", "Deleting `g.bin'"])
    stored = dc.settled(fx, dc.CADAVER, "cadaver move, copy")
    eq({k: v for k, v in stored.items() if k.startswith("cm/")},
       {"cm/h.bin": DATA}, "cadaver move, copy via %s: the files on disk"
       % fx.path)
    out = cadaver(fx, ["rmcol cm", "rmcol cd"])
    succeeded(fx, out, ["Deleting collection `cm'",
                        "Deleting collection `cd'"])
    eq(dc.settled(fx, dc.CADAVER, "cadaver rmcol"), {},
       "cadaver rmcol via %s: the files on disk" % fx.path)
    check(not os.path.exists(os.path.join(fx.env.user_dir(dc.CADAVER),
                                          "cm")),
          "cadaver rmcol via %s: the folder cm is left" % fx.path)
