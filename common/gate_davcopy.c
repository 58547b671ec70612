/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_davcopy: COPY and MOVE within the user's folder (upgate(8),
 * "WebDAV"; RFC 4918 §9.8, §9.9).  The decision is taken under the
 * user's lock with the bytes a COPY would copy (rows 10 and 11, every
 * running upload's reservation counted), so a COPY never takes a quota
 * past its limit, however many uploads race it.  A file's COPY then
 * runs as a PUT does: the charge reserved, the bytes copied into a
 * temporary file without the lock, the decision asked again under it,
 * the record (a raise before the rename) and the rename.  A folder's
 * COPY runs whole under the lock, file by file the same way.  A MOVE
 * is a rename and costs nothing: the ledger's records follow the files
 * (ledger_move).  What a COPY or MOVE replaces goes whole or stays
 * whole: a file by the rename, a folder only when nothing in it must
 * stay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "davdest.h"
#include "gate_int.h"
#include "relpath.h"

#define COPY_CHUNK (64 * 1024)

/* ---- the facts ---- */

/* Sums the sizes (or, with records, the user's recorded sizes) of a tree. */
struct sum {
	struct request *rq;
	int             records;
	int64_t         bytes;
};

static int
sum_visit(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct sum   *s = t->arg;
	struct record rec;

	(void)dfd;
	(void)name;
	if (!s->records)
		s->bytes += st->st_size;
	else if (ledger_record_get(s->rq->ledger, t->path, &rec) == 0 &&
	    strcmp(rec.owner, s->rq->user) == 0)
		s->bytes += rec.size;
	return 0;
}

static int64_t
tree_bytes(struct request *rq, const char *rel, int records)
{
	struct sum  s = { rq, records, 0 };
	struct tree t;

	relpath_tree_init(&t, rel, sum_visit, &s);
	(void)relpath_tree_walk_at(&t, rq->upload_fd, rel);
	return s.bytes;
}

/* Who stored rel: 1 when the user did (with per_user_dirs, always). */
static int
owned(struct request *rq, const char *rel)
{
	struct record rec;

	if (rq->g->cfg.per_user_dirs)
		return 1;
	return ledger_record_get(rq->ledger, rel, &rec) == 0 &&
	    strcmp(rec.owner, rq->user) == 0;
}

/* 1 when every file of the tree rel is the user's (per_user_dirs = no). */
static int
own_visit(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	(void)dfd;
	(void)name;
	(void)st;
	return owned(t->arg, t->path) ? 0 : 1;
}

static int
all_owned(struct request *rq, const char *rel)
{
	struct tree t;

	if (rq->g->cfg.per_user_dirs)
		return 1;
	relpath_tree_init(&t, rel, own_visit, rq);
	return relpath_tree_walk_at(&t, rq->upload_fd, rel) == 0;
}

/* Where the Destination lies against the source, component by component. */
static enum dest_place
place_of(const struct path *src, const struct path *dst)
{
	size_t i, n = src->ncomp < dst->ncomp ? src->ncomp : dst->ncomp;

	for (i = 0; i < n; i++)
		if (strcmp(src->comp[i], dst->comp[i]) != 0)
			return PLACE_APART;
	if (src->ncomp == dst->ncomp)
		return PLACE_SAME;
	return dst->ncomp > src->ncomp ? PLACE_INSIDE : PLACE_ABOVE;
}

static enum if_match
if_match_of(struct request *rq)
{
	const char *v = request_param(rq, "HTTP_IF_MATCH");
	char        etag[ETAG_SIZE];

	if (v == NULL)
		return IF_MATCH_NONE;
	if (rq->facts.target == TARGET_FOLDER)
		return strspn(v, " \t") == strcspn(v, "*") ? IF_MATCH_OK :
		    IF_MATCH_FAILED;	/* a folder has no ETag: only "*" */
	if (rq->facts.target != TARGET_EXISTS)
		return IF_MATCH_FAILED;
	etag_of(&rq->dav.st, etag, sizeof etag);
	return etag_list_match(v, etag) ? IF_MATCH_OK : IF_MATCH_FAILED;
}

/*
 * The Destination: parsed, walked, and who holds what it names.  0; 1
 * when answered (its lock not had); -1 with errno.
 */
