/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * test_quota: the quota table (upgate.conf(5)) — parsing, lookups, and the
 * compiled index in state_dir that the CGI reads instead of parsing.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "tmpdir.h"
#include "diag.h"
#include "quota.h"

#define GiB (INT64_C(1) << 30)
#define MiB (INT64_C(1) << 20)
#define KiB (INT64_C(1) << 10)

/* The longest valid user name */
#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16

/* Layout of the index, as quota.c writes it (white-box tests only). */
#define IDX_HEADER 96
#define IDX_REC    80

/* ---------------------------------------------------------------- helpers */

static struct quota_table *
parse(const char *text, struct diag *d)
{
	diag_init(d);
	return quota_table_parse(text, strlen(text), "q", d);
}

/* A fresh directory for one test, its path in dir (PATH_MAX bytes). */
static void
dir_make(char *dir, size_t size)
{
	if (tmpdir_make(dir, size, "quota") == -1)
		CU_FAIL_FATAL("tmpdir_make");
}

/* Removes dir and what is in it and in its subdirectories, one level. */
static void
dir_remove(const char *dir)
{
	char           path[4096];
	DIR           *dp;
	struct dirent *e;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (unlink(path) == -1)
			dir_remove(path);
	}
	closedir(dp);
	rmdir(dir);
}

static void
file_write(const char *path, const char *text, size_t len)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		CU_FAIL_FATAL("fopen");
	CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* Replaces path atomically, as upgate.conf(5), "The quota table" says operators do. */
static void
file_replace(const char *path, const char *text)
{
	char tmp[400];

	snprintf(tmp, sizeof tmp, "%s.new", path);
	file_write(tmp, text, strlen(text));
	CU_ASSERT_EQUAL_FATAL(rename(tmp, path), 0);
}

/* The inode of the index in the state directory, or 0 when there is none. */
static ino_t
index_inode(int sfd)
{
	struct stat st;

	return fstatat(sfd, "quota.idx", &st, 0) == -1 ? 0 : st.st_ino;
}

/* A test's world: a directory holding the table "quotas" and "state/". */
struct world {
	char dir[256];
	char table[300];
	char state[300];
	int  sfd;
};

static void
world_make(struct world *w, const char *text)
{
	dir_make(w->dir, sizeof w->dir);
	snprintf(w->table, sizeof w->table, "%s/quotas", w->dir);
	snprintf(w->state, sizeof w->state, "%s/state", w->dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(w->state, 0700), 0);
	w->sfd = open(w->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(w->sfd >= 0);
	file_write(w->table, text, strlen(text));
}

static void
world_free(struct world *w)
{
	close(w->sfd);
	dir_remove(w->dir);
}

/* Opens the table as a fresh CGI process would: nothing cached. */
static struct quota_table *
open_fresh(const struct world *w, struct diag *d)
{
	struct quota_table *t = NULL;

	diag_init(d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w->table, w->sfd, d), 0);
	CU_ASSERT_EQUAL(d->count, 0);
	return t;
}

static int64_t
limit_of(const struct quota_table *t, const char *user)
{
	return quota_lookup(t, user).limit;
}

/* ---------------------------------------------------------------- parse */

static const char example[] =
    "# user        limit\n"
    "alice         10G\n"
    "bob           500M\n"
    "carol         unlimited\n"
    "*             1G\n";

static void
test_parse_example(void)
{
	struct diag         d;
	struct quota_table *t = parse(example, &d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(d.count, 0);
	CU_ASSERT_EQUAL(quota_table_count(t), 3);
	CU_ASSERT_STRING_EQUAL(quota_table_user(t, 0), "alice");
	CU_ASSERT_STRING_EQUAL(quota_table_user(t, 1), "bob");
	CU_ASSERT_STRING_EQUAL(quota_table_user(t, 2), "carol");
	CU_ASSERT_PTR_NULL(quota_table_user(t, 3));
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 10 * GiB);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 500 * MiB);
	CU_ASSERT_EQUAL(limit_of(t, "carol"), QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(limit_of(t, "dave"), GiB);
	quota_table_free(t);
}

