/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "decide.h"
#include "number.h"
#include "quota.h"
#include "reason.h"
#include "render.h"
#include "render_int.h"

/* What the status texts are made of; a reply with no valid reason is 500. */
static enum reason
reply_reason(const struct reply *r)
{
	if (r->reason <= REASON_NONE || r->reason >= REASON__MAX)
		return REASON_SERVER_ERROR;
	return r->reason;
}

int
render_limited(const struct reply *r)
{
	return r->has_quota && r->quota.limit != QUOTA_UNLIMITED &&
	    r->quota.limit >= 0;
}

int64_t
render_available(const struct quota_figures *q)
{
	return decide_quota_left(q->limit, q->used, q->reserved);
}

int64_t
render_tenths(const struct quota_figures *q)
{
	if (q->limit == QUOTA_UNLIMITED || q->limit < 0)
		return -1;
	if (q->limit == 0)
		return 1000;	/* upgate.conf(5), "The quota table" */
	return number_muldiv64(q->used > 0 ? q->used : 0, 1000, q->limit);
}

void
render_tenths_text(int64_t tenths, char *out, size_t outlen)
{
	snprintf(out, outlen, "%" PRId64 ".%" PRId64, tenths / 10, tenths % 10);
}

/* -1 when unlimited (the JSON null); the division is exact to one decimal. */
double
render_percentage_used(const struct quota_figures *q)
{
	int64_t tenths = render_tenths(q);

	return tenths < 0 ? -1.0 : (double)tenths / 10.0;
}

/*
 * Whole units and the rounded tenth; moves to the next unit when rounding
 * reaches 1024 of this one ("1024.0 KiB" is "1.0 MiB").
 */
