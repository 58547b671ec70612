# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""upgate-quota(8) and upgate(8), "Several hosts": upgate-quota migrate --to URI (a files ledger into a
PostgreSQL database), and check on a PostgreSQL ledger.

The target database is a fresh schema in a PostgreSQL cluster: the run's
own with --ledger postgresql (harness.PG), else one this module starts
once, on first use, and that pgtmp stops at exit.  The tests skip only
where no PostgreSQL server is installed.
"""

import itertools
import json
import os
import sys
import threading
import time
import urllib.parse

import harness
from harness import Env, check, eq, expect, skip, test

_LIB = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib")
if _LIB not in sys.path:
    sys.path.append(_LIB)
import pgtmp  # noqa: E402

_lock = threading.Lock()
_own = {}                   # "pg": this module's cluster, or "error"
_names = itertools.count(1)


def cluster():
    """harness.PG, or this module's cluster, started once for every test
    that needs it (a second start after a failure would only fail
    again)."""
    if harness.PG is not None:
        return harness.PG
    if pgtmp.bindir() is None:
        skip("PostgreSQL is not installed (apt-get install postgresql)")
    with _lock:
        if "error" in _own:
            raise _own["error"]
        if "pg" not in _own:
            try:
                _own["pg"] = pgtmp.PgTmp().start()
            except Exception as x:
                _own["error"] = x
                raise
        return _own["pg"]


class Target:
    """A fresh, empty schema owned by upgate's role: the database a
    migration copies into, named by a URI as the harness names an Env's
    ledger."""

    def __init__(self):
        self.pg = cluster()
        self.schema = "mig%d_%d" % (os.getpid(), next(_names))
        self.pg.psql("CREATE SCHEMA %s AUTHORIZATION %s"
                     % (self.schema, self.pg.role), db=self.pg.db)
        self.uri = self.pg.uri + "&options=-csearch_path%%3D%s" % self.schema

    def sql(self, query):
        return self.pg.psql("SET search_path = %s; %s" % (self.schema, query),
                            db=self.pg.db)

    def dump(self):
        """Everything the ledger's tables hold, sorted."""
        return (sorted(self.sql("SELECT owner, used FROM upgate_usage")),
                sorted(self.sql("SELECT convert_from(rel, 'UTF8'), owner,"
                                " size FROM upgate_records")),
                sorted(self.sql("SELECT owner, bytes FROM "
                                "upgate_reservations")))

    def records(self):
        return {r[0]: (r[1], int(r[2])) for r in self.dump()[1]}


def files_env(quota):
    """An Env on the files ledger whatever the run's --ledger: what
    migrate copies from."""
    e = Env(quota=quota, conf={"ledger": None, "create_parents": "yes",
                               "allow_overwrite": "yes"})
    e.schema = None         # its helpers read state_dir, not a database
    return e


def point_at(e, uri):
    """The Env's configuration names uri as its ledger (None: files)."""
    e.conf["ledger"] = uri
    e.write_conf()


def tool(e, *args):
    rc, out, err = e.quota_tool(*args)
    check(rc == 0, "upgate-quota %s: exit %s, stdout %r, stderr %r"
          % (" ".join(args), rc, out, err))
    return out


def report(e):
    return json.loads(tool(e, "report", "--json"))


def files_records(e):
    """{rel: (owner, size)} of the files ledger's records."""
    top = os.path.join(e.state, "files")
    out = {}
    for dp, dns, fns in os.walk(top):
        for n in fns:
            rel = os.path.relpath(os.path.join(dp, n), top)
            out[rel] = e.record(rel)
    return out


TABLE = "alice 10K\nbob 1K\ncarol unlimited\n* 5K\n"


def populate(e):
    for user, path, size in (("alice", "/a.txt", 1200),
                             ("alice", "/docs/b.txt", 3000),
                             ("alice", "/docs/deep/c.bin", 4100),
                             ("bob", "/x/y/z.dat", 950),
                             ("carol", "/big", 20000),
                             ("dave", "/d/e", 10)):
        expect(e.run("PUT", path, body=b"q" * size, user=user), 201,
               "stored", user=user)
    expect(e.run("DELETE", "/a.txt", length=None), 204, "deleted")
    expect(e.run("PUT", "/docs/b.txt", body=b"r" * 2500), 204, "replaced")


def wait_tmp(e, present=True, timeout=10):
    deadline = time.monotonic() + timeout
    while bool(e.tmp_files()) != present and time.monotonic() < deadline:
        time.sleep(0.02)
    return e.tmp_files()


def dead_upload(e, user):
    """A temporary file and a reservation whose upload was killed."""
    c, req = e.start("PUT", "/docs/partial.bin", length=1 << 20, user=user)
    try:
        c.write(b"z" * 4096)
        check(wait_tmp(e), "no temporary file for the upload")
    finally:
        c.kill()
    if getattr(c, "p", None) is not None:
        c.p.wait(10)


