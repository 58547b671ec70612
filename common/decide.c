/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * decide: upgate(8), Decisions, rows 1 to 11, in order.  Row 12 onwards happen while
 * the body streams and are the gate's.
 */
#include <stddef.h>
#include <string.h>

#include "decide.h"
#include "number.h"
#include "quota.h"

static const char *const method_names[METHOD__MAX] = {
	[METHOD_GET]     = "GET",
	[METHOD_HEAD]    = "HEAD",
	[METHOD_PUT]     = "PUT",
	[METHOD_POST]    = "POST",
	[METHOD_DELETE]  = "DELETE",
	[METHOD_OPTIONS] = "OPTIONS",
	[METHOD_PROPFIND] = "PROPFIND",
	[METHOD_PROPPATCH] = "PROPPATCH",
	[METHOD_MKCOL]   = "MKCOL",
	[METHOD_COPY]    = "COPY",
	[METHOD_MOVE]    = "MOVE",
	[METHOD_PATCH]   = "PATCH",
	[METHOD_OTHER]   = "-",
};

enum method
decide_method_parse(const char *s)
{
	int m;

	if (s == NULL)
		return METHOD_OTHER;
	for (m = 0; m < METHOD_OTHER; m++)
		if (strcmp(s, method_names[m]) == 0)	/* case-sensitive */
			return (enum method)m;
	return METHOD_OTHER;
}

int
method_dav(enum method m)
{
	return m == METHOD_PROPFIND || m == METHOD_PROPPATCH ||
	    m == METHOD_MKCOL || m == METHOD_COPY || m == METHOD_MOVE;
}

const char *
decide_method_name(enum method m)
{
	return m < METHOD__MAX ? method_names[m] : "-";
}

enum verb
method_verb(enum method m)
{
	switch (m) {
	case METHOD_PUT:
		return VERB_STORE;
	case METHOD_POST:
		return VERB_STORE_FORM;
	case METHOD_DELETE:
		return VERB_DELETE;
	case METHOD_GET:
	case METHOD_HEAD:
		return VERB_SHOW;
	case METHOD_PROPFIND:
		return VERB_LIST;
	case METHOD_PROPPATCH:
		return VERB_PROPS;
	case METHOD_MKCOL:
		return VERB_MAKE_FOLDER;
	case METHOD_COPY:
		return VERB_COPY;
	case METHOD_MOVE:
		return VERB_MOVE;
	default:
		return VERB_NONE;
	}
}

/* a - b, but never below 0; both are non-negative byte counts. */
static int64_t
sub0(int64_t a, int64_t b)
{
	return a > b ? a - b : 0;
}

/* a + b, saturating at INT64_MAX; both non-negative. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int64_t
decide_space_available(int64_t free_space, int64_t min_free)
{
	return sub0(free_space, min_free);
}

static struct verdict
decided(struct verdict v, enum reason reason, int row)
{
	v.reason = reason;
	v.row = row;
	return v;
}

/* A refusal of a row with several causes, and the one that applies. */
static struct verdict
decided_by(struct verdict v, enum reason reason, int row, enum cause cause)
{
	v = decided(v, reason, row);
	v.cause = cause;
	return v;
}

struct verdict
decide_refuse(struct verdict v, enum reason reason, int row)
{
	return decided(v, reason, row);
}

struct verdict
decide_refuse_by(struct verdict v, enum reason reason, int row,
    enum cause cause)
{
	return decided_by(v, reason, row, cause);
}

/* Rows 4 to 7: what an upload's request line and headers alone decide. */
static struct verdict
decide_length(const struct facts *f, const struct policy *p, struct verdict v)
{
	const char *t = f->length_text;

	if (t == NULL || *t == '\0') {
		if (!p->allow_unknown_length)
			return decided(v, REASON_LENGTH_REQUIRED, 4);
	} else if (number_parse(t, strlen(t), &v.length) == -1)
		return decided_by(v, REASON_BAD_REQUEST, 5, CAUSE_BAD_LENGTH);
	if (p->max_upload_size > 0 && v.length > p->max_upload_size) {
		v.limit = p->max_upload_size;
		return decided(v, REASON_TOO_LARGE, 6);
	}
	if (f->method == METHOD_POST && !f->multipart_ok)
		return decided(v, REASON_UNSUPPORTED_MEDIA_TYPE, 7);
	return v;
}

