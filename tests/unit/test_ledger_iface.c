/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * The ledger's interface (ledger.h), the same cases against each
 * backend, through the public ledger_* functions only.
 *
 * files       always (a fresh state_dir per case); skipped when
 *             UPGATE_TEST_LEDGER_SKIP names it
 * postgresql  when UPGATE_TEST_LEDGER holds a postgresql:// URI of a
 *             database this test may create schemas in (each case gets
 *             a fresh schema, as its search_path); otherwise skipped
 *             with a note.  tests/unit/with-postgres.sh runs a command
 *             against a throwaway server and sets it, with
 *             UPGATE_TEST_PG_STOP and UPGATE_TEST_PG_START, the
 *             commands the cases of an unreachable database need.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cu_main.h"
#include "tmpdir.h"
#include "ledger.h"
#include "pgpool.h"

#define T_LOCK_MS	300	/* a short wait, for the BUSY cases */

/*
 * Each case gets a fresh tree under $TMPDIR (tmpdir.h): upload/ (its
 * descriptor open) and upload/.upgate (state_dir), and the ledger
 * under test opened as l.
 */
static struct {
	const char   *base;		/* UPGATE_TEST_LEDGER; NULL: files */
	char          uri[2048];	/* base with this case's schema */
	char          schema[48];
	char          root[128];
	char          upload[160];
	char          state[192];
	int           upload_fd;
	struct ledger l;
} fx;

static enum ledger_err
open_ledger_as(struct ledger *l, const char *uri, int shared)
{
	struct ledger_config cfg;

	cfg.state_dir = fx.state;
	cfg.uri = uri;
	cfg.sync = 1;
	cfg.shared = shared;
	return ledger_open(l, &cfg);
}

static enum ledger_err
open_ledger(struct ledger *l)
{
	return open_ledger_as(l, fx.base != NULL ? fx.uri : NULL, 0);
}

/* A ledger of a thread of the responder: its sessions shared. */
static enum ledger_err
open_shared(struct ledger *l)
{
	return open_ledger_as(l, fx.base != NULL ? fx.uri : NULL, 1);
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Runs sql on the test database, outside the ledger: 0 or -1. */
static int
admin(const char *sql)
{
	PGconn *c;
	int     rc = -1;

	c = PQconnectdb(fx.base);
	PQsetNoticeProcessor(c, quiet, NULL);
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);

		rc = PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
		if (rc == -1)
			fprintf(stderr, "\n  %s: %s", sql, PQerrorMessage(c));
		PQclear(res);
	}
	PQfinish(c);
	return rc;
}

/*
 * The first column of the first row of sql, run outside the ledger, as
 * a number: 0 and *out set, or -1.
 */
static int
admin_int(const char *sql, int64_t *out)
{
	PGconn   *c;
	PGresult *res = NULL;
	int       rc = -1;

	c = PQconnectdb(fx.base);
	if (PQstatus(c) == CONNECTION_OK &&
	    PQresultStatus(res = PQexec(c, sql)) == PGRES_TUPLES_OK &&
	    PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = 0;
	} else
		fprintf(stderr, "\n  %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
tree_setup(void)
{
	if (tmpdir_make(fx.root, sizeof fx.root, "ledger-iface") == -1)
		abort();
	snprintf(fx.upload, sizeof fx.upload, "%s/upload", fx.root);
	snprintf(fx.state, sizeof fx.state, "%s/.upgate", fx.upload);
	if (mkdir(fx.upload, 0755) == -1)
		abort();
	fx.upload_fd = open(fx.upload, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.upload_fd == -1)
		abort();
}

static void
setup_files(void)
{
	fx.base = NULL;
	tree_setup();
	if (open_ledger(&fx.l) != LEDGER_OK)
		abort();
}

/* A schema of its own, named in the URI's options, so that the ledger
   makes its tables there on first use. */
static void
setup_pg(void)
{
	static unsigned n;
	char            sql[128];

	fx.base = getenv("UPGATE_TEST_LEDGER");
	tree_setup();
	snprintf(fx.schema, sizeof fx.schema, "upgate_t%ld_%u",
	    (long)getpid(), n++);
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", fx.schema);
	if (fx.base == NULL || admin(sql) == -1)
		abort();
	snprintf(fx.uri, sizeof fx.uri, "%s%soptions=-c%%20search_path%%3D%s",
	    fx.base, strchr(fx.base, '?') != NULL ? "&" : "?", fx.schema);
	if (open_ledger(&fx.l) != LEDGER_OK) {
		fprintf(stderr, "\n  ledger_open: %s\n", fx.l.cause);
		abort();
	}
}

static void
teardown(void)
{
	ledger_close(&fx.l);
	close(fx.upload_fd);
	nftw(fx.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (fx.base != NULL) {
		char sql[128];

		snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", fx.schema);
		admin(sql);
	}
}

/* ---- helpers ---- */

static int64_t
used_of(struct ledger *l, const char *user)
{
	struct usage u;

	CU_ASSERT_EQUAL_FATAL(ledger_usage(l, user, &u), LEDGER_OK);
	return u.used;
}

static int64_t
reserved_of(struct ledger *l, const char *user)
{
	struct usage u;

	CU_ASSERT_EQUAL_FATAL(ledger_usage(l, user, &u), LEDGER_OK);
	return u.reserved;
}

/* Reservations whose owner is gone, not yet reclaimed. */
static int64_t
dead_of(struct ledger *l, const char *user)
{
	struct usage u;

	CU_ASSERT_EQUAL_FATAL(ledger_usage(l, user, &u), LEDGER_OK);
	return u.dead;
}

static void
commit_locked(const char *user, const char *rel, int64_t size)
{
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, user,
	    LEDGER_LOCK_TIMEOUT_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, user, rel, size), LEDGER_OK);
	ledger_unlock(&fx.l);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Makes the folders and the (empty) file of rel below upload_dir. */
static void
make_path(const char *rel, int file)
{
	char   path[512];
	char  *slash;
	size_t off = strlen(fx.upload) + 1;

	snprintf(path, sizeof path, "%s/%s", fx.upload, rel);
	for (slash = strchr(path + off, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (file) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		CU_ASSERT_FATAL(fd != -1);
		close(fd);
	} else
		mkdir(path, 0755);
}

static int
exists(const char *rel)
{
	struct stat st;

	return fstatat(fx.upload_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- usage, commit, forget, records ---- */

static void
test_usage_empty(void)
{
	struct usage  u;
	struct record rec;

	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_OK);
	CU_ASSERT_EQUAL(u.used, 0);
	CU_ASSERT_EQUAL(u.reserved, 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/a", &rec), 1);
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "-bad", &u), LEDGER_IO);
}

static void
test_commit_new(void)
{
	struct record rec;

	commit_locked("alice", "alice/a", 100);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 100);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/a", &rec), 0);
	CU_ASSERT_STRING_EQUAL(rec.owner, "alice");
	CU_ASSERT_EQUAL(rec.size, 100);
	commit_locked("alice", "alice/sub/b", 5);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 105);
	CU_ASSERT_EQUAL(used_of(&fx.l, "bob"), 0);
}

static void
test_commit_grow_shrink(void)
{
	struct record rec;

	commit_locked("alice", "alice/a", 100);
	commit_locked("alice", "alice/a", 150);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 150);
	commit_locked("alice", "alice/a", 20);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 20);
	commit_locked("alice", "alice/a", 20);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 20);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/a", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 20);
}

