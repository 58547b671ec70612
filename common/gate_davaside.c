/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_davaside: what a COPY or MOVE replaces, set aside until the copy
 * or the move is done (upgate(8), "WebDAV"): renamed whole to a
 * temporary name beside it (".upgate-tmp-...", a name no request
 * reaches, PROPFIND shows or a recount counts), then dropped once the
 * new one is in place, or put back when it could not be, so a failed
 * COPY or MOVE leaves the target as it was.  Its records are forgotten
 * as it goes aside, before the new files are recorded at those paths
 * (the files ledger keeps a folder's records in a folder of that name:
 * a file's record cannot be made there while they are), and made
 * again when it is put back.  Under the user's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "gate_int.h"
#include "relpath.h"

#define NOTHING_STAYS "The Destination folder holds what cannot be " \
	"removed (names starting with a dot, or another user's files); " \
	"nothing was replaced."

/* What to do with the records of the files set aside. */
enum aside_records {
	RECORDS_FORGET,		/* set aside */
	RECORDS_RESTORE		/* put back */
};

struct aside_walk {
	struct request    *rq;
	enum aside_records what;
	int                failed;
};

/*
 * One file set aside, t->path its path as it was (its record's): its
 * record forgotten, or made again as the user's at its size when it is
 * put back.
 */
static int
aside_visit(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct aside_walk *w = t->arg;
	struct request    *rq = w->rq;
	enum ledger_err    le;

	(void)dfd;
	(void)name;
	if (w->what == RECORDS_RESTORE)
		le = ledger_commit(rq->ledger, rq->user, t->path, st->st_size);
	else
		le = ledger_forget(rq->ledger, t->path);
	if (le != LEDGER_OK) {
		cause_copy(rq->ledger->cause);
		w->failed = 1;
	}
	return 0;
}

/* The records of what a set aside, each as w says. */
static int
aside_records(struct request *rq, const char *to, const struct aside *a,
    enum aside_records what)
{
	struct aside_walk w = { rq, what, 0 };
	struct tree       t;
	struct stat       st;
	int               fd;

	relpath_tree_init(&t, to, aside_visit, &w);
	if (!a->folder) {
		/* a file: the walk's one visit, by hand */
		if (fstatat(rq->dest.dir_fd, a->name, &st, AT_SYMLINK_NOFOLLOW)
		    == -1)
			return -1;
		(void)aside_visit(&t, rq->dest.dir_fd, a->name, &st);
		return w.failed ? -1 : 0;
	}
	if ((fd = openat(rq->dest.dir_fd, a->name, RELPATH_DIR_FLAGS)) == -1) {
		cause_note("openat");
		return -1;
	}
	/* a dot name: walked from its own descriptor, named as it was */
	if (relpath_tree_walk_at(&t, fd, "") == -1)
		w.failed = 1;
	close(fd);
	return w.failed ? -1 : 0;
}

struct outcome
aside_take(struct request *rq, const char *to, struct aside *a)
{
	enum target      t = rq->facts.dest_target;
	struct store_tmp name;
	enum store_err   e;
	int              err;

	memset(a, 0, sizeof *a);
	if (t != TARGET_FOLDER && t != TARGET_EXISTS)
		return outcome(REASON_NONE, NULL);	/* nothing there */
	if (t == TARGET_FOLDER && dav_folder_stays(rq, to))
		return outcome(REASON_CONFLICT, NOTHING_STAYS);
	if ((e = store_tmp_name(rq->dest.dir_fd, &name)) != STORE_OK)
		return store_failed(rq, e, 0);
	if (renameat2(rq->dest.dir_fd, rq->dest.name, rq->dest.dir_fd,
	    name.name, RENAME_NOREPLACE) == -1)
		return errno_failed(rq, "renameat2", 0);
	snprintf(a->name, sizeof a->name, "%s", name.name);
	a->folder = t == TARGET_FOLDER;
	if (aside_records(rq, to, a, RECORDS_FORGET) == 0)
		return outcome(REASON_NONE, NULL);
	err = errno;
	aside_put_back(rq, to, a);
	errno = err;
	return ledger_fault(rq);
}

void
aside_drop(struct request *rq, struct aside *a)
{
	if (a->name[0] == '\0')
		return;
	if (a->folder)
		(void)relpath_remove_tree(rq->dest.dir_fd, a->name);
	else
		(void)unlinkat(rq->dest.dir_fd, a->name, 0);
	if (rq->g->cfg.sync)
		(void)fsync(rq->dest.dir_fd);
	a->name[0] = '\0';
}

void
aside_put_back(struct request *rq, const char *to, struct aside *a)
{
	int err = errno;	/* the failure's, for its answer */

	if (a->name[0] == '\0')
		return;
	(void)aside_records(rq, to, a, RECORDS_RESTORE);
	if (renameat(rq->dest.dir_fd, a->name, rq->dest.dir_fd,
	    rq->dest.name) == 0 && rq->g->cfg.sync)
		(void)fsync(rq->dest.dir_fd);
	a->name[0] = '\0';
	errno = err;
}