/* Row 8: the target path and its preconditions. */
static struct verdict
decide_target(const struct facts *f, struct verdict v)
{
	int exists = f->target == TARGET_EXISTS ||
	    f->target == TARGET_NOT_REGULAR;

	switch (f->target) {
	case TARGET_BAD_NAME:
		return decided_by(v, REASON_BAD_REQUEST, 8, CAUSE_BAD_PATH);
	case TARGET_TOO_LONG:
		return decided_by(v, REASON_BAD_REQUEST, 8,
		    CAUSE_PATH_TOO_LONG);
	case TARGET_SYMLINK:
		return decided_by(v, REASON_FORBIDDEN, 8, CAUSE_SYMLINK);
	case TARGET_FOREIGN:
		return decided_by(v, REASON_FORBIDDEN, 8, CAUSE_FOREIGN);
	default:
		break;
	}
	/* a non-folder where a folder is needed is 409 even for a DELETE */
	if (f->method == METHOD_DELETE &&
	    (f->target == TARGET_NEW || f->target == TARGET_PARENT_MISSING))
		return decided_by(v, REASON_NOT_FOUND, 8, CAUSE_MISSING);
	if (f->method == METHOD_PUT && f->if_none_match_star && exists)
		return decided_by(v, REASON_PRECONDITION_FAILED, 8,
		    CAUSE_EXISTS);
	if (f->if_match == IF_MATCH_FAILED)
		return decided_by(v, REASON_PRECONDITION_FAILED, 8,
		    CAUSE_IF_MATCH);
	return v;
}

/* Row 9: what is in the way on disk. */
static struct verdict
decide_conflict(const struct facts *f, const struct policy *p,
    struct verdict v)
{
	switch (f->target) {
	case TARGET_PARENT_MISSING:
		if (p->create_parents && f->method != METHOD_DELETE)
			return v;
		return decided_by(v, REASON_CONFLICT, 9, CAUSE_PARENT_MISSING);
	case TARGET_NOT_FOLDER:
		return decided_by(v, REASON_CONFLICT, 9, CAUSE_NOT_FOLDER);
	case TARGET_NOT_REGULAR:
		return decided_by(v, REASON_CONFLICT, 9, f->target_folder ?
		    CAUSE_TARGET_FOLDER : CAUSE_TARGET_SPECIAL);
	case TARGET_EXISTS:
		if (f->method == METHOD_PUT && !p->allow_overwrite)
			return decided_by(v, REASON_CONFLICT, 9,
			    CAUSE_NO_OVERWRITE);
		return v;
	default:
		return v;
	}
}

/*
 * The bytes the space and quota checks hold against.  A multipart body
 * carries up to FRAMING_ALLOWANCE bytes of framing and text fields that
 * are not stored, so it is refused before its body only when it exceeds
 * the room by more than that (upgate(8), Decisions).
 */
static int64_t
needed(const struct facts *f, int64_t bytes)
{
	if (f->method == METHOD_POST && f->tus == TUS_NONE &&
	    !(f->known & KNOW_BODY))
		return sub0(bytes, FRAMING_ALLOWANCE);
	return bytes;
}

/* Row 10: free space on the filesystem. */
static struct verdict
decide_space(const struct facts *f, struct verdict v)
{
	v.available = decide_space_available(add_sat(f->free_space, f->space_held),
	    f->min_free);
	if (needed(f, v.length) > v.available) {
		v.shortage = v.length - v.available;
		return decided(v, REASON_DISK_FULL, 10);
	}
	v.available = 0;
	return v;
}