/* per_user_dirs = no: a replacement moves the bytes between owners. */
static void
test_commit_other_owner(void)
{
	struct record rec;

	commit_locked("alice", "shared/f", 100);
	commit_locked("alice", "shared/g", 7);
	commit_locked("bob", "shared/f", 30);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 7);
	CU_ASSERT_EQUAL(used_of(&fx.l, "bob"), 30);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "shared/f", &rec), 0);
	CU_ASSERT_STRING_EQUAL(rec.owner, "bob");
	CU_ASSERT_EQUAL(rec.size, 30);
}

static void
test_commit_empty(void)
{
	struct record rec;

	commit_locked("alice", "alice/empty", 0);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/empty", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 0);
}

static void
test_commit_bad(void)
{
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/../x", 1),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/.hidden", 1),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", -1),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "no/pe", "alice/a", 1),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
}

static void
test_forget(void)
{
	struct record rec;

	commit_locked("alice", "alice/a", 100);
	commit_locked("alice", "alice/b", 30);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/a"), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 30);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/a", &rec), 1);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/a"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/never"), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 30);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/b", &rec), 0);
}

/*
 * MOVE (upgate(8), "WebDAV"): a file's record, then a folder's records,
 * follow to the new path; a path that only starts like the folder
 * stays; usage does not move; a stale record at the target goes.
 */
static void
test_move(void)
{
	struct record rec;

	commit_locked("alice", "alice/a", 100);
	commit_locked("alice", "alice/d/x", 5);
	commit_locked("alice", "alice/d/e/y", 7);
	commit_locked("alice", "alice/dd", 1);
	CU_ASSERT_EQUAL(ledger_move(&fx.l, "alice/a", "alice/b"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/a", &rec), 1);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/b", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 100);
	CU_ASSERT_EQUAL(ledger_move(&fx.l, "alice/d", "alice/n/m"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/d/x", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/d/e/y", &rec), 1);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/n/m/e/y", &rec),
	    0);
	CU_ASSERT_EQUAL(rec.size, 7);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/n/m/x", &rec), 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/dd", &rec), 0);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 113);
	/* nothing recorded there: nothing to move */
	CU_ASSERT_EQUAL(ledger_move(&fx.l, "alice/none", "alice/z"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/z", &rec), 1);
	/* a stale record in the way is dropped */
	snprintf(rec.owner, sizeof rec.owner, "alice");
	rec.size = 3;
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "alice/c", &rec), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_move(&fx.l, "alice/b", "alice/c"), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/c", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 100);
	CU_ASSERT_EQUAL(ledger_move(&fx.l, "alice/../x", "alice/y"), LEDGER_IO);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 113);
}

/* A path that only one byte tells apart, and a long deep one. */
static void
test_record_paths(void)
{
	struct record rec;
	char          deep[4000];
	size_t        i;

	commit_locked("alice", "alice/x1", 1);
	commit_locked("alice", "alice/x2", 2);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "alice/x1", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x", &rec), 1);
	/* 40 folders of 97 bytes: longer than a btree entry may be */
	snprintf(deep, sizeof deep, "alice");
	for (i = 0; i < 40; i++)
		snprintf(deep + strlen(deep), sizeof deep - strlen(deep),
		    "/%0*zu", 96, i);
	commit_locked("alice", deep, 9);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, deep, &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 9);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 12);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, deep), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 3);
}

static void
test_record_put_drop(void)
{
	struct record rec = { "carol", 70 }, got;

	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "carol/p", &rec), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "carol"), 0);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "carol/p", &got), 0);
	CU_ASSERT_STRING_EQUAL(got.owner, "carol");
	CU_ASSERT_EQUAL(got.size, 70);
	rec.size = 71;
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "carol/p", &rec), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, "carol/p", &got), 0);
	CU_ASSERT_EQUAL(got.size, 71);
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "carol/p"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "carol/p", &got), 1);
	CU_ASSERT_EQUAL(used_of(&fx.l, "carol"), 0);
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "carol/p"), LEDGER_OK);
}

static void
test_set_used_flush(void)
{
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 1234), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 1234);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", -1), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_flush(&fx.l), LEDGER_OK);
}

/* ---- reservations ---- */

static void
test_reserve(void)
{
	struct reservation r1, r2, r0;

	ledger_reservation_init(&r0);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&fx.l, "alice", 50,
	    "alice/.upgate-tmp-1", &r1), LEDGER_OK);
	CU_ASSERT(r1.id != 0);
	CU_ASSERT_EQUAL(r1.bytes, 50);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 50);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r1, 80), LEDGER_OK);
	CU_ASSERT_EQUAL(r1.bytes, 80);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 80);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r1, RESV_DIR,
	    "alice/new"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r1, RESV_TMP,
	    "alice/new/.upgate-tmp-2"), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&fx.l, "alice", 20, NULL, &r2),
	    LEDGER_OK);
	CU_ASSERT(r2.id != r1.id);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 100);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "bob"), 0);
	ledger_release_reservation(&fx.l, &r1);
	CU_ASSERT_EQUAL(r1.id, 0);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 20);
	ledger_release_reservation(&fx.l, &r1);	/* twice: safe */
	ledger_release_reservation(&fx.l, &r0);	/* never made: safe */
	ledger_release_reservation(&fx.l, &r2);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r2, 1), LEDGER_IO);
}

struct reclaimed {
	int     calls;
	char    user[65];
	int64_t bytes;
};

static void
on_reclaim(void *arg, const char *user, int64_t bytes)
{
	struct reclaimed *c = arg;

	c->calls++;
	snprintf(c->user, sizeof c->user, "%s", user);
	c->bytes += bytes;
}

/*
 * A reservation made through a second ledger lives while that ledger
 * is open; once it is closed (its process gone) it is dead: no longer
 * counted, and reclaimed with its files — temporary files first, then
 * the folders it made, deepest first and only when empty; never a file
 * whose name is not a temporary one.  The folders are recorded parent
 * first, as an upload makes them, so any other order leaves some.
 */
static void
test_reclaim_dead(void)
{
	struct reservation r;
	struct reclaimed   c = { 0, "", 0 };
	struct ledger      l2;

	make_path("alice/new/deeper/.upgate-tmp-x", 1);
	make_path("alice/keep/.upgate-tmp-y", 1);
	make_path("alice/keep/file", 1);
	make_path("alice/.not-tmp", 1);
	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&l2, "alice", 64,
	    "alice/new/deeper/.upgate-tmp-x", &r), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_DIR, "alice/new"),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_DIR,
	    "alice/new/deeper"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_DIR, "alice/keep"),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_TMP,
	    "alice/keep/.upgate-tmp-y"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_TMP,
	    "alice/.not-tmp"), LEDGER_OK);

	/* alive: counted, and left alone */
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT(exists("alice/new/deeper/.upgate-tmp-x"));

	ledger_close(&l2);
	ledger_release_reservation(NULL, &r);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "bob", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_STRING_EQUAL(c.user, "alice");
	CU_ASSERT_EQUAL(c.bytes, 64);
	CU_ASSERT(!exists("alice/new"));
	CU_ASSERT(!exists("alice/keep/.upgate-tmp-y"));
	CU_ASSERT(exists("alice/keep/file"));
	CU_ASSERT(exists("alice/.not-tmp"));
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
}

