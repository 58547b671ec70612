/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_dav: the WebDAV methods (upgate(8), "WebDAV"; RFC 4918 class 1,
 * RFC 4331).  Under the user's lock: the path, the decision and the
 * figures; then, without it, the request's XML and the answer: a 207
 * streamed one response at a time (PROPFIND, PROPPATCH), or the folder
 * made (MKCOL).  GET and HEAD of a stored file are gate_get.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "davxml.h"
#include "gate_int.h"
#include "multistatus.h"
#include "relpath.h"
#include "render.h"

/* RFC 4918 §10.2: "0", "1" or "infinity"; none is infinity. */
static enum depth
depth_of(const char *v)
{
	if (v == NULL || strcasecmp(v, "infinity") == 0)
		return DEPTH_INFINITY;
	if (strcmp(v, "0") == 0)
		return DEPTH_0;
	return strcmp(v, "1") == 0 ? DEPTH_1 : DEPTH_BAD;
}

/*
 * Rows 8 and 9 for a WebDAV path: PATH_INFO below the user's folder, a
 * folder or a file, '/' at its end naming a folder (upgate(8)).
 */
static int
find_dav_target(struct request *rq)
{
	const char *pi = request_param(rq, "PATH_INFO");
	char        rel[sizeof rq->rel];
	int         r;

	rq->facts.known |= KNOW_TARGET;
	rq->facts.depth = depth_of(request_param(rq, "HTTP_DEPTH"));
	if (names_path_parse(pi, PATH_FOLDER, &rq->path) == -1) {
		rq->facts.target = TARGET_BAD_NAME;
		return 0;
	}
	rq->facts.trailing_slash = rq->path.ncomp > 0 &&
	    pi[strlen(pi) - 1] == '/';
	rq->facts.names_root = rq->path.ncomp == 0;
	/* the folder MKCOL makes leaves room for a file, as a form's does */
	if (rq->facts.method == METHOD_MKCOL && (gate_path_rel(rq, &rq->path,
	    rq->path.ncomp, rel, sizeof rel) == -1 ||
	    !gate_fits_path_max(rq, strlen(rel), FILE_NAME_MAX))) {
		rq->facts.target = TARGET_TOO_LONG;
		return 0;
	}
	if ((r = open_user_dir(rq)) != 0)
		return r == 1 ? 0 : -1;
	if (davpath_resolve(rq->user_fd, &rq->path, &rq->dav) == -1)
		return -1;
	rq->facts.target = rq->dav.state;
	return 0;
}

/*
 * A DELETE is WebDAV's when it names a folder, the user's folder, or
 * ends in '/'; a file's is gate.c's, as with webdav = no.  1 when it
 * is; else what the walk left is undone.
 */
static int
delete_is_dav(struct request *rq)
{
	struct facts *f = &rq->facts;

	if (f->names_root || f->trailing_slash || f->target == TARGET_FOLDER) {
		f->dav_path = 1;
		return 1;
	}
	davpath_release(&rq->dav);
	if (rq->user_fd != -1)
		close(rq->user_fd);
	rq->user_fd = -1;
	f->known &= ~(unsigned)KNOW_TARGET;
	f->target = TARGET_NEW;
	return 0;
}

int
dav_wanted(const struct request *rq)
{
	enum method m = rq->facts.method;
	const char *pi;

	if (method_dav(m) || (m == METHOD_DELETE && rq->facts.webdav))
		return 1;
	if (!rq->facts.webdav || (m != METHOD_GET && m != METHOD_HEAD))
		return 0;
	pi = request_param(rq, "PATH_INFO");
	return pi != NULL && strcmp(pi, "/") != 0;
}

/* What a davxml error is for the request (rows 12 and 13). */
static struct outcome
xml_outcome(struct request *rq, enum davxml_err e)
{
	switch (e) {
	case DAVXML_OK:
		return outcome(REASON_NONE, NULL);
	case DAVXML_TOO_LARGE:
		rq->reply.too_large_limit = DAVXML_BODY_MAX;
		rq->reply.too_large_size = rq->verdict.length;
		return outcome(REASON_TOO_LARGE, NULL);
	case DAVXML_ENTITY:
		return outcome(REASON_BAD_REQUEST, "XML entity declarations "
		    "are refused.");
	case DAVXML_NOMEM:
		errno = ENOMEM;
		return outcome(REASON_SERVER_ERROR, NULL);
	default:
		return outcome(REASON_BAD_REQUEST, "The request body is not "
		    "the well-formed WebDAV XML this method takes.");
	}
}

static struct outcome
xml_sink(struct request *rq, const char *buf, size_t n)
{
	return xml_outcome(rq, davxml_feed(rq->xml, buf, n));
}

/*
 * The request's XML, read through the one streaming buffer and parsed
 * as it comes.  No CONTENT_LENGTH: no body.
 */
static struct outcome
read_xml(struct request *rq, enum davxml_root root)
{
	struct outcome o;

	if ((rq->xml = davxml_new(root)) == NULL) {
		errno = ENOMEM;
		return outcome(REASON_SERVER_ERROR, NULL);
	}
	if (rq->verdict.length > 0 &&
	    (o = gate_stream_body(rq, xml_sink)).reason != REASON_NONE)
		return o;
	rq->body_done = 1;
	return xml_outcome(rq, davxml_finish(rq->xml));
}

