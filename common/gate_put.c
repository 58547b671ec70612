/*
 * gate_put: a PUT that rows 1 to 11 let through.  Under the ledger lock:
 * folders, temporary file, space (fallocate) and reservation; without
 * it: the body, streamed in one fixed buffer; under the lock again: the
 * final checks, the ledger and the rename into place (SPEC §4, §5).
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





/* Under the lock: the temporary file, its space and its reservation. */
static struct outcome
prepare(struct request *rq)
{
	char    tmprel[sizeof rq->folder + 80];
	int64_t len = rq->verdict.length;
	int64_t charge = rq->verdict.charge > 0 ? rq->verdict.charge : 0;
	enum store_err e;
	struct outcome o;

	if ((o = make_folders(rq)).reason != REASON_NONE)
		return o;
	/* the reservation names the file before it exists: see store.h */
	if (store_tmp_name(rq->target.dir_fd, &rq->tmp) != STORE_OK)
		return outcome(REASON_SERVER_ERROR, NULL);
	snprintf(tmprel, sizeof tmprel, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", rq->tmp.name);
	if (ledger_reserve(&rq->ledger, rq->user, charge, tmprel,
	    &rq->resv) != LEDGER_OK || store_tmp_open(&rq->tmp) != STORE_OK)
		return outcome(REASON_SERVER_ERROR, NULL);
	if ((e = store_tmp_allocate(&rq->tmp, len > 0 ? len : 0)) == STORE_OK)
		return outcome(REASON_NONE, NULL);
	return e == STORE_NOSPACE ? disk_full(rq, len) :
	    outcome(REASON_SERVER_ERROR, NULL);
}

/*
 * With allow_unknown_length the limits of rows 10 and 11 are held while
 * the body grows (row 14), against the room there was when it started;
 * the commit checks the quota again under the lock.
 */
static struct outcome
check_growth(struct request *rq)
{
	const struct facts *f = &rq->facts;
	int64_t n = rq->received, room;

	if (n > space_available(f->free_space, f->min_free))
		return disk_full(rq, n);
	room = f->limit - f->used - f->reserved;
	if (f->limit != QUOTA_UNLIMITED && n - f->recorded > room) {
		rq->reply.upload_size = n;
		rq->reply.shortage = n - f->recorded - (room > 0 ? room : 0);
		return outcome(REASON_QUOTA_EXCEEDED, NULL);
	}
	return outcome(REASON_NONE, NULL);
}

/* The PUT's sink: the bytes go to its one temporary file. */
static struct outcome
put_sink(struct request *rq, const char *buf, size_t n)
{
	enum store_err e;
	struct outcome o;

	if (rq->verdict.length < 0 &&
	    (o = check_growth(rq)).reason != REASON_NONE)
		return o;
	if ((e = store_tmp_write(&rq->tmp, buf, n)) == STORE_OK)
		return outcome(REASON_NONE, NULL);
	return e == STORE_NOSPACE ? disk_full(rq, rq->received) :
	    outcome(REASON_SERVER_ERROR, NULL);
}

/*
 * Under the lock again: the target may have changed while the body
 * streamed (another upload, another user), so rows 8, 9 and 11 are asked
 * once more of what is there now.
 */
static struct outcome
recheck(struct request *rq, int *exists, struct record *old, int *had)
{
	const char *name = rq->path.comp[rq->path.ncomp - 1];
	struct usage u;
	struct stat  st;
	int64_t      charge, others;

	*exists = fstatat(rq->target.dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (*exists && S_ISLNK(st.st_mode))
		return outcome(REASON_FORBIDDEN, NULL);
	if (*exists && !S_ISREG(st.st_mode))
		return outcome(REASON_CONFLICT, NULL);
	if (*exists && rq->facts.if_none_match_star)
		return outcome(REASON_PRECONDITION_FAILED, NULL);
	if (*exists && !rq->policy.allow_overwrite)
		return outcome(REASON_CONFLICT, NULL);
	if ((*had = ledger_record_get(&rq->ledger, rq->rel, old)) == -1)
		return outcome(REASON_SERVER_ERROR, NULL);
	*had = *had == 0;
	if (*exists && !rq->g->cfg.per_user_dirs &&
	    (!*had || strcmp(old->owner, rq->user) != 0))
		return outcome(REASON_FORBIDDEN, NULL);
	if (ledger_usage(&rq->ledger, rq->user, &u) != LEDGER_OK)
		return outcome(REASON_SERVER_ERROR, NULL);
	charge = rq->tmp.written;
	if (*exists && *had && strcmp(old->owner, rq->user) == 0)
		charge -= old->size;
	others = u.used + u.reserved - rq->resv.bytes;
	if (rq->facts.limit != QUOTA_UNLIMITED && charge > 0 &&
	    others + charge > rq->facts.limit) {
		rq->reply.upload_size = rq->tmp.written;
		rq->reply.shortage = others + charge - rq->facts.limit;
		return outcome(REASON_QUOTA_EXCEEDED, NULL);
	}
	return outcome(REASON_NONE, NULL);
}

/* Puts the ledger back as it was when the rename failed. */
static void
undo_commit(struct request *rq, const struct record *old, int had)
{
	if (had)
		(void)ledger_commit(&rq->ledger, old->owner, rq->rel, old->size);
	else
		(void)ledger_forget(&rq->ledger, rq->rel);
}


/*
 * The ledger and the rename, in the order that over-counts after a crash
 * in between: a file that grows the usage is recorded first, one that
 * shrinks it (a smaller replacement) is renamed first.
 */
static struct outcome
commit(struct request *rq, int *replaced)
{
	const char    *name = rq->path.comp[rq->path.ncomp - 1];
	struct record  old;
	struct outcome o;
	enum store_err e;
	enum ledger_err le;
	int            had, exists, shrinks;

	if ((o = recheck(rq, &exists, &old, &had)).reason != REASON_NONE)
		return o;
	shrinks = had && strcmp(old.owner, rq->user) == 0 &&
	    rq->tmp.written < old.size;
	if (!shrinks && (le = ledger_commit(&rq->ledger, rq->user, rq->rel,
	    rq->tmp.written)) != LEDGER_OK)
		return ledger_failed(le);
	e = store_tmp_publish(&rq->tmp, name, exists);
	/* renamed, and only the folder's fsync failed: the file is whole */
	if (e != STORE_OK && rq->tmp.name[0] != '\0') {
		if (!shrinks)
			undo_commit(rq, &old, had);
		return outcome(e == STORE_EXISTS ? REASON_CONFLICT :
		    REASON_SERVER_ERROR, NULL);
	}
	*replaced = exists;
	/* should this fail, the old, larger figure stays: an over-count */
	if (shrinks)
		(void)ledger_commit(&rq->ledger, rq->user, rq->rel,
		    rq->tmp.written);
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
	rq->stored.stored_as = info + 1;	/* path_parse checked it */
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
	ledger_unlock(&rq->ledger);
	if ((o = stream_body(rq, put_sink)).reason != REASON_NONE)
		return o;
	if ((e = store_tmp_finish(&rq->tmp)) != STORE_OK)
		return e == STORE_NOSPACE ? disk_full(rq, rq->tmp.written) :
		    outcome(REASON_SERVER_ERROR, NULL);
	if ((le = ledger_lock(&rq->ledger, LEDGER_LOCK_TIMEOUT_MS)) != LEDGER_OK)
		return outcome(le == LEDGER_BUSY ? REASON_BUSY :
		    REASON_SERVER_ERROR, NULL);
	return commit(rq, replaced);
}

void
put_store(struct request *rq)
{
	struct outcome o;
	int            replaced = 0;

	o = store_body(rq, &replaced);
	if (o.reason != REASON_NONE) {
		store_tmp_abort(&rq->tmp);
		ledger_release_reservation(&rq->ledger, &rq->resv);
		undo_folders(rq);
		if (o.reason == REASON_QUOTA_EXCEEDED && rq->reply.upload_size == 0)
			rq->reply.upload_size = rq->received;
		respond(rq, o.reason, o.detail);
		return;
	}
	ledger_release_reservation(&rq->ledger, &rq->resv);
	describe(rq);
	respond(rq, replaced ? REASON_REPLACED : REASON_STORED, NULL);
}