/* Every shape of a valid line, and the limit it gives its user. */
static const struct {
	const char *text;
	const char *user;
	int64_t     limit;
} valid[] = {
	{ "u 0\n", "u", 0 },
	{ "u 1\n", "u", 1 },
	{ "u 007\n", "u", 7 },
	{ "u 2k\n", "u", 2 * KiB },
	{ "u 2KiB\n", "u", 2 * KiB },
	{ "u 3mib\n", "u", 3 * MiB },
	{ "u 1T\n", "u", INT64_C(1) << 40 },
	{ "u 9223372036854775807\n", "u", INT64_MAX },
	{ "u 8388607T\n", "u", INT64_C(8388607) << 40 },
	{ "u unlimited\n", "u", QUOTA_UNLIMITED },
	{ "\tu\t\t5\t\n", "u", 5 },
	{ "u 5 # five bytes\n", "u", 5 },
	{ "u 5\t#five\n", "u", 5 },
	{ "u 5 #\n", "u", 5 },
	{ "u 5", "u", 5 },				/* no final newline */
	{ "u 5\r\n", "u", 5 },				/* CRLF */
	{ "# c\n\n   \n\t\nu 5\n#\n", "u", 5 },
	{ "A.b_c@d-9 5\n", "A.b_c@d-9", 5 },
	{ "@ 5\n", "@", 5 },
	{ "_x 5\n", "_x", 5 },
	{ "9 5\n", "9", 5 },
	{ "x. 5\n", "x.", 5 },
	{ A64 " 5\n", A64, 5 },
};

static void
test_parse_valid(void)
{
	struct diag         d;
	struct quota_table *t;
	struct quota_rule   r;
	size_t              i;

	for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		t = parse(valid[i].text, &d);
		CU_ASSERT_PTR_NOT_NULL(t);
		CU_ASSERT_EQUAL(d.count, 0);
		if (t == NULL) {
			fprintf(stderr, "row %zu: %s", i, d.text);
			continue;
		}
		r = quota_lookup(t, valid[i].user);
		CU_ASSERT_EQUAL(r.limit, valid[i].limit);
		CU_ASSERT_EQUAL(r.named, 1);
		CU_ASSERT_EQUAL(quota_table_count(t), 1);
		quota_table_free(t);
	}
}

static void
test_parse_empty(void)
{
	static const char *texts[] = { "", "\n", "# nothing\n", " \t\r\n\n" };
	struct diag        d;
	struct quota_table *t;
	struct quota_rule   r;
	size_t              i;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		t = parse(texts[i], &d);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(quota_table_count(t), 0);
		CU_ASSERT_PTR_NULL(quota_table_user(t, 0));
		r = quota_lookup(t, "alice");
		CU_ASSERT_EQUAL(r.limit, QUOTA_UNLIMITED);
		CU_ASSERT_EQUAL(r.named, 0);
		quota_table_free(t);
	}
}

#define BADNAME ": 1 to 64 bytes of A-Z a-z 0-9 . _ @ -, not starting " \
    "with . or -\n"
#define BADLIMIT ": a size such as 500M, or unlimited\n"

