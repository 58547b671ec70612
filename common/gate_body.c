/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_body: what PUT and POST share once the decision let them through:
 * the folders they need (and their removal on failure), the body read in
 * one fixed buffer and handed to a sink, the figures of a full disk.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cause.h"
#include "gate_int.h"
#include "quota.h"

int
gate_path_rel(const struct request *rq, const struct path *path, size_t n,
    char *out, size_t size)
{
	size_t i, len;

	len = (size_t)snprintf(out, size, "%s",
	    rq->g->cfg.per_user_dirs ? rq->user : "");
	for (i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s",
		    len > 0 ? "/" : "", path->comp[i]);
	return len < size ? 0 : -1;
}

/*
 * Names the folders about to be made in the reservation, outermost
 * first, before they exist: a kill in between leaves nothing a reclaim
 * does not know of.
 */
static struct outcome
note_folders(struct request *rq, struct reservation *r)
{
	size_t folders = rq->path.ncomp - (rq->kind == PATH_FILE), i = 0;
	char   rel[sizeof rq->folder];
	enum ledger_err le;

	if (rq->user_fd != -1) {
		if (rq->target.state != TARGET_PARENT_MISSING)
			return outcome(REASON_NONE, NULL);
		i = rq->target.found;
	} else if (rq->g->cfg.per_user_dirs) {
		le = ledger_reservation_add(rq->ledger, r, RESV_DIR, rq->user);
		if (le != LEDGER_OK)
			return gate_ledger_failed(rq, le);
	}
	for (; i < folders; i++) {
		(void)gate_path_rel(rq, &rq->path, i + 1, rel, sizeof rel);
		le = ledger_reservation_add(rq->ledger, r, RESV_DIR, rel);
		if (le != LEDGER_OK)
			return gate_ledger_failed(rq, le);
	}
	return outcome(REASON_NONE, NULL);
}

/*
 * The folders the path needs: the user's, then the missing ones, named
 * in r first.  The walk is asked again of what it made: a link or a
 * file slipped into the path meanwhile is refused as rows 8 and 9 would
 * have.
 */
struct outcome
gate_make_folders(struct request *rq, struct reservation *r)
{
	struct outcome o;
	enum store_err e;

	if ((o = note_folders(rq, r)).reason != REASON_NONE)
		return o;
	if (rq->user_fd == -1) {
		rq->user_fd = store_open_user_dir(rq->upload_fd, rq->user, 1);
		if (rq->user_fd == -1)
			return errno_failed(rq, NULL, 0);
		rq->made_user_dir = 1;
		if ((e = store_resolve(rq->user_fd, &rq->path, rq->kind,
		    &rq->target)) != STORE_OK)
			return store_failed(rq, e, 0);
	}
	if (rq->target.state == TARGET_PARENT_MISSING &&
	    (e = store_make_parents(&rq->target)) != STORE_OK)
		return store_failed(rq, e, 0);
	switch (rq->target.state) {
	case TARGET_NEW:
	case TARGET_EXISTS:
		return outcome(REASON_NONE, NULL);
	case TARGET_SYMLINK:
		rq->reply.cause = CAUSE_SYMLINK;
		return outcome(REASON_FORBIDDEN, NULL);
	case TARGET_NOT_REGULAR:
		rq->reply.cause = S_ISDIR(rq->target.st.st_mode) ?
		    CAUSE_TARGET_FOLDER : CAUSE_TARGET_SPECIAL;
		return outcome(REASON_CONFLICT, NULL);
	default:
		rq->reply.cause = CAUSE_NOT_FOLDER;
		return outcome(REASON_CONFLICT, NULL);
	}
}

