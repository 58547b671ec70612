/*
 * gate_post: a multipart/form-data POST (RFC 7578) that rows 1 to 11 let
 * through.  Every file part streams into a temporary file of its own in
 * the target folder, each named by a reservation so that a reclaim finds
 * it; text fields are counted and dropped.  When the form has ended
 * whole, the files are published under the lock, each under a free name
 * (SPEC §5: a form never overwrites), all or none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate_int.h"
#include "multipart.h"
#include "quota.h"

#define FIELD_MAX       65536	/* a text field is read up to 64 KiB */
#define FORM_FILES_MAX  1000	/* files of one form, whatever max_files */
#define SUFFIX_MAX      100000	/* "name-N" tried before giving up */

struct form_file {
	struct store_tmp   tmp;
	struct reservation resv;	/* names tmp for a reclaim */
	char              *field;
	char               name[FILE_NAME_MAX + 1];	/* as the client named it */
	char               final[FILE_NAME_MAX + 1];	/* as stored */
	char               stored_as[sizeof ((struct request *)0)->folder +
	                       FILE_NAME_MAX + 2];
	int64_t            size;
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
	struct reservation  quota_resv;	/* the quota part of the charge */
	struct outcome      failure;
	struct stored_file *listed;	/* what the reply shows */
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
	s = file_name_basename(s, len, &len);
	if (len == 0)
		return 0;
	if (!file_name_valid(s, len))
		return stop(f, outcome(REASON_BAD_REQUEST, "A file name in "
		    "the form is not allowed: names are 1 to 255 bytes of "
		    "UTF-8, without control characters, not starting with "
		    "a dot."));
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
	ledger_reservation_init(&p->resv);
	return p;
}

/*
 * Under the lock: the part's temporary file, the reservation that names
 * it, and the space still announced and not yet used (SPEC §6).
 */