/* Each invalid table, and exactly what the operator is told. */
static const struct {
	const char *text;
	size_t      len;	/* 0: strlen */
	const char *diag;
} invalid[] = {
	{ "alice\n", 0, "q:1: no limit for \"alice\"\n" },
	{ "alice # 10G\n", 0, "q:1: no limit for \"alice\"\n" },
	{ "*\n", 0, "q:1: no limit for \"*\"\n" },
	{ "alice 10X\n", 0, "q:1: invalid limit \"10X\"" BADLIMIT },
	{ "alice -1\n", 0, "q:1: invalid limit \"-1\"" BADLIMIT },
	{ "alice +1\n", 0, "q:1: invalid limit \"+1\"" BADLIMIT },
	{ "alice 1.5G\n", 0, "q:1: invalid limit \"1.5G\"" BADLIMIT },
	{ "alice 10%\n", 0, "q:1: invalid limit \"10%\"" BADLIMIT },
	{ "alice Unlimited\n", 0, "q:1: invalid limit \"Unlimited\"" BADLIMIT },
	{ "alice none\n", 0, "q:1: invalid limit \"none\"" BADLIMIT },
	{ "alice 10G#x\n", 0, "q:1: invalid limit \"10G#x\"" BADLIMIT },
	{ "alice 9223372036854775808\n", 0,
	  "q:1: invalid limit \"9223372036854775808\"" BADLIMIT },
	{ "alice 8388608T\n", 0, "q:1: invalid limit \"8388608T\"" BADLIMIT },
	{ "alice 1G\r\r\n", 0, "q:1: invalid limit \"1G\\x0d\"" BADLIMIT },
	{ "alice 123456789012345678901234567890123\n", 0,
	  "q:1: invalid limit \"123456789012345678901234567890123\"" BADLIMIT },
	{ "alice 10 G\n", 0, "q:1: unexpected \"G\" after the limit\n" },
	{ "alice 10G junk\n", 0, "q:1: unexpected \"junk\" after the limit\n" },
	{ "al ice 10G\n", 0, "q:1: unexpected \"10G\" after the limit\n" },
	{ ".alice 1G\n", 0, "q:1: invalid user name \".alice\"" BADNAME },
	{ "-alice 1G\n", 0, "q:1: invalid user name \"-alice\"" BADNAME },
	{ "al#ice 1G\n", 0, "q:1: invalid user name \"al#ice\"" BADNAME },
	{ "al/ice 1G\n", 0, "q:1: invalid user name \"al/ice\"" BADNAME },
	{ "**\t1G\n", 0, "q:1: invalid user name \"**\"" BADNAME },
	{ "\"x\\ 1G\n", 0, "q:1: invalid user name \"\\x22x\\x5c\"" BADNAME },
	{ "\x01\xff 1G\n", 0, "q:1: invalid user name \"\\x01\\xff\"" BADNAME },
	{ A64 "a 1\n", 0, "q:1: invalid user name "
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"" BADNAME },
	{ "al\0ice 1G\n", 10, "q:1: a NUL byte in the line\n" },
	{ "# header\n\nalice 1G\n\n  bob\n", 0, "q:5: no limit for \"bob\"\n" },
	{ "alice 1G\r\nbob\r\n", 0, "q:2: no limit for \"bob\"\n" },
	{ "* 1G\nalice 2G\n* 2G\n", 0,
	  "q:3: \"*\" appears more than once (first on line 1)\n" },
	{ "bob 1G\nalice 1G\nbob 2G\nalice 3G\nbob 1G\n", 0,
	  "q:3: user \"bob\" appears more than once (first on line 1)\n"
	  "q:4: user \"alice\" appears more than once (first on line 2)\n"
	  "q:5: user \"bob\" appears more than once (first on line 1)\n" },
	{ "x 1\nbad!\t1\ny\nz 1 2\nw 1X\n", 0,
	  "q:2: invalid user name \"bad!\"" BADNAME
	  "q:3: no limit for \"y\"\n"
	  "q:4: unexpected \"2\" after the limit\n"
	  "q:5: invalid limit \"1X\"" BADLIMIT },
	{ "x 1\nx 2\ny X\n", 0,
	  "q:3: invalid limit \"X\"" BADLIMIT
	  "q:2: user \"x\" appears more than once (first on line 1)\n" },
};

static void
test_parse_invalid(void)
{
	struct diag         d;
	struct quota_table *t;
	size_t              i, len;

	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		len = invalid[i].len ? invalid[i].len : strlen(invalid[i].text);
		diag_init(&d);
		t = quota_table_parse(invalid[i].text, len, "q", &d);
		CU_ASSERT_PTR_NULL(t);
		CU_ASSERT_STRING_EQUAL(d.text, invalid[i].diag);
		if (strcmp(d.text, invalid[i].diag) != 0)
			fprintf(stderr, "\nrow %zu: got %s", i, d.text);
		quota_table_free(t);
	}
}

/* ---------------------------------------------------------------- lookup */

static void
test_lookup(void)
{
	static const struct {
		const char *user;
		int64_t     limit;
		int         named;
	} rows[] = {
		{ "alice", 10 * GiB, 1 },
		{ "Alice", 0, 0 },		/* case-sensitive: '*' */
		{ "ALICE", 0, 0 },
		{ "bob", 0, 1 },
		{ "carol", QUOTA_UNLIMITED, 1 },
		{ "ali", 0, 0 },
		{ "alicea", 0, 0 },
		{ "", 0, 0 },
		{ "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		  "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 0, 0 },
	};
	struct diag         d;
	struct quota_table *t;
	struct quota_rule   r;
	size_t              i;

	t = parse("carol unlimited\nalice 10G\n* 0\nbob 0\n", &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = quota_lookup(t, rows[i].user);
		CU_ASSERT_EQUAL(r.limit, rows[i].limit);
		CU_ASSERT_EQUAL(r.named, rows[i].named);
	}
	quota_table_free(t);
}

