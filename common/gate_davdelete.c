/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_davdelete: DELETE of a folder (upgate(8), "WebDAV"; RFC 4918
 * §9.6.1).  All of it under the user's lock, so that no upload of the
 * user commits meanwhile and the ledger stays exact: each file that
 * PROPFIND shows is removed and then its record forgotten, deepest
 * folders last removed first.  Names starting with '.' (temporary files,
 * unfinished resumable uploads), links and special files stay, and so
 * does each folder that holds one: it is named in a 207 with 409.  The
 * walk holds two descriptors at most, however deep the tree (relpath.h).
 * The 207 is written once the lock is dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "gate_int.h"
#include "multistatus.h"
#include "relpath.h"
#include "render.h"

/* Bytes of names a 207 lists; past them, what failed is not named. */
#define FAILED_MAX (256 * 1024)

struct removal {
	struct request *rq;
	size_t          skip;	/* the folder's own rel and its '/' */
	int64_t         freed;	/* bytes the ledger no longer counts */
	size_t          nfailed;
	struct buf      failed;	/* "STATUS F PATH\0" each, PATH below the
				   folder, F '/' for a folder or '-' */
};

/*
 * Notes what could not be removed, for the 207; a 500 among them is
 * logged with its cause (upgate(8), "Logs"), on a line before the
 * request's.
 */
static void
note(struct removal *d, const char *rel, int folder, int status)
{
	const char *sub = strlen(rel) > d->skip ? rel + d->skip : "";
	char        safe[300];

	if (status == 500)
		gate_diag_cause(d->rq, logsafe_copy(safe, sizeof safe, rel,
		    strlen(rel), 200));
	d->nfailed++;
	if (d->failed.len + strlen(sub) + 8 > FAILED_MAX)
		return;
	buf_printf(&d->failed, "%d %c %s", status, folder ? '/' : '-', sub);
	buf_add(&d->failed, "", 1);
}

/*
 * With per_user_dirs = no users share folders: each file is removed
 * under its own lock too, as a PUT of another user takes it, so that
 * nobody stores a file of that name between its removal and the
 * ledger's (upgate(8), "Locks").  A ledger holds one file lock at a
 * time, beside the user's: both are taken again.  0; 1 when the file's
 * lock was not had; -1 when the user's was lost.
 */
static int
lock_one(struct request *rq, const char *rel)
{
	gate_unlock_user(rq);
	if (gate_lock_user(rq) != LEDGER_OK)
		return -1;
	snprintf(rq->rel, sizeof rq->rel, "%s", rel);
	return gate_lock_file(rq) == LEDGER_OK ? 0 : 1;
}

/*
 * A file the walk found (a regular file, never a dot name): with
 * per_user_dirs = no, only the user's own, as the ledger records it.
 * Removed first, forgotten after, so a crash between over-counts.
 */
static int
remove_file(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct removal *d = t->arg;
	struct request *rq = d->rq;
	struct record   rec;
	int             r;

	(void)st;
	if (!rq->g->cfg.per_user_dirs && (r = lock_one(rq, t->path)) != 0) {
		note(d, t->path, 0, 503);
		return r == -1 ? 1 : 0;		/* -1: the user's lock lost */
	}
	if ((r = ledger_record_get(rq->ledger, t->path, &rec)) == -1) {
		cause_copy(rq->ledger->cause);
		/* a database gone, or busy, is 503 as for any ledger call */
		note(d, t->path, 0, rq->ledger->failed == LEDGER_IO ? 500 : 503);
		return 0;
	}
	if (!rq->g->cfg.per_user_dirs &&
	    (r == 1 || strcmp(rec.owner, rq->user) != 0)) {
		note(d, t->path, 0, 403);	/* someone else's, or nobody's */
		return 0;
	}
	if (store_unlink(dfd, name) != STORE_OK) {
		note(d, t->path, 0, 500);
		return 0;
	}
	if (ledger_forget(rq->ledger, t->path) != LEDGER_OK) {
		cause_copy(rq->ledger->cause);	/* an over-count: recount */
		note(d, t->path, 0, 500);
		return 0;
	}
	if (r == 0)
		d->freed += rec.size;
	return 0;
}

/* 1 when the folder holds what a DELETE leaves: a dot name, a link. */
static int
holds_hidden(int dfd, const char *name)
{
	struct dirent *e;
	struct stat    st;
	DIR           *dir;
	int            fd = openat(dfd, name, RELPATH_DIR_FLAGS), found = 0;

	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	while (!found && (e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		found = e->d_name[0] == '.' ||
		    fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode));
	}
	closedir(dir);
	return found;
}

/*
 * A folder walked whole: removed when empty.  One that still holds a
 * name the walk left is named with 409; one that holds only what failed
 * below it is not (RFC 4918 §9.6.1: no 424 for the parents).
 */