/* reclaim(NULL) takes every user's dead reservations, not live ones. */
static void
test_reclaim_all(void)
{
	struct reservation ra, rb, mine;
	struct reclaimed   c = { 0, "", 0 };
	struct ledger      l2;

	make_path("bob/.upgate-tmp-b", 1);
	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reserve(&l2, "alice", 5, NULL, &ra), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reserve(&l2, "bob", 7, "bob/.upgate-tmp-b",
	    &rb), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "bob", 11, NULL, &mine),
	    LEDGER_OK);
	ledger_close(&l2);
	ledger_release_reservation(NULL, &ra);
	ledger_release_reservation(NULL, &rb);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd, on_reclaim,
	    &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 2);
	CU_ASSERT_EQUAL(c.bytes, 12);
	CU_ASSERT(!exists("bob/.upgate-tmp-b"));
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "bob"), 11);
	ledger_release_reservation(&fx.l, &mine);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "bob"), 0);
}

/* Two reclaims at once report each dead reservation once. */
#define DEAD_N	40

static void *
reclaimer(void *arg)
{
	struct reclaimed *c = arg;
	struct ledger     l;

	ledger_init(&l);
	if (open_ledger(&l) == LEDGER_OK &&
	    ledger_reclaim(&l, NULL, fx.upload_fd, on_reclaim, c) != LEDGER_OK)
		c->calls = -1000;
	ledger_close(&l);
	return NULL;
}

static void
test_reclaim_concurrent(void)
{
	struct reservation r;
	struct reclaimed   c[2] = { { 0, "", 0 }, { 0, "", 0 } };
	struct ledger      l2;
	pthread_t          t[2];
	int                i;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	for (i = 0; i < DEAD_N; i++) {
		CU_ASSERT_EQUAL_FATAL(ledger_reserve(&l2, i % 2 ? "alice" :
		    "bob", i + 1, NULL, &r), LEDGER_OK);
		ledger_release_reservation(NULL, &r);	/* left behind */
	}
	ledger_close(&l2);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), DEAD_N / 2);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "bob"), DEAD_N - DEAD_N / 2);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, reclaimer, &c[i]) ==
		    0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(c[0].calls + c[1].calls, DEAD_N);
	CU_ASSERT_EQUAL(c[0].bytes + c[1].bytes, DEAD_N * (DEAD_N + 1) / 2);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "bob"), 0);
}

/*
 * A live reservation is left alone by a reclaim of its user, whether
 * asked through its owner's ledger or another one; and a reclaim of one
 * user touches no other user's reservation.
 */
static void
test_reclaim_live(void)
{
	struct reservation mine, theirs, bobs;
	struct reclaimed   c = { 0, "", 0 };
	struct ledger      l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&fx.l, "alice", 3, NULL, &mine),
	    LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&l2, "alice", 5, NULL, &theirs),
	    LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&l2, "bob", 7, NULL, &bobs),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reclaim(&l2, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 8);
	CU_ASSERT_EQUAL(reserved_of(&l2, "alice"), 8);
	ledger_close(&l2);
	ledger_release_reservation(NULL, &theirs);
	ledger_release_reservation(NULL, &bobs);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 3);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_EQUAL(c.bytes, 5);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 3);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "bob", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 2);
	CU_ASSERT_EQUAL(c.bytes, 12);
	ledger_release_reservation(&fx.l, &mine);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
}

/* The same with two reclaims of one user, as two requests would ask. */
static void *
user_reclaimer(void *arg)
{
	struct reclaimed *c = arg;
	struct ledger     l;

	ledger_init(&l);
	if (open_ledger(&l) == LEDGER_OK &&
	    ledger_reclaim(&l, "alice", fx.upload_fd, on_reclaim, c) !=
	    LEDGER_OK)
		c->calls = -1000;
	ledger_close(&l);
	return NULL;
}

static void
test_reclaim_user_concurrent(void)
{
	struct reservation r;
	struct reclaimed   c[2] = { { 0, "", 0 }, { 0, "", 0 } };
	struct ledger      l2;
	pthread_t          t[2];
	int                i;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	for (i = 0; i < DEAD_N; i++) {
		CU_ASSERT_EQUAL_FATAL(ledger_reserve(&l2, "alice", i + 1, NULL,
		    &r), LEDGER_OK);
		ledger_release_reservation(NULL, &r);	/* left behind */
	}
	ledger_close(&l2);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, user_reclaimer,
		    &c[i]) == 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* one may skip what the other holds: then the next reclaim has it */
	CU_ASSERT(c[0].calls >= 0 && c[1].calls >= 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c[0]), LEDGER_OK);
	CU_ASSERT_EQUAL(c[0].calls + c[1].calls, DEAD_N);
	CU_ASSERT_EQUAL(c[0].bytes + c[1].bytes, DEAD_N * (DEAD_N + 1) / 2);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "bob"), 0);
}

/* ---- locks ---- */

static void
test_lock_user(void)
{
	struct timespec t0;
	struct ledger   l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS),
	    LEDGER_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", T_LOCK_MS), LEDGER_BUSY);
	CU_ASSERT(ms_since(&t0) >= T_LOCK_MS - 50);
	CU_ASSERT(ms_since(&t0) < T_LOCK_MS + 1500);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "bob", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT(ms_since(&t0) < T_LOCK_MS / 2);
	ledger_unlock(&l2);
	ledger_unlock(&fx.l);
	ledger_unlock(&fx.l);	/* when none is held: safe */
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", T_LOCK_MS), LEDGER_OK);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "-bad", T_LOCK_MS), LEDGER_IO);
	ledger_close(&l2);
}

/* A lock that is free is taken at once even with no time to wait. */
static void
test_lock_no_wait(void)
{
	struct ledger l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_BUSY);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_close(&l2);
}

static void
test_lock_all(void)
{
	struct ledger l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_all(&fx.l, T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", T_LOCK_MS), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "shared/f", T_LOCK_MS),
	    LEDGER_BUSY);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, T_LOCK_MS), LEDGER_BUSY);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, T_LOCK_MS), LEDGER_OK);
	ledger_unlock(&fx.l);
	ledger_close(&l2);
}

static void
test_lock_file(void)
{
	struct ledger l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "shared/f", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "bob", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "shared/f", T_LOCK_MS),
	    LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "shared/g", T_LOCK_MS),
	    LEDGER_OK);
	ledger_unlock(&fx.l);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "shared/f", T_LOCK_MS),
	    LEDGER_OK);
	ledger_unlock(&l2);
	ledger_close(&l2);
}

/*
 * The point of the user's lock: handlers that check the quota and then
 * commit, each through a ledger of its own, never pass it together.
 */
#define RACE_LIMIT	100
#define RACE_FILE	10

struct racer {
	int n;		/* which racer */
	int stored;
	int failed;
};

static void *
race(void *arg)
{
	struct racer *rc = arg;
	struct ledger l;
	struct usage  u;
	char          rel[64];
	int           i;

	ledger_init(&l);
	if (open_ledger(&l) != LEDGER_OK) {
		rc->failed++;
		return NULL;
	}
	for (i = 0; i < 20; i++) {
		if (ledger_lock_user(&l, "alice", LEDGER_LOCK_TIMEOUT_MS) !=
		    LEDGER_OK) {
			rc->failed++;
			continue;
		}
		snprintf(rel, sizeof rel, "alice/r%d-%d", rc->n, i);
		if (ledger_usage(&l, "alice", &u) != LEDGER_OK)
			rc->failed++;
		else if (u.used + RACE_FILE <= RACE_LIMIT) {
			if (ledger_commit(&l, "alice", rel, RACE_FILE) ==
			    LEDGER_OK)
				rc->stored++;
			else
				rc->failed++;
		}
		ledger_unlock(&l);
	}
	ledger_close(&l);
	return NULL;
}