static void
test_lookup_no_star(void)
{
	struct diag         d;
	struct quota_table *t;
	struct quota_rule   r;

	t = parse("alice 1K\n", &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	r = quota_lookup(t, "bob");
	CU_ASSERT_EQUAL(r.limit, QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(r.named, 0);
	r = quota_lookup(t, "alice");
	CU_ASSERT_EQUAL(r.limit, KiB);
	CU_ASSERT_EQUAL(r.named, 1);
	quota_table_free(t);

	t = parse("* unlimited\nalice 1K\n", &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	r = quota_lookup(t, "bob");
	CU_ASSERT_EQUAL(r.limit, QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(r.named, 0);
	CU_ASSERT_EQUAL(quota_table_count(t), 1);
	quota_table_free(t);
}

static void
test_lookup_null(void)
{
	struct quota_rule r = quota_lookup(NULL, "alice");

	CU_ASSERT_EQUAL(r.limit, QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(r.named, 0);
	CU_ASSERT_EQUAL(quota_table_count(NULL), 0);
	CU_ASSERT_PTR_NULL(quota_table_user(NULL, 0));
	quota_table_free(NULL);
}

/* Users come back in byte order, whatever the order of the lines. */
static void
test_users_sorted(void)
{
	static const char *want[] = { "0", "@x", "B", "Z", "_", "a", "b" };
	struct diag         d;
	struct quota_table *t;
	size_t              i;

	t = parse("b 1\nZ 1\n_ 1\na 1\n@x 1\nB 1\n0 1\n", &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL_FATAL(quota_table_count(t), 7);
	for (i = 0; i < 7; i++)
		CU_ASSERT_STRING_EQUAL(quota_table_user(t, i), want[i]);
	quota_table_free(t);
}

/* ---------------------------------------------------------------- open */

static void
test_open_builds_index(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	ino_t               ino;

	world_make(&w, example);
	CU_ASSERT_EQUAL(index_inode(w.sfd), 0);
	t = open_fresh(&w, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 500 * MiB);
	quota_table_free(t);
	ino = index_inode(w.sfd);
	CU_ASSERT_NOT_EQUAL(ino, 0);

	t = open_fresh(&w, &d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(index_inode(w.sfd), ino);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 10 * GiB);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 500 * MiB);
	CU_ASSERT_EQUAL(limit_of(t, "carol"), QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(quota_lookup(t, "dave").limit, GiB);
	CU_ASSERT_EQUAL(quota_lookup(t, "dave").named, 0);
	CU_ASSERT_EQUAL(quota_table_count(t), 3);
	CU_ASSERT_STRING_EQUAL(quota_table_user(t, 2), "carol");
	quota_table_free(t);
	world_free(&w);
}

/*
 * Proof that a warm open reads the index, not the table: a limit patched
 * into the index file (its identity untouched) is what the lookup gives.
 */
static void
test_open_uses_index(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	int64_t             patched = 12345;
	int                 fd;

	world_make(&w, "bob 1G\nalice 2G\n");
	quota_table_free(open_fresh(&w, &d));
	fd = openat(w.sfd, "quota.idx", O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	/* records are sorted: alice is the first; its limit follows the name */
	CU_ASSERT_EQUAL(pwrite(fd, &patched, sizeof patched,
	    IDX_HEADER + IDX_REC - 8), 8);
	close(fd);
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 12345);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), GiB);
	quota_table_free(t);
	world_free(&w);
}

static void
test_open_cached(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t = NULL, *first;

	world_make(&w, example);
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	first = t;
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	CU_ASSERT_PTR_EQUAL(t, first);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 10 * GiB);

	/* a new table: the cached one is replaced */
	file_replace(w.table, "alice 1M\n");
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), MiB);
	CU_ASSERT_EQUAL(quota_lookup(t, "dave").limit, QUOTA_UNLIMITED);
	CU_ASSERT_EQUAL(d.count, 0);
	quota_table_free(t);
	world_free(&w);
}

static void
test_open_renamed(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	ino_t               ino;

	world_make(&w, example);
	quota_table_free(open_fresh(&w, &d));
	ino = index_inode(w.sfd);
	file_replace(w.table, "alice 5K\n* 7\n");
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 5 * KiB);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 7);
	CU_ASSERT_EQUAL(quota_table_count(t), 1);
	quota_table_free(t);
	CU_ASSERT_NOT_EQUAL(index_inode(w.sfd), ino);

	/* and the rebuilt index serves the next process */
	ino = index_inode(w.sfd);
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 7);
	CU_ASSERT_EQUAL(index_inode(w.sfd), ino);
	quota_table_free(t);
	world_free(&w);
}

