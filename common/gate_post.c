/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_post: a multipart/form-data POST (RFC 7578) that rows 1 to 11 let
 * through.  Every file part streams into a temporary file of its own in
 * the target folder, each named by a reservation so that a reclaim finds
 * it; text fields are counted and dropped.  When the form has ended
 * whole, the files are published under the lock, each under a free name
 * (upgate(8), Requests: a form never overwrites), all or none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "gate_int.h"
#include "multipart.h"
#include "quota.h"

#define FIELD_MAX       65536	/* a text field is read up to 64 KiB */
#define FORM_FILES_MAX  1000	/* files of one form, whatever max_files */

struct form_file {
	struct store_tmp   tmp;		/* named in the form's reservation */
	char              *field;
	char               name[FILE_NAME_MAX + 1];	/* as the client named it */
	char               final[FILE_NAME_MAX + 1];	/* as stored */
	char               stored_as[sizeof ((struct request *)0)->folder +
	                       FILE_NAME_MAX + 2];
	int64_t            size;
	unsigned           suffix;	/* final is name-suffix (0: name) */
	int                published;
};

struct form {
	struct request     *rq;
	struct mp           mp;
	struct form_file   *files;
	size_t              nfiles;
	size_t              cap;
	struct form_file   *cur;	/* the file part being stored */
	int                 in_text;	/* a text field: counted, dropped */
	int                 unnamed;	/* filename="": skipped if empty */
	int64_t             field_len;
	int64_t             file_bytes;
	int64_t             room;	/* quota left for file bytes, or -1 */
	int64_t             space;	/* disk space left for file bytes */
	struct reservation  resv;	/* the charge, and every part's file */
	struct outcome      failure;
	struct stored_file *listed;	/* what the reply shows */
	int64_t             held;	/* publishing: bytes not yet usage */
};

/* Records why a callback stops the parser. */
static int
stop(struct form *f, struct outcome o)
{
	f->failure = o;
	return 1;
}

static int
too_many_files(struct form *f)
{
	struct request *rq = f->rq;
	int64_t max = rq->g->cfg.max_files;

	if (max == 0 || max > FORM_FILES_MAX)
		max = FORM_FILES_MAX;
	rq->reply.too_large_limit = max;
	rq->reply.too_large_size = (int64_t)f->nfiles + 1;
	snprintf(rq->detail, sizeof rq->detail, "The form holds more than "
	    "%lld files, the most one upload may store.", (long long)max);
	return stop(f, outcome(REASON_TOO_LARGE, rq->detail));
}