static struct outcome
open_part(struct form *f, struct form_file *file)
{
	struct request *rq = f->rq;
	char    tmprel[sizeof rq->folder + 80];
	int64_t want = rq->verdict.length - rq->received;
	enum ledger_err le;
	enum store_err  e;

	if ((le = ledger_lock(&rq->ledger, LEDGER_LOCK_TIMEOUT_MS)) != LEDGER_OK)
		return outcome(le == LEDGER_BUSY ? REASON_BUSY :
		    REASON_SERVER_ERROR, NULL);
	/* the reservation names the file before it exists: see store.h */
	if (store_tmp_name(rq->target.dir_fd, &file->tmp) != STORE_OK) {
		ledger_unlock(&rq->ledger);
		return outcome(REASON_SERVER_ERROR, NULL);
	}
	snprintf(tmprel, sizeof tmprel, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", file->tmp.name);
	le = ledger_reserve(&rq->ledger, rq->user, 0, tmprel, &file->resv);
	if (le == LEDGER_OK && store_tmp_open(&file->tmp) != STORE_OK)
		le = LEDGER_IO;
	ledger_unlock(&rq->ledger);
	if (le != LEDGER_OK)
		return ledger_failed(le);
	if (rq->verdict.length < 0 || want <= 0)
		return outcome(REASON_NONE, NULL);
	if (want > f->space - f->file_bytes)
		want = f->space - f->file_bytes;
	e = store_tmp_allocate(&file->tmp, want);
	if (e == STORE_OK)
		return outcome(REASON_NONE, NULL);
	return e == STORE_NOSPACE ? disk_full(rq, rq->verdict.length) :
	    outcome(REASON_SERVER_ERROR, NULL);
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
		return stop(f, outcome(REASON_SERVER_ERROR, NULL));
	memcpy(file->name, name, sizeof name);
	f->nfiles++;
	f->cur = file;
	if ((o = open_part(f, file)).reason != REASON_NONE)
		return stop(f, o);
	return 0;
}

/* File bytes are held to the exact quota and space left (SPEC §6). */
static int
file_data(struct form *f, const char *buf, size_t len)
{
	struct request *rq = f->rq;
	enum store_err  e;

	f->file_bytes += (int64_t)len;
	f->cur->size += (int64_t)len;
	if (f->room >= 0 && f->file_bytes > f->room) {
		rq->reply.upload_size = f->file_bytes;
		rq->reply.shortage = f->file_bytes - f->room;
		return stop(f, outcome(REASON_QUOTA_EXCEEDED, NULL));
	}
	if (f->file_bytes > f->space)
		return stop(f, disk_full(rq, f->file_bytes));
	if ((e = store_tmp_write(&f->cur->tmp, buf, len)) == STORE_OK)
		return 0;
	return stop(f, e == STORE_NOSPACE ? disk_full(rq, f->file_bytes) :
	    outcome(REASON_SERVER_ERROR, NULL));
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
	return stop(f, e == STORE_NOSPACE ? disk_full(f->rq, f->file_bytes) :
	    outcome(REASON_SERVER_ERROR, NULL));
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
static void
suffixed(const char *name, unsigned n, char *out, size_t size)
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

/* The first free name among name, name-1, name-2, ... (under the lock). */
static int
pick_name(int dir_fd, struct form_file *file, unsigned *from)
{
	struct stat st;
	unsigned    n;

	for (n = *from; n < SUFFIX_MAX; n++) {
		if (n == 0)
			snprintf(file->final, sizeof file->final, "%s", file->name);
		else
			suffixed(file->name, n, file->final, sizeof file->final);
		if (fstatat(dir_fd, file->final, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
		    errno == ENOENT) {
			*from = n + 1;
			return 0;
		}
	}
	return -1;
}

/* "folder/final" below upload_dir, into out. */
static void
rel_of(const struct request *rq, const struct form_file *file, char *out,
    size_t size)
{
	snprintf(out, size, "%s%s%s", rq->folder,
	    rq->folder[0] != '\0' ? "/" : "", file->final);
}

/* Ledger first, then a rename that never replaces (SPEC §4, §5). */
static struct outcome
publish_one(struct request *rq, struct form_file *file)
{
	char            rel[sizeof rq->folder + FILE_NAME_MAX + 2];
	unsigned        from = 0;
	enum ledger_err le;
	enum store_err  e;

	for (;;) {
		if (pick_name(rq->target.dir_fd, file, &from) == -1)
			return outcome(REASON_CONFLICT, "No free name is left "
			    "for a file of the form.");
		rel_of(rq, file, rel, sizeof rel);
		if ((le = ledger_commit(&rq->ledger, rq->user, rel, file->size)) !=
		    LEDGER_OK)
			return ledger_failed(le);
		e = store_tmp_publish(&file->tmp, file->final, 0);
		if (e == STORE_OK || file->tmp.name[0] == '\0')
			break;
		(void)ledger_forget(&rq->ledger, rel);
		if (e != STORE_EXISTS)	/* taken by a writer outside upgate */
			return outcome(REASON_SERVER_ERROR, NULL);
	}
	file->published = 1;
	return outcome(REASON_NONE, NULL);
}

/* Takes back the files already published: all or nothing. */
static void
unpublish(struct form *f)
{
	struct request *rq = f->rq;
	char            rel[sizeof rq->folder + FILE_NAME_MAX + 2];
	size_t          i;

	for (i = 0; i < f->nfiles; i++) {
		if (!f->files[i].published)
			continue;
		rel_of(rq, &f->files[i], rel, sizeof rel);
		if (store_unlink(rq->target.dir_fd, f->files[i].final) == STORE_OK)
			(void)ledger_forget(&rq->ledger, rel);
		f->files[i].published = 0;
	}
}

/* Row 11 once more, now that the file bytes are known exactly. */
static struct outcome
recheck_quota(struct form *f)
{
	struct request *rq = f->rq;
	struct usage    u;
	int64_t         others;

	if (rq->facts.limit == QUOTA_UNLIMITED)
		return outcome(REASON_NONE, NULL);
	if (ledger_usage(&rq->ledger, rq->user, &u) != LEDGER_OK)
		return outcome(REASON_SERVER_ERROR, NULL);
	others = u.used + u.reserved - f->quota_resv.bytes;
	if (f->file_bytes <= rq->facts.limit - others)
		return outcome(REASON_NONE, NULL);
	rq->reply.upload_size = f->file_bytes;
	rq->reply.shortage = others + f->file_bytes - rq->facts.limit;
	return outcome(REASON_QUOTA_EXCEEDED, NULL);
}

static struct outcome
publish_all(struct form *f)
{
	struct request *rq = f->rq;
	struct outcome  o;
	enum ledger_err le;
	size_t          i;

	if ((le = ledger_lock(&rq->ledger, LEDGER_LOCK_TIMEOUT_MS)) != LEDGER_OK)
		return outcome(le == LEDGER_BUSY ? REASON_BUSY :
		    REASON_SERVER_ERROR, NULL);
	if ((o = recheck_quota(f)).reason != REASON_NONE)
		return o;
	for (i = 0; i < f->nfiles; i++)
		if ((o = publish_one(rq, &f->files[i])).reason != REASON_NONE) {
			unpublish(f);
			return o;
		}
	return outcome(REASON_NONE, NULL);
}

/* Under the lock still: the quota reservation and the folders. */
static struct outcome
prepare(struct form *f)
{
	struct request *rq = f->rq;
	const struct facts *fa = &rq->facts;
	int64_t         len = rq->verdict.length, hold;
	enum ledger_err le;

	f->space = space_available(fa->free_space, fa->min_free);
	f->room = -1;
	hold = 0;
	if (fa->limit != QUOTA_UNLIMITED) {
		f->room = fa->limit - fa->used - fa->reserved;
		if (f->room < 0)
			f->room = 0;
		/* at most what is available; the exact limit while streaming */
		hold = len < 0 ? 0 : len < f->room ? len : f->room;
	}
	le = ledger_reserve(&rq->ledger, rq->user, hold, NULL, &f->quota_resv);
	if (le != LEDGER_OK)
		return ledger_failed(le);
	return make_folders(rq);
}

static struct outcome
run_form(struct form *f)
{
	struct request *rq = f->rq;
	struct outcome  o;
	enum mp_err     e;

	if ((o = prepare(f)).reason != REASON_NONE)
		return o;
	ledger_unlock(&rq->ledger);
	if ((o = stream_body(rq, post_sink)).reason != REASON_NONE)
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

/* The reply's list: field, client name, stored_as, size (SPEC §7). */
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
 * Ends the request's temporary files and reservations, before the reply
 * reads the user's figures (they are those after the request).
 */
static void
form_settle(struct form *f)
{
	struct request *rq = f->rq;
	size_t          i;

	for (i = 0; i < f->nfiles; i++) {
		store_tmp_abort(&f->files[i].tmp);
		ledger_release_reservation(&rq->ledger, &f->files[i].resv);
	}
	ledger_release_reservation(&rq->ledger, &f->quota_resv);
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
post_store(struct request *rq)
{
	struct form   *f;
	struct outcome o;

	if ((f = calloc(1, sizeof *f)) == NULL) {
		respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	f->rq = rq;
	ledger_reservation_init(&f->quota_resv);
	rq->form = f;
	/* row 7 checked the type already: this cannot fail now */
	(void)mp_init(&f->mp, rq->io->param(rq->io->ctx, "CONTENT_TYPE"));
	o = run_form(f);
	if (o.reason == REASON_NONE && list_files(f) == -1) {
		unpublish(f);
		o = outcome(REASON_SERVER_ERROR, NULL);
	}
	form_settle(f);
	if (o.reason != REASON_NONE)
		undo_folders(rq);	/* emptied of temporary files above */
	respond(rq, o.reason != REASON_NONE ? o.reason : REASON_STORED, o.detail);
	rq->form = NULL;
	form_free(f);
}