/* An editor that writes in place: a new size, or only a new mtime. */
static void
test_open_rewritten(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	struct timespec     ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	ino_t               ino;

	world_make(&w, "alice 1G\n");
	quota_table_free(open_fresh(&w, &d));
	ino = index_inode(w.sfd);

	file_write(w.table, "alice 20G\n", 10);
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 20 * GiB);
	quota_table_free(t);
	CU_ASSERT_NOT_EQUAL(index_inode(w.sfd), ino);

	ino = index_inode(w.sfd);
	file_write(w.table, "alice 30G\n", 10);	/* same size */
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, w.table, ts, 0), 0);
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 30 * GiB);
	quota_table_free(t);
	CU_ASSERT_NOT_EQUAL(index_inode(w.sfd), ino);
	world_free(&w);
}

/* Damaged index files, cut to a size or with a byte flipped: rebuilt. */
static const struct {
	const char *name;
	off_t       cut;	/* truncate to this size, or -1 */
	off_t       flip;	/* flip the bits of this byte, or -1 */
} damage[] = {
	{ "empty", 0, -1 },
	{ "short header", 50, -1 },
	{ "header only", IDX_HEADER, -1 },
	{ "half a record", IDX_HEADER + IDX_REC + IDX_REC / 2, -1 },
	{ "a record less", IDX_HEADER + IDX_REC, -1 },
	{ "a byte more", IDX_HEADER + 2 * IDX_REC + 1, -1 },
	{ "magic", -1, 0 },
	{ "version", -1, 8 },
	{ "record size", -1, 12 },
	{ "device", -1, 16 },
	{ "inode", -1, 24 },
	{ "size", -1, 32 },
	{ "mtime", -1, 40 },
	{ "mtime ns", -1, 48 },
	{ "ctime", -1, 56 },
	{ "ctime ns", -1, 64 },
	{ "count", -1, 72 },
	{ "star limit", -1, 87 },
	{ "has_star", -1, 88 },
	{ "byte order", -1, 92 },
};

static void
index_damage(int sfd, off_t cut, off_t flip)
{
	unsigned char c;
	int           fd;

	fd = openat(sfd, "quota.idx", O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	if (cut >= 0)
		CU_ASSERT_EQUAL(ftruncate(fd, cut), 0);
	if (flip >= 0) {
		CU_ASSERT_EQUAL(pread(fd, &c, 1, flip), 1);
		c ^= 0xff;
		CU_ASSERT_EQUAL(pwrite(fd, &c, 1, flip), 1);
	}
	close(fd);
}

static off_t
index_size(int sfd)
{
	struct stat st;

	return fstatat(sfd, "quota.idx", &st, 0) == -1 ? -1 : st.st_size;
}

static void
test_open_damaged(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	size_t              i;
	ino_t               ino;
	int                 ok;

	world_make(&w, "bob 1G\nalice 2G\n* 3\n");
	for (i = 0; i < sizeof damage / sizeof damage[0]; i++) {
		quota_table_free(open_fresh(&w, &d));
		ino = index_inode(w.sfd);
		index_damage(w.sfd, damage[i].cut, damage[i].flip);
		t = open_fresh(&w, &d);
		ok = index_inode(w.sfd) != ino;
		CU_ASSERT(ok);
		if (!ok)
			fprintf(stderr, "\ndamage %s: not rebuilt\n",
			    damage[i].name);
		ok = limit_of(t, "alice") == 2 * GiB &&
		    limit_of(t, "bob") == GiB && limit_of(t, "carol") == 3;
		CU_ASSERT(ok);
		if (!ok)
			fprintf(stderr, "\ndamage %s: wrong limits\n",
			    damage[i].name);
		quota_table_free(t);
		CU_ASSERT_EQUAL(index_size(w.sfd), IDX_HEADER + 2 * IDX_REC);
	}
	world_free(&w);
}

/* The index name taken by a directory: the table still works. */
static void
test_open_index_not_file(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;

	world_make(&w, "alice 2G\n");
	CU_ASSERT_EQUAL(mkdirat(w.sfd, "quota.idx", 0700), 0);
	t = open_fresh(&w, &d);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 2 * GiB);
	quota_table_free(t);
	world_free(&w);
}

static void
check_unwritable(const char *table, int sfd)
{
	struct diag         d;
	struct quota_table *t = NULL;
	int                 i;

	for (i = 0; i < 2; i++) {
		diag_init(&d);
		CU_ASSERT_EQUAL(quota_table_open(&t, table, sfd, &d), 0);
		CU_ASSERT_EQUAL(d.count, 0);
		CU_ASSERT_EQUAL(limit_of(t, "alice"), 2 * GiB);
		CU_ASSERT_EQUAL(quota_lookup(t, "bob").limit, 9);
		quota_table_free(t);
		t = NULL;
	}
}

