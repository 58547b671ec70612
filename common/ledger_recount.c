/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger_recount: rebuilds usage and records from the disk
 * (upgate-quota(8), recount), through the ledger's interface, so that it
 * serves both backends.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "names.h"
#include "relpath.h"

struct tally {
	char    user[65];
	int64_t sum;
};

struct recount {
	struct ledger *l;
	int            upload_fd;	/* borrowed */
	int            per_user_dirs;
	const char    *user;		/* NULL: every user */
	struct tally  *v;		/* owned; sorted after the record pass */
	size_t         n, cap;
	struct tally  *cur;		/* per_user_dirs: the folder's owner */
	enum ledger_err err;
};

static void
tally_add(void *arg, const char *user)
{
	struct recount *rc = arg;
	struct tally   *v;
	size_t          cap;

	if (rc->n == rc->cap) {
		cap = rc->cap ? rc->cap * 2 : 64;
		if ((v = reallocarray(rc->v, cap, sizeof *v)) == NULL) {
			rc->err = LEDGER_IO;
			return;
		}
		rc->v = v;
		rc->cap = cap;
	}
	snprintf(rc->v[rc->n].user, sizeof rc->v[rc->n].user, "%s", user);
	rc->v[rc->n++].sum = 0;
}

static int
tally_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tally *)a)->user,
	    ((const struct tally *)b)->user);
}

static int
tally_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tally *)elem)->user);
}

/* Sorts the users and drops repeated ones. */
static void
tally_sort(struct recount *rc)
{
	size_t i, n = 0;

	if (rc->n == 0)
		return;
	qsort(rc->v, rc->n, sizeof *rc->v, tally_cmp);
	for (i = 1; i < rc->n; i++)
		if (strcmp(rc->v[n].user, rc->v[i].user) != 0)
			rc->v[++n] = rc->v[i];
	rc->n = n + 1;
}

static struct tally *
tally_find(const struct recount *rc, const char *user)
{
	if (rc->n == 0)
		return NULL;
	return bsearch(user, rc->v, rc->n, sizeof *rc->v, tally_key_cmp);
}

/*
 * The record pass: drops the records in scope whose file is gone and,
 * for every user, learns the owners.
 */
static int
record_visit(void *arg, const char *rel, const struct record *rec)
{
	struct recount *rc = arg;
	struct stat     st;

	if (rc->user == NULL && rec->owner[0] != '\0')
		tally_add(rc, rec->owner);
	if (!relpath_is_file(rc->upload_fd, rel, &st) &&
	    (rc->err = ledger_record_drop(rc->l, rel)) != LEDGER_OK)
		return -1;
	return rc->err == LEDGER_OK ? 0 : -1;
}

