/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_tus: resumable uploads, tus 1.0.0 (upgate(8), "RESUMABLE
 * UPLOADS").  A creation is decided by rows 1 to 11 with its
 * Upload-Length, reserves all of it, makes and allocates the temporary
 * file, and turns its reservation into a lease (ledger.h).  A PATCH
 * holds only its upload's own lock while its body streams, and makes
 * the bytes durable before the ledger's offset — the one it
 * acknowledges — moves.  The PATCH that reaches the length publishes
 * the file as a form does: a free name, the ledger, a rename that never
 * replaces.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "cause.h"
#include "digest.h"
#include "gate_int.h"
#include "number.h"
#include "relpath.h"
#include "validators.h"

#define OFFSET_STREAM	"application/offset+octet-stream"
/*
 * A long PATCH makes its bytes durable and moves the offset every so
 * many bytes, so that a handler killed on the way loses at most that
 * much (upgate(8), "Resumable uploads").
 */
#define TUS_CHECKPOINT	(8 * 1024 * 1024)
#define TUS_OPTIONS_HEADERS						\
    "Tus-Resumable: " TUS_VERSION "\r\nTus-Version: " TUS_VERSION "\r\n"	\
    "Tus-Extension: creation,creation-with-upload,termination,"		\
    "expiration,checksum\r\nTus-Checksum-Algorithm: " DIGEST_ALGORITHMS	\
    "\r\n"

/* A tus request's state, besides the request's own (rq->tus). */
struct tus_state {
	struct upload    u;
	struct store_tmp tmp;		/* the upload's file, while open */
	struct walk      walk;		/* its folder, when a PATCH opened it */
	int              walked;
	struct digest    digest;	/* Upload-Checksum, when sent */
	int64_t          base;		/* the offset this request began at */
	int              past;		/* the body would pass the length */
	char             headers[UPLOAD_META_MAX + 512];	/* for the reply */
	char             location[8192];
};

/* ---- what a request is to tus (row 1) ---- */

static void
set_headers(struct tus_state *t, const char *a, const char *b)
{
	snprintf(t->headers, sizeof t->headers, "%s%s", a, b);
}

static int
offset_stream(const struct request *rq)
{
	const char *ct = request_param(rq, "CONTENT_TYPE");

	return ct != NULL && strcmp(ct, OFFSET_STREAM) == 0;
}

void
gate_tus_find(struct request *rq)
{
	struct facts *f = &rq->facts;
	const char   *info = request_param(rq, "PATH_INFO");
	const char   *version = request_param(rq, "HTTP_TUS_RESUMABLE");
	char          max[48] = "";

	if (!f->resumable)
		return;
	if (info != NULL && strncmp(info, TUS_URL_PREFIX,
	    strlen(TUS_URL_PREFIX)) == 0)
		f->tus = TUS_URL;
	else if (f->method == METHOD_POST && version != NULL)
		f->tus = TUS_CREATE;	/* decided before row 7: never 415 */
	f->tus_version = version;
	f->upload_length_text = request_param(rq, "HTTP_UPLOAD_LENGTH");
	f->defer_length = request_param(rq, "HTTP_UPLOAD_DEFER_LENGTH") != NULL;
	f->offset_stream = offset_stream(rq);
	f->upload_offset_text = request_param(rq, "HTTP_UPLOAD_OFFSET");
	rq->reply.tus_url = f->tus == TUS_URL;
	if (f->tus == TUS_NONE && f->method != METHOD_OPTIONS)
		return;
	if ((rq->tus = calloc(1, sizeof *rq->tus)) == NULL)
		return;		/* tus_handle answers 500 */
	rq->tus->tmp.fd = -1;
	digest_init(&rq->tus->digest);
	if (f->method == METHOD_OPTIONS) {
		if (rq->g->have_cfg && rq->g->cfg.max_upload_size > 0)
			snprintf(max, sizeof max, "Tus-Max-Size: %lld\r\n",
			    (long long)rq->g->cfg.max_upload_size);
		set_headers(rq->tus, TUS_OPTIONS_HEADERS, max);
	} else if (version == NULL || strcmp(version, TUS_VERSION) != 0)
		set_headers(rq->tus, "Tus-Resumable: " TUS_VERSION
		    "\r\n", "Tus-Version: " TUS_VERSION "\r\n");
	else
		set_headers(rq->tus, "Tus-Resumable: " TUS_VERSION
		    "\r\n", "");
	rq->reply.tus_headers = rq->tus->headers;
}

void
gate_tus_release(struct request *rq)
{
	struct tus_state *t = rq->tus;

	if (t == NULL)
		return;
	ledger_upload_unlock(rq->ledger, &t->u);
	if (t->tmp.fd != -1)
		close(t->tmp.fd);	/* the lease owns the file: it stays */
	if (t->walked)
		relpath_walk_release(&t->walk);
	digest_release(&t->digest);
	free(t);
	rq->tus = NULL;
}

/* ---- helpers ---- */

/*
 * The reply's tus headers: Tus-Resumable, and for an upload its offset
 * and expiry (HEAD adds its length and metadata).
 */
static void
upload_headers(struct tus_state *t, int head)
{
	char   date[HTTP_DATE_SIZE];
	size_t n;

	http_date((time_t)t->u.expires, date, sizeof date);
	n = (size_t)snprintf(t->headers, sizeof t->headers,
	    "Tus-Resumable: " TUS_VERSION "\r\nUpload-Offset: %lld\r\n"
	    "Upload-Expires: %s\r\n", (long long)(t->u.finished ?
	    t->u.length : t->u.offset), date);
	if (head && n < sizeof t->headers)
		n += (size_t)snprintf(t->headers + n, sizeof t->headers - n,
		    "Upload-Length: %lld\r\n", (long long)t->u.length);
	/* as sent: printable ASCII, checked at the creation */
	if (head && t->u.metadata[0] != '\0' && n < sizeof t->headers)
		snprintf(t->headers + n, sizeof t->headers - n,
		    "Upload-Metadata: %s\r\n", t->u.metadata);
}

/* Answers with the lock of the upload dropped first. */
static void
answer(struct request *rq, struct tus_state *t, enum reason reason,
    const char *detail)
{
	ledger_upload_unlock(rq->ledger, &t->u);
	gate_respond(rq, reason, detail);
}

static void
answer_outcome(struct request *rq, struct tus_state *t, struct outcome o)
{
	answer(rq, t, o.reason, o.detail);
}

/* Asks decide(); a refusal is answered, without the upload's lock. */
static int
refused(struct request *rq, struct tus_state *t)
{
	rq->verdict = decide(&rq->facts, &rq->policy);
	if (rq->verdict.reason == REASON_NONE)
		return 0;
	ledger_upload_unlock(rq->ledger, &t->u);
	gate_respond_verdict(rq);
	return 1;
}

/*
 * Upload-Metadata: kept as sent (printable ASCII, at most
 * UPLOAD_META_MAX bytes); its `filename` (base64) names the file, as a
 * form's part does (upgate(8), "Requests": its last component).  1 when
 * the name is good, 0 when it is missing or bad.
 */
static int
metadata_name(const struct request *rq, struct tus_state *t)
{
	const char   *m = request_param(rq, "HTTP_UPLOAD_METADATA");
	const char   *p, *end, *sp, *base;
	unsigned char raw[4096];
	size_t        i, n, blen;
	long          got;

	if (m == NULL || (n = strlen(m)) > UPLOAD_META_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (m[i] < 0x20 || m[i] > 0x7e)
			return 0;
	memcpy(t->u.metadata, m, n + 1);
	for (p = m; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		p += strspn(p, " ");
		sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL || sp - p != 8 || memcmp(p, "filename", 8) != 0)
			continue;
		got = base64_decode(sp + 1, (size_t)(end - sp - 1), raw,
		    sizeof raw);
		if (got <= 0)
			return 0;
		base = names_file_basename((const char *)raw, (size_t)got,
		    &blen);
		if (blen > FILE_NAME_MAX || !names_file_valid(base, blen))
			return 0;
		memcpy(t->u.name, base, blen);
		t->u.name[blen] = '\0';
		return 1;
	}
	return 0;
}

/* ---- appending: a PATCH's body, or a creation's ---- */

/*
 * The bytes written are made durable, then the ledger's offset moves:
 * what HEAD and a 204 say was received is on the disk.
 */
static struct outcome
commit_offset(struct request *rq, struct tus_state *t)
{
	int64_t         kept = t->tmp.written - t->u.offset;
	enum ledger_err le;

	if (kept <= 0)
		return outcome(REASON_NONE, NULL);
	if (rq->g->cfg.sync && fdatasync(t->tmp.fd) == -1)
		return errno_failed(rq, "fdatasync", 0);
	t->u.offset += kept;
	if ((le = ledger_upload_put(rq->ledger, &t->u)) != LEDGER_OK) {
		t->u.offset -= kept;
		return gate_ledger_failed(rq, le);
	}
	return outcome(REASON_NONE, NULL);
}

/* The body's bytes, at the offset, never past Upload-Length. */
static struct outcome
tus_sink(struct request *rq, const char *buf, size_t n)
{
	struct tus_state *t = rq->tus;
	enum store_err e;

	if (t->tmp.written > t->u.length - (int64_t)n) {
		t->past = 1;
		return outcome(REASON_BAD_REQUEST, "The body would pass the "
		    "upload's Upload-Length; none of it was kept.");
	}
	if (digest_update(&t->digest, buf, n) == -1) {
		errno = ENOMEM;
		return errno_failed(rq, "digest_update", 0);
	}
	if ((e = store_tmp_write(&t->tmp, buf, n)) != STORE_OK)
		return store_failed(rq, e, (int64_t)n);
	/*
	 * Not with a checksum (none of the body may stay unless all of it
	 * matches) nor a body of unknown length (one that passes the length
	 * keeps nothing, and that shows only at its end).
	 */
	if (t->digest.ctx == NULL && rq->verdict.length >= 0 &&
	    t->tmp.written - t->u.offset >= TUS_CHECKPOINT)
		return commit_offset(rq, t);
	return outcome(REASON_NONE, NULL);
}

/*
 * The upload's file, opened again for a PATCH below upload_dir without
 * following a link, at its durable offset.
 */
static struct outcome
tmp_reopen(struct request *rq, struct tus_state *t)
{
	struct stat st;
	int         fd;

	if (relpath_walk_split(&t->walk, t->u.tmp, 1) == -1) {
		errno = EINVAL;
		return errno_failed(rq, "upload", 0);
	}
	t->walked = 1;
	if (relpath_walk_open(&t->walk, rq->upload_fd, t->walk.ncomp - 1, 0) != 0)
		return errno_failed(rq, "openat", 0);
	fd = openat(relpath_walk_dir(&t->walk), relpath_walk_last(&t->walk),
	    O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno_failed(rq, "openat", 0);
	errno = EINVAL;		/* for a file that is not a regular one */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    lseek(fd, t->u.offset, SEEK_SET) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return errno_failed(rq, "fstat", 0);
	}
	t->tmp.fd = fd;
	t->tmp.dir_fd = relpath_walk_dir(&t->walk);
	snprintf(t->tmp.name, sizeof t->tmp.name, "%s", relpath_walk_last(&t->walk));
	t->tmp.written = t->tmp.synced = t->u.offset;
	t->tmp.allocated = 0;
	t->tmp.dev = st.st_dev;
	t->tmp.ino = st.st_ino;
	return outcome(REASON_NONE, NULL);
}

/*
 * What of a body that did not end well stays (upgate(8)): one cut
 * short, or stopped by a full disk, keeps what reached the file — unless
 * it carried Upload-Checksum, which no part of it can pass; one that
 * would pass the length keeps nothing.
 */
static int
keeps(const struct tus_state *t, enum reason reason)
{
	if (reason == REASON_NONE)
		return 1;
	if (t->past || t->digest.ctx != NULL)
		return 0;
	return reason == REASON_INCOMPLETE_BODY || reason == REASON_DISK_FULL ||
	    reason == REASON_QUOTA_EXCEEDED;
}

/*
 * Appends the request's body, under the upload's lock: the bytes
 * streamed at the offset, what is kept made durable and acknowledged
 * with the lease renewed in the same write.  While the lock is held the
 * lease is not reclaimed, however long the body takes; a handler killed
 * before its first checkpoint leaves the lease as the last PATCH that
 * kept bytes renewed it (upgate(8), "Resumable uploads").
 */
static struct outcome
append(struct request *rq, struct tus_state *t)
{
	struct outcome o, c;
	int            match;

	t->u.expires = (int64_t)time(NULL) + rq->g->cfg.resumable_expiry;
	if (t->tmp.fd == -1 && (o = tmp_reopen(rq, t)).reason != REASON_NONE)
		return o;
	t->base = t->u.offset;
	o = gate_stream_body(rq, tus_sink);
	if (o.reason == REASON_NONE && (match = digest_matches(&t->digest)) != 1)
		o = match == 0 ? outcome(REASON_CHECKSUM_MISMATCH, NULL) :
		    errno_failed(rq, "digest_matches", 0);
	if (!keeps(t, o.reason) || o.reason == REASON_CHECKSUM_MISMATCH) {
		t->tmp.written = t->base;
		return o;
	}
	c = commit_offset(rq, t);
	return c.reason != REASON_NONE ? c : o;
}

/* ---- publication ---- */

/*
 * Under the user's lock (and, with per_user_dirs = no, the name's):
 * the first free name, the ledger, then a rename that never replaces,
 * as a form's file (upgate(8), "Requests").
 */
static struct outcome
publish_locked(struct request *rq, struct tus_state *t)
{
	char            final[FILE_NAME_MAX + 1];
	char            rel[sizeof t->u.folder + FILE_NAME_MAX + 2];
	enum ledger_err le;
	enum store_err  e;
	unsigned        n;

	for (n = 0; n < SUFFIX_MAX; n++) {
		if (n == 0)
			snprintf(final, sizeof final, "%s", t->u.name);
		else
			gate_suffixed(t->u.name, n, final, sizeof final);
		if (gate_name_taken(t->tmp.dir_fd, final))
			continue;
		snprintf(rel, sizeof rel, "%s%s%s", t->u.folder,
		    t->u.folder[0] != '\0' ? "/" : "", final);
		if (!rq->g->cfg.per_user_dirs && (le = ledger_lock_file(
		    rq->ledger, rel, LEDGER_LOCK_TIMEOUT_MS)) != LEDGER_OK)
			return gate_ledger_failed(rq, le);
		/* a stale record must not lower the charge */
		if ((le = ledger_record_drop(rq->ledger, rel)) != LEDGER_OK ||
		    (le = ledger_commit(rq->ledger, rq->user, rel,
		    t->u.length)) != LEDGER_OK)
			return gate_ledger_failed(rq, le);
		e = store_tmp_publish(&t->tmp, final, 0);
		if (e == STORE_OK || t->tmp.name[0] == '\0')
			return outcome(REASON_NONE, NULL);
		(void)ledger_forget(rq->ledger, rel);
		if (e != STORE_EXISTS)
			return store_failed(rq, e, t->u.length);
		if (!rq->g->cfg.per_user_dirs) {
			gate_unlock_user(rq);	/* one name's lock at a time */
			if ((le = gate_lock_user(rq)) != LEDGER_OK)
				return gate_ledger_failed(rq, le);
		}
	}
	return outcome(REASON_CONFLICT, "No free name is left for the "
	    "upload's file.");
}

/*
 * The whole file, durable, under its final name, its bytes turned from
 * the lease into usage (as a PUT's reservation is): answered with
 * reason, the 201 of a creation or the 204 of a PATCH.
 */
static void
publish(struct request *rq, struct tus_state *t, enum reason reason)
{
	struct outcome  o;
	struct usage    before;
	enum ledger_err le;
	enum store_err  e;

	t->tmp.written = t->u.length;
	if ((e = store_tmp_finish(&t->tmp)) != STORE_OK) {
		answer_outcome(rq, t, store_failed(rq, e, t->u.length));
		return;
	}
	if ((le = gate_lock_user(rq)) != LEDGER_OK ||
	    (le = ledger_usage(rq->ledger, rq->user, &before)) != LEDGER_OK) {
		answer_outcome(rq, t, gate_ledger_failed(rq, le));
		return;
	}
	rq->facts.used = before.used;	/* for notify_command's thresholds */
	if ((o = publish_locked(rq, t)).reason != REASON_NONE) {
		answer_outcome(rq, t, o);
		return;
	}
	/* should this fail, the lease holds the bytes until it expires */
	if ((le = ledger_upload_finish(rq->ledger, &t->u)) != LEDGER_OK)
		diag_add(&rq->diag, rq->g->cfg.state_dir, 0, "the upload %s "
		    "was stored, but its lease not ended: %s", t->u.id,
		    rq->ledger->cause);
	t->u.finished = 1;
	upload_headers(t, reason == REASON_UPLOAD_STATUS);
	answer(rq, t, reason, NULL);
}

/* ---- creation ---- */

/*
 * Under the user's lock: the reservation of the whole length, the
 * folders, the temporary file's name; then without it the file, its
 * space (fallocate, rows 10 and 11 asked again of what is left), and
 * the lease that keeps it all past this request.
 */
static struct outcome
prepare(struct request *rq, struct tus_state *t)
{
	int64_t         len = rq->verdict.length;
	enum ledger_err le;
	enum store_err  e;
	struct outcome  o;

	if ((o = gate_put_prepare_locked(rq)).reason != REASON_NONE)
		return o;
	gate_unlock_user(rq);
	if ((e = store_tmp_open(&rq->tmp)) != STORE_OK)
		return store_failed(rq, e, len);
	if (len > 0 && (o = gate_allocate(rq, &rq->tmp, len)).reason != REASON_NONE)
		return o;
	/* within PATH_MAX, as find_target checked */
	if ((size_t)snprintf(t->u.folder, sizeof t->u.folder, "%s",
	    rq->folder) >= sizeof t->u.folder ||
	    (size_t)snprintf(t->u.tmp, sizeof t->u.tmp, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", rq->tmp.name) >=
	    sizeof t->u.tmp) {
		errno = ENAMETOOLONG;
		return errno_failed(rq, "snprintf", 0);
	}
	t->u.length = len;
	t->u.expires = (int64_t)time(NULL) + rq->g->cfg.resumable_expiry;
	if ((le = ledger_lease_begin(rq->ledger, &rq->resv, &t->u)) !=
	    LEDGER_OK)
		return gate_ledger_failed(rq, le);
	/* the lease owns the file now: the request no longer removes it */
	t->tmp = rq->tmp;
	rq->tmp.fd = -1;
	rq->tmp.name[0] = '\0';
	return outcome(REASON_NONE, NULL);
}

/* Location: SCRIPT_NAME/.resumable/ID, an absolute path. */
static void
locate(struct request *rq, struct tus_state *t)
{
	const char *script = request_param(rq, "SCRIPT_NAME");

	snprintf(t->location, sizeof t->location, "%s" TUS_URL_PREFIX "%s",
	    script != NULL ? script : "", t->u.id);
	rq->reply.location = t->location;
}

/* Rows 8 to 11 with Upload-Length, under the user's lock. */
static int
create_decided(struct request *rq, struct tus_state *t)
{
	struct usage    u;
	enum ledger_err le;
	int             named = metadata_name(rq, t);

	/* a database gone is a 503, as for a write (upgate(8)) */
	if ((le = gate_lock_user(rq)) != LEDGER_OK ||
	    (le = gate_read_usage(rq, &u)) != LEDGER_OK) {
		answer_outcome(rq, t, gate_ledger_failed(rq, le));
		return 1;
	}
	if (gate_find_target(rq) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return 1;
	}
	if (!named) {
		gate_respond(rq, REASON_BAD_REQUEST, "A resumable upload needs a "
		    "valid file name: Upload-Metadata's filename, in base64.");
		return 1;
	}
	if (decided(rq))
		return 1;
	if (find_room(rq, &u) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return 1;
	}
	return decided(rq);
}

static void
create(struct request *rq, struct tus_state *t)
{
	struct facts  *f = &rq->facts;
	struct outcome o;
	int64_t        body = -1;

	if (decided(rq) || create_decided(rq, t))
		return;
	if ((o = prepare(rq, t)).reason != REASON_NONE) {
		gate_unlock_user(rq);
		store_tmp_abort(&rq->tmp);
		ledger_release_reservation(rq->ledger, &rq->resv);
		gate_undo_folders(rq);
		gate_respond_outcome(rq, o);
		return;
	}
	locate(rq, t);
	upload_headers(t, 0);
	if (t->u.length == 0) {
		publish(rq, t, REASON_UPLOAD_STORED);
		return;
	}
	if (f->offset_stream && f->length_text != NULL)
		(void)number_parse(f->length_text, strlen(f->length_text),
		    &body);
	if (body <= 0) {
		gate_respond(rq, REASON_CREATED, NULL);
		return;
	}
	/* creation-with-upload: the body appended as by a PATCH */
	rq->verdict.length = body;
	if (ledger_upload_lock(rq->ledger, &t->u) != LEDGER_OK ||
	    (o = append(rq, t)).reason != REASON_NONE) {
		upload_headers(t, 0);
		answer(rq, t, REASON_CREATED, NULL);
		return;
	}
	if (t->u.offset == t->u.length)
		publish(rq, t, REASON_UPLOAD_STORED);
	else {
		upload_headers(t, 0);
		answer(rq, t, REASON_CREATED, NULL);
	}
}

/* ---- an upload's URL: HEAD, PATCH, DELETE ---- */

/*
 * The user's upload id into t->u: 0 when it is there and unexpired, 1
 * when not (unknown, expired, another user's), -1 on failure.
 */
static int
find_upload(struct request *rq, struct tus_state *t, const char *id)
{
	uint64_t held = t->u.held, lease = t->u.lease;
	int      rc;

	rc = ledger_upload_get(rq->ledger, rq->user, id, &t->u);
	/* a lock is the lease's it was taken on, should the upload finish */
	t->u.held = held;
	if (held != 0)
		t->u.lease = lease;
	if (rc == -1) {
		cause_copy(rq->ledger->cause);
		return -1;
	}
	return rc == 0 && t->u.expires > (int64_t)time(NULL) ? 0 : 1;
}

/*
 * PATCH and DELETE take the upload's lock, tried once: a second request
 * on it gets 409 at once.  Its state is read again under the lock.  A
 * finished upload changes no more (its DELETE forgets it): no lock.
 */
static int
find_locked(struct request *rq, struct tus_state *t, const char *id)
{
	enum ledger_err le;
	int             rc;

	if ((rc = find_upload(rq, t, id)) != 0 ||
	    rq->facts.method == METHOD_HEAD || t->u.finished)
		return rc;
	if ((le = ledger_upload_lock(rq->ledger, &t->u)) == LEDGER_BUSY) {
		gate_respond(rq, REASON_CONFLICT, "Another request is writing to "
		    "this upload; ask its offset with HEAD once it ended.");
		return 2;
	}
	if (le != LEDGER_OK) {
		gate_respond(rq, gate_ledger_failed(rq, le).reason, NULL);
		return 2;
	}
	return find_upload(rq, t, id);
}

/*
 * Termination: its bytes, the folders its creation made (when empty) and
 * its reservation go; a stored file stays.
 */
static void
terminate(struct request *rq, struct tus_state *t)
{
	enum ledger_err le;

	if ((le = ledger_upload_end(rq->ledger, &t->u, rq->upload_fd)) !=
	    LEDGER_OK) {
		answer_outcome(rq, t, gate_ledger_failed(rq, le));
		return;
	}
	rq->verdict.length = t->u.finished ? 0 : t->u.length;	/* freed */
	answer(rq, t, REASON_DELETED, NULL);
}

static void
patch(struct request *rq, struct tus_state *t)
{
	struct outcome o = append(rq, t);

	if (o.reason != REASON_NONE) {
		answer_outcome(rq, t, o);
		return;
	}
	if (t->u.offset == t->u.length) {
		publish(rq, t, REASON_UPLOAD_DONE);
		return;
	}
	upload_headers(t, 0);
	answer(rq, t, REASON_APPENDED, NULL);
}

/*
 * A HEAD of an upload whose bytes all arrived but which a killed handler
 * never published (the ledger's offset reached the length, the rename
 * did not happen) publishes it, under the upload's lock as a PATCH
 * would: tus clients take a HEAD that reports the whole length for done
 * and send nothing more.  2 when it answered; else what find_upload
 * says of the upload read again (0: answer the HEAD as it is).
 */
static int
head_publishes(struct request *rq, struct tus_state *t, const char *id)
{
	enum ledger_err le;
	struct outcome  o;
	int             rc;

	if (t->u.finished || t->u.offset != t->u.length)
		return 0;
	if ((le = ledger_upload_lock(rq->ledger, &t->u)) == LEDGER_BUSY)
		return 0;	/* a PATCH is at it, and it publishes */
	if (le != LEDGER_OK) {
		answer_outcome(rq, t, gate_ledger_failed(rq, le));
		return 2;
	}
	if ((rc = find_upload(rq, t, id)) != 0 || t->u.finished ||
	    t->u.offset != t->u.length)
		return rc;
	/*
	 * No temporary file: the killed handler had renamed it, after the
	 * ledger's commit; only the lease's end is missing.
	 */
	if (faccessat(rq->upload_fd, t->u.tmp, F_OK, AT_SYMLINK_NOFOLLOW) ==
	    -1 && errno == ENOENT) {
		if ((le = ledger_upload_finish(rq->ledger, &t->u)) != LEDGER_OK) {
			answer_outcome(rq, t, gate_ledger_failed(rq, le));
			return 2;
		}
		t->u.finished = 1;
		return 0;
	}
	if (t->tmp.fd == -1 && (o = tmp_reopen(rq, t)).reason != REASON_NONE) {
		answer_outcome(rq, t, o);
		return 2;
	}
	publish(rq, t, REASON_UPLOAD_STATUS);
	return 2;
}

/* Upload-Checksum: started when its algorithm is known. */
static int
find_checksum(struct request *rq, struct tus_state *t)
{
	const char *h = request_param(rq, "HTTP_UPLOAD_CHECKSUM");
	int         rc;

	rq->facts.checksum = TUS_CHECKSUM_NONE;
	if (h == NULL)
		return 0;
	if ((rc = digest_start(&t->digest, h)) == -2) {
		errno = ENOMEM;
		cause_note("malloc");
		return -1;
	}
	rq->facts.checksum = rc == 0 ? TUS_CHECKSUM_OK : TUS_CHECKSUM_BAD;
	return 0;
}

static void
on_url(struct request *rq, struct tus_state *t)
{
	struct facts   *f = &rq->facts;
	const char     *id = request_param(rq, "PATH_INFO") +
	    strlen(TUS_URL_PREFIX);
	struct usage    u;
	enum ledger_err le;
	int             rc;

	/* the user's requests reclaim what expired, this one's too */
	if ((le = gate_lock_user(rq)) != LEDGER_OK ||
	    (le = gate_read_usage(rq, &u)) != LEDGER_OK) {
		answer_outcome(rq, t, gate_ledger_failed(rq, le));
		return;
	}
	gate_unlock_user(rq);
	if ((rc = find_locked(rq, t, id)) == 2)
		return;
	if (rc == -1 || (f->method == METHOD_PATCH && find_checksum(rq, t) ==
	    -1)) {
		answer(rq, t, REASON_SERVER_ERROR, NULL);
		return;
	}
	f->known |= KNOW_UPLOAD;
	f->upload_found = rc == 0;
	f->upload_offset = t->u.finished ? t->u.length : t->u.offset;
	f->upload_length = t->u.length;
	if (refused(rq, t))
		return;
	if (f->method == METHOD_HEAD) {
		if ((rc = head_publishes(rq, t, id)) == 2)
			return;
		if (rc != 0) {
			answer(rq, t, rc == 1 ? REASON_NOT_FOUND :
			    REASON_SERVER_ERROR, NULL);
			return;
		}
		upload_headers(t, 1);
		answer(rq, t, REASON_UPLOAD_STATUS, NULL);
	} else if (f->method == METHOD_DELETE)
		terminate(rq, t);
	else if (t->u.finished) {
		upload_headers(t, 0);	/* nothing to append */
		answer(rq, t, REASON_APPENDED, NULL);
	} else
		patch(rq, t);	/* an empty one publishes a full upload */
}

void
gate_tus_handle(struct request *rq)
{
	if (rq->tus == NULL) {
		errno = ENOMEM;
		cause_note("calloc");
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	if (rq->facts.tus == TUS_CREATE)
		create(rq, rq->tus);
	else
		on_url(rq, rq->tus);
}