/* No index can be written: correct, only slower. */
static void
test_open_unwritable(void)
{
	struct world w;
	int          fd;

	world_make(&w, "alice 2G\n* 9\n");
	check_unwritable(w.table, -1);
	/* /proc refuses new files even to root */
	fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	check_unwritable(w.table, fd);
	close(fd);
	if (geteuid() != 0) {
		CU_ASSERT_EQUAL(chmod(w.state, 0500), 0);
		check_unwritable(w.table, w.sfd);
		CU_ASSERT_EQUAL(index_inode(w.sfd), 0);
		chmod(w.state, 0700);
	}
	world_free(&w);
}

static void
test_open_missing(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t = NULL;
	char                want[512];

	world_make(&w, "alice 1G\n");
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	CU_ASSERT_PTR_NOT_NULL(t);
	unlink(w.table);
	snprintf(want, sizeof want, "%s: cannot open: No such file or "
	    "directory\n", w.table);
	/* a rebuild, for an index found damaged, frees the table */
	CU_ASSERT_EQUAL(quota_table_rebuild(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	world_free(&w);
}

static void
test_open_not_regular(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t = NULL;
	char                want[512];

	world_make(&w, "");
	unlink(w.table);
	CU_ASSERT_EQUAL(mkdir(w.table, 0700), 0);
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_PTR_NULL(t);
	snprintf(want, sizeof want, "%s: not a regular file\n", w.table);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	rmdir(w.table);

	/* a FIFO must not block the request */
	CU_ASSERT_EQUAL(mkfifo(w.table, 0600), 0);
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	world_free(&w);
}

/* A table beyond 256 MiB (here sparse) is refused before it is read. */
static void
test_open_too_large(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t = NULL;
	char                want[512];

	world_make(&w, "");
	CU_ASSERT_EQUAL_FATAL(truncate(w.table, 257L * 1024 * 1024), 0);
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_PTR_NULL(t);
	snprintf(want, sizeof want, "%s: cannot read: File too large\n",
	    w.table);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	world_free(&w);
}

/* A table turned invalid: -1, the cached table gone, no index written. */
static void
test_open_invalid(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t = NULL;
	char                want[512];

	world_make(&w, "alice 1G\n");
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	CU_ASSERT_EQUAL(unlinkat(w.sfd, "quota.idx", 0), 0);
	file_replace(w.table, "alice 1G\nbob\n");
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), -1);
	CU_ASSERT_PTR_NULL(t);
	snprintf(want, sizeof want, "%s:2: no limit for \"bob\"\n", w.table);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	CU_ASSERT_EQUAL(index_inode(w.sfd), 0);

	/* fixed: works again */
	file_replace(w.table, "alice 1G\nbob 2G\n");
	diag_init(&d);
	CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
	CU_ASSERT_EQUAL(limit_of(t, "bob"), 2 * GiB);
	quota_table_free(t);
	world_free(&w);
}

/* No temporary index file is left behind. */
static void
test_open_no_leftovers(void)
{
	struct world   w;
	struct diag    d;
	DIR           *dp;
	struct dirent *e;
	int            n = 0;

	world_make(&w, example);
	quota_table_free(open_fresh(&w, &d));
	file_replace(w.table, "x 1\n");
	quota_table_free(open_fresh(&w, &d));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp = opendir(w.state));
	while ((e = readdir(dp)) != NULL)
		if (e->d_name[0] != '.') {
			CU_ASSERT_STRING_EQUAL(e->d_name, "quota.idx");
			n++;
		}
	closedir(dp);
	CU_ASSERT_EQUAL(n, 1);
	world_free(&w);
}

static void
test_open_empty(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	int                 i;

	world_make(&w, "# nobody yet\n");
	for (i = 0; i < 2; i++) {
		t = open_fresh(&w, &d);
		CU_ASSERT_PTR_NOT_NULL(t);
		CU_ASSERT_EQUAL(quota_table_count(t), 0);
		CU_ASSERT_EQUAL(limit_of(t, "alice"), QUOTA_UNLIMITED);
		quota_table_free(t);
	}
	world_free(&w);
}

#define BIG 100000

/* user00000 ... user99999, in reverse order, user i limited to i KiB. */
static char *
big_table(size_t *len)
{
	char  *text, *p;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text = malloc(BIG * 24 + 16));
	p = text;
	for (i = BIG; i-- > 0;)
		p += sprintf(p, "user%05zu\t%zuK\n", i, i);
	p += sprintf(p, "* 1\n");
	*len = (size_t)(p - text);
	return text;
}