/* Row 11: the user's quota. */
static struct verdict
decide_quota(const struct facts *f, struct verdict v)
{
	int64_t committed;

	v.charge = v.length;
	/* a COPY's recorded: what it replaces at its Destination */
	if (f->target == TARGET_EXISTS || f->method == METHOD_COPY)
		v.charge = v.length - f->recorded;	/* may be negative */
	if (f->limit == QUOTA_UNLIMITED || v.charge <= 0)
		return v;
	committed = add_sat(f->used, f->reserved);
	if (needed(f, v.charge) <= decide_quota_left(f->limit, f->used, f->reserved))
		return v;
	v.limit = f->limit;
	v.available = decide_quota_left(f->limit, f->used, f->reserved);
	v.shortage = sub0(add_sat(committed, v.charge), f->limit);
	return decided(v, REASON_QUOTA_EXCEEDED, 11);
}

struct verdict
decide_room_rows(const struct facts *f, struct verdict v)
{
	if (v.length <= 0 || !(f->known & KNOW_SPACE) ||
	    (v = decide_space(f, v)).reason != REASON_NONE ||
	    !(f->known & KNOW_QUOTA))
		return v;
	return decide_quota(f, v);
}

int64_t
decide_quota_left(int64_t limit, int64_t used, int64_t reserved)
{
	return sub0(limit, add_sat(used > 0 ? used : 0,
	    reserved > 0 ? reserved : 0));
}

int64_t
decide_room(const struct facts *f)
{
	int64_t space, quota = INT64_MAX;

	space = decide_space_available(add_sat(f->free_space, f->space_held),
	    f->min_free);
	if (f->limit != QUOTA_UNLIMITED)
		quota = decide_quota_left(f->limit, f->used, f->reserved);
	return space < quota ? space : quota;
}

static int
tus_url_method(enum method m)
{
	return m == METHOD_OPTIONS || m == METHOD_HEAD || m == METHOD_PATCH ||
	    m == METHOD_DELETE;
}

struct verdict
decide(const struct facts *f, const struct policy *p)
{
	struct verdict v;
	int upload = f->method == METHOD_PUT || f->method == METHOD_POST;

	memset(&v, 0, sizeof v);
	v.length = -1;
	if (f->method == METHOD_OTHER || (method_dav(f->method) && !f->webdav))
		return decided(v, REASON_METHOD_NOT_ALLOWED, 1);
	/* PATCH only on an upload's URL, which answers four methods */
	if (f->tus == TUS_URL ? !tus_url_method(f->method) :
	    f->method == METHOD_PATCH)
		return decided(v, REASON_METHOD_NOT_ALLOWED, 1);
	if (f->method == METHOD_OPTIONS)
		return decided(v, REASON_OPTIONS, 1);
	if (!(f->known & KNOW_CONFIG))
		return v;
	if (!f->config_ok)
		return decided(v, REASON_SERVER_ERROR, 2);
	if (!(f->known & KNOW_IDENTITY))
		return v;
	if (!f->identity_ok)
		return decided_by(v, REASON_FORBIDDEN, 3, f->identity_given ?
		    CAUSE_BAD_USER : CAUSE_NO_IDENTITY);
	if (f->tus != TUS_NONE)
		return decide_tus(f, p, v);
	if (method_dav(f->method) || (f->webdav && (f->known & KNOW_TARGET) &&
	    (f->method == METHOD_GET || f->method == METHOD_HEAD ||
	    (f->method == METHOD_DELETE && f->dav_path))))
		return decide_dav(f, p, v);
	if (upload && (f->known & KNOW_BODY))
		v.length = f->body_length;
	else if (upload && (v = decide_length(f, p, v)).reason != REASON_NONE)
		return v;
	if (f->method == METHOD_GET || f->method == METHOD_HEAD)
		return v;
	return decide_store(f, p, v);
}

struct verdict
decide_store(const struct facts *f, const struct policy *p, struct verdict v)
{
	if (!(f->known & KNOW_TARGET))
		return v;
	if ((v = decide_target(f, v)).reason != REASON_NONE ||
	    (v = decide_conflict(f, p, v)).reason != REASON_NONE)
		return v;
	/* an unknown length is held to space and quota while it streams */
	if (f->method == METHOD_DELETE || v.length <= 0)
		return v;
	if (!(f->known & KNOW_SPACE) ||
	    (v = decide_space(f, v)).reason != REASON_NONE)
		return v;
	if (!(f->known & KNOW_QUOTA))
		return v;
	return decide_quota(f, v);
}