/* Names tmp (already named by store_tmp_name) in r. */
struct outcome
gate_note_tmp(struct request *rq, struct reservation *r, const struct store_tmp *tmp)
{
	char tmprel[sizeof rq->folder + 80];
	enum ledger_err le;

	snprintf(tmprel, sizeof tmprel, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", tmp->name);
	le = ledger_reservation_add(rq->ledger, r, RESV_TMP, tmprel);
	return le == LEDGER_OK ? outcome(REASON_NONE, NULL) :
	    gate_ledger_failed(rq, le);
}

/* Removes what this request made on the way: all or nothing. */
void
gate_undo_folders(struct request *rq)
{
	store_target_rollback(&rq->target);
	if (rq->made_user_dir)
		(void)unlinkat(rq->upload_fd, rq->user, AT_REMOVEDIR);
}

/* The figures of a 507 disk_full, measured now. */
struct outcome
gate_disk_full(struct request *rq, int64_t required)
{
	int64_t freeb = 0, total = 0;

	if (store_space(rq->upload_fd, &freeb, &total) == 0)
		rq->reply.available_space = decide_space_available(freeb,
		    config_min_free(&rq->g->cfg, total));
	rq->reply.required_space = required;
	return outcome(REASON_DISK_FULL, NULL);
}

/*
 * Row 14's EDQUOT: the filesystem's own quota (the gate runs as the
 * user, or a btrfs qgroup or an XFS project quota applies) refused the
 * bytes.  A 507 quota_exceeded whose figures are the ledger's, read by
 * gate_respond(); how much is missing, the filesystem does not say.
 */
static struct outcome
filesystem_quota(struct request *rq, int64_t required)
{
	rq->reply.quota_filesystem = 1;
	rq->reply.upload_size = rq->verdict.length >= 0 ?
	    rq->verdict.length : required;
	return outcome(REASON_QUOTA_EXCEEDED, "The upload does not fit in "
	    "the filesystem's own quota for this folder; remove files or "
	    "ask for a larger quota.");
}

/*
 * A failed store call as its answer (row 14 or 16): ENOSPC a 507
 * disk_full for required bytes, EDQUOT a 507 quota_exceeded, the rest a
 * 500 whose cause store noted.
 */
struct outcome
store_failed(struct request *rq, enum store_err e, int64_t required)
{
	switch (e) {
	case STORE_NOSPACE:
		return gate_disk_full(rq, required);
	case STORE_QUOTA:
		return filesystem_quota(rq, required);
	default:
		return outcome(REASON_SERVER_ERROR, NULL);
	}
}

/*
 * The same for a call that reports -1 and errno: call, when not NULL,
 * is noted as the cause (NULL: the callee noted it).
 */
struct outcome
errno_failed(struct request *rq, const char *call, int64_t required)
{
	if (call != NULL)
		cause_note(call);
	if (errno == ENOSPC)
		return store_failed(rq, STORE_NOSPACE, required);
	if (errno == EDQUOT)
		return store_failed(rq, STORE_QUOTA, required);
	return outcome(REASON_SERVER_ERROR, NULL);
}

/* How much to ask for next: never past a known CONTENT_LENGTH. */
static size_t
next_read(const struct request *rq)
{
	int64_t left = rq->verdict.length - rq->received;

	if (rq->verdict.length < 0 || rq->expected_only || left > BODY_BUFFER)
		return BODY_BUFFER;
	return (size_t)left;
}

/*
 * Rows 13 and 6 for what any body may do wrong while it streams: grow
 * past its X-Expected-Entity-Length, or, of unknown length, past
 * max_upload_size.  Then the sink stores the bytes.
 */
static struct outcome
take(struct request *rq, const char *buf, size_t n, sink_fn sink)
{
	int64_t max = rq->policy.max_upload_size;

	rq->received += (int64_t)n;
	if (rq->expected_only && rq->received > rq->verdict.length)
		return outcome(REASON_BAD_REQUEST, "The body is longer than "
		    "its X-Expected-Entity-Length.");
	if (rq->verdict.length < 0 && max > 0 && rq->received > max) {
		rq->reply.too_large_limit = max;
		rq->reply.too_large_size = rq->received;
		return outcome(REASON_TOO_LARGE, NULL);
	}
	return sink(rq, buf, n);
}

static struct outcome
stream(struct request *rq, char *buf, sink_fn sink)
{
	struct outcome o;
	ssize_t        n = 0;
	size_t         want;

	while ((want = next_read(rq)) > 0) {
		n = rq->io->read(rq->io->ctx, buf, want);
		if (n <= 0)
			break;
		if ((o = take(rq, buf, (size_t)n, sink)).reason != REASON_NONE)
			return o;
	}
	if (n < 0 && want > 0)
		return outcome(REASON_INCOMPLETE_BODY, "The body could not be read.");
	rq->body_done = 1;
	if (rq->verdict.length >= 0 && rq->received < rq->verdict.length)
		return outcome(REASON_INCOMPLETE_BODY, NULL);
	return outcome(REASON_NONE, NULL);
}

struct outcome
gate_stream_body(struct request *rq, sink_fn sink)
{
	struct outcome o;
	char          *buf = malloc(BODY_BUFFER);

	if (buf == NULL)
		return errno_failed(rq, "malloc", 0);
	o = stream(rq, buf, sink);
	free(buf);
	return o;
}

/* Row 15 (a lock not had in time, a database away), 14 or 16. */
struct outcome
gate_ledger_failed(struct request *rq, enum ledger_err e)
{
	switch (e) {
	case LEDGER_BUSY:
		return outcome(REASON_BUSY, NULL);
	case LEDGER_DOWN:
		rq->reply.retry_after = 5;
		return outcome(REASON_BUSY, "The usage ledger cannot be reached.");
	case LEDGER_NOSPACE:
		return outcome(REASON_DISK_FULL, NULL);
	default:
		return ledger_fault(rq);
	}
}

/* Row 16 for a failed ledger call: the ledger wrote why. */
struct outcome
ledger_fault(struct request *rq)
{
	if (rq->ledger != NULL)
		cause_copy(rq->ledger->cause);
	return outcome(REASON_SERVER_ERROR, NULL);
}

/*
 * Asks decide() again, with the facts of now: the space, and under the
 * user's lock (quota set) the usage, leaving out own, what the request's
 * own reservation holds.  The caller sets body_length and space_held.
 * A refusal's figures go to the reply, as for the first decision.
 */
struct outcome
gate_decide_again(struct request *rq, int64_t own, int quota)
{
	struct facts  *f = &rq->facts;
	struct verdict first;
	struct usage   u;
	int64_t        total;
	enum reason    reason;
	enum ledger_err e;

	if (store_space(rq->upload_fd, &f->free_space, &total) == -1)
		return outcome(REASON_SERVER_ERROR, NULL);
	f->min_free = config_min_free(&rq->g->cfg, total);
	if (quota) {
		if ((e = ledger_usage(rq->ledger, rq->user, &u)) != LEDGER_OK)
			return gate_ledger_failed(rq, e);
		f->used = u.used;
		f->reserved = u.reserved > own ? u.reserved - own : 0;
		if (find_limit(rq) == -1)	/* read before the body */
			return outcome(REASON_SERVER_ERROR, NULL);
	}
	f->known |= KNOW_BODY | KNOW_SPACE | KNOW_QUOTA;
	first = rq->verdict;	/* the body goes on by the first decision */
	rq->verdict = decide(f, &rq->policy);
	reason = rq->verdict.reason;
	if (reason != REASON_NONE)
		gate_verdict_figures(rq);
	rq->verdict = first;
	return outcome(reason, NULL);
}

/*
 * Gives tmp len bytes with fallocate, then checks the space that is
 * left (upgate(8): free space is checked after it is allocated, so that
 * uploads of different users cannot together pass min_free_space
 * without waiting for each other).
 */
struct outcome
gate_allocate(struct request *rq, struct store_tmp *tmp, int64_t len)
{
	enum store_err e;

	if ((e = store_tmp_allocate(tmp, len)) != STORE_OK)
		return store_failed(rq, e, len);
	rq->facts.body_length = len;
	rq->facts.space_held = tmp->allocated;
	return gate_decide_again(rq, 0, 0);
}

/*
 * A body of unknown length reserves as it grows (upgate(8)): when need,
 * the bytes the request must hold, passes what r holds, the next step
 * is reserved under the user's lock — need and a quarter more, at least
 * HOLD_STEP, or all that is left when less — and given to tmp on the
 * disk.  Taking all that is left lets the first of several such uploads
 * finish, rather than all of them sharing the room and none fitting.
 * held: the request's bytes on the disk already.
 */
#define HOLD_STEP (1024 * 1024)

struct outcome
gate_hold_more(struct request *rq, struct reservation *r, struct store_tmp *tmp,
    int64_t need, int64_t held)
{
	int64_t        step, want;
	enum ledger_err le;
	struct outcome o;

	if (need <= r->bytes && need <= held)
		return outcome(REASON_NONE, NULL);
	step = need / 4 > HOLD_STEP ? need / 4 : HOLD_STEP;
	want = need > INT64_MAX - step ? INT64_MAX : need + step;
	if ((le = gate_lock_user(rq)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	rq->facts.space_held = held;
	rq->facts.body_length = want;
	if (gate_decide_again(rq, r->bytes, 1).reason != REASON_NONE) {
		want = decide_room(&rq->facts);
		if (want < need)
			want = need;	/* refused below, with its figures */
		rq->facts.body_length = want;
		if ((o = gate_decide_again(rq, r->bytes, 1)).reason != REASON_NONE) {
			gate_unlock_user(rq);
			return o;
		}
	}
	le = ledger_reservation_set(rq->ledger, r, want);
	gate_unlock_user(rq);
	if (le != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	if (want <= held)
		return outcome(REASON_NONE, NULL);
	return gate_allocate(rq, tmp, tmp->allocated + (want - held));
}

enum ledger_err
gate_lock_file(struct request *rq)
{
	if (rq->g->cfg.per_user_dirs)
		return LEDGER_OK;
	return ledger_lock_file(rq->ledger, rq->rel, LEDGER_LOCK_TIMEOUT_MS);
}

enum ledger_err
gate_lock_user(struct request *rq)
{
	enum ledger_err e;

	if (rq->locked)
		return LEDGER_OK;
	e = ledger_lock_user(rq->ledger, rq->user, LEDGER_LOCK_TIMEOUT_MS);
	rq->locked = e == LEDGER_OK;
	return e;
}

/* Drops the user's lock and any file lock taken after it. */
void
gate_unlock_user(struct request *rq)
{
	if (!rq->locked)
		return;
	ledger_unlock(rq->ledger);
	rq->locked = 0;
}