static void
test_open_big(void)
{
	static const size_t probe[] = { 0, 1, 4999, 50000, 99998, 99999 };
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	char                name[32], *text;
	size_t              len, i;
	int                 round;

	world_make(&w, "");
	text = big_table(&len);
	file_write(w.table, text, len);
	free(text);
	for (round = 0; round < 2; round++) {	/* parsed, then indexed */
		t = open_fresh(&w, &d);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(quota_table_count(t), BIG);
		CU_ASSERT_STRING_EQUAL(quota_table_user(t, 0), "user00000");
		CU_ASSERT_STRING_EQUAL(quota_table_user(t, BIG - 1),
		    "user99999");
		for (i = 0; i < sizeof probe / sizeof probe[0]; i++) {
			snprintf(name, sizeof name, "user%05zu", probe[i]);
			CU_ASSERT_EQUAL(quota_lookup(t, name).limit,
			    (int64_t)probe[i] * KiB);
			CU_ASSERT_EQUAL(quota_lookup(t, name).named, 1);
		}
		CU_ASSERT_EQUAL(quota_lookup(t, "user100000").limit, 1);
		CU_ASSERT_EQUAL(quota_lookup(t, "user").named, 0);
		quota_table_free(t);
	}
	world_free(&w);
}

/* ------------------------------------------------ changed underneath */

/*
 * The index file changed while a process holds its table (the FastCGI
 * responder between two requests, or another program during one): each
 * lookup fails with the cause, a limit of 0 and nothing named — never a
 * crash (a mapping would die of SIGBUS) and never "unlimited" — and
 * quota_table_rebuild makes the table and the index whole again
 * (upgate.conf(5), "The quota table").
 */
static const struct {
	const char *name;
	off_t       cut;	/* truncate to this size, or -1 */
	off_t       at;		/* write bytes here, or -1 */
	const char *bytes;
	size_t      len;
	const char *user;	/* whose lookup reads the damage */
	int         err;	/* the lookup's error */
	int         listed;	/* a listing of the names notices too */
} underneath[] = {
	{ "cut to nothing", 0, -1, NULL, 0, "bob", ENODATA, 1 },
	{ "cut to its header", IDX_HEADER, -1, NULL, 0, "bob", ENODATA, 1 },
	{ "cut in a record", IDX_HEADER + IDX_REC + 10, -1, NULL, 0, "bob",
	  ENODATA, 1 },
	{ "header rewritten", -1, 0, "garbage!", 8, "bob", EBADMSG, 1 },
	{ "count rewritten", -1, 72, "\x01", 1, "bob", EBADMSG, 1 },
	{ "a name rewritten", -1, IDX_HEADER,
	  "\xff\xff\xff\xff\xff\xff\xff\xff", 8, "alice", EBADMSG, 1 },
	{ "a name not padded", -1, IDX_HEADER + IDX_REC + 40, "x", 1, "bob",
	  EBADMSG, 1 },
	{ "a limit below unlimited", -1, IDX_HEADER + 2 * IDX_REC - 8,
	  "\xfb\xff\xff\xff\xff\xff\xff\xff", 8, "bob", EBADMSG, 1 },
	{ "records out of order", -1, IDX_HEADER, "zed\0\0\0", 6, "alice",
	  EBADMSG, 0 },
};

static void
check_underneath(size_t i, struct quota_table *t)
{
	struct quota_rule r;
	size_t            k, nulls = 0;
	int               ok;

	r = quota_lookup(t, underneath[i].user);
	ok = r.error == underneath[i].err && r.limit == 0 && r.named == 0;
	CU_ASSERT(ok);
	if (!ok)
		fprintf(stderr, "\n%s: error %d, limit %lld\n",
		    underneath[i].name, r.error, (long long)r.limit);
	for (k = 0; underneath[i].listed && k < 3; k++) {
		errno = 0;
		if (quota_table_user(t, k) == NULL) {
			CU_ASSERT_EQUAL(errno, underneath[i].err);
			nulls++;
		}
	}
	CU_ASSERT(nulls > 0 || !underneath[i].listed);
}