static void
test_lock_race(void)
{
	struct racer rc[4];
	pthread_t    t[4];
	int          i, stored = 0;

	for (i = 0; i < 4; i++) {
		rc[i].n = i;
		rc[i].stored = rc[i].failed = 0;
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, race, &rc[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(rc[i].failed, 0);
		stored += rc[i].stored;
	}
	CU_ASSERT_EQUAL(stored, RACE_LIMIT / RACE_FILE);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), RACE_LIMIT);
}

/* ---- walks ---- */

struct names {
	char v[8][65];
	int  n;
};

static void
on_user(void *arg, const char *user)
{
	struct names *s = arg;

	if (s->n < 8)
		snprintf(s->v[s->n], sizeof s->v[s->n], "%s", user);
	s->n++;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_each_user(void)
{
	struct names s = { .n = 0 };

	CU_ASSERT_EQUAL(ledger_each_user(&fx.l, on_user, &s), LEDGER_OK);
	CU_ASSERT_EQUAL(s.n, 0);
	commit_locked("bob", "bob/a", 1);
	commit_locked("alice", "alice/a", 2);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "carol", 3), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_each_user(&fx.l, on_user, &s), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(s.n, 3);
	qsort(s.v, 3, sizeof s.v[0], name_cmp);
	CU_ASSERT_STRING_EQUAL(s.v[0], "alice");
	CU_ASSERT_STRING_EQUAL(s.v[1], "bob");
	CU_ASSERT_STRING_EQUAL(s.v[2], "carol");
}

struct seen {
	int     calls;
	int     stop_at;	/* 0: never */
	int     fail_at;
	int64_t sum;
	char    owners[8];	/* first letters, in no particular order */
};

static int
on_record(void *arg, const char *rel, const struct record *rec)
{
	struct seen *s = arg;

	CU_ASSERT(strncmp(rel, rec->owner, strlen(rec->owner)) == 0);
	if (s->calls < 7)
		s->owners[s->calls] = rec->owner[0];
	s->calls++;
	s->sum += rec->size;
	if (s->calls == s->fail_at)
		return -1;
	return s->calls == s->stop_at;
}

static void
test_each_record(void)
{
	struct seen s;

	commit_locked("alice", "alice/a", 1);
	commit_locked("alice", "alice/b/c", 2);
	commit_locked("alice", "alice/d", 4);
	commit_locked("bob", "bob/a", 8);
	commit_locked("bob", "bob/b", 16);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, NULL, on_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.calls, 5);
	CU_ASSERT_EQUAL(s.sum, 31);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, "bob", on_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.calls, 2);
	CU_ASSERT_EQUAL(s.sum, 24);
	memset(&s, 0, sizeof s);
	s.stop_at = 2;
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, NULL, on_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.calls, 2);
	memset(&s, 0, sizeof s);
	s.fail_at = 1;
	CU_ASSERT_NOT_EQUAL(ledger_each_record(&fx.l, NULL, on_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.calls, 1);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, "carol", on_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.calls, 0);
}

static void
test_largest(void)
{
	struct file_size out[10];

	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "alice/", out, 3), 0);
	commit_locked("alice", "alice/a", 10);
	commit_locked("alice", "alice/b/c", 300);
	commit_locked("alice", "alice/d", 200);
	commit_locked("alice", "alice/e", 50);
	commit_locked("bob", "bob/x", 1000);
	commit_locked("bob", "alice/f", 999);	/* a name in alice/, bob's */
	CU_ASSERT_EQUAL_FATAL(ledger_largest(&fx.l, "alice", "alice/", out,
	    3), 3);
	CU_ASSERT_STRING_EQUAL(out[0].name, "b/c");
	CU_ASSERT_EQUAL(out[0].size, 300);
	CU_ASSERT_STRING_EQUAL(out[1].name, "d");
	CU_ASSERT_EQUAL(out[1].size, 200);
	CU_ASSERT_STRING_EQUAL(out[2].name, "e");
	CU_ASSERT_EQUAL(out[2].size, 50);
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "alice", out, 10), 4);
	CU_ASSERT_STRING_EQUAL(out[3].name, "a");
	CU_ASSERT_EQUAL_FATAL(ledger_largest(&fx.l, "alice", "alice/b/", out,
	    10), 1);
	CU_ASSERT_STRING_EQUAL(out[0].name, "c");
	CU_ASSERT_EQUAL_FATAL(ledger_largest(&fx.l, "alice", NULL, out, 1), 1);
	CU_ASSERT_STRING_EQUAL(out[0].name, "alice/b/c");
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "alice/", out, 0), 0);
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "carol", NULL, out, 10), 0);
}

/* ---- postgresql only: the database goes away and comes back ---- */

static int
server(const char *what)
{
	const char *cmd = getenv(what);

	return cmd != NULL && system(cmd) == 0 ? 0 : -1;
}

/*
 * Stopped: every call is LEDGER_DOWN, and so is opening.  Back: the
 * next call reconnects, without reopening.  A scope whose session
 * broke fails until it is unlocked, and a reservation of the old
 * session is gone with it.
 */
static void
test_pg_down(void)
{
	struct reservation r;
	struct ledger      l2;
	struct usage       u;

	if (getenv("UPGATE_TEST_PG_STOP") == NULL ||
	    getenv("UPGATE_TEST_PG_START") == NULL) {
		printf("\n  (skipped: UPGATE_TEST_PG_STOP and"
		    " UPGATE_TEST_PG_START unset) ");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&fx.l, "alice", 5, NULL, &r),
	    LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(server("UPGATE_TEST_PG_STOP"), 0);
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_DOWN);
	CU_ASSERT(strncmp(fx.l.cause, "postgresql:", 11) == 0);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 1),
	    LEDGER_DOWN);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS),
	    LEDGER_DOWN);
	ledger_init(&l2);
	CU_ASSERT_EQUAL(open_ledger(&l2), LEDGER_DOWN);
	ledger_close(&l2);

	CU_ASSERT_EQUAL_FATAL(server("UPGATE_TEST_PG_START"), 0);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r, 6), LEDGER_DOWN);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 1), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_OK);
	CU_ASSERT_EQUAL(u.used, 1);
	CU_ASSERT_EQUAL(u.reserved, 0);	/* r died with its session */
	ledger_release_reservation(&fx.l, &r);
	ledger_unlock(&fx.l);

	/* the server restarts between two scopes: nobody notices */
	CU_ASSERT_EQUAL_FATAL(server("UPGATE_TEST_PG_STOP"), 0);
	CU_ASSERT_EQUAL_FATAL(server("UPGATE_TEST_PG_START"), 0);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 1);
	ledger_unlock(&fx.l);
}

/* Ends the sessions that wait for an advisory lock, 300 ms from now. */
static void *
kill_waiters(void *arg)
{
	struct timespec nap = { 0, 300 * 1000000L };

	nanosleep(&nap, NULL);
	*(int *)arg = admin("SELECT pg_terminate_backend(pid)"
	    " FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
	    " AND wait_event = 'advisory' AND datname = current_database()");
	return NULL;
}

/*
 * A wait cut short by the end of its session fails, and leaves no
 * scope behind: the next lock reconnects and needs no ledger_unlock
 * first (a caller whose lock failed holds nothing to unlock).
 */