static int
remove_folder(struct tree *t)
{
	struct removal *d = t->arg;
	struct walk     w;
	int             fd;

	if (relpath_walk_split(&w, t->rel, 0) == -1)
		return 0;
	if (relpath_walk_open(&w, t->base, w.ncomp - 1, 0) != 0) {
		relpath_walk_release(&w);
		return 0;	/* gone meanwhile */
	}
	fd = relpath_walk_dir(&w);
	if (unlinkat(fd, relpath_walk_last(&w), AT_REMOVEDIR) == 0) {
		if (d->rq->g->cfg.sync && fsync(fd) == -1) {
			cause_note("fsync");
			note(d, t->rel, 1, 500);
		}
	} else if (errno == ENOTEMPTY || errno == EEXIST) {
		if (holds_hidden(fd, relpath_walk_last(&w)))
			note(d, t->rel, 1, 409);
	} else if (errno != ENOENT) {
		cause_note("unlinkat");
		note(d, t->rel, 1, 500);
	}
	relpath_walk_release(&w);
	return 0;
}

/* The 207 of what stayed, written without the lock. */
static void
answer_partial(struct request *rq, struct removal *d)
{
	struct multistatus *ms;
	struct buf          head;
	const char         *p, *end;

	rq->reply.reason = REASON_DELETED_PARTIAL;
	rq->reply.user = rq->user;
	gate_fill_quota(rq);
	gate_unlock_user(rq);
	if ((ms = malloc(sizeof *ms)) == NULL) {
		gate_respond_log(rq);	/* the head is not out: nothing to say */
		return;
	}
	buf_init(&head);
	render_head_lines(&rq->reply, "application/xml; charset=utf-8", &head);
	buf_puts(&head, "\r\n");
	ms_begin(ms, rq->io, head.failed ? "" : head.data, DAVXML_ALLPROP,
	    NULL, 0);
	buf_release(&head);
	if (ms_set_base(ms, request_param(rq, "SCRIPT_NAME"), &rq->path,
	    1) == -1)
		ms->failed = 1;
	end = d->failed.data + d->failed.len;
	for (p = d->failed.data; p != NULL && p < end; p += strlen(p) + 1)
		ms_status(ms, p[6] != '\0' ? p + 6 : NULL, p[4] == '/',
		    atoi(p));
	(void)ms_end(ms);
	ms_release(ms);
	free(ms);
	gate_respond_log(rq);
}

/* The folder rel below upload_dir and what PROPFIND shows in it. */
static void
remove_tree_of(struct request *rq, const char *rel, struct removal *d)
{
	struct tree t;

	memset(d, 0, sizeof *d);
	d->rq = rq;
	buf_init(&d->failed);
	d->skip = strlen(rel) + 1;
	relpath_tree_init(&t, rel, remove_file, d);
	t.leave = remove_folder;
	if (relpath_tree_walk_at(&t, rq->upload_fd, rel) == -1) {
		cause_note("openat");
		note(d, rel, 1, 500);
	}
}

/* A file that would stay: another user's, or nobody's. */
static int
stays_file(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct request *rq = t->arg;
	struct record   rec;

	(void)dfd;
	(void)name;
	(void)st;
	if (rq->g->cfg.per_user_dirs)
		return 0;
	return ledger_record_get(rq->ledger, t->path, &rec) == 0 &&
	    strcmp(rec.owner, rq->user) == 0 ? 0 : 1;
}

/* A folder that would stay: it holds a dot name, a link. */
static int
stays_folder(struct tree *t)
{
	struct walk w;
	int         r = 1;

	if (relpath_walk_split(&w, t->rel, 0) == -1)
		return 1;
	if (relpath_walk_open(&w, t->base, w.ncomp - 1, 0) == 0)
		r = holds_hidden(relpath_walk_dir(&w), relpath_walk_last(&w));
	relpath_walk_release(&w);
	return r;
}

int
dav_folder_stays(struct request *rq, const char *rel)
{
	struct tree t;

	relpath_tree_init(&t, rel, stays_file, rq);
	t.leave = stays_folder;
	return relpath_tree_walk_at(&t, rq->upload_fd, rel) != 0;
}

int
dav_remove_folder(struct request *rq, const char *rel)
{
	struct removal d;

	/* looked over first, so that what cannot go whole is left whole */
	if (dav_folder_stays(rq, rel))
		return -1;
	remove_tree_of(rq, rel, &d);
	buf_release(&d.failed);
	return d.nfailed == 0 ? 0 : -1;
}

void
dav_delete_folder(struct request *rq)
{
	struct removal d;
	char           rel[sizeof rq->rel];

	if (gate_path_rel(rq, &rq->path, rq->path.ncomp, rel, sizeof rel) == -1) {
		gate_respond(rq, REASON_BAD_REQUEST, NULL);
		return;
	}
	remove_tree_of(rq, rel, &d);
	rq->verdict.length = d.freed;	/* logged as size */
	if (d.nfailed == 0)
		gate_respond(rq, REASON_DELETED, "The folder was deleted.");
	else if (d.failed.failed)
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
	else
		answer_partial(rq, &d);
	buf_release(&d.failed);
}
