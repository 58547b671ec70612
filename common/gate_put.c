/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_put: a PUT that rows 1 to 11 let through.  Under the user's lock:
 * the reservation, the folders and the temporary file's name; without
 * it: the file, its space (fallocate) and the body, streamed in one
 * fixed buffer; under the lock again: decide() asked once more of what
 * is there now, the ledger and the rename into place (upgate(8),
 * "USAGE ACCOUNTING").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate_int.h"
#include "quota.h"

/*
 * Under the lock: the reservation, the folders, the temporary name (a
 * resumable upload's creation too, gate_tus.c).
 */
struct outcome
gate_put_prepare_locked(struct request *rq)
{
	int64_t charge = rq->verdict.charge > 0 ? rq->verdict.charge : 0;
	enum ledger_err le;
	enum store_err e;
	struct outcome o;

	le = ledger_reserve(rq->ledger, rq->user, charge, NULL, &rq->resv);
	if (le != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	if ((o = gate_make_folders(rq, &rq->resv)).reason != REASON_NONE)
		return o;
	/* the reservation names the file before it exists: see store.h */
	if ((e = store_tmp_name(rq->target.dir_fd, &rq->tmp)) != STORE_OK)
		return store_failed(rq, e, 0);
	return gate_note_tmp(rq, &rq->resv, &rq->tmp);
}

/* Without the lock: the file and the space the announced length needs. */
static struct outcome
prepare(struct request *rq)
{
	int64_t        len = rq->verdict.length;
	struct outcome o;
	enum store_err e;

	o = gate_put_prepare_locked(rq);
	gate_unlock_user(rq);
	if (o.reason != REASON_NONE)
		return o;
	if ((e = store_tmp_open(&rq->tmp)) != STORE_OK)
		return store_failed(rq, e, len > 0 ? len : 0);
	if (len <= 0)
		return outcome(REASON_NONE, NULL);
	return gate_allocate(rq, &rq->tmp, len);
}

/* The PUT's sink: the bytes go to its one temporary file. */
static struct outcome
put_sink(struct request *rq, const char *buf, size_t n)
{
	enum store_err e;
	struct outcome o;
	int64_t        held;

	if (rq->verdict.length < 0) {
		held = rq->tmp.allocated > rq->tmp.written ?
		    rq->tmp.allocated : rq->tmp.written;
		o = gate_hold_more(rq, &rq->resv, &rq->tmp, rq->received, held);
		if (o.reason != REASON_NONE)
			return o;
	}
	if ((e = store_tmp_write(&rq->tmp, buf, n)) == STORE_OK)
		return outcome(REASON_NONE, NULL);
	return store_failed(rq, e, rq->received);
}

/* Puts the ledger back as it was when the rename failed. */
static void
undo_commit(struct request *rq, const struct record *old, int had)
{
	if (had)
		(void)ledger_commit(rq->ledger, old->owner, rq->rel, old->size);
	else
		(void)ledger_forget(rq->ledger, rq->rel);
}

/*
 * Under the lock: rows 8 to 11 asked again of what is there now (another
 * upload, another user may have changed it while the body streamed),
 * then the ledger and the rename, in the order that over-counts after a
 * crash in between: a file that grows the usage is recorded first, one
 * that shrinks it (a smaller replacement) is renamed first.
 */
static struct outcome
commit_locked(struct request *rq, int *replaced)
{
	const char    *name = rq->path.comp[rq->path.ncomp - 1];
	struct record  old;
	struct outcome o;
	enum store_err e;
	enum ledger_err le;
	int            had, exists, shrinks;

	if ((o = gate_refresh_target(rq)).reason != REASON_NONE)
		return o;
	rq->facts.body_length = rq->tmp.written;
	rq->facts.space_held = rq->tmp.written;
	if ((o = gate_decide_again(rq, rq->resv.bytes, 1)).reason != REASON_NONE)
		return o;
	exists = rq->facts.target == TARGET_EXISTS;
	had = exists && ledger_record_get(rq->ledger, rq->rel, &old) == 0;
	/* a record without its file is stale: it must not lower the charge */
	if (!exists && (le = ledger_record_drop(rq->ledger, rq->rel)) !=
	    LEDGER_OK)
		return gate_ledger_failed(rq, le);
	shrinks = had && strcmp(old.owner, rq->user) == 0 &&
	    rq->tmp.written < old.size;
	if (!shrinks && (le = ledger_commit(rq->ledger, rq->user, rq->rel,
	    rq->tmp.written)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	e = store_tmp_publish(&rq->tmp, name, exists);
	/* renamed, and only the folder's fsync failed: the file is whole */
	if (e != STORE_OK && rq->tmp.name[0] != '\0') {
		if (!shrinks)
			undo_commit(rq, &old, had);
		if (e == STORE_EXISTS)
			return outcome(REASON_CONFLICT, "The file cannot be "
			    "stored: a file of that name appeared meanwhile.");
		return store_failed(rq, e, rq->tmp.written);
	}
	*replaced = exists;
	/* should this fail, the old, larger figure stays: an over-count */
	if (shrinks)
		(void)ledger_commit(rq->ledger, rq->user, rq->rel,
		    rq->tmp.written);
	/* the bytes are usage now: never seen twice */
	ledger_release_reservation(rq->ledger, &rq->resv);
	return outcome(REASON_NONE, NULL);
}

/* The reply's figures for a stored file. */
static void
describe(struct request *rq)
{
	const char *uri = rq->io->param(rq->io->ctx, "REQUEST_URI");
	const char *script = rq->io->param(rq->io->ctx, "SCRIPT_NAME");
	const char *info = rq->io->param(rq->io->ctx, "PATH_INFO");

	if (uri != NULL && strcspn(uri, "?\r\n") > 0)
		snprintf(rq->location, sizeof rq->location, "%.*s",
		    (int)strcspn(uri, "?\r\n"), uri);
	else
		snprintf(rq->location, sizeof rq->location, "%s%s",
		    script != NULL ? script : "", info != NULL ? info : "");
	rq->stored.name = rq->path.comp[rq->path.ncomp - 1];
	rq->stored.stored_as = info + 1;	/* names_path_parse checked it */
	rq->stored.size = rq->tmp.written;
	rq->reply.files = &rq->stored;
	rq->reply.nfiles = 1;
	rq->reply.location = rq->location;
}

static struct outcome
store_body(struct request *rq, int *replaced)
{
	struct outcome o;
	enum ledger_err le;
	enum store_err e;

	if ((o = prepare(rq)).reason != REASON_NONE)
		return o;
	if ((o = gate_stream_body(rq, put_sink)).reason != REASON_NONE)
		return o;
	if ((e = store_tmp_finish(&rq->tmp)) != STORE_OK)
		return store_failed(rq, e, rq->tmp.written);
	if ((le = gate_lock_user(rq)) != LEDGER_OK ||
	    (le = gate_lock_file(rq)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	return commit_locked(rq, replaced);
}

/* Called with the user's lock held; every path out answers without it. */
void
gate_put_store(struct request *rq)
{
	struct outcome o;
	struct stat    st;
	int            replaced = 0, err;

	o = store_body(rq, &replaced);
	if (o.reason != REASON_NONE) {
		err = errno;	/* the failing call's, for gate_respond() */
		gate_unlock_user(rq);
		store_tmp_abort(&rq->tmp);
		ledger_release_reservation(rq->ledger, &rq->resv);
		gate_undo_folders(rq);
		errno = err;
		if (o.reason == REASON_QUOTA_EXCEEDED && rq->reply.upload_size == 0)
			rq->reply.upload_size = rq->received;
		gate_respond_outcome(rq, o);
		return;
	}
	describe(rq);
	if (fstatat(rq->target.dir_fd, rq->path.comp[rq->path.ncomp - 1], &st,
	    AT_SYMLINK_NOFOLLOW) == 0)
		gate_reply_validators(rq, &st);	/* as PROPFIND gives them */
	gate_respond(rq, replaced ? REASON_REPLACED : REASON_STORED, NULL);
}