void
render_human_size(int64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = {
		"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	uint64_t v = (uint64_t)bytes, whole, tenth;
	unsigned shift = 10, u = 0;

	if (bytes < 1024) {
		snprintf(out, outlen, "%" PRId64 " %s", bytes < 0 ? 0 : bytes,
		    bytes == 1 ? "byte" : "bytes");
		return;
	}
	for (;;) {
		whole = v >> shift;
		tenth = ((v & ((UINT64_C(1) << shift) - 1)) * 10 +
		    (UINT64_C(1) << (shift - 1))) >> shift;
		if (tenth == 10) {
			whole++;
			tenth = 0;
		}
		if (whole < 1024 || u + 1 == sizeof units / sizeof units[0])
			break;
		u++;
		shift += 10;
	}
	snprintf(out, outlen, "%" PRIu64 ".%" PRIu64 " %s", whole, tenth,
	    units[u]);
}

/* RFC 3629: the length of the valid sequence at s (n > 0 bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t   len, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	c = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/* Control characters (C0, DEL, C1) and XML 1.0's excluded U+FFFE, U+FFFF. */
static int
unwanted(const unsigned char *s, size_t len)
{
	if (len == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	if (len == 2)
		return s[0] == 0xc2 && s[1] < 0xa0;
	return len == 3 && s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe;
}

static void
add_run(struct buf *b, const char *s, size_t len, int xml)
{
	if (xml)
		buf_add_xml(b, s, len);
	else
		buf_add(b, s, len);
}

void
render_add_clean(struct buf *b, const char *s, size_t n, int xml)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, start = 0, len;

	while (i < n) {
		len = utf8_len(u + i, n - i);
		if (len != 0 && !unwanted(u + i, len)) {
			i += len;
			continue;
		}
		add_run(b, s + start, i - start, xml);
		buf_puts(b, "\xef\xbf\xbd");	/* U+FFFD */
		i += len != 0 ? len : 1;
		start = i;
	}
	add_run(b, s + start, n - start, xml);
}

void
render_add_str(struct buf *b, const char *s, int xml)
{
	if (s != NULL)
		render_add_clean(b, s, strlen(s), xml);
}

/* Bytes a header may carry as they are (RFC 3986 characters, and '%'). */
static int
uri_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

/* Location: the request's URI, any other byte percent-encoded. */
static void
add_location(struct buf *b, const char *uri)
{
	const unsigned char *p;

	buf_puts(b, "Location: ");
	for (p = (const unsigned char *)uri; *p != '\0'; p++) {
		if (uri_char(*p))
			buf_add(b, (const char *)p, 1);
		else
			buf_printf(b, "%%%02X", *p);
	}
	buf_puts(b, "\r\n");
}

/* A configured URL fit for a header as it is; else the header is left out. */
static int
header_safe(const char *url)
{
	const unsigned char *p;

	for (p = (const unsigned char *)url; *p != '\0'; p++)
		if (!uri_char(*p))
			return 0;
	return url[0] != '\0';
}

/* X-Quota-* (upgate(8), Responses), and X-Quota-Warning after a successful upload. */
static void
add_quota_headers(const struct reply *r, enum reason reason, struct buf *b)
{
	int64_t tenths;

	if (!render_limited(r))
		return;
	buf_printf(b, "X-Quota-Used: %" PRId64 "\r\nX-Quota-Limit: %" PRId64
	    "\r\nX-Quota-Available: %" PRId64 "\r\n", r->quota.used,
	    r->quota.limit, render_available(&r->quota));
	if (reason != REASON_STORED && reason != REASON_REPLACED &&
	    reason != REASON_COPIED && reason != REASON_COPIED_OVER &&
	    reason != REASON_UPLOAD_STORED && reason != REASON_UPLOAD_DONE)
		return;
	tenths = render_tenths(&r->quota);
	if (tenths >= 900)
		buf_puts(b, "X-Quota-Warning: 90\r\n");
	else if (tenths >= 800)
		buf_puts(b, "X-Quota-Warning: 80\r\n");
}

/*
 * Allow in OPTIONS and every 405, with the WebDAV methods when they are
 * answered; DAV in OPTIONS (RFC 4918 §10.1); Content-Range in a 416
 * (RFC 9110 §15.5.17).
 */
static void
add_dav_headers(const struct reply *r, enum reason reason, struct buf *b)
{
	if ((reason == REASON_METHOD_NOT_ALLOWED ||
	    reason == REASON_OPTIONS) && r->tus_url)
		buf_puts(b, "Allow: " TUS_URL_METHODS "\r\n");
	else if (reason == REASON_METHOD_NOT_ALLOWED ||
	    reason == REASON_OPTIONS)
		buf_printf(b, "Allow: %s%s\r\n", ALLOWED_METHODS,
		    r->webdav ? ", " DAV_METHODS : "");
	if (reason == REASON_OPTIONS && r->webdav)
		buf_puts(b, "DAV: 1\r\n");
	if (reason == REASON_RANGE_NOT_SATISFIABLE)
		buf_printf(b, "Content-Range: bytes */%" PRId64 "\r\n",
		    r->range_size);
}

static void
add_head(const struct reply *r, const struct render_options *o,
    const char *content_type, struct buf *b)
{
	enum reason reason = reply_reason(r);
	int         status = reason_status(reason);

	buf_printf(b, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\n", status, reason_status_phrase(status),
	    content_type);
	if (reason == REASON_DISK_FULL)
		buf_printf(b, "Retry-After: %" PRId64 "\r\n", o->retry_after);
	else if (reason == REASON_BUSY)
		buf_printf(b, "Retry-After: %d\r\n",
		    r->retry_after > 0 ? r->retry_after : 1);
	add_quota_headers(r, reason, b);
	if (reason == REASON_QUOTA_EXCEEDED && o->upgrade_url != NULL &&
	    header_safe(o->upgrade_url))
		buf_printf(b, "Link: <%s>; rel=\"upgrade\"\r\n", o->upgrade_url);
	add_dav_headers(r, reason, b);
	if (status == 201 && r->location != NULL)
		add_location(b, r->location);
	if (r->etag != NULL && r->last_modified != NULL)
		buf_printf(b, "ETag: %s\r\nLast-Modified: %s\r\n", r->etag,
		    r->last_modified);
	if (r->tus_headers != NULL)
		buf_puts(b, r->tus_headers);
	if (r->connection_close)
		buf_puts(b, "Connection: close\r\n");
	buf_puts(b, "\r\n");
}

void
render_head_lines(const struct reply *r, const char *content_type,
    struct buf *out)
{
	enum reason reason = reply_reason(r);
	int         status = reason_status(reason);

	buf_printf(out, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\n", status, reason_status_phrase(status),
	    content_type);
	add_quota_headers(r, reason, out);
}

static void
add_body(const struct reply *r, const struct render_options *o,
    enum format format, struct buf *b)
{
	struct json_object *tree;

	if (format == FORMAT_HTML) {
		render_html(r, o, b);
		return;
	}
	if ((tree = render_json_tree(r, o)) == NULL) {
		b->failed = 1;
		return;
	}
	if (format == FORMAT_XML)
		render_xml(r, tree, b);
	else if (format == FORMAT_TEXT)
		render_text(r, tree, b);
	else
		render_json(tree, b);
	json_object_put(tree);
}

void
render_reply(const struct reply *r, const struct render_options *o,
    const char *accept, int head_only, struct buf *out)
{
	struct negotiated n;
	struct reply      fixed = *r;

	fixed.reason = reply_reason(r);
	n = format_negotiate(accept, o->default_format);
	add_head(&fixed, o, n.content_type, out);
	/* the 201s of MKCOL and of a tus creation: no body */
	if (head_only || reason_status(fixed.reason) == 204 ||
	    fixed.reason == REASON_CREATED || fixed.reason == REASON_COPIED ||
	    fixed.reason == REASON_MOVED ||
	    fixed.reason == REASON_UPLOAD_STORED ||
	    fixed.reason == REASON_UPLOAD_STATUS)
		return;
	add_body(&fixed, o, n.format, out);
}

/* The sentences of the reasons without figures. */
static const char *const sentences[REASON__MAX] = {
	[REASON_METHOD_NOT_ALLOWED] = "This method is not allowed here; "
	    "use GET, HEAD, PUT, POST, DELETE or OPTIONS.",
	[REASON_SERVER_ERROR] = "The server could not handle the request "
	    "because of an internal error; please try again later or tell "
	    "the administrator.",
	[REASON_FORBIDDEN] = "You are not allowed to do this here.",
	[REASON_LENGTH_REQUIRED] = "The request must announce the length of "
	    "its body with Content-Length.",
	[REASON_BAD_REQUEST] = "The request is malformed.",
	[REASON_UNSUPPORTED_MEDIA_TYPE] = "A POST must be sent as "
	    "multipart/form-data with a boundary.",
	[REASON_NOT_FOUND] = "There is no such file.",
	[REASON_PRECONDITION_FAILED] = "The file already exists, and the "
	    "request asked not to replace it.",
	[REASON_CONFLICT] = "Something on the server is in the way of this "
	    "request.",
	[REASON_INCOMPLETE_BODY] = "The request body ended before its "
	    "announced length; nothing was stored.",
	[REASON_BUSY] = "The server is busy; please try again in a moment.",
	[REASON_REPLACED] = "The file was replaced.",
	[REASON_DELETED] = "The file was deleted.",
	[REASON_OPTIONS] = "Allowed methods: GET, HEAD, PUT, POST, DELETE, "
	    "OPTIONS.",
	[REASON_RANGE_NOT_SATISFIABLE] = "The range asked for lies beyond "
	    "the end of the file.",
	[REASON_CREATED] = "The folder was created.",
	[REASON_MULTISTATUS] = "The answer is a WebDAV multistatus.",
	[REASON_SERVED] = "The file is served.",
	[REASON_PARTIAL] = "A part of the file is served.",
	[REASON_NOT_MODIFIED] = "The file has not changed.",
	[REASON_DELETED_PARTIAL] = "Some of the folder could not be deleted.",
	[REASON_COPIED] = "The copy was made.",
	[REASON_COPIED_OVER] = "The copy was made.",
	[REASON_MOVED] = "The move was made.",
	[REASON_MOVED_OVER] = "The move was made.",
	[REASON_CHECKSUM_MISMATCH] = "The body does not match its "
	    "Upload-Checksum; none of it was kept.",
	[REASON_UPLOAD_STORED] = "The file was stored.",
	[REASON_APPENDED] = "The bytes were appended to the upload.",
	[REASON_UPLOAD_DONE] = "The upload is complete; the file was stored.",
	[REASON_UPLOAD_STATUS] = "The upload's state is in its headers.",
};

/* What a refused request meant to do, as the subject of its sentence. */
static const char *const subjects[VERB__MAX] = {
	[VERB_NONE]       = "The request cannot be served",
	[VERB_STORE]      = "The file cannot be stored",
	[VERB_STORE_FORM] = "The files cannot be stored",
	[VERB_DELETE]     = "The file cannot be deleted",
	[VERB_SHOW]       = "The quota status cannot be shown",
	[VERB_SERVE]      = "The file cannot be served",
	[VERB_LIST]       = "The properties cannot be listed",
	[VERB_PROPS]      = "The properties cannot be changed",
	[VERB_MAKE_FOLDER] = "The folder cannot be created",
	[VERB_DELETE_FOLDER] = "The folder cannot be deleted",
	[VERB_COPY]       = "The copy cannot be made",
	[VERB_MOVE]       = "The move cannot be made",
};

/* Why, after the subject (upgate(8), "Decisions"). */
static const char *const causes[CAUSE__MAX] = {
	[CAUSE_NO_IDENTITY] = "no user is authenticated, and the server "
	    "names no anonymous user",
	[CAUSE_BAD_USER] = "the user name is not valid (1 to 64 bytes of "
	    "A-Z a-z 0-9 . _ @ -, not starting with . or -)",
	[CAUSE_BAD_LENGTH] = "the announced length of the body is not a "
	    "plain decimal number of at most 9223372036854775807",
	[CAUSE_BAD_PATH] = "the path is not valid (each name 1 to 255 bytes "
	    "of UTF-8 without control or bidirectional control characters, "
	    "not starting with a dot; no backslash, no empty name, at most "
	    "32 names; a file's path does not end in /)",
	[CAUSE_PATH_TOO_LONG] = "the path is too long for the server (with "
	    "the upload folder's own path, more than 4095 bytes)",
	[CAUSE_SYMLINK] = "a symbolic link is on its path",
	[CAUSE_FOREIGN] = "a file of that name belongs to another user",
	[CAUSE_MISSING] = "there is no such file",
	[CAUSE_EXISTS] = "a file of that name exists, and the request asked "
	    "not to replace one (If-None-Match: *)",
	[CAUSE_PARENT_MISSING] = "a folder on its path is missing, and "
	    "creating folders is turned off",
	[CAUSE_NOT_FOLDER] = "a file is in the way where its path needs a "
	    "folder",
	[CAUSE_TARGET_FOLDER] = "that name is a folder, not a file",
	[CAUSE_TARGET_SPECIAL] = "that name is taken by something that is "
	    "not a regular file",
	[CAUSE_NO_OVERWRITE] = "a file of that name exists, and overwriting "
	    "is turned off",
	[CAUSE_ROOT] = "that is your own folder, which is never removed, "
	    "moved, copied or replaced",
	[CAUSE_NOT_FOLDER_NAMED] = "a file has that name, and the path names "
	    "a folder (it ends in /)",
	[CAUSE_NO_DESTINATION] = "the request has no Destination header",
	[CAUSE_DEST_OUTSIDE] = "the Destination lies on another host or "
	    "outside your folder, or holds a . or .. segment or a name "
	    "starting with a dot",
	[CAUSE_DEST_BAD] = "the Destination is not a valid path (each name 1 "
	    "to 255 bytes of UTF-8 without control characters, no "
	    "backslash, no empty name, at most 32 names)",
	[CAUSE_DEST_SAME] = "the Destination is the source itself",
	[CAUSE_DEST_INSIDE] = "the Destination lies inside the source, or "
	    "holds it",
	[CAUSE_DEST_EXISTS] = "the Destination exists, and the request asked "
	    "not to replace it (Overwrite: F)",
	[CAUSE_IF_MATCH] = "the file is not the one If-Match names",
	[CAUSE_BAD_DEPTH] = "the Depth header is not one this method takes",
	[CAUSE_NOTHING] = "nothing of that name is there",
	[CAUSE_INFINITE_DEPTH] = "a folder is listed at Depth 0 or 1 only",
	[CAUSE_NO_PARENT] = "the folder that would hold it is missing",
	[CAUSE_TAKEN] = "something of that name is there already",
	[CAUSE_BODY] = "the request carries a body, which this method does "
	    "not take",
};

/* A refusal with a known cause: "The file cannot be deleted: ...". */
static int
message_cause(const struct reply *r, struct buf *b)
{
	if (r->cause <= CAUSE_NONE || r->cause >= CAUSE__MAX ||
	    causes[r->cause] == NULL)
		return 0;
	buf_printf(b, "%s: %s.", subjects[r->verb < VERB__MAX ? r->verb :
	    VERB_NONE], causes[r->cause]);
	return 1;
}

static void
message_too_large(const struct reply *r, struct buf *b)
{
	char size[32], limit[32];

	render_human_size(r->too_large_size, size, sizeof size);
	render_human_size(r->too_large_limit, limit, sizeof limit);
	buf_printf(b, "The request of %s is larger than the limit of %s.",
	    size, limit);
}

static void
message_disk_full(const struct reply *r, struct buf *b)
{
	char    need[32], avail[32], lack[32];
	int64_t shortage = r->required_space - r->available_space;

	render_human_size(r->required_space, need, sizeof need);
	render_human_size(r->available_space, avail, sizeof avail);
	render_human_size(shortage > 0 ? shortage : 0, lack, sizeof lack);
	buf_printf(b, "The %s of %s does not fit in the space the server "
	    "has free: %s available, %s short; please try again later.",
	    r->verb == VERB_COPY ? "copy" : "upload", need, avail, lack);
}

static void
message_quota(const struct reply *r, struct buf *b)
{
	char size[32], limit[32], used[32], resv[32], avail[32];

	render_human_size(r->upload_size, size, sizeof size);
	render_human_size(r->quota.limit, limit, sizeof limit);
	render_human_size(r->quota.used, used, sizeof used);
	render_human_size(r->quota.reserved, resv, sizeof resv);
	render_human_size(render_available(&r->quota), avail, sizeof avail);
	buf_printf(b, "The %s of %s would exceed your quota of %s: %s "
	    "used, ", r->verb == VERB_COPY ? "copy" : "upload", size, limit,
	    used);
	if (r->quota.reserved > 0)
		buf_printf(b, "%s reserved by uploads in progress, ", resv);
	buf_printf(b, "%s available.", avail);
}

static void
message_status(const struct reply *r, struct buf *b)
{
	char used[32], limit[32], avail[32], pct[24];

	render_human_size(r->quota.used, used, sizeof used);
	buf_puts(b, r->user != NULL ? r->user : "You");
	buf_printf(b, " %s used %s", r->user != NULL ? "has" : "have", used);
	if (!render_limited(r)) {
		buf_puts(b, "; no quota applies.");
		return;
	}
	render_human_size(r->quota.limit, limit, sizeof limit);
	render_human_size(render_available(&r->quota), avail, sizeof avail);
	render_tenths_text(render_tenths(&r->quota), pct, sizeof pct);
	buf_printf(b, " of a quota of %s (%s%%); %s available.", limit, pct,
	    avail);
}

static void
message_stored(const struct reply *r, struct buf *b)
{
	char    size[32];
	int64_t total = 0;
	size_t  i;

	for (i = 0; i < r->nfiles; i++)
		total += r->files[i].size > 0 ? r->files[i].size : 0;
	render_human_size(total, size, sizeof size);
	if (r->nfiles != 1) {
		buf_printf(b, "Stored %zu files (%s in all).", r->nfiles, size);
		return;
	}
	buf_printf(b, "Stored %s", r->files[0].name != NULL ?
	    r->files[0].name : "a file");
	if (r->files[0].stored_as != NULL &&
	    strcmp(r->files[0].stored_as, r->files[0].name) != 0)
		buf_printf(b, " as %s", r->files[0].stored_as);
	buf_printf(b, " (%s).", size);
}

void
render_message(const struct reply *r, struct buf *out)
{
	enum reason reason = reply_reason(r);

	if (r->detail != NULL && r->detail[0] != '\0') {
		buf_puts(out, r->detail);
		return;
	}
	if (reason_refuses(reason) && message_cause(r, out))
		return;
	switch (reason) {
	case REASON_TOO_LARGE:
		message_too_large(r, out);
		break;
	case REASON_DISK_FULL:
		message_disk_full(r, out);
		break;
	case REASON_QUOTA_EXCEEDED:
		message_quota(r, out);
		break;
	case REASON_STATUS:
		message_status(r, out);
		break;
	case REASON_STORED:
		message_stored(r, out);
		break;
	default:
		buf_puts(out, sentences[reason]);
		break;
	}
}