static int
find_dest(struct request *rq)
{
	struct facts          *f = &rq->facts;
	struct record          rec;
	enum ledger_err        le;
	struct davdest_request d;
	char                   buf[4096], rel[sizeof rq->rel], host[300];
	const char            *https = request_param(rq, "HTTPS");
	const char            *name = request_param(rq, "SERVER_NAME");
	const char            *port = request_param(rq, "SERVER_PORT");
	size_t                 len, last;

	d.destination = request_param(rq, "HTTP_DESTINATION");
	/* without a Host header, the server's own name (RFC 3875 §4.1.14) */
	d.host = request_param(rq, "HTTP_HOST");
	if (d.host == NULL && name != NULL) {
		snprintf(host, sizeof host, "%s%s%s", name, port != NULL ?
		    ":" : "", port != NULL ? port : "");
		d.host = host;
	}
	d.https = https != NULL && strcasecmp(https, "off") != 0;
	d.script_name = request_param(rq, "SCRIPT_NAME");
	f->dest = davdest_parse(&d, buf, sizeof buf);
	if (f->dest != DEST_PATH)
		return 0;
	if (names_path_parse(buf, PATH_FOLDER, &rq->dest_path) == -1 ||
	    gate_path_rel(rq, &rq->dest_path, rq->dest_path.ncomp, rel,
	    sizeof rel) == -1) {
		f->dest = DEST_BAD;
		return 0;
	}
	f->dest_slash = buf[strlen(buf) - 1] == '/';
	/* a file's Destination as a PUT's path, a folder's as MKCOL's */
	len = strlen(rel);
	if (f->target == TARGET_EXISTS && rq->dest_path.ncomp > 0) {
		last = strlen(rq->dest_path.comp[rq->dest_path.ncomp - 1]);
		len -= last + (len > last);	/* its folder, without the '/' */
	} else
		last = FILE_NAME_MAX;
	if (!gate_fits_path_max(rq, len, last)) {
		f->dest_target = TARGET_TOO_LONG;
		return 0;
	}
	/*
	 * users share folders: the target's lock, as a PUT takes it, so
	 * that no other user stores there while this request decides and
	 * acts (upgate(8), "Locks")
	 */
	snprintf(rq->rel, sizeof rq->rel, "%s", rel);
	if ((le = gate_lock_file(rq)) != LEDGER_OK) {
		gate_respond(rq, gate_ledger_failed(rq, le).reason, NULL);
		return 1;
	}
	if (davpath_resolve(rq->user_fd, &rq->dest_path, &rq->dest) == -1) {
		cause_note("openat");
		return -1;
	}
	f->dest_target = rq->dest.state;
	f->dest_place = place_of(&rq->path, &rq->dest_path);
	if ((f->dest_target == TARGET_EXISTS && !owned(rq, rel)) ||
	    (f->dest_target == TARGET_FOLDER && !all_owned(rq, rel)))
		f->dest_target = TARGET_FOREIGN;
	/* what a COPY replaces is not charged twice (upgate(8), "WebDAV") */
	if (f->method == METHOD_COPY && f->dest_target == TARGET_EXISTS &&
	    ledger_record_get(rq->ledger, rel, &rec) == 0 &&
	    strcmp(rec.owner, rq->user) == 0)
		f->recorded = rec.size;
	if (f->method == METHOD_COPY && f->dest_target == TARGET_FOLDER)
		f->recorded = tree_bytes(rq, rel, 1);
	return 0;
}

int
find_copy_facts(struct request *rq)
{
	struct facts *f = &rq->facts;
	const char   *ov = request_param(rq, "HTTP_OVERWRITE");
	char          rel[sizeof rq->rel];
	int           r;

	f->overwrite = !(ov != NULL && (ov[0] == 'F' || ov[0] == 'f') &&
	    ov[1] == '\0');
	f->if_match = if_match_of(rq);
	if (f->target != TARGET_EXISTS && f->target != TARGET_FOLDER)
		return 0;
	if (gate_path_rel(rq, &rq->path, rq->path.ncomp, rel, sizeof rel) == -1) {
		f->target = TARGET_BAD_NAME;
		return 0;
	}
	/* moving a file, or a folder holding one, changes it */
	if (f->method == METHOD_MOVE && (f->target == TARGET_EXISTS ?
	    !owned(rq, rel) : !all_owned(rq, rel)))
		f->target = TARGET_FOREIGN;
	if (f->method == METHOD_COPY)
		f->copy_bytes = f->target == TARGET_EXISTS ? rq->dav.st.st_size :
		    f->depth == DEPTH_0 ? 0 : tree_bytes(rq, rel, 0);
	if ((r = find_dest(rq)) == -1)
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
	return r == 0 ? 0 : -1;
}

