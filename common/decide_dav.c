/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * decide_dav: the rows of upgate(8) "DECISIONS" as the WebDAV methods
 * meet them ("WebDAV"): the body a method may carry (rows 5 to 7), then
 * what its path names (rows 8 and 9).  Pure, as decide() is.
 */
#include <stddef.h>
#include <string.h>

#include "davxml.h"
#include "decide.h"
#include "number.h"

/*
 * PROPFIND and PROPPATCH carry XML of at most DAVXML_BODY_MAX bytes (413
 * before any byte is read); MKCOL none (415, RFC 4918 §9.3).  Without
 * CONTENT_LENGTH there is no body (RFC 3875 §4.1.2).
 */
static struct verdict
dav_body(const struct facts *f, struct verdict v)
{
	const char *t = f->length_text;

	/* the bodies of the others are read and ignored (RFC 4918 §9) */
	if ((f->method != METHOD_PROPFIND && f->method != METHOD_PROPPATCH &&
	    f->method != METHOD_MKCOL) || t == NULL)
		return v;
	if (number_parse(t, strlen(t), &v.length) == -1)
		return decide_refuse_by(v, REASON_BAD_REQUEST, 5,
		    CAUSE_BAD_LENGTH);
	if (f->method == METHOD_MKCOL)
		return v.length > 0 ? decide_refuse_by(v,
		    REASON_UNSUPPORTED_MEDIA_TYPE, 7, CAUSE_BODY) : v;
	if (v.length > DAVXML_BODY_MAX) {
		v.limit = DAVXML_BODY_MAX;
		return decide_refuse(v, REASON_TOO_LARGE, 6);
	}
	return v;
}

/* MKCOL makes one folder where nothing is (RFC 4918 §9.3.1). */
static struct verdict
dav_mkcol(const struct facts *f, struct verdict v)
{
	switch (f->target) {
	case TARGET_PARENT_MISSING:
		return decide_refuse_by(v, REASON_CONFLICT, 9, CAUSE_NO_PARENT);
	case TARGET_EXISTS:
		/* a file named as a folder: 409, not 405 */
		if (f->trailing_slash)
			return decide_refuse_by(v, REASON_CONFLICT, 9,
			    CAUSE_NOT_FOLDER_NAMED);
		return decide_refuse_by(v, REASON_METHOD_NOT_ALLOWED, 9,
		    CAUSE_TAKEN);
	case TARGET_FOLDER:
	case TARGET_NOT_REGULAR:
		return decide_refuse_by(v, REASON_METHOD_NOT_ALLOWED, 9,
		    CAUSE_TAKEN);
	default:
		return v;
	}
}

/* PROPFIND, PROPPATCH, GET and HEAD: what they name must be there. */
static struct verdict
dav_existing(const struct facts *f, struct verdict v)
{
	switch (f->target) {
	case TARGET_NEW:
	case TARGET_PARENT_MISSING:
		return decide_refuse_by(v, REASON_NOT_FOUND, 8, CAUSE_NOTHING);
	case TARGET_EXISTS:
		return f->trailing_slash ? decide_refuse_by(v, REASON_NOT_FOUND,
		    8, CAUSE_NOT_FOLDER_NAMED) : v;
	case TARGET_NOT_REGULAR:
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_TARGET_SPECIAL);
	default:
		break;
	}
	/* a folder listed without end: RFC 4918 §9.1 lets the server refuse */
	if (f->method == METHOD_PROPFIND && f->depth == DEPTH_INFINITY) {
		v.condition = "propfind-finite-depth";
		return decide_refuse_by(v, REASON_FORBIDDEN, 8,
		    CAUSE_INFINITE_DEPTH);
	}
	return v;
}

/*
 * DELETE of a folder (RFC 4918 §9.6.1), or of a path that ends in '/':
 * never the user's folder itself; a file named as a folder is 409.
 */
static struct verdict
dav_delete(const struct facts *f, struct verdict v)
{
	if (f->names_root)
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_ROOT);
	switch (f->target) {
	case TARGET_FOLDER:
		return v;
	case TARGET_NEW:
	case TARGET_PARENT_MISSING:
		return decide_refuse_by(v, REASON_NOT_FOUND, 8, CAUSE_NOTHING);
	case TARGET_EXISTS:
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_NOT_FOLDER_NAMED);
	default:
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_TARGET_SPECIAL);
	}
}

struct verdict
decide_walk(enum target t, enum cause bad, struct verdict v)
{
	switch (t) {
	case TARGET_BAD_NAME:
		return decide_refuse_by(v, REASON_BAD_REQUEST, 8, bad);
	case TARGET_TOO_LONG:
		return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
		    CAUSE_PATH_TOO_LONG);
	case TARGET_SYMLINK:
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_SYMLINK);
	case TARGET_FOREIGN:
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_FOREIGN);
	case TARGET_NOT_FOLDER:
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_NOT_FOLDER);
	default:
		return v;
	}
}

static struct verdict
dav_target(const struct facts *f, const struct policy *p, struct verdict v)
{
	if (f->method == METHOD_PROPFIND && f->depth == DEPTH_BAD)
		return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
		    CAUSE_BAD_DEPTH);
	if ((v = decide_walk(f->target, CAUSE_BAD_PATH, v)).reason !=
	    REASON_NONE)
		return v;
	switch (f->method) {
	case METHOD_MKCOL:
		return dav_mkcol(f, v);
	case METHOD_DELETE:
		return dav_delete(f, v);
	case METHOD_COPY:
	case METHOD_MOVE:
		return decide_copy(f, p, v);
	default:
		return dav_existing(f, v);
	}
}

struct verdict
decide_dav(const struct facts *f, const struct policy *p, struct verdict v)
{
	if ((v = dav_body(f, v)).reason != REASON_NONE ||
	    !(f->known & KNOW_TARGET))
		return v;
	return dav_target(f, p, v);
}