@test("quota tool: migrate copies usage and records; report reads the same")
def _():
    t = Target()
    with files_env(TABLE) as e:
        populate(e)
        before = report(e)
        recs = files_records(e)
        check(len(recs) == 5, "files ledger records %r" % recs)
        dead_upload(e, "carol")
        out = tool(e, "migrate", "--to", t.uri)
        eq(out, "copied 4 users and 5 records into the database\n",
           "migrate output")
        eq(e.tmp_files(), [], "temporary file of the dead upload")
        eq(e.reservations(), [], "dead reservation of the files ledger")
        eq(t.records(), recs, "records in the database")
        eq(t.dump()[2], [], "reservations in the database")
        point_at(e, t.uri)
        eq(report(e), before, "report --json after the migration")
        eq(tool(e, "recount"), "", "recount on the database")
        out = tool(e, "show", "alice")
        check("(6600 bytes)" in out, "show alice: %r" % out)
        # the gate, now on the database, goes on from the copied figures
        expect(e.run("PUT", "/more", body=b"m" * 100), 201, "stored")
        eq(t.sql("SELECT used FROM upgate_usage WHERE owner = 'alice'"),
           [("6700",)], "alice's usage in the database")


@test("quota tool: migrate leaves a live reservation; a non-empty database"
      " is refused")
def _():
    t = Target()
    with files_env(TABLE) as e:
        populate(e)
        before = report(e)
        c, req = e.start("PUT", "/live.bin", length=2000, user="carol")
        try:
            c.write(b"l" * 1000)
            check(wait_tmp(e), "no temporary file for the live upload")
            out = tool(e, "migrate", "--to=" + t.uri)
            check(out.startswith("copied 4 users and 5 records"),
                  "migrate output %r" % out)
            eq(t.dump()[2], [], "reservations copied to the database")
            check(e.tmp_files(), "the live upload's temporary file was "
                  "removed")
            c.write(b"l" * 1000)
            c.close_stdin()
        except BaseException:
            c.kill()
            raise
        # it finishes on the files ledger it started on
        expect(c.finish(req), 201, "stored", user="carol")
        dump = t.dump()

        rc, out, err = e.quota_tool("migrate", "--to", t.uri)
        eq(rc, 1, "a second migrate (stdout %r, stderr %r)" % (out, err))
        check("already holds a ledger" in err, "message %r" % err)
        eq(out, "", "stdout of the refused migrate")
        eq(t.dump(), dump, "the database after the refused migrate")

        point_at(e, t.uri)
        eq(report(e), before, "report --json on the database")
        rc, out, err = e.quota_tool("migrate", "--to", t.uri)
        eq(rc, 1, "migrate with a postgresql configuration (stderr %r)"
           % err)
        check("files ledger" in err, "message %r" % err)
        eq(t.dump(), dump, "the database after migrate from a database")


@test("quota tool: migrate --to a bad URI is a usage error")
def _():
    with files_env(None) as e:
        for args in (["--to", "files"], ["--to", "mysql://u@h/db"],
                     ["--to=/var/lib/x"], ["--to", "postgresql://a b"],
                     ["--to"], [], ["--from", "postgresql://u@/d"],
                     ["--to", "postgresql://u@/d", "extra"]):
            rc, out, err = e.quota_tool("migrate", *args)
            eq(rc, 2, "migrate %r: exit status (stderr %r)" % (args, err))
            check(err.strip(), "usage error without a message")
        eq(os.path.exists(e.state), False, "state_dir made by a usage error")


def no_create_db(pg):
    """A new database that upgate's role may connect to but create
    nothing in (PostgreSQL 15: no CREATE on schema public); its URI."""
    name = "nocreate%d_%d" % (os.getpid(), next(_names))
    pg.psql("CREATE DATABASE %s" % name, db="postgres")
    pg.psql("GRANT CONNECT ON DATABASE %s TO %s" % (name, pg.role),
            db="postgres")
    q = urllib.parse.quote
    return "postgresql://%s@/%s?host=%s&port=%d" % (
        q(pg.role, safe=""), name, q(pg.sock, safe="/"), pg.port)


@test("quota tool: check on PostgreSQL creates the tables, or names the "
      "missing right")
def _():
    t = Target()
    with files_env("alice 1K\n") as e:
        point_at(e, t.uri)
        rc, out, err = e.quota_tool("check")
        eq((rc, out, err), (0, "", ""), "check on an empty schema")
        eq(t.dump(), ([], [], []), "the tables, made and empty")

        point_at(e, no_create_db(t.pg))
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "check without CREATE (stdout %r)" % out)
        check(err.startswith(e.conf_path + ": "), "FILE: message: %r" % err)
        check("permission denied for schema public" in err and
              "CREATE" in err and "own the database" in err,
              "the missing right is not named: %r" % err)
        rc, out, err = e.quota_tool("migrate", "--to", e.conf["ledger"])
        eq(rc, 1, "migrate into it with a postgresql configuration")

        point_at(e, None)
        rc, out, err = e.quota_tool("migrate", "--to",
                                    no_create_db(t.pg))
        eq(rc, 1, "migrate without CREATE (stdout %r)" % out)
        check("CREATE" in err, "the missing right is not named: %r" % err)


@test("quota tool: check and migrate on an unreachable database -> exit 1")
def _():
    # no server needed: libpq fails to connect without one
    with files_env(None) as e:
        gone = os.path.join(e.root, "no-server")
        os.mkdir(gone)
        uri = "postgresql://upgate@/upgate?host=%s&connect_timeout=2" % \
            urllib.parse.quote(gone, safe="/")
        rc, out, err = e.quota_tool("migrate", "--to", uri)
        eq(rc, 1, "migrate (stdout %r)" % out)
        check("cannot be reached" in err, "message %r" % err)
        point_at(e, uri)
        rc, out, err = e.quota_tool("check")
        eq(rc, 1, "check (stdout %r)" % out)
        check(err.startswith(e.conf_path + ": ") and
              "cannot be reached" in err, "message %r" % err)