static void
test_pg_wait_cut(void)
{
	struct timespec t0;
	struct ledger   l2;
	pthread_t       t;
	int             killed = -1;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l2), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&l2, "alice", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, kill_waiters, &killed) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice",
	    LEDGER_LOCK_TIMEOUT_MS), LEDGER_DOWN);
	CU_ASSERT(ms_since(&t0) < LEDGER_LOCK_TIMEOUT_MS);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(killed, 0);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
	ledger_unlock(&fx.l);
	ledger_close(&l2);
}

/* Tables made once by concurrent first users, who all find them. */
static void *
first_open(void *arg)
{
	struct ledger l;
	int          *ok = arg;

	ledger_init(&l);
	*ok = open_ledger(&l) == LEDGER_OK;
	ledger_close(&l);
	return NULL;
}

static void
test_pg_first_use(void)
{
	char      sql[256];
	pthread_t t[6];
	int       ok[6], i;

	ledger_close(&fx.l);
	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE; CREATE SCHEMA %s",
	    fx.schema, fx.schema);
	CU_ASSERT_EQUAL_FATAL(admin(sql), 0);
	for (i = 0; i < 6; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, first_open,
		    &ok[i]) == 0);
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT(ok[i]);
	}
	CU_ASSERT_EQUAL_FATAL(open_ledger(&fx.l), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
}

/*
 * Two ledgers in one database, each in a schema of its own (two sites):
 * the one's user and global locks never hold the other off.
 */
static void
test_pg_two_schemas(void)
{
	struct ledger_config cfg = { fx.state, NULL, 1, 0 };
	struct ledger        l2, l3;
	char                 sql[128], uri[2048];

	snprintf(sql, sizeof sql, "CREATE SCHEMA %s_b", fx.schema);
	CU_ASSERT_EQUAL_FATAL(admin(sql), 0);
	snprintf(uri, sizeof uri, "%s%soptions=-c%%20search_path%%3D%s_b",
	    fx.base, strchr(fx.base, '?') != NULL ? "&" : "?", fx.schema);
	cfg.uri = uri;
	ledger_init(&l2);
	ledger_init(&l3);
	CU_ASSERT_EQUAL_FATAL(ledger_open(&l2, &cfg), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(open_ledger(&l3), LEDGER_OK);

	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l3, "alice", 0), LEDGER_BUSY);
	ledger_unlock(&l2);
	ledger_unlock(&l3);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "bob", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&l3, "bob", 0), LEDGER_BUSY);
	ledger_unlock(&l2);
	ledger_unlock(&l3);
	ledger_unlock(&fx.l);
	ledger_close(&l2);
	ledger_close(&l3);
	snprintf(sql, sizeof sql, "DROP SCHEMA %s_b CASCADE", fx.schema);
	CU_ASSERT_EQUAL(admin(sql), 0);
}

static void
test_pg_unreachable(void)
{
	struct ledger_config cfg = { fx.state,
	    "postgresql:///nodb?host=/nonexistent&connect_timeout=1", 1, 0 };
	struct ledger        l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL(ledger_open(&l2, &cfg), LEDGER_DOWN);
	CU_ASSERT(strncmp(l2.cause, "PQconnectdb:", 12) == 0);
	CU_ASSERT_PTR_NULL(l2.ops);
	ledger_close(&l2);
}

/* ---- postgresql only: the sessions a process shares ---- */

/*
 * The sessions upgate (application_name, from libpq's fallback) has on
 * the test database, once there are at most max — closed ones end a
 * moment after they were closed, so it waits up to 3 s — else as many
 * as there are then; -1 when it cannot tell.
 */
static int64_t
sessions(int64_t max)
{
	struct timespec nap = { 0, 20 * 1000000L };
	int64_t         n = -1;
	int             i;

	for (i = 0; i < 150; i++) {
		if (admin_int("SELECT count(*) FROM pg_stat_activity"
		    " WHERE application_name = 'upgate'"
		    " AND datname = current_database()", &n) == -1 || n <= max)
			break;
		nanosleep(&nap, NULL);
	}
	return n;
}

/* Whether a session holds the lock of r, asked from outside upgate. */
static int
held_outside(const struct reservation *r)
{
	char    sql[160];
	int64_t free_now = -1;

	snprintf(sql, sizeof sql, "SELECT pg_try_advisory_xact_lock_shared("
	    "%" PRId32 ", %" PRId32 ")::int", (int32_t)(uint32_t)(r->id >> 32),
	    (int32_t)(uint32_t)r->id);
	return admin_int(sql, &free_now) == 0 && free_now == 0;
}

/*
 * One ledger, as the CGI has: one session is all it opens, for its
 * scopes and its reservation's lock alike.
 */
static void
test_pg_one_session(void)
{
	struct reservation r;

	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&fx.l, "alice", 40,
	    "alice/.upgate-tmp-1", &r), LEDGER_OK);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR, "alice/d"),
	    LEDGER_OK);
	CU_ASSERT(held_outside(&r));
	CU_ASSERT_EQUAL(sessions(1), 1);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, "alice", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 40);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 40),
	    LEDGER_OK);
	ledger_release_reservation(&fx.l, &r);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 40);
	CU_ASSERT_EQUAL(sessions(1), 1);
}

/*
 * Uploads in threads of one process, each with a ledger of its own, as
 * the responder's workers: their scopes at once are more than the pool
 * lends (some wait for a session), and while their bodies stream (a
 * reservation each, no lock) the process keeps the holder and a few
 * idle sessions open, not one per upload.
 */
#define POOL_THREADS	(PGPOOL_MAX + 8)

struct pooled {
	int                n;
	int                failed;
	pthread_barrier_t *b;
};

static void *
pooled_upload(void *arg)
{
	struct pooled     *pu = arg;
	struct timespec    nap = { 0, 20 * 1000000L };
	struct reservation r;
	struct ledger      l;
	struct usage       u;
	char               user[16], rel[32];

	snprintf(user, sizeof user, "u%d", pu->n);
	snprintf(rel, sizeof rel, "u%d/f", pu->n);
	ledger_init(&l);
	ledger_reservation_init(&r);
	if (open_shared(&l) != LEDGER_OK ||
	    ledger_lock_user(&l, user, LEDGER_LOCK_TIMEOUT_MS) != LEDGER_OK)
		pu->failed++;
	else {
		if (ledger_usage(&l, user, &u) != LEDGER_OK ||
		    ledger_reserve(&l, user, 100, NULL, &r) != LEDGER_OK)
			pu->failed++;
		nanosleep(&nap, NULL);
		ledger_unlock(&l);
	}
	pthread_barrier_wait(pu->b);	/* the bodies stream */
	pthread_barrier_wait(pu->b);	/* counted */
	if (r.id == 0 ||
	    ledger_lock_user(&l, user, LEDGER_LOCK_TIMEOUT_MS) != LEDGER_OK)
		pu->failed++;
	else {
		if (ledger_commit(&l, user, rel, 100) != LEDGER_OK)
			pu->failed++;
		ledger_release_reservation(&l, &r);
		ledger_unlock(&l);
	}
	ledger_close(&l);
	return NULL;
}