static void
test_changed_underneath(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	size_t              i;
	int                 fd;

	/* alice, bob, carol: the search for bob reads the middle first */
	world_make(&w, "carol 3G\nbob 1G\nalice 2G\n* 5\n");
	for (i = 0; i < sizeof underneath / sizeof underneath[0]; i++) {
		quota_table_free(open_fresh(&w, &d));
		t = open_fresh(&w, &d);		/* from the index */
		CU_ASSERT_EQUAL(limit_of(t, "bob"), GiB);
		fd = openat(w.sfd, "quota.idx", O_WRONLY);
		CU_ASSERT_FATAL(fd >= 0);
		if (underneath[i].cut >= 0)
			CU_ASSERT_EQUAL(ftruncate(fd, underneath[i].cut), 0);
		if (underneath[i].at >= 0)
			CU_ASSERT_EQUAL(pwrite(fd, underneath[i].bytes,
			    underneath[i].len, underneath[i].at),
			    (ssize_t)underneath[i].len);
		close(fd);
		check_underneath(i, t);
		/* still the same: the table is cached, the index is not */
		diag_init(&d);
		CU_ASSERT_EQUAL(quota_table_open(&t, w.table, w.sfd, &d), 0);
		CU_ASSERT_NOT_EQUAL(quota_lookup(t, underneath[i].user).error,
		    0);
		CU_ASSERT_EQUAL(quota_table_rebuild(&t, w.table, w.sfd, &d), 0);
		CU_ASSERT_EQUAL(d.count, 0);
		CU_ASSERT_EQUAL(limit_of(t, "bob"), GiB);
		CU_ASSERT_EQUAL(limit_of(t, "dave"), 5);
		quota_table_free(t);
		/* and the next process reads a whole index */
		CU_ASSERT_EQUAL(index_size(w.sfd), IDX_HEADER + 3 * IDX_REC);
		t = open_fresh(&w, &d);
		CU_ASSERT_EQUAL(limit_of(t, "alice"), 2 * GiB);
		CU_ASSERT_EQUAL(limit_of(t, "carol"), 3 * GiB);
		quota_table_free(t);
	}
	world_free(&w);
}

/*
 * A FIFO (or a folder) planted at the index's name: opened without
 * waiting for a writer (O_NONBLOCK), passed over, the table parsed, and
 * the FIFO replaced by the index.  alarm: a hang fails the test.
 */
static void
test_index_fifo(void)
{
	struct world        w;
	struct diag         d;
	struct quota_table *t;
	struct stat         st;

	world_make(&w, "alice 2G\n");
	CU_ASSERT_EQUAL_FATAL(mkfifoat(w.sfd, "quota.idx", 0600), 0);
	alarm(10);
	t = open_fresh(&w, &d);
	alarm(0);
	CU_ASSERT_EQUAL(limit_of(t, "alice"), 2 * GiB);
	quota_table_free(t);
	CU_ASSERT_EQUAL(fstatat(w.sfd, "quota.idx", &st, AT_SYMLINK_NOFOLLOW),
	    0);
	CU_ASSERT(S_ISREG(st.st_mode));
	world_free(&w);
}

/* ---------------------------------------------------------------- main */

static CU_TestInfo parse_tests[] = {
	{ "the example of upgate.conf(5)", test_parse_example },
	{ "valid lines", test_parse_valid },
	{ "empty tables", test_parse_empty },
	{ "invalid tables", test_parse_invalid },
	CU_TEST_INFO_NULL
};

static CU_TestInfo lookup_tests[] = {
	{ "named, '*', case", test_lookup },
	{ "no '*' rule", test_lookup_no_star },
	{ "no table", test_lookup_null },
	{ "users in byte order", test_users_sorted },
	CU_TEST_INFO_NULL
};

static CU_TestInfo open_tests[] = {
	{ "index built, then reused", test_open_builds_index },
	{ "warm open reads the index", test_open_uses_index },
	{ "cached table reused, replaced", test_open_cached },
	{ "table renamed into place", test_open_renamed },
	{ "table rewritten in place", test_open_rewritten },
	{ "damaged index rebuilt", test_open_damaged },
	{ "index name not a file", test_open_index_not_file },
	{ "state dir not writable", test_open_unwritable },
	{ "table missing", test_open_missing },
	{ "table not a regular file", test_open_not_regular },
	{ "table too large", test_open_too_large },
	{ "table invalid", test_open_invalid },
	{ "no temporary files left", test_open_no_leftovers },
	{ "empty table", test_open_empty },
	{ "100,000 users", test_open_big },
	CU_TEST_INFO_NULL
};

static CU_TestInfo underneath_tests[] = {
	{ "index cut or rewritten under a table", test_changed_underneath },
	{ "a FIFO at the index's name", test_index_fifo },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "quota parse", NULL, NULL, NULL, NULL, parse_tests },
	{ "quota lookup", NULL, NULL, NULL, NULL, lookup_tests },
	{ "quota open", NULL, NULL, NULL, NULL, open_tests },
	{ "quota index changed underneath", NULL, NULL, NULL, NULL,
	  underneath_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