/* ---- the work ---- */

/* Copies the open file src into t, named already. */
static struct outcome
fill_tmp(struct request *rq, int src, int64_t size, struct store_tmp *t)
{
	enum store_err e;
	struct outcome o;
	char          *chunk;
	ssize_t        n;

	if ((e = store_tmp_open(t)) != STORE_OK)
		return store_failed(rq, e, size);
	if ((o = gate_allocate(rq, t, size)).reason != REASON_NONE)
		return o;
	if ((chunk = malloc(COPY_CHUNK)) == NULL) {
		errno = ENOMEM;
		return errno_failed(rq, "malloc", 0);
	}
	while ((n = read(src, chunk, COPY_CHUNK)) > 0)
		if ((e = store_tmp_write(t, chunk, (size_t)n)) != STORE_OK)
			break;
	free(chunk);
	if (n == -1)
		return errno_failed(rq, "read", size);
	if (e != STORE_OK || (e = store_tmp_finish(t)) != STORE_OK)
		return store_failed(rq, e, t->written);
	return outcome(REASON_NONE, NULL);
}

/* The source file, opened without following a link. */
static int
open_source(int dir, const char *name, struct stat *st)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);

	if (fd != -1 && (fstat(fd, st) == -1 || !S_ISREG(st->st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

#define SOURCE_CHANGED "The source changed while it was copied."

/*
 * The file src_name in src_dir, copied whole into a temporary file t in
 * dir, made durable; *copied counts its bytes.
 */
static struct outcome
copy_to_tmp(struct request *rq, int src_dir, const char *src_name, int dir,
    struct store_tmp *t, int64_t *copied)
{
	struct outcome o;
	enum store_err e;
	struct stat    st;
	int            fd;

	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->dir_fd = dir;
	if ((fd = open_source(src_dir, src_name, &st)) == -1)
		return outcome(REASON_CONFLICT, SOURCE_CHANGED);
	if ((e = store_tmp_name(dir, t)) == STORE_OK)
		o = fill_tmp(rq, fd, st.st_size, t);
	else
		o = store_failed(rq, e, st.st_size);
	close(fd);
	*copied += t->written;
	return o;
}

/*
 * The copy t renamed to name (rel below upload_dir), replacing a file
 * there, and recorded in the order that over-counts after a crash in
 * between, as a PUT does: a raise before the rename, a lowering after.
 */
static struct outcome
publish_copy(struct request *rq, struct store_tmp *t, const char *name,
    const char *rel)
{
	struct record   old;
	enum ledger_err le;
	enum store_err  e;
	int             had, shrinks;

	had = ledger_record_get(rq->ledger, rel, &old) == 0;
	shrinks = had && strcmp(old.owner, rq->user) == 0 &&
	    t->written < old.size;
	if (!shrinks && (le = ledger_commit(rq->ledger, rq->user, rel,
	    t->written)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	e = store_tmp_publish(t, name, 1);
	/* renamed, and only the folder's fsync failed: the file is whole */
	if (e != STORE_OK && t->name[0] != '\0') {
		if (!shrinks && had)	/* as it was */
			(void)ledger_commit(rq->ledger, old.owner, rel, old.size);
		else if (!shrinks)
			(void)ledger_forget(rq->ledger, rel);
		return store_failed(rq, e, t->written);
	}
	/* should this fail, the old, larger figure stays: an over-count */
	if (shrinks)
		(void)ledger_commit(rq->ledger, rq->user, rel, t->written);
	return outcome(REASON_NONE, NULL);
}

/* One file of a folder's copy: copied, then published. */
static struct outcome
copy_file(struct request *rq, int src_dir, const char *src_name, int dir,
    const char *name, const char *rel, int64_t *copied)
{
	struct store_tmp t;
	struct outcome   o;

	o = copy_to_tmp(rq, src_dir, src_name, dir, &t, copied);
	if (o.reason == REASON_NONE)
		o = publish_copy(rq, &t, name, rel);
	store_tmp_abort(&t);
	return o;
}

/* Opens (making it, mode 0755) each folder of rel below upload_dir. */
static int
open_made(struct request *rq, const char *rel, size_t nfolders)
{
	struct walk w;
	size_t      i;
	int         fd, next;

	if (relpath_walk_split(&w, rel, 0) == -1 ||
	    (fd = fcntl(rq->upload_fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	for (i = 0; i < nfolders && fd != -1; i++) {
		if (mkdirat(fd, w.comp[i], 0755) == -1 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		next = openat(fd, w.comp[i], RELPATH_DIR_FLAGS);
		close(fd);
		fd = next;
	}
	return fd;
}

/* A folder copied whole: its tree walked, each file as copy_file. */
struct folder_copy {
	struct request *rq;
	const char     *to;	/* the Destination's rel */
	size_t          skip;	/* the source's rel */
	int64_t         total;	/* what the decision let it copy */
	int64_t         copied;
	struct outcome  o;
};

/* The rel below the Destination that matches the source's path. */
static int
dest_rel(const struct folder_copy *c, const char *src, char *out,
    size_t size)
{
	size_t n = (size_t)snprintf(out, size, "%s%s", c->to, src + c->skip);

	return n < size ? (int)n : -1;
}

static int
copy_visit(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct folder_copy *c = t->arg;
	char                rel[4096];
	struct walk         w;
	int                 dir;

	(void)st;
	if (dest_rel(c, t->path, rel, sizeof rel) == -1 ||
	    relpath_walk_split(&w, rel, 0) == -1) {
		c->o = outcome(REASON_BAD_REQUEST, "A path in the copy would "
		    "be too long.");
		return 1;
	}
	if ((dir = open_made(c->rq, rel, w.ncomp - 1)) == -1) {
		c->o = errno_failed(c->rq, "mkdirat", 0);
		return 1;
	}
	/*
	 * each file's space is checked against what is still to come (row
	 * 10 counts the copied files' space as taken already)
	 */
	c->rq->facts.copy_bytes = c->total > c->copied ? c->total - c->copied :
	    0;
	c->o = copy_file(c->rq, dfd, name, dir, relpath_walk_last(&w), rel,
	    &c->copied);
	close(dir);
	return c->o.reason == REASON_NONE ? 0 : 1;
}

/* Empty folders are copied too: each folder made once it is walked. */
static int
copy_leave(struct tree *t)
{
	struct folder_copy *c = t->arg;
	char                rel[4096];
	struct walk         w;
	int                 dir;

	if (dest_rel(c, t->rel, rel, sizeof rel) == -1 ||
	    relpath_walk_split(&w, rel, 0) == -1) {
		c->o = outcome(REASON_BAD_REQUEST, "A path in the copy would "
		    "be too long.");
		return 1;
	}
	if ((dir = open_made(c->rq, rel, w.ncomp)) == -1) {
		c->o = errno_failed(c->rq, "mkdirat", 0);
		return 1;
	}
	close(dir);
	return 0;
}

static struct outcome
copy_folder(struct request *rq, const char *from, const char *to,
    int64_t *copied)
{
	struct folder_copy c;
	struct tree        t;
	int                dir;

	memset(&c, 0, sizeof c);
	c.rq = rq;
	c.to = to;
	c.skip = strlen(from);
	c.total = rq->facts.copy_bytes;
	c.o = outcome(REASON_NONE, NULL);
	if (rq->facts.depth == DEPTH_0) {	/* the folder alone */
		if ((dir = open_made(rq, to, rq->dest_path.ncomp +
		    (rq->g->cfg.per_user_dirs ? 1 : 0))) == -1)
			return errno_failed(rq, "mkdirat", 0);
		close(dir);
		return c.o;
	}
	relpath_tree_init(&t, from, copy_visit, &c);
	t.leave = copy_leave;
	if (relpath_tree_walk_at(&t, rq->upload_fd, from) == -1 &&
	    c.o.reason == REASON_NONE)
		c.o = errno_failed(rq, "openat", 0);
	*copied = c.copied;
	return c.o;
}

/*
 * What is at the Destination now, under the lock again after the copy
 * ran without it (another request of the user may have stored there
 * meanwhile): the facts of rows 8 to 11, asked once more.
 */
static int
refresh_dest(struct request *rq, const char *to)
{
	struct facts *f = &rq->facts;
	struct record rec;
	struct stat   st;

	f->recorded = 0;
	if (fstatat(rq->dest.dir_fd, rq->dest.name, &st,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT) {
			cause_note("fstatat");
			return -1;
		}
		f->dest_target = TARGET_NEW;
		return 0;
	}
	f->dest_target = S_ISLNK(st.st_mode) ? TARGET_SYMLINK :
	    S_ISDIR(st.st_mode) ? TARGET_FOLDER : S_ISREG(st.st_mode) ?
	    TARGET_EXISTS : TARGET_NOT_REGULAR;
	if (f->dest_target == TARGET_EXISTS &&
	    ledger_record_get(rq->ledger, to, &rec) == 0) {
		if (strcmp(rec.owner, rq->user) == 0)
			f->recorded = rec.size;
		else if (!rq->g->cfg.per_user_dirs)
			f->dest_target = TARGET_FOREIGN;
	} else if (f->dest_target == TARGET_EXISTS && !rq->g->cfg.per_user_dirs)
		f->dest_target = TARGET_FOREIGN;	/* nobody's */
	if (f->dest_target == TARGET_FOLDER)
		f->recorded = tree_bytes(rq, to, 1);
	return 0;
}

/* Under the lock: the charge reserved and the temporary file named. */
static struct outcome
reserve_copy(struct request *rq, const char *to)
{
	int64_t         charge = rq->verdict.charge > 0 ? rq->verdict.charge : 0;
	enum ledger_err le;
	enum store_err  e;
	char           *slash;

	le = ledger_reserve(rq->ledger, rq->user, charge, NULL, &rq->resv);
	if (le != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	/* the temporary file's folder, as note_tmp names it */
	snprintf(rq->folder, sizeof rq->folder, "%s", to);
	slash = strrchr(rq->folder, '/');
	*(slash != NULL ? slash : rq->folder) = '\0';
	rq->tmp.dir_fd = rq->dest.dir_fd;
	if ((e = store_tmp_name(rq->dest.dir_fd, &rq->tmp)) != STORE_OK)
		return store_failed(rq, e, 0);
	return gate_note_tmp(rq, &rq->resv, &rq->tmp);
}

/*
 * A file's COPY, as a PUT: the charge reserved under the lock, the
 * bytes copied into a temporary file without it, then under the lock
 * again the decision asked once more of what is there now, what stands
 * in the way removed (a folder only now, and only whole: upgate(8),
 * "WebDAV"), the record and the rename.
 */
static struct outcome
copy_one(struct request *rq, const char *to, int64_t *copied)
{
	struct aside    a = { "", 0 };
	struct outcome  o;
	enum ledger_err le;
	struct stat     st;
	int             fd;

	o = reserve_copy(rq, to);
	gate_unlock_user(rq);
	if (o.reason != REASON_NONE)
		return o;
	if ((fd = open_source(rq->dav.dir_fd, rq->dav.name, &st)) == -1)
		return outcome(REASON_CONFLICT, SOURCE_CHANGED);
	o = fill_tmp(rq, fd, st.st_size, &rq->tmp);
	close(fd);
	*copied = rq->tmp.written;
	if (o.reason != REASON_NONE)
		return o;
	snprintf(rq->rel, sizeof rq->rel, "%s", to);	/* lock_file's */
	if ((le = gate_lock_user(rq)) != LEDGER_OK ||
	    (le = gate_lock_file(rq)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	if (refresh_dest(rq, to) == -1)
		return errno_failed(rq, NULL, 0);
	rq->facts.copy_bytes = rq->tmp.written;
	rq->facts.space_held = rq->tmp.written;
	if ((o = gate_decide_again(rq, rq->resv.bytes, 1)).reason != REASON_NONE)
		return o;
	/* a file there goes with the rename; a folder is set aside */
	if (rq->facts.dest_target == TARGET_FOLDER &&
	    (o = aside_take(rq, to, &a)).reason != REASON_NONE)
		return o;
	if ((o = publish_copy(rq, &rq->tmp, rq->dest.name, to)).reason !=
	    REASON_NONE) {
		aside_put_back(rq, to, &a);
		return o;
	}
	/* the bytes are usage now: never seen twice */
	ledger_release_reservation(rq->ledger, &rq->resv);
	aside_drop(rq, &a);
	return o;
}

/*
 * A rename, the records following: what the Destination holds goes
 * with the rename (a file over a file) or is set aside first and
 * dropped after (a folder, or a file a folder takes the place of).
 */
static struct outcome
do_move(struct request *rq, const char *from, const char *to)
{
	struct facts   *f = &rq->facts;
	struct aside    a = { "", 0 };
	struct outcome  o;
	int             folder = f->target == TARGET_FOLDER;

	if ((folder || f->dest_target == TARGET_FOLDER) &&
	    (o = aside_take(rq, to, &a)).reason != REASON_NONE)
		return o;
	if (renameat(rq->dav.dir_fd, rq->dav.name, rq->dest.dir_fd,
	    rq->dest.name) == -1) {
		o = errno_failed(rq, "renameat", 0);
		aside_put_back(rq, to, &a);
		return o;
	}
	if (rq->g->cfg.sync && (fsync(rq->dest.dir_fd) == -1 ||
	    fsync(rq->dav.dir_fd) == -1))
		return errno_failed(rq, "fsync", 0);
	aside_drop(rq, &a);
	/* after the rename: a failure, or a crash, in between over-counts */
	if ((!folder && f->dest_target == TARGET_EXISTS &&
	    ledger_forget(rq->ledger, to) != LEDGER_OK) ||
	    ledger_move(rq->ledger, from, to) != LEDGER_OK)
		/* done on the disk: not a refusal to try again (503, 507) */
		return outcome(ledger_fault(rq).reason, "The move was made, "
		    "but the usage ledger could not follow it; it may count "
		    "the bytes twice until upgate-quota recount.");
	return outcome(REASON_NONE, NULL);
}

void
gate_reply_validators(struct request *rq, const struct stat *st)
{
	etag_of(st, rq->etag, sizeof rq->etag);
	http_date(st->st_mtime, rq->modified, sizeof rq->modified);
	rq->reply.etag = rq->etag;
	rq->reply.last_modified = rq->modified;
}

void
dav_copy(struct request *rq)
{
	struct facts  *f = &rq->facts;
	struct aside   a = { "", 0 };
	char           from[sizeof rq->rel], to[sizeof rq->rel];
	int            replaced;
	int64_t        copied = 0;
	struct outcome o;
	struct stat    st;
	int            err;

	if (gate_path_rel(rq, &rq->path, rq->path.ncomp, from, sizeof from) ==
	    -1 || gate_path_rel(rq, &rq->dest_path, rq->dest_path.ncomp, to,
	    sizeof to) == -1) {
		gate_respond(rq, REASON_BAD_REQUEST, NULL);
		return;
	}
	if (f->method == METHOD_MOVE) {
		replaced = f->dest_target != TARGET_NEW;
		rq->verdict.length = -1;	/* logged as size=- */
		o = do_move(rq, from, to);
		if (o.reason == REASON_NONE)
			o.reason = replaced ? REASON_MOVED_OVER : REASON_MOVED;
		gate_respond_outcome(rq, o);
		return;
	}
	if (f->target == TARGET_FOLDER) {
		o = aside_take(rq, to, &a);
		if (o.reason == REASON_NONE &&
		    (o = copy_folder(rq, from, to, &copied)).reason !=
		    REASON_NONE) {
			/* all or nothing (upgate(8), "Requests") */
			err = errno;
			(void)dav_remove_folder(rq, to);
			aside_put_back(rq, to, &a);
			errno = err;
		} else if (o.reason == REASON_NONE)
			aside_drop(rq, &a);
	} else if ((o = copy_one(rq, to, &copied)).reason != REASON_NONE) {
		err = errno;	/* the failing call's, for gate_respond() */
		gate_unlock_user(rq);
		store_tmp_abort(&rq->tmp);
		ledger_release_reservation(rq->ledger, &rq->resv);
		errno = err;
	}
	rq->verdict.length = copied;	/* logged as size */
	replaced = f->dest_target != TARGET_NEW;	/* as it was at the end */
	if (o.reason == REASON_NONE) {
		if (f->target == TARGET_EXISTS &&
		    fstatat(rq->dest.dir_fd, rq->dest.name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			gate_reply_validators(rq, &st);
		o.reason = replaced ? REASON_COPIED_OVER : REASON_COPIED;
	}
	gate_respond_outcome(rq, o);
}