static void
test_pg_pool_threads(void)
{
	pthread_barrier_t b;
	struct pooled     pu[POOL_THREADS];
	pthread_t         t[POOL_THREADS];
	char              user[16];
	int64_t           n;
	int               i;

	CU_ASSERT_FATAL(pthread_barrier_init(&b, NULL, POOL_THREADS + 1) == 0);
	for (i = 0; i < POOL_THREADS; i++) {
		pu[i].n = i;
		pu[i].failed = 0;
		pu[i].b = &b;
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, pooled_upload,
		    &pu[i]) == 0);
	}
	pthread_barrier_wait(&b);
	n = sessions(PGPOOL_IDLE + 1);
	CU_ASSERT(n >= 1 && n <= PGPOOL_IDLE + 1);
	for (i = 0; i < POOL_THREADS; i++) {
		snprintf(user, sizeof user, "u%d", i);
		CU_ASSERT_EQUAL(reserved_of(&fx.l, user), 100);
		CU_ASSERT_EQUAL(dead_of(&fx.l, user), 0);
	}
	pthread_barrier_wait(&b);
	for (i = 0; i < POOL_THREADS; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(pu[i].failed, 0);
		snprintf(user, sizeof user, "u%d", i);
		CU_ASSERT_EQUAL(used_of(&fx.l, user), 100);
		CU_ASSERT_EQUAL(reserved_of(&fx.l, user), 0);
	}
	pthread_barrier_destroy(&b);
}

/*
 * Every session the pool may lend held by a scope: one more scope waits
 * for a session as for a lock, and gets LEDGER_BUSY in the same time,
 * or its session as soon as one comes back.
 */
static void
test_pg_pool_busy(void)
{
	struct ledger   l[PGPOOL_MAX + 1];
	struct timespec t0;
	char            user[16];
	int             i;

	for (i = 0; i <= PGPOOL_MAX; i++) {
		ledger_init(&l[i]);
		CU_ASSERT_EQUAL_FATAL(open_shared(&l[i]), LEDGER_OK);
	}
	for (i = 0; i < PGPOOL_MAX; i++) {
		snprintf(user, sizeof user, "u%d", i);
		CU_ASSERT_EQUAL(ledger_lock_user(&l[i], user, T_LOCK_MS),
		    LEDGER_OK);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&l[PGPOOL_MAX], "last", T_LOCK_MS),
	    LEDGER_BUSY);
	CU_ASSERT(ms_since(&t0) >= T_LOCK_MS - 50);
	ledger_unlock(&l[0]);
	CU_ASSERT_EQUAL(ledger_lock_user(&l[PGPOOL_MAX], "last", T_LOCK_MS),
	    LEDGER_OK);
	CU_ASSERT(sessions(PGPOOL_MAX + 1) <= PGPOOL_MAX + 1);
	for (i = 0; i <= PGPOOL_MAX; i++) {
		ledger_unlock(&l[i]);
		ledger_close(&l[i]);
	}
}

/*
 * A reservation outlives the session of the call that made it: that
 * session goes back to the pool and serves other ledgers' scopes, and
 * the reservation stays live for them, for another process, and for its
 * owner's next calls.
 */
static void
test_pg_resv_outlives_session(void)
{
	struct reclaimed   c = { 0, "", 0 };
	struct reservation r;
	struct ledger      a, b;
	int                i;

	ledger_init(&a);
	ledger_init(&b);
	CU_ASSERT_EQUAL_FATAL(open_shared(&a), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(open_shared(&b), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&a, "alice", 50, NULL, &r),
	    LEDGER_OK);
	for (i = 0; i < 2 * PGPOOL_IDLE; i++) {
		CU_ASSERT_EQUAL(ledger_lock_user(&b, "alice", T_LOCK_MS),
		    LEDGER_OK);
		CU_ASSERT_EQUAL(reserved_of(&b, "alice"), 50);
		CU_ASSERT_EQUAL(dead_of(&b, "alice"), 0);
		CU_ASSERT_EQUAL(ledger_reclaim(&b, "alice", fx.upload_fd,
		    on_reclaim, &c), LEDGER_OK);
		ledger_unlock(&b);
	}
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT(held_outside(&r));
	CU_ASSERT_EQUAL(ledger_reservation_set(&a, &r, 80), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&a, &r, RESV_DIR, "alice/d"),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 80);
	ledger_release_reservation(&a, &r);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	ledger_close(&b);
	ledger_close(&a);
}

/*
 * A process killed with its reservation live (kill -9 of a worker's
 * process): its sessions end with it, and the reservation is dead, then
 * reclaimed with its temporary file.  The child opens its ledger with a
 * URI of its own, so as not to share the sessions it inherited.
 */
static void
test_pg_process_killed(void)
{
	struct reclaimed c = { 0, "", 0 };
	char             uri[sizeof fx.uri + 32], ch = 0;
	int              pfd[2], status, i;
	pid_t            pid;

	make_path("alice/.upgate-tmp-k", 1);
	snprintf(uri, sizeof uri, "%s&connect_timeout=4", fx.uri);
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	if ((pid = fork()) == 0) {
		struct reservation r;
		struct ledger      l;

		close(pfd[0]);
		ledger_init(&l);
		if (open_ledger_as(&l, uri, 1) != LEDGER_OK ||
		    ledger_reserve(&l, "alice", 64, "alice/.upgate-tmp-k",
		    &r) != LEDGER_OK || write(pfd[1], "1", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CU_ASSERT_FATAL(pid > 0);
	close(pfd[1]);
	CU_ASSERT_EQUAL(read(pfd[0], &ch, 1), 1);
	close(pfd[0]);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	/* the server ends its sessions once it reads their sockets' end */
	for (i = 0; i < 250 && dead_of(&fx.l, "alice") == 0; i++)
		usleep(20000);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 1);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_EQUAL(c.bytes, 64);
	CU_ASSERT(!exists("alice/.upgate-tmp-k"));
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
}

/*
 * The holder's session ended (pg_terminate_backend): every reservation
 * of the process is dead for the others, who reclaim it; its owner's
 * next calls on it fail (LEDGER_DOWN: 503), never extend it; and the
 * next reservation gets a new holder.
 */
static void
test_pg_holder_killed(void)
{
	struct reclaimed   c = { 0, "", 0 };
	struct reservation r, r2;
	struct ledger      a;
	char               sql[320];
	int64_t            n = 0;

	ledger_init(&a);
	CU_ASSERT_EQUAL_FATAL(open_shared(&a), LEDGER_OK);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&a, "alice", 10, NULL, &r),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 10);
	snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid,"
	    " 5000)) FROM pg_locks WHERE locktype = 'advisory'"
	    " AND objsubid = 2 AND granted AND classid = %" PRIu32
	    " AND objid = %" PRIu32, (uint32_t)(r.id >> 32), (uint32_t)r.id);
	CU_ASSERT_EQUAL_FATAL(admin_int(sql, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 1);
	CU_ASSERT_EQUAL(ledger_reservation_set(&a, &r, 20), LEDGER_DOWN);
	CU_ASSERT(strncmp(a.cause, "postgresql:", 11) == 0);
	CU_ASSERT_EQUAL(ledger_reservation_add(&a, &r, RESV_DIR, "alice/d"),
	    LEDGER_DOWN);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(&a, "alice", 7, NULL, &r2),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_set(&a, &r2, 8), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_EQUAL(c.bytes, 10);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 8);
	ledger_release_reservation(&a, &r);	/* lost: safe */
	ledger_release_reservation(&a, &r2);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	ledger_close(&a);
}

/* ---- leases: resumable uploads (ledger.h) ---- */