/* Writes the 207's head and starts its body; ms is the caller's. */
static void
begin_207(struct request *rq, struct multistatus *ms)
{
	struct buf head;

	rq->reply.reason = REASON_MULTISTATUS;	/* gate_respond() has answered */
	rq->reply.user = rq->user;
	buf_init(&head);
	render_head_lines(&rq->reply, "application/xml; charset=utf-8", &head);
	buf_puts(&head, "\r\n");
	ms_begin(ms, rq->io, head.failed ? "" : head.data,
	    davxml_kind(rq->xml), davxml_props(rq->xml),
	    davxml_nprops(rq->xml));
	buf_release(&head);
}

/* The entries of a folder: never a dot name, a link or a special file. */
static void
list_folder(struct multistatus *ms, int fd)
{
	struct dirent *e;
	struct stat    st;
	DIR           *d;
	int            dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return;
	}
	while (!ms->failed && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    !names_file_valid(e->d_name, strlen(e->d_name)) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
			ms_resource(ms, e->d_name, e->d_name, &st,
			    S_ISDIR(st.st_mode));
	}
	closedir(d);
}

/* The folder the target is, opened; -1 when it does not exist yet. */
static int
open_target_folder(struct request *rq)
{
	if (rq->dav.name == NULL)
		return rq->dav.dir_fd == -1 ? -1 : dup(rq->dav.dir_fd);
	return openat(rq->dav.dir_fd, rq->dav.name, RELPATH_DIR_FLAGS);
}

/* PROPFIND's responses: the target, then a folder's entries at Depth 1. */
static void
propfind_fill(struct request *rq, struct multistatus *ms)
{
	const struct facts *f = &rq->facts;
	int                 folder = f->target == TARGET_FOLDER, fd;
	struct stat         st = rq->dav.st;
	const char         *name = rq->dav.name != NULL ? rq->dav.name :
	    rq->user;

	ms->have_quota = 1;
	ms->quota_used = f->used > INT64_MAX - f->reserved ? INT64_MAX :
	    f->used + f->reserved;
	ms->quota_available = decide_room(f);
	if (rq->user_fd == -1)	/* the user's folder before the first upload */
		(void)fstat(rq->upload_fd, &st);
	ms_resource(ms, NULL, name, &st, folder);
	if (folder && f->depth == DEPTH_1 && (fd = open_target_folder(rq)) != -1) {
		list_folder(ms, fd);
		close(fd);
	}
}

/* No dead properties are kept: each one named gets 403 (RFC 4918 §9.2). */
static void
proppatch_fill(struct request *rq, struct multistatus *ms)
{
	(void)rq;
	ms_refuse_all(ms);
}

/*
 * A 207: the figures were read under the lock; the body is read and
 * the answer streamed without it.
 */
static void
answer_207(struct request *rq, enum davxml_root root,
    void (*fill)(struct request *, struct multistatus *))
{
	struct multistatus *ms;
	struct outcome      o;

	quota_from_facts(rq);
	gate_unlock_user(rq);
	if ((o = read_xml(rq, root)).reason != REASON_NONE) {
		gate_respond_outcome(rq, o);
		return;
	}
	if ((ms = malloc(sizeof *ms)) == NULL) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	begin_207(rq, ms);
	if (ms_set_base(ms, request_param(rq, "SCRIPT_NAME"), &rq->path,
	    rq->facts.target == TARGET_FOLDER) == -1)
		ms->failed = 1;
	fill(rq, ms);
	(void)ms_end(ms);
	ms_release(ms);
	free(ms);
}

/*
 * One folder, mode 0755 as the folders uploads make, its parent synced
 * with `sync = yes`; the user's folder first when it is still missing.
 * Folders cost nothing: the ledger does not change.
 */
static void
mkcol(struct request *rq)
{
	int dir = rq->dav.dir_fd;

	rq->verdict.length = -1;	/* logged as size=- */
	if (dir == -1 && (dir = rq->user_fd = store_open_user_dir(
	    rq->upload_fd, rq->user, 1)) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	if (mkdirat(dir, rq->dav.name, 0755) == -1) {
		if (errno == EEXIST)
			gate_respond(rq, REASON_METHOD_NOT_ALLOWED, NULL);
		else if (errno == ENOSPC || errno == EDQUOT)
			gate_respond(rq, gate_disk_full(rq, 0).reason, "There is no room "
			    "left on the disk to make the folder.");
		else
			gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	if (rq->g->cfg.sync && fsync(dir) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, "The folder was made, but it "
		    "could not be made durable.");
		return;
	}
	gate_respond(rq, REASON_CREATED, NULL);
}

int
dav_locked(struct request *rq, const struct usage *u)
{
	enum method m = rq->facts.method;

	if (find_dav_target(rq) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return 1;
	}
	if (m == METHOD_DELETE && !delete_is_dav(rq))
		return 0;
	if ((m == METHOD_COPY || m == METHOD_MOVE) && find_copy_facts(rq) == -1)
		return 1;
	if (find_room(rq, u) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return 1;
	}
	if (decided(rq))
		return 1;
	switch (m) {
	case METHOD_PROPFIND:
		answer_207(rq, DAVXML_ROOT_PROPFIND, propfind_fill);
		return 1;
	case METHOD_PROPPATCH:
		answer_207(rq, DAVXML_ROOT_PROPERTYUPDATE, proppatch_fill);
		return 1;
	case METHOD_MKCOL:
		mkcol(rq);
		return 1;
	case METHOD_DELETE:
		dav_delete_folder(rq);
		return 1;
	case METHOD_COPY:
	case METHOD_MOVE:
		dav_copy(rq);
		return 1;
	default:
		return get_file(rq);
	}
}