/* The client's name for a part, reduced to its last component. */
static int
part_name(struct form *f, const struct mp_part *part, char *out)
{
	const char *s = part->filename;
	size_t      len = part->filename_len;

	if (part->filename_star != NULL) {
		s = part->filename_star;
		len = part->filename_star_len;
	}
	s = names_file_basename(s, len, &len);
	if (len == 0)
		return 0;
	if (!names_file_valid(s, len))
		return stop(f, outcome(REASON_BAD_REQUEST, "The files cannot "
		    "be stored: a file name in the form is not allowed "
		    "(names are 1 to 255 bytes of UTF-8, without control or "
		    "bidirectional control characters, not starting with "
		    "a dot)."));
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static struct form_file *
add_file(struct form *f)
{
	struct form_file *p;
	size_t            cap;

	if (f->nfiles == f->cap) {
		cap = f->cap ? f->cap * 2 : 8;
		if ((p = reallocarray(f->files, cap, sizeof *p)) == NULL)
			return NULL;
		f->files = p;
		f->cap = cap;
	}
	p = &f->files[f->nfiles];
	memset(p, 0, sizeof *p);
	p->tmp.fd = -1;
	return p;
}

/*
 * The part's temporary file, named in the form's reservation before it
 * exists, and the space still announced and not yet used (upgate(8)).
 * No lock: the reservation is the request's own.
 */
static struct outcome
open_part(struct form *f, struct form_file *file)
{
	struct request *rq = f->rq;
	int64_t         want = rq->verdict.length - rq->received;
	struct outcome  o;
	enum store_err  e;

	if ((e = store_tmp_name(rq->target.dir_fd, &file->tmp)) != STORE_OK)
		return store_failed(rq, e, f->file_bytes);
	if ((o = gate_note_tmp(rq, &f->resv, &file->tmp)).reason != REASON_NONE)
		return o;
	if ((e = store_tmp_open(&file->tmp)) != STORE_OK)
		return store_failed(rq, e, f->file_bytes);
	if (rq->verdict.length < 0 || want <= 0)
		return outcome(REASON_NONE, NULL);
	if (want > f->space - f->file_bytes)
		want = f->space - f->file_bytes;
	if (want <= 0)
		return outcome(REASON_NONE, NULL);
	return gate_allocate(rq, &file->tmp, want);
}

static int
on_begin(void *arg, const struct mp_part *part)
{
	struct form      *f = arg;
	struct form_file *file;
	char              name[FILE_NAME_MAX + 1] = "";
	struct outcome    o;

	f->in_text = !part->has_filename && part->filename_star == NULL;
	f->field_len = 0;
	if (f->in_text)
		return 0;
	if (part_name(f, part, name) != 0)
		return 1;
	if ((f->unnamed = name[0] == '\0'))
		return 0;
	if ((int64_t)f->nfiles >= f->rq->g->cfg.max_files &&
	    f->rq->g->cfg.max_files > 0)
		return too_many_files(f);
	if (f->nfiles >= FORM_FILES_MAX)
		return too_many_files(f);
	if ((file = add_file(f)) == NULL ||
	    (file->field = strndup(part->name != NULL ? part->name : "",
	    part->name_len)) == NULL)
		return stop(f, errno_failed(f->rq, "malloc", 0));
	memcpy(file->name, name, sizeof name);
	f->nfiles++;
	f->cur = file;
	if ((o = open_part(f, file)).reason != REASON_NONE)
		return stop(f, o);
	return 0;
}

/*
 * File bytes are held to the exact quota and space left (upgate(8));
 * a form of unknown length reserves them as they come.
 */
static int
file_data(struct form *f, const char *buf, size_t len)
{
	struct request   *rq = f->rq;
	struct store_tmp *t = &f->cur->tmp;
	struct outcome    o;
	enum store_err    e;
	int64_t           held;

	f->file_bytes += (int64_t)len;
	f->cur->size += (int64_t)len;
	if (rq->verdict.length < 0) {
		held = f->file_bytes - f->cur->size +
		    (t->allocated > t->written ? t->allocated : t->written);
		o = gate_hold_more(rq, &f->resv, t, f->file_bytes, held);
		if (o.reason != REASON_NONE)
			return stop(f, o);
	}
	if (f->room >= 0 && f->file_bytes > f->room) {
		rq->reply.upload_size = f->file_bytes;
		rq->reply.shortage = f->file_bytes - f->room;
		return stop(f, outcome(REASON_QUOTA_EXCEEDED, NULL));
	}
	if (f->file_bytes > f->space)
		return stop(f, gate_disk_full(rq, f->file_bytes));
	if ((e = store_tmp_write(&f->cur->tmp, buf, len)) == STORE_OK)
		return 0;
	return stop(f, store_failed(rq, e, f->file_bytes));
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct form    *f = arg;
	struct request *rq = f->rq;

	if (f->cur != NULL)
		return file_data(f, buf, len);
	if (f->unnamed)
		return stop(f, outcome(REASON_BAD_REQUEST,
		    "A file in the form has an empty name."));
	f->field_len += (int64_t)len;
	if (f->field_len <= FIELD_MAX)
		return 0;
	rq->reply.too_large_limit = FIELD_MAX;
	rq->reply.too_large_size = f->field_len;
	return stop(f, outcome(REASON_TOO_LARGE, "A text field of the form "
	    "is longer than 64 KiB."));
}

static int
on_end(void *arg)
{
	struct form   *f = arg;
	enum store_err e;

	f->unnamed = 0;
	if (f->cur == NULL)
		return 0;
	e = store_tmp_finish(&f->cur->tmp);
	f->cur = NULL;
	if (e == STORE_OK)
		return 0;
	return stop(f, store_failed(f->rq, e, f->file_bytes));
}

static const struct mp_callbacks form_callbacks = { on_begin, on_data, on_end };

/* Row 13: the body, through the parser. */
static struct outcome
post_sink(struct request *rq, const char *buf, size_t n)
{
	struct form *f = rq->form;
	enum mp_err  e;

	e = mp_feed(&f->mp, buf, n, &form_callbacks, f);
	if (e == MP_OK)
		return outcome(REASON_NONE, NULL);
	if (e == MP_ABORTED)
		return f->failure;
	snprintf(rq->detail, sizeof rq->detail, "The form is malformed: %s.",
	    mp_strerror(e));
	return outcome(REASON_BAD_REQUEST, rq->detail);
}

/*
 * "report.pdf" as "report-N.pdf", "a.tar.gz" as "a.tar-N.gz": the suffix
 * goes before the last extension, and the stem is shortened, never in
 * the middle of a UTF-8 sequence, when the name would pass 255 bytes.
 */
void
gate_suffixed(const char *name, unsigned n, char *out, size_t size)
{
	const char *dot = strrchr(name, '.');
	size_t      len = strlen(name), ext = dot != NULL ? len - (size_t)(dot - name) : 0;
	size_t      stem;
	char        suffix[16];
	int         sl = snprintf(suffix, sizeof suffix, "-%u", n);

	if (ext + (size_t)sl + 1 > FILE_NAME_MAX)
		ext = 0;	/* no room for a stem before it */
	stem = len - ext;
	if (stem + (size_t)sl + ext > FILE_NAME_MAX) {
		stem = FILE_NAME_MAX - (size_t)sl - ext;
		while (stem > 1 && ((unsigned char)name[stem] & 0xc0) == 0x80)
			stem--;
	}
	snprintf(out, size, "%.*s%s%s", (int)stem, name, suffix, name + len - ext);
}

int
gate_name_taken(int dir_fd, const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT;
}

/*
 * The first free name among name, name-1, name-2, ..., from *from on.
 * Looked for without any lock: the rename never replaces, so a name
 * taken meanwhile only sends the search on.
 */
static int
pick_name(int dir_fd, struct form_file *file, unsigned *from)
{
	unsigned n;

	for (n = *from; n < SUFFIX_MAX; n++) {
		if (n == 0)
			snprintf(file->final, sizeof file->final, "%s", file->name);
		else
			gate_suffixed(file->name, n, file->final, sizeof file->final);
		if (!gate_name_taken(dir_fd, file->final)) {
			file->suffix = n;
			*from = n + 1;
			return 0;
		}
	}
	return -1;
}

/*
 * Where the search for file i starts: past the suffix an earlier part
 * of the same name took, so that a form of many parts named alike costs
 * one pass over the folder, not one per part.
 */
static unsigned
first_suffix(const struct form *f, size_t i)
{
	size_t j = i;

	while (j-- > 0)
		if (strcmp(f->files[j].name, f->files[i].name) == 0)
			return f->files[j].suffix + 1;
	return 0;
}

/* Picks every file's name, without a lock. */
static struct outcome
pick_names(struct form *f)
{
	size_t   i;
	unsigned from;

	for (i = 0; i < f->nfiles; i++) {
		from = first_suffix(f, i);
		if (pick_name(f->rq->target.dir_fd, &f->files[i], &from) == -1)
			return outcome(REASON_CONFLICT, "No free name is left "
			    "for a file of the form.");
	}
	return outcome(REASON_NONE, NULL);
}

/* "folder/final" below upload_dir, into out. */
static void
rel_of(const struct request *rq, const struct form_file *file, char *out,
    size_t size)
{
	snprintf(out, size, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", file->final);
}

/*
 * Under the user's lock (and, with per_user_dirs = no, the name's):
 * the ledger first, then a rename that never replaces (upgate(8)).  A
 * name taken meanwhile: the record goes and the next name is tried.
 */
static struct outcome
publish_one(struct form *f, struct form_file *file)
{
	struct request *rq = f->rq;
	char            rel[sizeof rq->folder + FILE_NAME_MAX + 2];
	unsigned        from = file->suffix;
	enum ledger_err le;
	enum store_err  e;

	for (;;) {
		rel_of(rq, file, rel, sizeof rel);
		if ((le = gate_lock_user(rq)) != LEDGER_OK ||
		    (!rq->g->cfg.per_user_dirs &&
		    (le = ledger_lock_file(rq->ledger, rel,
		    LEDGER_LOCK_TIMEOUT_MS)) != LEDGER_OK))
			return gate_ledger_failed(rq, le);
		/* under the lock, other uploads' names are final: ask again */
		if (!gate_name_taken(rq->target.dir_fd, file->final)) {
			/* a stale record must not lower the charge */
			le = ledger_record_drop(rq->ledger, rel);
			if (le == LEDGER_OK)
				le = ledger_commit(rq->ledger, rq->user, rel,
				    file->size);
			if (le != LEDGER_OK)
				return gate_ledger_failed(rq, le);
			e = store_tmp_publish(&file->tmp, file->final, 0);
			if (e == STORE_OK || file->tmp.name[0] == '\0')
				break;
			(void)ledger_forget(rq->ledger, rel);
			if (e != STORE_EXISTS)
				return store_failed(rq, e, file->size);
		}
		/* taken by another upload or a writer outside upgate */
		if (!rq->g->cfg.per_user_dirs)
			gate_unlock_user(rq);	/* no lock while searching */
		from++;
		if (pick_name(rq->target.dir_fd, file, &from) == -1)
			return outcome(REASON_CONFLICT, "No free name is left "
			    "for a file of the form.");
	}
	file->published = 1;
	if (rq->g->cfg.per_user_dirs)
		return outcome(REASON_NONE, NULL);	/* locked throughout */
	/*
	 * The user's lock is dropped between files, so these bytes, usage
	 * now, leave the reservation: nobody sees them twice.
	 */
	f->held -= file->size;
	le = ledger_reservation_set(rq->ledger, &f->resv,
	    f->held > 0 ? f->held : 0);
	gate_unlock_user(rq);	/* one name's lock at a time */
	return le == LEDGER_OK ? outcome(REASON_NONE, NULL) :
	    gate_ledger_failed(rq, le);
}

/* Takes back the files already published: all or nothing. */
static void
unpublish(struct form *f)
{
	struct request *rq = f->rq;
	char            rel[sizeof rq->folder + FILE_NAME_MAX + 2];
	size_t          i;

	/* the locks of the name that failed go: one name's at a time */
	if (!rq->g->cfg.per_user_dirs)
		gate_unlock_user(rq);
	for (i = 0; i < f->nfiles; i++) {
		if (!f->files[i].published)
			continue;
		rel_of(rq, &f->files[i], rel, sizeof rel);
		if (gate_lock_user(rq) != LEDGER_OK)
			break;	/* the files stay, counted: an over-count */
		if (!rq->g->cfg.per_user_dirs &&
		    ledger_lock_file(rq->ledger, rel, LEDGER_LOCK_TIMEOUT_MS) !=
		    LEDGER_OK) {
			gate_unlock_user(rq);
			break;
		}
		if (store_unlink(rq->target.dir_fd, f->files[i].final) == STORE_OK)
			(void)ledger_forget(rq->ledger, rel);
		f->files[i].published = 0;
		if (!rq->g->cfg.per_user_dirs)
			gate_unlock_user(rq);
	}
}

/*
 * Rows 10 and 11 once more through decide(), now that the file bytes are
 * known exactly, then the files, all or none.
 */
static struct outcome
publish_all(struct form *f)
{
	struct request *rq = f->rq;
	struct outcome  o;
	enum ledger_err le;
	size_t          i;

	if ((o = pick_names(f)).reason != REASON_NONE)
		return o;
	if ((le = gate_lock_user(rq)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	rq->facts.body_length = f->file_bytes;
	rq->facts.space_held = f->file_bytes;
	if ((o = gate_decide_again(rq, f->resv.bytes, 1)).reason != REASON_NONE)
		return o;
	/* from here on the reservation holds what is not published yet */
	f->held = f->file_bytes;
	if ((le = ledger_reservation_set(rq->ledger, &f->resv, f->held)) !=
	    LEDGER_OK)
		return gate_ledger_failed(rq, le);
	for (i = 0; i < f->nfiles; i++)
		if ((o = publish_one(f, &f->files[i])).reason != REASON_NONE) {
			unpublish(f);
			return o;
		}
	return outcome(REASON_NONE, NULL);
}

/* Under the user's lock still: the reservation and the folders. */
static struct outcome
prepare_locked(struct form *f)
{
	struct request *rq = f->rq;
	const struct facts *fa = &rq->facts;
	int64_t         len = rq->verdict.length, hold;
	enum ledger_err le;

	f->space = len < 0 ? INT64_MAX :
	    decide_space_available(fa->free_space, fa->min_free);
	f->room = -1;
	hold = 0;
	if (fa->limit != QUOTA_UNLIMITED && len >= 0) {
		f->room = decide_quota_left(fa->limit, fa->used, fa->reserved);
		/* at most what is available; the exact limit while streaming */
		hold = len < f->room ? len : f->room;
	}
	le = ledger_reserve(rq->ledger, rq->user, hold, NULL, &f->resv);
	if (le != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	return gate_make_folders(rq, &f->resv);
}

static struct outcome
run_form(struct form *f)
{
	struct request *rq = f->rq;
	struct outcome  o;
	enum mp_err     e;

	o = prepare_locked(f);
	gate_unlock_user(rq);
	if (o.reason != REASON_NONE)
		return o;
	if ((o = gate_stream_body(rq, post_sink)).reason != REASON_NONE)
		return o;
	if ((e = mp_finish(&f->mp)) != MP_OK) {
		snprintf(rq->detail, sizeof rq->detail,
		    "The form is malformed: %s.", mp_strerror(e));
		return outcome(REASON_BAD_REQUEST, rq->detail);
	}
	if (f->nfiles == 0)
		return outcome(REASON_BAD_REQUEST, "The form holds no file.");
	return publish_all(f);
}

/* The reply's list: field, client name, stored_as, size (upgate(8), Responses). */
static int
list_files(struct form *f)
{
	struct request *rq = f->rq;
	const char     *below = rq->folder;
	size_t          i;

	/* stored_as is relative to the user's folder */
	if (rq->g->cfg.per_user_dirs)
		below += strlen(rq->user) + (below[strlen(rq->user)] == '/');
	if ((f->listed = calloc(f->nfiles, sizeof *f->listed)) == NULL)
		return -1;
	for (i = 0; i < f->nfiles; i++) {
		struct form_file *file = &f->files[i];

		snprintf(file->stored_as, sizeof file->stored_as, "%s%s%s",
		    below, below[0] != '\0' ? "/" : "", file->final);
		f->listed[i].field = file->field;
		f->listed[i].name = file->name;
		f->listed[i].stored_as = file->stored_as;
		f->listed[i].size = file->size;
	}
	rq->reply.files = f->listed;
	rq->reply.nfiles = f->nfiles;
	return 0;
}

/*
 * Ends the request's temporary files and its reservation, before the
 * reply reads the user's figures (they are those after the request).
 */
static void
form_settle(struct form *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++)
		store_tmp_abort(&f->files[i].tmp);
	ledger_release_reservation(f->rq->ledger, &f->resv);
}

static void
form_free(struct form *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++)
		free(f->files[i].field);
	free(f->files);
	free(f->listed);
	free(f);
}

void
gate_post_store(struct request *rq)
{
	struct form   *f;
	struct outcome o;
	int            err;

	if ((f = calloc(1, sizeof *f)) == NULL) {
		cause_note("calloc");
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	f->rq = rq;
	ledger_reservation_init(&f->resv);
	rq->form = f;
	/* row 7 checked the type already: this cannot fail now */
	(void)mp_init(&f->mp, rq->io->param(rq->io->ctx, "CONTENT_TYPE"));
	o = run_form(f);
	if (o.reason == REASON_NONE && list_files(f) == -1) {
		cause_note("calloc");
		unpublish(f);
		o = outcome(REASON_SERVER_ERROR, NULL);
	}
	err = errno;	/* the failing call's, for gate_respond() */
	form_settle(f);
	if (o.reason != REASON_NONE)
		gate_undo_folders(rq);	/* emptied of temporary files above */
	errno = err;
	gate_respond(rq, o.reason != REASON_NONE ? o.reason : REASON_STORED, o.detail);
	rq->form = NULL;
	form_free(f);
}