/* A lease of bytes for alice's upload into tmp, expiring at expires. */
static void
lease_make(struct ledger *l, const char *tmp, int64_t bytes,
    int64_t expires, struct upload *u)
{
	struct reservation r;

	memset(u, 0, sizeof *u);
	make_path(tmp, 1);
	CU_ASSERT_EQUAL_FATAL(ledger_reserve(l, "alice", bytes, tmp, &r),
	    LEDGER_OK);
	snprintf(u->folder, sizeof u->folder, "alice");
	snprintf(u->name, sizeof u->name, "movie.mkv");
	snprintf(u->tmp, sizeof u->tmp, "%s", tmp);
	snprintf(u->metadata, sizeof u->metadata, "filename bW92aWUubWt2");
	u->length = bytes;
	u->expires = expires;
	CU_ASSERT_EQUAL_FATAL(ledger_lease_begin(l, &r, u), LEDGER_OK);
	CU_ASSERT_EQUAL(r.id, 0);
	CU_ASSERT(upload_id_valid(u->id));
	CU_ASSERT_STRING_EQUAL(u->owner, "alice");
}

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/*
 * A lease is tied to no process: the one that made it exits and it
 * still holds its bytes and its temporary file, and its state reads
 * back as it was written.
 */
static void
test_lease_outlives_process(void)
{
	struct reclaimed c = { 0, "", 0 };
	struct upload    u;
	char             uri[sizeof fx.uri + 32], id[UPLOAD_ID_LEN + 1];
	int              pfd[2], status;
	pid_t            pid;

	/* a URI of its own: the child must not share inherited sessions */
	snprintf(uri, sizeof uri, "%s&connect_timeout=4", fx.uri);
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	if ((pid = fork()) == 0) {
		struct ledger l;
		struct upload v;

		close(pfd[0]);
		ledger_init(&l);
		if (open_ledger_as(&l, fx.base != NULL ? uri : NULL, 0) !=
		    LEDGER_OK)
			_exit(1);
		lease_make(&l, "alice/.upgate-tmp-L", 64, now_s() + 3600, &v);
		if (write(pfd[1], v.id, UPLOAD_ID_LEN) != UPLOAD_ID_LEN)
			_exit(1);
		_exit(0);	/* no ledger_close: as if killed */
	}
	CU_ASSERT_FATAL(pid > 0);
	close(pfd[1]);
	memset(id, 0, sizeof id);
	CU_ASSERT_EQUAL(read(pfd[0], id, UPLOAD_ID_LEN), UPLOAD_ID_LEN);
	close(pfd[0]);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* a killed process's session ends a moment later: still live */
	usleep(200000);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT(exists("alice/.upgate-tmp-L"));
	CU_ASSERT_EQUAL_FATAL(ledger_upload_get(&fx.l, "alice", id, &u), 0);
	CU_ASSERT_STRING_EQUAL(u.id, id);
	CU_ASSERT_STRING_EQUAL(u.owner, "alice");
	CU_ASSERT_STRING_EQUAL(u.folder, "alice");
	CU_ASSERT_STRING_EQUAL(u.name, "movie.mkv");
	CU_ASSERT_STRING_EQUAL(u.tmp, "alice/.upgate-tmp-L");
	CU_ASSERT_STRING_EQUAL(u.metadata, "filename bW92aWUubWt2");
	CU_ASSERT_EQUAL(u.length, 64);
	CU_ASSERT_EQUAL(u.offset, 0);
	CU_ASSERT_EQUAL(u.finished, 0);
	CU_ASSERT(u.expires > now_s() + 3500);
	/* another user's id is nobody's; a malformed one too */
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "bob", id, &u), 1);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice",
	    "0123456789abcdef0123456789abcdef", &u), 1);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", "../x", &u), 1);
}

/*
 * An expired lease holds nothing and is dead: the user's next reclaim
 * removes it with its temporary file, and its id is then unknown.
 */
static void
test_lease_expiry(void)
{
	struct reclaimed c = { 0, "", 0 };
	struct upload    u, v;

	lease_make(&fx.l, "alice/.upgate-tmp-E", 64, now_s() - 1, &u);
	lease_make(&fx.l, "alice/.upgate-tmp-F", 10, now_s() + 3600, &v);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 10);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 1);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_EQUAL(c.bytes, 64);
	CU_ASSERT(!exists("alice/.upgate-tmp-E"));
	CU_ASSERT(exists("alice/.upgate-tmp-F"));
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", u.id, &u), 1);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 10);
}

/*
 * Renewal pushes the expiry on and keeps the offset; the upload's own
 * lock excludes a second request (another thread's ledger), and keeps
 * a lease that expires under it live and unreclaimed.
 */
static void
test_lease_renew_lock(void)
{
	struct reclaimed c = { 0, "", 0 };
	struct upload    u, w, again;
	struct ledger    l2;

	ledger_init(&l2);
	CU_ASSERT_EQUAL_FATAL(open_shared(&l2), LEDGER_OK);
	lease_make(&fx.l, "alice/.upgate-tmp-R", 64, now_s() - 1, &u);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL_FATAL(ledger_upload_lock(&fx.l, &u), LEDGER_OK);
	w = u;
	w.held = 0;
	CU_ASSERT_EQUAL(ledger_upload_lock(&l2, &w), LEDGER_BUSY);
	u.offset = 40;
	u.expires = now_s() + 3600;
	CU_ASSERT_EQUAL(ledger_upload_put(&fx.l, &u), LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL_FATAL(ledger_upload_get(&fx.l, "alice", u.id, &again),
	    0);
	CU_ASSERT_EQUAL(again.offset, 40);
	CU_ASSERT(again.expires > now_s() + 3500);
	ledger_upload_unlock(&fx.l, &u);
	CU_ASSERT_EQUAL(u.held, 0);
	ledger_upload_unlock(&fx.l, &u);	/* twice: safe */

	/* expired while another request holds it: live, left alone */
	CU_ASSERT_EQUAL_FATAL(ledger_upload_lock(&l2, &w), LEDGER_OK);
	u.expires = now_s() - 1;
	CU_ASSERT_EQUAL(ledger_upload_put(&l2, &u), LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT(exists("alice/.upgate-tmp-R"));
	ledger_upload_unlock(&l2, &w);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    on_reclaim, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT(!exists("alice/.upgate-tmp-R"));
	ledger_close(&l2);
}

/* u, a lease of 64 bytes, completed: its file committed, then finished. */
static void
lease_finish(struct upload *u, const char *tmp, const char *rel)
{
	CU_ASSERT_EQUAL_FATAL(ledger_upload_lock(&fx.l, u), LEDGER_OK);
	u->offset = 64;
	make_path(rel, 1);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_user(&fx.l, "alice",
	    LEDGER_LOCK_TIMEOUT_MS), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", rel, 64), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_upload_finish(&fx.l, u), LEDGER_OK);
	ledger_unlock(&fx.l);
	ledger_upload_unlock(&fx.l, u);
	CU_ASSERT_EQUAL(u->finished, 1);
	make_path(tmp, 1);	/* a name it no longer owns */
}

/*
 * Completion: the file committed, the lease holds nothing and forgets
 * the temporary file, the upload answers as finished until it expires.
 * A finished upload is no longer the business of the user's requests:
 * once expired it is not counted dead, and the operator's reclaim
 * forgets it (the user's own may too), leaving the stored file.
 */
static void
test_lease_complete(void)
{
	struct upload u, v, got;
	struct usage  us;

	lease_make(&fx.l, "alice/.upgate-tmp-C", 64, now_s() + 3600, &u);
	lease_finish(&u, "alice/.upgate-tmp-C", "alice/movie.mkv");
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL_FATAL(ledger_upload_get(&fx.l, "alice", u.id, &got),
	    0);
	CU_ASSERT_EQUAL(got.finished, 1);
	CU_ASSERT_EQUAL(got.offset, 64);
	CU_ASSERT(got.expires > now_s() + 3500);
	/* another, whose expiry passed by the time it finished */
	lease_make(&fx.l, "alice/.upgate-tmp-D", 64, now_s() + 3600, &v);
	v.expires = now_s() - 1;
	lease_finish(&v, "alice/.upgate-tmp-D", "alice/movie2.mkv");
	CU_ASSERT_EQUAL_FATAL(ledger_usage(&fx.l, "alice", &us), LEDGER_OK);
	CU_ASSERT_EQUAL(us.dead, 0);
	CU_ASSERT_EQUAL(us.reserved, 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd, NULL,
	    NULL), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd, NULL,
	    NULL), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", v.id, &got), 1);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", u.id, &got), 0);
	CU_ASSERT(exists("alice/movie.mkv"));
	CU_ASSERT(exists("alice/movie2.mkv"));
	CU_ASSERT(exists("alice/.upgate-tmp-C"));
	CU_ASSERT(exists("alice/.upgate-tmp-D"));
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 128);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	/* DELETE of a finished upload forgets it */
	CU_ASSERT_EQUAL(ledger_upload_end(&fx.l, &u, fx.upload_fd), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", u.id, &got), 1);
	CU_ASSERT(exists("alice/movie.mkv"));
}

