/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger: the interface's dispatch to its backends, and what they share:
 * the removal of a dead reservation's files, the lock keys, the causes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "names.h"
#include "relpath.h"
#include "store.h"

static const char *const errors[LEDGER__MAX] = {
	[LEDGER_OK]      = "success",
	[LEDGER_BUSY]    = "ledger lock not obtained in time",
	[LEDGER_DOWN]    = "the ledger's database cannot be reached",
	[LEDGER_NOSPACE] = "no space left for the ledger",
	[LEDGER_IO]      = "ledger input/output error",
};

const char *
ledger_strerror(enum ledger_err e)
{
	return (unsigned)e < LEDGER__MAX ? errors[e] : "unknown ledger error";
}

void
ledger_cause(struct ledger *l, const char *call)
{
	const char *name = strerrorname_np(errno);

	snprintf(l->cause, sizeof l->cause, "%s:%s", call,
	    name != NULL ? name : "unknown");
}

uint64_t
ledger_key_hash(char domain, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = (h ^ (unsigned char)domain) * 0x100000001b3ULL;
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
	return h;
}

void
ledger_init(struct ledger *l)
{
	memset(l, 0, sizeof *l);
	l->state_fd = -1;
}

static int
is_database(const char *uri)
{
	return uri != NULL && (strncmp(uri, "postgresql://", 13) == 0 ||
	    strncmp(uri, "postgres://", 11) == 0);
}

/*
 * state_dir into l->state_fd: a copy of state_fd when it is open, else
 * made (mode 0700) when missing and opened without following a link.
 */
static enum ledger_err
state_open(struct ledger *l, int state_fd, const char *state_dir)
{
	int e;

	if (state_fd >= 0) {
		if ((l->state_fd = fcntl(state_fd, F_DUPFD_CLOEXEC, 0)) >= 0)
			return LEDGER_OK;
		ledger_cause(l, "fcntl");
		return LEDGER_IO;
	}
	if (state_dir == NULL) {
		errno = EINVAL;
		ledger_cause(l, "state_dir");
		return LEDGER_IO;
	}
	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST) {
		e = errno;
		ledger_cause(l, "mkdir");
		return e == ENOSPC || e == EDQUOT ? LEDGER_NOSPACE : LEDGER_IO;
	}
	if ((l->state_fd = open(state_dir, RELPATH_DIR_FLAGS)) == -1) {
		ledger_cause(l, "open");
		return LEDGER_IO;
	}
	return LEDGER_OK;
}

enum ledger_err
ledger_open(struct ledger *l, const struct ledger_config *cfg)
{
	return ledger_open_at(l, -1, cfg);
}

enum ledger_err
ledger_open_at(struct ledger *l, int state_fd, const struct ledger_config *cfg)
{
	enum ledger_err err;

	ledger_init(l);
	l->sync = cfg->sync;
	if ((err = state_open(l, state_fd, cfg->state_dir)) != LEDGER_OK)
		return err;	/* nothing open: state_fd is -1 */
	l->ops = is_database(cfg->uri) ? &ledger_pg_ops : &ledger_files_ops;
	if ((err = l->ops->open(l, cfg)) != LEDGER_OK)
		ledger_close(l);
	return err;
}

void
ledger_close(struct ledger *l)
{
	if (l->ops == NULL)
		return;		/* closed, or never opened (a zeroed one) */
	l->ops->close(l);
	if (l->state_fd >= 0)
		close(l->state_fd);
	l->ops = NULL;
	l->be = NULL;
	l->state_fd = -1;
}

enum ledger_err
ledger_lock_user(struct ledger *l, const char *user, int timeout_ms)
{
	if (l->ops == NULL || !names_user_valid(user))
		return LEDGER_IO;
	return l->ops->lock_user(l, user, timeout_ms);
}

enum ledger_err
ledger_lock_file(struct ledger *l, const char *rel, int timeout_ms)
{
	if (l->ops == NULL || rel == NULL)
		return LEDGER_IO;
	return l->ops->lock_file(l, rel, timeout_ms);
}

enum ledger_err
ledger_lock_all(struct ledger *l, int timeout_ms)
{
	return l->ops == NULL ? LEDGER_IO : l->ops->lock_all(l, timeout_ms);
}

void
ledger_unlock(struct ledger *l)
{
	if (l->ops != NULL)
		l->ops->unlock(l);
}

enum ledger_err
ledger_usage(struct ledger *l, const char *user, struct usage *out)
{
	out->used = out->reserved = out->dead = 0;
	if (l->ops == NULL || !names_user_valid(user))
		return LEDGER_IO;
	return l->ops->usage(l, user, out);
}

enum ledger_err
ledger_set_used(struct ledger *l, const char *user, int64_t used)
{
	if (l->ops == NULL || !names_user_valid(user) || used < 0)
		return LEDGER_IO;
	return l->ops->set_used(l, user, used);
}

int
ledger_record_get(struct ledger *l, const char *rel, struct record *out)
{
	l->failed = LEDGER_IO;	/* unless the backend says otherwise */
	if (l->ops == NULL || !relpath_valid(rel, 0))
		return -1;
	return l->ops->record_get(l, rel, out);
}

enum ledger_err
ledger_commit(struct ledger *l, const char *user, const char *rel,
    int64_t size)
{
	if (l->ops == NULL || !names_user_valid(user) || size < 0 ||
	    !relpath_valid(rel, 0))
		return LEDGER_IO;
	return l->ops->commit(l, user, rel, size);
}