/* per_user_dirs, every user: the folders of upload_dir named like users. */
static int
collect_user_dirs(struct recount *rc)
{
	struct dirent *de;
	struct stat    st;
	DIR           *d;
	int            fd;

	if ((fd = openat(rc->upload_fd, ".", RELPATH_DIR_FLAGS)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (names_user_valid(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			tally_add(rc, de->d_name);
	closedir(d);
	return 0;
}

static int
recount_records(struct recount *rc)
{
	enum ledger_err e;

	if (rc->user == NULL) {
		if (ledger_each_user(rc->l, tally_add, rc) != LEDGER_OK ||
		    (rc->per_user_dirs && collect_user_dirs(rc) == -1))
			return -1;
	} else
		tally_add(rc, rc->user);
	e = ledger_each_record(rc->l, rc->user, record_visit, rc);
	if (e != LEDGER_OK && rc->err == LEDGER_OK)
		rc->err = e;
	tally_sort(rc);
	return rc->err == LEDGER_OK ? 0 : -1;
}

/* Makes the record of rel say (user, size). */
static int
record_sync(struct recount *rc, const char *rel, const char *user,
    int64_t size)
{
	struct record rec;

	snprintf(rec.owner, sizeof rec.owner, "%s", user);
	rec.size = size;
	if (!relpath_valid(rel, 0))
		return 0;	/* not a name upgate stores */
	rc->err = ledger_record_put(rc->l, rel, &rec);
	return rc->err == LEDGER_OK ? 0 : -1;
}

static void
tally_grow(struct tally *t, int64_t size)
{
	if (t->sum <= INT64_MAX - size)
		t->sum += size;
}

/* per_user_dirs: every file in USER/ is USER's. */
static int
user_file_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct recount *rc = t->arg;

	(void)dfd;
	(void)name;
	tally_grow(rc->cur, st->st_size);
	return record_sync(rc, t->path, rc->cur->user, st->st_size);
}

/* per_user_dirs = no: a file is the user's whose name its record holds. */
static int
shared_file_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct recount *rc = t->arg;
	struct record   rec;
	struct tally   *e;
	int             r;

	(void)dfd;
	(void)name;
	/*
	 * a corrupt record is nobody's, as none; a database gone stops the
	 * recount rather than count its files as nobody's
	 */
	if ((r = ledger_record_get(rc->l, t->path, &rec)) == -1 &&
	    rc->l->failed != LEDGER_IO) {
		rc->err = rc->l->failed;
		return -1;
	}
	if (r != 0 || (e = tally_find(rc, rec.owner)) == NULL)
		return 0;	/* stored by nobody, through upgate */
	tally_grow(e, st->st_size);
	if (rec.size == st->st_size)
		return 0;
	return record_sync(rc, t->path, rec.owner, st->st_size);
}

static int
recount_files(struct recount *rc)
{
	struct tree t;
	size_t      i;

	if (!rc->per_user_dirs) {
		relpath_tree_init(&t, "", shared_file_visit, rc);
		return relpath_tree_walk_at(&t, rc->upload_fd, "");
	}
	for (i = 0; i < rc->n; i++) {
		rc->cur = &rc->v[i];
		relpath_tree_init(&t, rc->cur->user, user_file_visit, rc);
		if (relpath_tree_walk_at(&t, rc->upload_fd, rc->cur->user) == -1)
			return -1;
	}
	return 0;
}

/* Writes the sums that differ from the ledger and reports them. */
static enum ledger_err
recount_usage(struct recount *rc,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg)
{
	enum ledger_err err = LEDGER_OK;
	struct usage    u;
	int64_t         old;
	size_t          i;

	for (i = 0; i < rc->n && err == LEDGER_OK; i++) {
		old = ledger_usage(rc->l, rc->v[i].user, &u) == LEDGER_OK ?
		    u.used : -1;	/* corrupt: rewrite it */
		if (old == rc->v[i].sum)
			continue;
		err = ledger_set_used(rc->l, rc->v[i].user, rc->v[i].sum);
		if (err == LEDGER_OK && fn != NULL)
			fn(arg, rc->v[i].user, old < 0 ? 0 : old,
			    rc->v[i].sum);
	}
	return err;
}

enum ledger_err
ledger_recount(struct ledger *l, int upload_fd, int per_user_dirs,
    const char *user, void (*fn)(void *, const char *, int64_t, int64_t),
    void *arg)
{
	struct recount  rc;
	enum ledger_err err;

	if ((user != NULL && !names_user_valid(user)) || upload_fd < 0)
		return LEDGER_IO;
	if ((err = ledger_reclaim(l, user, upload_fd, NULL, NULL)) !=
	    LEDGER_OK)
		return err;
	memset(&rc, 0, sizeof rc);
	rc.l = l;
	rc.upload_fd = upload_fd;
	rc.per_user_dirs = per_user_dirs;
	rc.user = user;
	rc.err = LEDGER_OK;
	if (recount_records(&rc) == -1 || recount_files(&rc) == -1)
		err = rc.err != LEDGER_OK ? rc.err : LEDGER_IO;
	else
		err = recount_usage(&rc, fn, arg);
	if (err == LEDGER_OK)
		err = ledger_flush(l);
	free(rc.v);
	return err;
}