/* Termination: the upload, its file and its lease are gone at once. */
static void
test_lease_terminate(void)
{
	struct upload u, got;

	lease_make(&fx.l, "alice/.upgate-tmp-T", 64, now_s() + 3600, &u);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL_FATAL(ledger_upload_lock(&fx.l, &u), LEDGER_OK);
	CU_ASSERT(exists("alice/.upgate-tmp-T"));
	CU_ASSERT_EQUAL(ledger_upload_end(&fx.l, &u, fx.upload_fd), LEDGER_OK);
	CU_ASSERT(!exists("alice/.upgate-tmp-T"));
	ledger_upload_unlock(&fx.l, &u);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(dead_of(&fx.l, "alice"), 0);
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", u.id, &got), 1);
}

static int
on_upload(void *arg, const struct upload *u)
{
	int *n = arg;

	*n += u->length == 64 && strcmp(u->owner, "alice") == 0;
	return 0;
}

/*
 * recount reclaims expired leases with their files, keeps live ones
 * (reserved, their temporary files not counted as used); each_upload
 * lists them.
 */
static void
test_lease_recount(void)
{
	struct upload u, v;
	int           n = 0;

	lease_make(&fx.l, "alice/.upgate-tmp-X", 64, now_s() - 1, &u);
	lease_make(&fx.l, "alice/.upgate-tmp-Y", 64, now_s() + 3600, &v);
	CU_ASSERT_EQUAL(ledger_each_upload(&fx.l, NULL, on_upload, &n),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL_FATAL(ledger_lock_all(&fx.l, LEDGER_LOCK_TIMEOUT_MS),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_recount(&fx.l, fx.upload_fd, 1, NULL, NULL,
	    NULL), LEDGER_OK);
	ledger_unlock(&fx.l);
	CU_ASSERT(!exists("alice/.upgate-tmp-X"));
	CU_ASSERT(exists("alice/.upgate-tmp-Y"));
	CU_ASSERT_EQUAL(ledger_upload_get(&fx.l, "alice", u.id, &u), 1);
	CU_ASSERT_EQUAL(reserved_of(&fx.l, "alice"), 64);
	CU_ASSERT_EQUAL(used_of(&fx.l, "alice"), 0);
	n = 0;
	CU_ASSERT_EQUAL(ledger_each_upload(&fx.l, "alice", on_upload, &n),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(n, 1);
}

#define COMMON_TESTS							\
	{ "usage of nobody", test_usage_empty },			\
	{ "commit a new file", test_commit_new },			\
	{ "commit grows and shrinks", test_commit_grow_shrink },	\
	{ "commit over another owner's", test_commit_other_owner },	\
	{ "commit an empty file", test_commit_empty },			\
	{ "commit refuses bad input", test_commit_bad },		\
	{ "forget", test_forget },					\
	{ "move", test_move },						\
	{ "records by exact path", test_record_paths },			\
	{ "record put and drop", test_record_put_drop },		\
	{ "set_used and flush", test_set_used_flush },			\
	{ "reserve, set, add, release", test_reserve },			\
	{ "a closed ledger's reservation is reclaimed", test_reclaim_dead }, \
	{ "reclaim of every user", test_reclaim_all },			\
	{ "two reclaims at once", test_reclaim_concurrent },		\
	{ "a live reservation is not reclaimed", test_reclaim_live },	\
	{ "two reclaims of one user at once",				\
	    test_reclaim_user_concurrent },				\
	{ "user locks", test_lock_user },				\
	{ "locks without waiting", test_lock_no_wait },			\
	{ "lock_all excludes requests", test_lock_all },		\
	{ "file locks", test_lock_file },				\
	{ "the user lock keeps a quota", test_lock_race },		\
	{ "each_user", test_each_user },				\
	{ "each_record", test_each_record },				\
	{ "largest", test_largest },					\
	{ "a lease outlives its process", test_lease_outlives_process }, \
	{ "an expired lease is reclaimed", test_lease_expiry },	\
	{ "a lease renewed, its upload locked", test_lease_renew_lock }, \
	{ "a lease completed", test_lease_complete },			\
	{ "a lease terminated", test_lease_terminate },		\
	{ "recount and leases", test_lease_recount }

static CU_TestInfo files_tests[] = {
	COMMON_TESTS,
	CU_TEST_INFO_NULL,
};

static CU_TestInfo pg_tests[] = {
	COMMON_TESTS,
	{ "first use by several at once", test_pg_first_use },
	{ "an unreachable database", test_pg_unreachable },
	{ "two schemas share no lock", test_pg_two_schemas },
	{ "a lock wait cut by the session's end", test_pg_wait_cut },
	{ "the database stops and comes back", test_pg_down },
	{ "one ledger, one session", test_pg_one_session },
	{ "threads share a few sessions", test_pg_pool_threads },
	{ "a scope waits for a session", test_pg_pool_busy },
	{ "a reservation outlives its call's session",
	    test_pg_resv_outlives_session },
	{ "a killed process's reservation is reclaimed",
	    test_pg_process_killed },
	{ "the holder's session ends", test_pg_holder_killed },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo no_tests[] = {
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "ledger interface: files", NULL, NULL, setup_files, teardown,
	    files_tests },
	{ "ledger interface: postgresql", NULL, NULL, setup_pg, teardown,
	    pg_tests },
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	const char *uri = getenv("UPGATE_TEST_LEDGER");
	const char *skip = getenv("UPGATE_TEST_LEDGER_SKIP");

	if (skip != NULL && strstr(skip, "files") != NULL) {
		printf("note: ledger interface: files skipped"
		    " (UPGATE_TEST_LEDGER_SKIP)\n");
		suites[0].pTests = no_tests;
	}
	if (uri == NULL || *uri == '\0') {
		printf("note: ledger interface: postgresql skipped"
		    " (set UPGATE_TEST_LEDGER, or run under"
		    " tests/unit/with-postgres.sh)\n");
		suites[1].pTests = no_tests;
	}
	return cu_run(suites);
}