enum ledger_err
ledger_forget(struct ledger *l, const char *rel)
{
	if (l->ops == NULL || !relpath_valid(rel, 0))
		return LEDGER_IO;
	return l->ops->forget(l, rel);
}

enum ledger_err
ledger_move(struct ledger *l, const char *from, const char *to)
{
	if (l->ops == NULL || !relpath_valid(from, 0) || !relpath_valid(to, 0))
		return LEDGER_IO;
	return l->ops->move(l, from, to);
}

void
ledger_reservation_init(struct reservation *r)
{
	memset(r, 0, sizeof *r);
	r->fd = -1;
}

enum ledger_err
ledger_reserve(struct ledger *l, const char *user, int64_t bytes,
    const char *tmprel, struct reservation *r)
{
	enum ledger_err err;

	ledger_reservation_init(r);
	if (l->ops == NULL || !names_user_valid(user) || bytes < 0 ||
	    (tmprel != NULL && !relpath_valid(tmprel, 1)))
		return LEDGER_IO;
	if ((err = l->ops->reserve(l, user, bytes, r)) != LEDGER_OK) {
		ledger_reservation_init(r);
		return err;
	}
	if (tmprel != NULL &&
	    (err = l->ops->reservation_add(l, r, RESV_TMP, tmprel)) !=
	    LEDGER_OK)
		ledger_release_reservation(l, r);
	return err;
}

enum ledger_err
ledger_reservation_set(struct ledger *l, struct reservation *r,
    int64_t bytes)
{
	if (l->ops == NULL || r->id == 0 || bytes < 0)
		return LEDGER_IO;
	return l->ops->reservation_set(l, r, bytes);
}

enum ledger_err
ledger_reservation_add(struct ledger *l, struct reservation *r,
    enum resv_path kind, const char *rel)
{
	if (l->ops == NULL || r->id == 0 ||
	    !relpath_valid(rel, kind == RESV_TMP))
		return LEDGER_IO;
	return l->ops->reservation_add(l, r, kind, rel);
}

void
ledger_release_reservation(struct ledger *l, struct reservation *r)
{
	if (r->id != 0 && l != NULL && l->ops != NULL)
		l->ops->release(l, r);
	else if (r->id != 0 && r->fd >= 0)
		close(r->fd);	/* the file stays, dead, for a reclaim */
	ledger_reservation_init(r);
}

/* A dead reservation's paths, removed below upload_fd. */
struct reclaim_ctx {
	int    upload_fd;
	void (*fn)(void *, const char *, int64_t);
	void  *arg;
};

static void
reclaim_path(void *arg, enum resv_path kind, const char *rel)
{
	const struct reclaim_ctx *c = arg;

	if (kind == RESV_TMP)
		relpath_unlink_tmp(c->upload_fd, rel, STORE_TMP_PREFIX);
	else
		relpath_rmdir(c->upload_fd, rel);
}

static void
reclaim_done(void *arg, const char *user, int64_t bytes)
{
	const struct reclaim_ctx *c = arg;

	if (c->fn != NULL)
		c->fn(c->arg, user, bytes);
}

/* The paths of a lease are a reservation's: they go as in a reclaim. */
enum ledger_err
ledger_upload_end(struct ledger *l, struct upload *u, int upload_fd)
{
	struct reclaim_ctx c = { upload_fd, NULL, NULL };

	if (l->ops == NULL || !upload_id_valid(u->id) ||
	    !names_user_valid(u->owner))
		return LEDGER_IO;
	return l->ops->upload_end(l, u, reclaim_path, &c);
}

enum ledger_err
ledger_reclaim(struct ledger *l, const char *user, int upload_fd,
    void (*fn)(void *, const char *, int64_t), void *arg)
{
	struct reclaim_ctx c = { upload_fd, fn, arg };

	if (l->ops == NULL || (user != NULL && !names_user_valid(user)))
		return LEDGER_IO;
	return l->ops->reclaim(l, user, reclaim_path, reclaim_done, &c);
}

size_t
ledger_largest(struct ledger *l, const char *user, const char *prefix,
    struct file_size *out, size_t max)
{
	if (l->ops == NULL || !names_user_valid(user) || max == 0)
		return 0;
	return l->ops->largest(l, user, prefix, out, max);
}

enum ledger_err
ledger_each_user(struct ledger *l, void (*fn)(void *, const char *),
    void *arg)
{
	return l->ops == NULL ? LEDGER_IO : l->ops->each_user(l, fn, arg);
}

enum ledger_err
ledger_each_record(struct ledger *l, const char *owner,
    int (*fn)(void *, const char *, const struct record *), void *arg)
{
	if (l->ops == NULL || (owner != NULL && !names_user_valid(owner)))
		return LEDGER_IO;
	return l->ops->each_record(l, owner, fn, arg);
}

enum ledger_err
ledger_record_put(struct ledger *l, const char *rel, const struct record *r)
{
	if (l->ops == NULL || !relpath_valid(rel, 0) ||
	    !names_user_valid(r->owner) || r->size < 0)
		return LEDGER_IO;
	return l->ops->record_put(l, rel, r);
}

enum ledger_err
ledger_record_drop(struct ledger *l, const char *rel)
{
	if (l->ops == NULL || !relpath_valid(rel, 0))
		return LEDGER_IO;
	return l->ops->record_drop(l, rel);
}

enum ledger_err
ledger_flush(struct ledger *l)
{
	return l->ops == NULL ? LEDGER_IO : l->ops->flush(l);
}
