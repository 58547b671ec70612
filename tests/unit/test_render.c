/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * test_render: whole CGI responses (upgate(8), Decisions, upgate(8), Responses): header lines checked
 * exactly, JSON parsed back field by field, XML, HTML and text checked for
 * their structure and escaping, human sizes and messages as tables.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <json.h>

#include "buf.h"
#include "cu_main.h"
#include "table.h"
#include "quota.h"
#include "reason.h"
#include "render.h"
#include "table.h"

#define KiB ((int64_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

#define CT_JSON "Content-Type: application/json\r\n"
#define NOSTORE "Cache-Control: no-store\r\n"
#define ALLOW "Allow: GET, HEAD, PUT, POST, DELETE, OPTIONS\r\n"

static const struct render_options plain_opts = {
	FORMAT_JSON, 3600, NULL, NULL, 0
};
static const struct render_options url_opts = {
	FORMAT_JSON, 3600, "https://example.com/plans", "/files", 0
};

static const struct file_size two_largest[] = {
	{ "video.mp4", 6 * MiB },
	{ "docs/big.pdf", 3 * MiB },
};

static const struct stored_file form_files[] = {
	{ "doc", "report.pdf", "report-1.pdf", 1024 },
	{ "pic", "cat.jpg", "cat.jpg", 512 },
};

static const struct stored_file put_file[] = {
	{ NULL, "a.pdf", "docs/a.pdf", 1536 * KiB },
};

static struct reply
base(enum reason reason)
{
	struct reply r;

	memset(&r, 0, sizeof r);
	r.reason = reason;
	r.user = "alice";
	return r;
}

static void
set_quota(struct reply *r, int64_t limit, int64_t used, int64_t reserved)
{
	r->has_quota = 1;
	r->quota.limit = limit;
	r->quota.used = used;
	r->quota.reserved = reserved;
}

/* 2 MiB against 10 MiB with 9.5 MiB used: the example of the brief. */
static struct reply
quota_reply(void)
{
	struct reply r = base(REASON_QUOTA_EXCEEDED);

	set_quota(&r, 10 * MiB, 9 * MiB + 512 * KiB, 0);
	r.upload_size = 2 * MiB;
	r.shortage = 1536 * KiB;
	r.largest = two_largest;
	r.nlargest = 2;
	r.connection_close = 1;
	return r;
}

static struct reply
disk_reply(void)
{
	struct reply r = base(REASON_DISK_FULL);

	r.required_space = 2 * GiB;
	r.available_space = 1 * GiB;
	r.storage_path = "/srv/upload/alice";
	r.connection_close = 1;
	return r;
}

static struct reply
too_large_reply(void)
{
	struct reply r = base(REASON_TOO_LARGE);

	r.too_large_limit = 1 * MiB;
	r.too_large_size = 5 * MiB;
	r.connection_close = 1;
	return r;
}

static struct reply
post_reply(void)
{
	struct reply r = base(REASON_STORED);

	set_quota(&r, 10 * MiB, 8 * MiB + 512 * KiB, 0);	/* 85 % */
	r.files = form_files;
	r.nfiles = 2;
	return r;
}

static struct reply
put_reply(void)
{
	struct reply r = base(REASON_STORED);

	set_quota(&r, 10 * MiB, 9 * MiB + 512 * KiB, 0);	/* 95 % */
	r.files = put_file;
	r.nfiles = 1;
	r.location = "/upload/docs/a.pdf";
	return r;
}

static struct reply
get_reply(int64_t limit, int64_t used)
{
	struct reply r = base(REASON_STATUS);

	set_quota(&r, limit, used, 0);
	return r;
}

/* Renders into b (the caller releases it); asserts nothing failed. */
static void
run(const struct reply *r, const struct render_options *o,
    const char *accept, int head_only, struct buf *b)
{
	buf_init(b);
	render_reply(r, o, accept, head_only, b);
	CU_ASSERT_FALSE(b->failed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->data);
}

static const char *
body_of(const struct buf *b)
{
	const char *p = strstr(b->data, "\r\n\r\n");

	return p == NULL ? NULL : p + 4;
}

/* ---- render_human_size and render_percentage_used ---- */

static void
test_human_size(void)
{
	static const struct {
		int64_t     bytes;
		const char *text;
	} rows[] = {
		{ 0, "0 bytes" },
		{ 1, "1 byte" },
		{ 2, "2 bytes" },
		{ 512, "512 bytes" },
		{ 1023, "1023 bytes" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1075, "1.0 KiB" },		/* 1.0498 */
		{ 1076, "1.1 KiB" },		/* 1.0508: rounds up */
		{ 512 * KiB, "512.0 KiB" },
		{ 1048575, "1.0 MiB" },		/* 1023.999 KiB */
		{ 1047552, "1023.0 KiB" },
		{ 10 * MiB, "10.0 MiB" },
		{ 9 * MiB + 512 * KiB, "9.5 MiB" },
		{ 1536 * MiB, "1.5 GiB" },
		{ 2 * GiB, "2.0 GiB" },
		{ 1024 * GiB, "1.0 TiB" },
		{ 1024 * 1024 * GiB, "1.0 PiB" },
		{ INT64_MAX, "8.0 EiB" },
		{ -5, "0 bytes" },
	};
	char   out[32];
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		render_human_size(rows[i].bytes, out, sizeof out);
		CU_ASSERT_STRING_EQUAL(out, rows[i].text);
	}
	render_human_size(1536, out, 4);	/* truncated, still terminated */
	CU_ASSERT_STRING_EQUAL(out, "1.5");
}

static void
test_percentage_used(void)
{
	static const struct {
		int64_t limit, used;
		double  pct;
	} rows[] = {
		{ 1000, 0, 0.0 },
		{ 1000, 500, 50.0 },
		{ 1000, 999, 99.9 },
		{ 3000, 1000, 33.3 },
		{ 3000, 2000, 66.6 },		/* rounded down: 100.0 only when full */
		{ 10000, 9999, 99.9 },
		{ 1000, 1000, 100.0 },
		{ 1000, 1500, 150.0 },
		{ 0, 0, 100.0 },		/* upgate.conf(5), "The quota table" */
		{ 0, 10, 100.0 },
		{ INT64_MAX, INT64_MAX / 2, 49.9 },
		{ QUOTA_UNLIMITED, 5, -1.0 },
	};
	struct quota_figures q;
	size_t               i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		q.limit = rows[i].limit;
		q.used = rows[i].used;
		q.reserved = 0;
		CU_ASSERT_DOUBLE_EQUAL(render_percentage_used(&q), rows[i].pct, 1e-9);
	}
}

/* ---- header lines, exactly ---- */

enum fixture {
	FX_TOO_LARGE, FX_DISK, FX_BUSY, FX_QUOTA, FX_METHOD, FX_OPTIONS,
	FX_PUT, FX_POST, FX_REPLACED, FX_DELETED, FX_GET, FX_GET_UNLIMITED,
	FX_NONE, FX_SERVER_ERROR, FX_FORBIDDEN_QUOTA
};

static struct reply
fixture(enum fixture fx)
{
	struct reply r;

	switch (fx) {
	case FX_TOO_LARGE: return too_large_reply();
	case FX_DISK: return disk_reply();
	case FX_BUSY: return base(REASON_BUSY);
	case FX_QUOTA: return quota_reply();
	case FX_METHOD: r = base(REASON_METHOD_NOT_ALLOWED); r.user = NULL; return r;
	case FX_OPTIONS: return base(REASON_OPTIONS);
	case FX_PUT: return put_reply();
	case FX_POST: return post_reply();
	case FX_REPLACED: r = put_reply(); r.reason = REASON_REPLACED; r.location = NULL; return r;
	case FX_DELETED: r = put_reply(); r.reason = REASON_DELETED; r.location = NULL; return r;
	case FX_GET: return get_reply(10 * MiB, 9 * MiB + 512 * KiB);
	case FX_GET_UNLIMITED: return get_reply(QUOTA_UNLIMITED, 1536 * MiB);
	case FX_NONE: return base(REASON_NONE);
	case FX_SERVER_ERROR: r = base(REASON_SERVER_ERROR); r.connection_close = 1; return r;
	case FX_FORBIDDEN_QUOTA: r = base(REASON_CONFLICT); set_quota(&r, 1000, 900, 200); return r;
	}
	return base(REASON_SERVER_ERROR);
}

#define QUOTA95 "X-Quota-Used: 9961472\r\nX-Quota-Limit: 10485760\r\n" \
	"X-Quota-Available: 524288\r\n"

static void
test_heads(void)
{
	static const struct {
		enum fixture fx;
		int          urls;
		const char  *accept;
		int          head_only;
		const char  *head;
		int          body;
	} rows[] = {
		{ FX_TOO_LARGE, 0, NULL, 0, "Status: 413 Content Too Large\r\n"
		    CT_JSON NOSTORE "Connection: close\r\n\r\n", 1 },
		{ FX_DISK, 0, "*/*", 0, "Status: 507 Insufficient Storage\r\n"
		    CT_JSON NOSTORE "Retry-After: 3600\r\nConnection: close\r\n"
		    "\r\n", 1 },
		{ FX_BUSY, 0, NULL, 0, "Status: 503 Service Unavailable\r\n"
		    CT_JSON NOSTORE "Retry-After: 1\r\n\r\n", 1 },
		{ FX_QUOTA, 1, NULL, 0, "Status: 507 Insufficient Storage\r\n"
		    CT_JSON NOSTORE QUOTA95 "Link: <https://example.com/plans>; "
		    "rel=\"upgrade\"\r\nConnection: close\r\n\r\n", 1 },
		{ FX_QUOTA, 0, NULL, 0, "Status: 507 Insufficient Storage\r\n"
		    CT_JSON NOSTORE QUOTA95 "Connection: close\r\n\r\n", 1 },
		{ FX_METHOD, 0, NULL, 0, "Status: 405 Method Not Allowed\r\n"
		    CT_JSON NOSTORE ALLOW "\r\n", 1 },
		{ FX_OPTIONS, 0, NULL, 0, "Status: 204 No Content\r\n"
		    CT_JSON NOSTORE ALLOW "\r\n", 0 },
		{ FX_PUT, 0, NULL, 0, "Status: 201 Created\r\n" CT_JSON NOSTORE
		    QUOTA95 "X-Quota-Warning: 90\r\n"
		    "Location: /upload/docs/a.pdf\r\n\r\n", 1 },
		{ FX_POST, 0, "text/html", 0, "Status: 201 Created\r\n"
		    "Content-Type: text/html; charset=utf-8\r\n" NOSTORE
		    "X-Quota-Used: 8912896\r\nX-Quota-Limit: 10485760\r\n"
		    "X-Quota-Available: 1572864\r\nX-Quota-Warning: 80\r\n\r\n", 1 },
		{ FX_REPLACED, 0, NULL, 0, "Status: 204 No Content\r\n" CT_JSON
		    NOSTORE QUOTA95 "X-Quota-Warning: 90\r\n\r\n", 0 },
		{ FX_DELETED, 0, "text/plain", 0, "Status: 204 No Content\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n" NOSTORE QUOTA95
		    "\r\n", 0 },
		{ FX_GET, 0, "application/xml", 0, "Status: 200 OK\r\n"
		    "Content-Type: application/xml; charset=utf-8\r\n" NOSTORE
		    QUOTA95 "\r\n", 1 },
		{ FX_GET, 0, "text/xml", 1, "Status: 200 OK\r\n"
		    "Content-Type: text/xml; charset=utf-8\r\n" NOSTORE
		    QUOTA95 "\r\n", 0 },
		{ FX_GET_UNLIMITED, 0, NULL, 0, "Status: 200 OK\r\n" CT_JSON
		    NOSTORE "\r\n", 1 },
		{ FX_NONE, 0, NULL, 0, "Status: 500 Internal Server Error\r\n"
		    CT_JSON NOSTORE "\r\n", 1 },
		{ FX_SERVER_ERROR, 0, NULL, 1, "Status: 500 Internal Server "
		    "Error\r\n" CT_JSON NOSTORE "Connection: close\r\n\r\n", 0 },
		{ FX_FORBIDDEN_QUOTA, 0, NULL, 0, "Status: 409 Conflict\r\n"
		    CT_JSON NOSTORE "X-Quota-Used: 900\r\nX-Quota-Limit: 1000\r\n"
		    "X-Quota-Available: 0\r\n\r\n", 1 },
	};
	struct reply r;
	struct buf   b;
	size_t       i, hl;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = fixture(rows[i].fx);
		run(&r, rows[i].urls ? &url_opts : &plain_opts, rows[i].accept,
		    rows[i].head_only, &b);
		hl = strlen(rows[i].head);
		CU_ASSERT(b.len >= hl && memcmp(b.data, rows[i].head, hl) == 0);
		if (b.len < hl || memcmp(b.data, rows[i].head, hl) != 0)
			fprintf(stderr, "\nrow %zu:\n%s", i, b.data);
		CU_ASSERT_EQUAL(b.len > hl, rows[i].body);
		buf_release(&b);
	}
}

/* X-Quota-Warning: only after a successful upload, at 80 and 90 %. */
static void
test_warning(void)
{
	static const struct {
		enum reason reason;
		int64_t     limit, used;
		const char *warning;	/* NULL: no header */
	} rows[] = {
		{ REASON_STORED, 1000, 799, NULL },
		{ REASON_STORED, 1000, 800, "X-Quota-Warning: 80\r\n" },
		{ REASON_STORED, 1000, 899, "X-Quota-Warning: 80\r\n" },
		{ REASON_STORED, 1000, 900, "X-Quota-Warning: 90\r\n" },
		{ REASON_STORED, 1000, 1000, "X-Quota-Warning: 90\r\n" },
		{ REASON_STORED, 1000, 1200, "X-Quota-Warning: 90\r\n" },
		{ REASON_STORED, 0, 0, "X-Quota-Warning: 90\r\n" },
		{ REASON_STORED, 3000000000000000000, 2400000000000000000,
		    "X-Quota-Warning: 80\r\n" },
		{ REASON_REPLACED, 1000, 950, "X-Quota-Warning: 90\r\n" },
		{ REASON_STATUS, 1000, 950, NULL },
		{ REASON_DELETED, 1000, 950, NULL },
		{ REASON_QUOTA_EXCEEDED, 1000, 950, NULL },
		{ REASON_STORED, QUOTA_UNLIMITED, 950, NULL },
	};
	struct reply r;
	struct buf   b;
	const char  *w;
	size_t       i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = base(rows[i].reason);
		set_quota(&r, rows[i].limit, rows[i].used, 0);
		run(&r, &plain_opts, NULL, 0, &b);
		w = strstr(b.data, "X-Quota-Warning");
		if (rows[i].warning == NULL) {
			CU_ASSERT_PTR_NULL(w);
		} else {
			CU_ASSERT(w != NULL && strncmp(w, rows[i].warning,
			    strlen(rows[i].warning)) == 0);
		}
		CU_ASSERT_EQUAL(strstr(b.data, "X-Quota-Limit") != NULL,
		    rows[i].limit != QUOTA_UNLIMITED);
		buf_release(&b);
	}
}

/* available = max(0, limit - used - reserved), without overflow */
static void
test_available_header(void)
{
	static const struct {
		int64_t     limit, used, reserved;
		const char *line;
	} rows[] = {
		{ 1000, 100, 200, "X-Quota-Available: 700\r\n" },
		{ 1000, 900, 200, "X-Quota-Available: 0\r\n" },
		{ 1000, 2000, 0, "X-Quota-Available: 0\r\n" },
		{ INT64_MAX, INT64_MAX, INT64_MAX, "X-Quota-Available: 0\r\n" },
		{ INT64_MAX, 0, 0, "X-Quota-Available: 9223372036854775807\r\n" },
		{ 0, 0, 0, "X-Quota-Available: 0\r\n" },
	};
	struct reply r;
	struct buf   b;
	size_t       i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = base(REASON_STATUS);
		set_quota(&r, rows[i].limit, rows[i].used, rows[i].reserved);
		run(&r, &plain_opts, NULL, 0, &b);
		CU_ASSERT_PTR_NOT_NULL(strstr(b.data, rows[i].line));
		buf_release(&b);
	}
}

/* Location is percent-encoded; a Link that could break the head is dropped. */
static void
test_header_injection(void)
{
	static const struct render_options bad_url = {
		FORMAT_JSON, 3600, "https://x/\r\nSet-Cookie: a=b", NULL, 0
	};
	struct reply r = put_reply();
	struct buf   b;

	r.location = "/upload/a b\r\nSet-Cookie: x=1/\xc3\xa9\"<>";
	run(&r, &plain_opts, NULL, 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "Location: /upload/a%20b%0D%0A"
	    "Set-Cookie:%20x=1/%C3%A9%22%3C%3E\r\n"));
	CU_ASSERT_PTR_NULL(strstr(b.data, "\nSet-Cookie"));
	buf_release(&b);

	r = quota_reply();
	run(&r, &bad_url, NULL, 0, &b);
	CU_ASSERT_PTR_NULL(strstr(b.data, "Link:"));
	CU_ASSERT_PTR_NULL(strstr(b.data, "\nSet-Cookie"));
	CU_ASSERT_PTR_NULL(strstr(b.data, "\r\nSet-Cookie"));
	buf_release(&b);
}

/* ---- every reason in every format ---- */

static const struct {
	const char *accept;
	const char *content_type;
	enum format format;
} formats[] = {
	{ "application/json", "application/json", FORMAT_JSON },
	{ "application/xml", "application/xml; charset=utf-8", FORMAT_XML },
	{ "text/xml", "text/xml; charset=utf-8", FORMAT_XML },
	{ "text/html", "text/html; charset=utf-8", FORMAT_HTML },
	{ "text/plain", "text/plain; charset=utf-8", FORMAT_TEXT },
};

/* A reply with every figure set, so that any reason has its data. */
static struct reply
full_reply(enum reason reason)
{
	struct reply r = quota_reply();

	r.reason = reason;
	r.too_large_limit = 100;
	r.too_large_size = 101;
	r.required_space = 2 * GiB;
	r.available_space = 1 * GiB;
	r.storage_path = "/srv/upload/alice";
	r.files = form_files;
	r.nfiles = 2;
	return r;
}

static void
check_json(const struct reply *r, const char *body, int status)
{
	struct json_object *o = json_tokener_parse(body), *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "status", &v));
	CU_ASSERT_EQUAL(json_object_get_type(v), json_type_int);
	CU_ASSERT_EQUAL(json_object_get_int(v), status);
	if (reason_refuses(r->reason)) {
		CU_ASSERT_FATAL(json_object_object_get_ex(o, "reason", &v));
		CU_ASSERT_STRING_EQUAL(json_object_get_string(v),
		    reason_name(r->reason));
		CU_ASSERT_FATAL(json_object_object_get_ex(o, "error", &v));
		CU_ASSERT_STRING_EQUAL(json_object_get_string(v),
		    reason_status_phrase(status));
		CU_ASSERT_FATAL(json_object_object_get_ex(o, "message", &v));
		CU_ASSERT(json_object_get_string_len(v) > 0);
	}
	json_object_put(o);
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

static void
check_xml(const struct reply *r, const char *body)
{
	char want[128];

	CU_ASSERT(strncmp(body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
	    39) == 0);
	CU_ASSERT_EQUAL(strstr(body, "<D:quota-not-exceeded/>") != NULL,
	    r->reason == REASON_QUOTA_EXCEEDED);
	CU_ASSERT_EQUAL(strstr(body, "<D:sufficient-disk-space/>") != NULL,
	    r->reason == REASON_DISK_FULL);
	if (!reason_refuses(r->reason)) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body,
		    "\n<u:response xmlns:u=\"urn:upgate\">\n"));
		CU_ASSERT(ends_with(body, "</u:response>\n"));
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(body,
	    "\n<D:error xmlns:D=\"DAV:\" xmlns:u=\"urn:upgate\">\n"));
	CU_ASSERT(ends_with(body, "</D:error>\n"));
	snprintf(want, sizeof want, "<u:reason>%s</u:reason>",
	    reason_name(r->reason));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
}

static void
check_html(const char *body, int status)
{
	char want[128];

	CU_ASSERT(strncmp(body, "<!doctype html>\n<html lang=\"en\">\n", 33) == 0);
	snprintf(want, sizeof want, "<title>%d %s</title>", status,
	    reason_status_phrase(status));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<p>"));
	CU_ASSERT(ends_with(body, "</body>\n</html>\n"));
}

static void
check_text(const struct reply *r, const char *body, int status)
{
	struct buf msg;
	char       want[128];

	buf_init(&msg);
	render_message(r, &msg);
	CU_ASSERT(strncmp(body, msg.data, msg.len) == 0 && body[msg.len] == '\n');
	buf_release(&msg);
	snprintf(want, sizeof want, "\nstatus: %d\n", status);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
	if (reason_refuses(r->reason)) {
		snprintf(want, sizeof want, "\nreason: %s\n",
		    reason_name(r->reason));
		CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
	}
}

static void
check_one(const struct reply *r, size_t f)
{
	struct buf  b;
	char        head[256];
	const char *body;
	int         status = reason_status(r->reason);

	run(r, &url_opts, formats[f].accept, 0, &b);
	snprintf(head, sizeof head, "Status: %d %s\r\nContent-Type: %s\r\n"
	    NOSTORE, status, reason_status_phrase(status), formats[f].content_type);
	CU_ASSERT(strncmp(b.data, head, strlen(head)) == 0);
	body = body_of(&b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	if (status == 204 || r->reason == REASON_CREATED ||
	    r->reason == REASON_COPIED || r->reason == REASON_MOVED ||
	    r->reason == REASON_UPLOAD_STORED ||
	    r->reason == REASON_UPLOAD_STATUS) {
		/*
		 * MKCOL, COPY and MOVE's 201 has no body either (upgate(8), "WebDAV"), nor
		 * a tus creation's ("Resumable uploads")
		 */
		CU_ASSERT_EQUAL(*body, '\0');
	} else if (formats[f].format == FORMAT_JSON)
		check_json(r, body, status);
	else if (formats[f].format == FORMAT_XML)
		check_xml(r, body);
	else if (formats[f].format == FORMAT_HTML)
		check_html(body, status);
	else
		check_text(r, body, status);
	buf_release(&b);
}

static void
test_every_reason_every_format(void)
{
	struct reply r;
	int          reason;
	size_t       f;

	for (reason = REASON_NONE + 1; reason < REASON__MAX; reason++) {
		r = full_reply((enum reason)reason);
		for (f = 0; f < sizeof formats / sizeof formats[0]; f++)
			check_one(&r, f);
	}
}

/* HEAD: the same head as GET, and nothing after it, in every format. */
static void
test_head_only(void)
{
	struct reply r = get_reply(10 * MiB, 1);
	struct buf   get, head;
	const char  *body, *get_body;
	size_t       f;

	for (f = 0; f < sizeof formats / sizeof formats[0]; f++) {
		run(&r, &plain_opts, formats[f].accept, 0, &get);
		run(&r, &plain_opts, formats[f].accept, 1, &head);
		body = body_of(&head);
		get_body = body_of(&get);
		CU_ASSERT_FATAL(body != NULL && get_body != NULL);
		CU_ASSERT(body != NULL && *body == '\0');
		CU_ASSERT_EQUAL((size_t)(get_body - get.data), head.len);
		CU_ASSERT(memcmp(get.data, head.data, head.len) == 0);
		buf_release(&get);
		buf_release(&head);
	}
}

/* ---- JSON bodies, field by field ---- */

static struct json_object *
get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	CU_ASSERT(json_object_object_get_ex(o, key, &v));
	return v;
}

static void
check_int(struct json_object *o, const char *key, int64_t want)
{
	struct json_object *v = get(o, key);

	CU_ASSERT_EQUAL(json_object_get_type(v), json_type_int);
	CU_ASSERT_EQUAL(json_object_get_int64(v), want);
}

static void
check_str(struct json_object *o, const char *key, const char *want)
{
	struct json_object *v = get(o, key);

	CU_ASSERT_EQUAL_FATAL(json_object_get_type(v), json_type_string);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), want);
}

static void
check_null(struct json_object *o, const char *key)
{
	CU_ASSERT(json_object_object_get_ex(o, key, NULL));
	CU_ASSERT_PTR_NULL(get(o, key));
}

/* The exact keys of o, in order (a NULL-terminated list). */
static void
check_keys(struct json_object *o, const char *const *keys)
{
	struct json_object_iterator it, end;
	size_t                      i = 0;

	CU_ASSERT_EQUAL_FATAL(json_object_get_type(o), json_type_object);
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(keys[i]);
		CU_ASSERT_STRING_EQUAL(json_object_iter_peek_name(&it), keys[i]);
		i++;
	}
	CU_ASSERT_PTR_NULL(keys[i]);
}

static const char *const quota_keys[] = {
	"limit", "used", "reserved", "available", "percentage_used", NULL
};

/* A limited quota object; pct is the exact text of percentage_used. */
static void
check_quota(struct json_object *q, int64_t limit, int64_t used,
    int64_t reserved, int64_t available, double pct)
{
	struct json_object *p;

	check_keys(q, quota_keys);
	check_int(q, "limit", limit);
	check_int(q, "used", used);
	check_int(q, "reserved", reserved);
	check_int(q, "available", available);
	p = get(q, "percentage_used");
	CU_ASSERT_EQUAL(json_object_get_type(p), json_type_double);
	CU_ASSERT_DOUBLE_EQUAL(json_object_get_double(p), pct, 1e-9);
}

/* Renders r as JSON and parses it back; body text into *text. */
static struct json_object *
json_of(const struct reply *r, const struct render_options *o,
    struct buf *b)
{
	struct json_object *j;
	const char         *body;

	run(r, o, "application/json", 0, b);
	body = body_of(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	CU_ASSERT(ends_with(body, "}\n"));
	j = json_tokener_parse(body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	return j;
}

static void
test_json_quota(void)
{
	static const char *const keys[] = { "status", "error", "reason",
		"message", "quota", "upload", "actions", "storage_analysis", NULL };
	static const char *const both[] = { "upgrade", "cleanup", NULL };
	static const char *const none[] = { NULL };
	static const char *const action_keys[] = { "url", "description", NULL };
	struct reply        r = quota_reply();
	struct buf          b;
	struct json_object *j, *a, *l;

	j = json_of(&r, &url_opts, &b);
	check_keys(j, keys);
	check_int(j, "status", 507);
	check_str(j, "error", "Insufficient Storage");
	check_str(j, "reason", "quota_exceeded");
	check_str(j, "message", "The upload of 2.0 MiB would exceed your quota "
	    "of 10.0 MiB: 9.5 MiB used, 512.0 KiB available.");
	/* a refusal's quota names whose quota refused, first */
	CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&b),
	    "\"quota\":{\"source\":\"upgate\",\"limit\":"));
	json_object_object_del(get(j, "quota"), "source");
	check_quota(get(j, "quota"), 10 * MiB, 9 * MiB + 512 * KiB, 0,
	    512 * KiB, 95.0);
	CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&b), "\"percentage_used\":95.0}"));
	check_int(get(j, "upload"), "size", 2 * MiB);
	check_int(get(j, "upload"), "shortage", 1536 * KiB);
	a = get(j, "actions");
	check_keys(a, both);
	check_keys(get(a, "upgrade"), action_keys);
	check_str(get(a, "upgrade"), "url", "https://example.com/plans");
	check_str(get(a, "cleanup"), "url", "/files");
	CU_ASSERT(json_object_get_string_len(get(get(a, "cleanup"),
	    "description")) > 0);
	l = get(get(j, "storage_analysis"), "largest_files");
	CU_ASSERT_EQUAL_FATAL(json_object_get_type(l), json_type_array);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(l), 2);
	check_str(json_object_array_get_idx(l, 0), "name", "video.mp4");
	check_int(json_object_array_get_idx(l, 0), "size", 6 * MiB);
	check_str(json_object_array_get_idx(l, 1), "name", "docs/big.pdf");
	json_object_put(j);
	buf_release(&b);

	/* no URLs: actions is {}; no largest files: [] */
	r.nlargest = 0;
	j = json_of(&r, &plain_opts, &b);
	check_keys(get(j, "actions"), none);
	l = get(get(j, "storage_analysis"), "largest_files");
	CU_ASSERT_EQUAL(json_object_get_type(l), json_type_array);
	CU_ASSERT_EQUAL(json_object_array_length(l), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(body_of(&b), "\"actions\":{}"));
	json_object_put(j);
	buf_release(&b);

	/* the filesystem's own quota (EDQUOT): how much is short, unknown */
	r.quota_filesystem = 1;
	j = json_of(&r, &plain_opts, &b);
	check_str(get(j, "quota"), "source", "filesystem");
	check_null(get(j, "upload"), "shortage");
	check_int(get(j, "upload"), "size", 2 * MiB);
	json_object_put(j);
	buf_release(&b);
}

static void
test_json_disk_full(void)
{
	static const char *const keys[] = { "status", "error", "reason",
		"message", "details", "retry_after", NULL };
	static const char *const details[] = { "required_space",
		"available_space", "shortage", NULL };
	static const char *const exposed[] = { "required_space",
		"available_space", "shortage", "storage_path", NULL };
	struct render_options o = plain_opts;
	struct reply          r = disk_reply();
	struct buf            b;
	struct json_object   *j;

	j = json_of(&r, &o, &b);
	check_keys(j, keys);
	check_int(j, "status", 507);
	check_str(j, "reason", "disk_full");
	check_keys(get(j, "details"), details);
	check_int(get(j, "details"), "required_space", 2 * GiB);
	check_int(get(j, "details"), "available_space", 1 * GiB);
	check_int(get(j, "details"), "shortage", 1 * GiB);
	check_int(j, "retry_after", 3600);
	json_object_put(j);
	buf_release(&b);

	o.expose_paths = 1;
	o.retry_after = 60;
	j = json_of(&r, &o, &b);
	check_keys(get(j, "details"), exposed);
	check_str(get(j, "details"), "storage_path", "/srv/upload/alice");
	check_int(j, "retry_after", 60);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "Retry-After: 60\r\n"));
	json_object_put(j);
	buf_release(&b);
}

static void
test_json_too_large(void)
{
	static const char *const keys[] = { "status", "error", "reason",
		"message", "limit", "size", NULL };
	static const char *const plain[] = { "status", "error", "reason",
		"message", NULL };
	struct reply        r = too_large_reply();
	struct buf          b;
	struct json_object *j;

	j = json_of(&r, &plain_opts, &b);
	check_keys(j, keys);
	check_int(j, "status", 413);
	check_str(j, "error", "Content Too Large");
	check_int(j, "limit", 1 * MiB);
	check_int(j, "size", 5 * MiB);
	json_object_put(j);
	buf_release(&b);

	r = base(REASON_FORBIDDEN);
	j = json_of(&r, &url_opts, &b);
	check_keys(j, plain);
	check_str(j, "error", "Forbidden");
	check_str(j, "reason", "forbidden");
	json_object_put(j);
	buf_release(&b);
}

static void
test_json_post(void)
{
	static const char *const keys[] = { "status", "files", "quota", NULL };
	static const char *const file[] = { "field", "name", "stored_as",
		"size", NULL };
	struct reply        r = post_reply();
	struct buf          b;
	struct json_object *j, *f;

	j = json_of(&r, &plain_opts, &b);
	check_keys(j, keys);
	check_int(j, "status", 201);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(get(j, "files")), 2);
	f = json_object_array_get_idx(get(j, "files"), 0);
	check_keys(f, file);
	check_str(f, "field", "doc");
	check_str(f, "name", "report.pdf");
	check_str(f, "stored_as", "report-1.pdf");
	check_int(f, "size", 1024);
	check_str(json_object_array_get_idx(get(j, "files"), 1), "name",
	    "cat.jpg");
	check_quota(get(j, "quota"), 10 * MiB, 8 * MiB + 512 * KiB, 0,
	    1536 * KiB, 85.0);
	json_object_put(j);
	buf_release(&b);
}

static void
test_json_put(void)
{
	static const char *const keys[] = { "status", "file", "quota", NULL };
	static const char *const file[] = { "name", "stored_as", "size", NULL };
	struct reply        r = put_reply();
	struct buf          b;
	struct json_object *j;

	r.quota.reserved = 100;
	j = json_of(&r, &plain_opts, &b);
	check_keys(j, keys);
	check_int(j, "status", 201);
	check_keys(get(j, "file"), file);
	check_str(get(j, "file"), "name", "a.pdf");
	check_str(get(j, "file"), "stored_as", "docs/a.pdf");
	check_int(get(j, "file"), "size", 1536 * KiB);
	check_quota(get(j, "quota"), 10 * MiB, 9 * MiB + 512 * KiB, 100,
	    512 * KiB - 100, 95.0);
	json_object_put(j);
	buf_release(&b);

	/* figures not known: "quota": null */
	r.has_quota = 0;
	j = json_of(&r, &plain_opts, &b);
	check_null(j, "quota");
	json_object_put(j);
	buf_release(&b);
}

static void
test_json_get(void)
{
	static const char *const keys[] = { "status", "user", "quota", NULL };
	struct reply        r = get_reply(10 * MiB, 9 * MiB + 512 * KiB);
	struct buf          b;
	struct json_object *j, *q;

	j = json_of(&r, &plain_opts, &b);
	CU_ASSERT_STRING_EQUAL(body_of(&b), "{\"status\":200,\"user\":\"alice\","
	    "\"quota\":{\"limit\":10485760,\"used\":9961472,\"reserved\":0,"
	    "\"available\":524288,\"percentage_used\":95.0}}\n");
	check_keys(j, keys);
	check_str(j, "user", "alice");
	json_object_put(j);
	buf_release(&b);

	r = get_reply(QUOTA_UNLIMITED, 1536 * MiB);
	j = json_of(&r, &plain_opts, &b);
	q = get(j, "quota");
	check_keys(q, quota_keys);
	check_null(q, "limit");
	check_int(q, "used", 1536 * MiB);
	check_int(q, "reserved", 0);
	check_null(q, "available");
	check_null(q, "percentage_used");
	json_object_put(j);
	buf_release(&b);

	/* limit 0: 100 %; a third: one decimal, rounded down */
	r = get_reply(0, 0);
	j = json_of(&r, &plain_opts, &b);
	check_quota(get(j, "quota"), 0, 0, 0, 0, 100.0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"percentage_used\":100.0}"));
	json_object_put(j);
	buf_release(&b);
	r = get_reply(3000, 1000);
	j = json_of(&r, &plain_opts, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"percentage_used\":33.3}"));
	json_object_put(j);
	buf_release(&b);
}

/* ---- XML, HTML and text shapes ---- */

static void
test_xml_bodies(void)
{
	struct reply r = get_reply(QUOTA_UNLIMITED, 1536 * MiB);
	struct buf   b;

	run(&r, &plain_opts, "application/xml", 0, &b);
	CU_ASSERT_STRING_EQUAL(body_of(&b),
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<u:response xmlns:u=\"urn:upgate\">\n"
	    "  <u:status>200</u:status>\n"
	    "  <u:user>alice</u:user>\n"
	    "  <u:quota>\n"
	    "    <u:limit/>\n"
	    "    <u:used>1610612736</u:used>\n"
	    "    <u:reserved>0</u:reserved>\n"
	    "    <u:available/>\n"
	    "    <u:percentage_used/>\n"
	    "  </u:quota>\n"
	    "</u:response>\n");
	buf_release(&b);

	r = quota_reply();
	run(&r, &url_opts, "text/xml", 0, &b);
	CU_ASSERT(strncmp(body_of(&b),
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<D:error xmlns:D=\"DAV:\" xmlns:u=\"urn:upgate\">\n"
	    "  <D:quota-not-exceeded/>\n"
	    "  <u:status>507</u:status>\n"
	    "  <u:error>Insufficient Storage</u:error>\n"
	    "  <u:reason>quota_exceeded</u:reason>\n"
	    "  <u:message>The upload of 2.0 MiB", 227) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "  <u:quota>\n"
	    "    <u:source>upgate</u:source>\n"
	    "    <u:limit>10485760</u:limit>\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "<u:percentage_used>95.0</u:percentage_used>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "  <u:upload>\n"
	    "    <u:size>2097152</u:size>\n"
	    "    <u:shortage>1572864</u:shortage>\n  </u:upload>\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "    <u:upgrade>\n"
	    "      <u:url>https://example.com/plans</u:url>\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "    <u:largest_files>\n"
	    "      <u:file>\n        <u:name>video.mp4</u:name>\n"
	    "        <u:size>6291456</u:size>\n      </u:file>\n"));
	buf_release(&b);

	r = disk_reply();
	run(&r, &plain_opts, "application/xml", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<D:error xmlns:D=\"DAV:\" "
	    "xmlns:u=\"urn:upgate\">\n  <D:sufficient-disk-space/>\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "<u:retry_after>3600</u:retry_after>"));
	CU_ASSERT_PTR_NULL(strstr(b.data, "storage_path"));
	buf_release(&b);
}

static void
test_text_bodies(void)
{
	struct reply r = get_reply(QUOTA_UNLIMITED, 1536 * MiB);
	struct buf   b;

	run(&r, &plain_opts, "text/plain", 0, &b);
	CU_ASSERT_STRING_EQUAL(body_of(&b),
	    "alice has used 1.5 GiB; no quota applies.\n"
	    "status: 200\n"
	    "user: alice\n"
	    "quota.limit: none\n"
	    "quota.used: 1610612736\n"
	    "quota.reserved: 0\n"
	    "quota.available: none\n"
	    "quota.percentage_used: none\n");
	buf_release(&b);

	r = post_reply();
	run(&r, &plain_opts, "text/plain", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\r\n\r\nStored 2 files "
	    "(1.5 KiB in all).\nstatus: 201\nfiles[0].field: doc\n"
	    "files[0].name: report.pdf\nfiles[0].stored_as: report-1.pdf\n"
	    "files[0].size: 1024\nfiles[1].field: pic\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\nquota.percentage_used: 85.0\n"));
	buf_release(&b);
}

static void
test_html_bodies(void)
{
	struct reply r = quota_reply();
	struct buf   b;

	run(&r, &url_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<meter min=\"0\" max=\"10485760\" "
	    "low=\"8388608\" high=\"9437184\" optimum=\"0\" value=\"9961472\">"
	    "95.0%</meter>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "9.5 MiB of 10.0 MiB used (95.0%), 512.0 KiB available."));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "<a href=\"https://example.com/plans\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<a href=\"/files\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<li>video.mp4 (6.0 MiB)</li>"));
	buf_release(&b);

	r = post_reply();
	run(&r, &plain_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<ul>\n<li>report.pdf, stored as "
	    "report-1.pdf (1.0 KiB)</li>\n<li>cat.jpg (512 bytes)</li>\n</ul>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<meter"));
	buf_release(&b);

	/* no quota, no bar */
	r = get_reply(QUOTA_UNLIMITED, 10);
	run(&r, &plain_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NULL(strstr(b.data, "<meter"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "<p>alice has used 10 bytes; no quota applies.</p>"));
	buf_release(&b);
}

/* ---- escaping of client strings ---- */

#define EVIL_USER "<script>alert(1)</script>"
#define EVIL_URL "https://x/?a=1&b=\"><script>"

static const struct stored_file evil_files[] = {
	{ "<f>", "\"&'", "]]>x", 1 },
	{ "f2", "<script>", "a]]>", 2 },
};

static struct reply
evil_reply(enum reason reason)
{
	static const struct file_size evil_largest[] = {
		{ "<script>x</script>", 5 },
	};
	struct reply r = full_reply(reason);

	r.user = EVIL_USER;
	r.files = evil_files;
	r.largest = evil_largest;
	r.nlargest = 1;
	return r;
}

static void
test_escape_markup(void)
{
	static const struct render_options evil_opts = {
		FORMAT_JSON, 1, EVIL_URL, "/c?<b>'", 1
	};
	static const enum reason reasons[] = {
		REASON_QUOTA_EXCEEDED, REASON_STORED, REASON_STATUS
	};
	static const char *const accepts[] = { "application/xml", "text/html" };
	struct reply r;
	struct buf   b;
	size_t       i, k;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		for (k = 0; k < 2; k++) {
			r = evil_reply(reasons[i]);
			r.storage_path = "/srv/<p>";
			run(&r, &evil_opts, accepts[k], 0, &b);
			CU_ASSERT_PTR_NULL(strstr(b.data, "<script"));
			CU_ASSERT_PTR_NULL(strstr(b.data, "]]>"));
			CU_ASSERT_PTR_NULL(strstr(b.data, "\"&'"));
			CU_ASSERT_PTR_NULL(strstr(b.data, "<b>"));
			buf_release(&b);
		}
	}
	r = evil_reply(REASON_STATUS);
	run(&r, &evil_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "&lt;script&gt;alert(1)"
	    "&lt;/script&gt; has used"));
	buf_release(&b);
	r = evil_reply(REASON_STORED);
	run(&r, &evil_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<li>&quot;&amp;&#39;, stored as "
	    "]]&gt;x (1 byte)</li>"));
	buf_release(&b);
	r = evil_reply(REASON_QUOTA_EXCEEDED);
	run(&r, &evil_opts, "text/html", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<a href=\"https://x/?a=1&amp;b="
	    "&quot;&gt;&lt;script&gt;\">"));
	buf_release(&b);
	run(&r, &evil_opts, "application/xml", 0, &b);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<u:url>https://x/?a=1&amp;b="
	    "&quot;&gt;&lt;script&gt;</u:url>"));
	buf_release(&b);
}

/* JSON carries the strings as they were (json-c escapes them). */
static void
test_escape_json(void)
{
	static const struct render_options evil_opts = {
		FORMAT_JSON, 1, EVIL_URL, NULL, 0
	};
	struct reply        r = evil_reply(REASON_STORED);
	struct buf          b;
	struct json_object *j, *f;

	j = json_of(&r, &evil_opts, &b);
	f = json_object_array_get_idx(get(j, "files"), 0);
	check_str(f, "field", "<f>");
	check_str(f, "name", "\"&'");
	check_str(f, "stored_as", "]]>x");
	json_object_put(j);
	buf_release(&b);

	r = evil_reply(REASON_STATUS);
	j = json_of(&r, &evil_opts, &b);
	check_str(j, "user", EVIL_USER);
	json_object_put(j);
	buf_release(&b);

	r = evil_reply(REASON_QUOTA_EXCEEDED);
	j = json_of(&r, &evil_opts, &b);
	check_str(get(get(j, "actions"), "upgrade"), "url", EVIL_URL);
	check_str(json_object_array_get_idx(get(get(j, "storage_analysis"),
	    "largest_files"), 0), "name", "<script>x</script>");
	json_object_put(j);
	buf_release(&b);
}

/* Control characters and invalid UTF-8 become U+FFFD in every format. */
static void
test_escape_bytes(void)
{
	static const struct stored_file odd[] = {
		{ NULL, "a\x01" "b\xff" "c\xc2\x85" "d\xed\xa0\x80" "e\n\xef\xbf\xbe",
		    "ok-\xc3\xa9-\xf0\x9f\x98\x80", 1 },
	};
	static const char *const accepts[] = {
		"application/xml", "text/html", "text/plain"
	};
	struct reply        r = base(REASON_STORED);
	struct buf          b;
	struct json_object *j, *f;
	size_t              k;

	r.files = odd;
	r.nfiles = 1;
	r.location = "/x";
	j = json_of(&r, &plain_opts, &b);
	f = get(j, "file");
	check_str(f, "name", "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"
	    "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e\xef\xbf\xbd\xef\xbf\xbd");
	check_str(f, "stored_as", "ok-\xc3\xa9-\xf0\x9f\x98\x80");
	json_object_put(j);
	buf_release(&b);
	for (k = 0; k < sizeof accepts / sizeof accepts[0]; k++) {
		run(&r, &plain_opts, accepts[k], 0, &b);
		CU_ASSERT_PTR_NULL(strchr(b.data, '\x01'));
		CU_ASSERT_PTR_NULL(strchr(b.data, 0xff));
		CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
		    "e\xef\xbf\xbd\xef\xbf\xbd"));
		CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "a\xef\xbf\xbd" "b"));
		CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "ok-\xc3\xa9-\xf0\x9f\x98\x80"));
		buf_release(&b);
	}
}

/* ---- messages ---- */

static void
test_messages(void)
{
	struct {
		struct reply r;
		const char  *text;
	} rows[12];
	struct buf b;
	size_t     i, n = 0;

	rows[n].r = quota_reply();
	rows[n++].text = "The upload of 2.0 MiB would exceed your quota of "
	    "10.0 MiB: 9.5 MiB used, 512.0 KiB available.";
	rows[n].r = quota_reply();
	rows[n].r.quota.used = 9 * MiB;
	rows[n].r.quota.reserved = 512 * KiB;
	rows[n++].text = "The upload of 2.0 MiB would exceed your quota of "
	    "10.0 MiB: 9.0 MiB used, 512.0 KiB reserved by uploads in "
	    "progress, 512.0 KiB available.";
	rows[n].r = disk_reply();
	rows[n++].text = "The upload of 2.0 GiB does not fit in the space the "
	    "server has free: 1.0 GiB available, 1.0 GiB short; please try "
	    "again later.";
	rows[n].r = too_large_reply();
	rows[n++].text = "The request of 5.0 MiB is larger than the limit of "
	    "1.0 MiB.";
	rows[n].r = get_reply(10 * MiB, 9 * MiB + 512 * KiB);
	rows[n++].text = "alice has used 9.5 MiB of a quota of 10.0 MiB "
	    "(95.0%); 512.0 KiB available.";
	rows[n].r = get_reply(QUOTA_UNLIMITED, 1536 * MiB);
	rows[n++].text = "alice has used 1.5 GiB; no quota applies.";
	rows[n].r = get_reply(QUOTA_UNLIMITED, 1);
	rows[n].r.user = NULL;
	rows[n++].text = "You have used 1 byte; no quota applies.";
	rows[n].r = put_reply();
	rows[n++].text = "Stored a.pdf as docs/a.pdf (1.5 MiB).";
	rows[n].r = post_reply();
	rows[n++].text = "Stored 2 files (1.5 KiB in all).";
	rows[n].r = too_large_reply();
	rows[n].r.detail = "The form has 101 file parts; at most 100 are "
	    "accepted.";
	rows[n].text = rows[n].r.detail;
	n++;
	rows[n].r = base(REASON_NOT_FOUND);
	rows[n].r.detail = "";
	rows[n++].text = "There is no such file.";
	rows[n].r = base(REASON_BUSY);
	rows[n++].text = "The server is busy; please try again in a moment.";
	for (i = 0; i < n; i++) {
		buf_init(&b);
		render_message(&rows[i].r, &b);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
		CU_ASSERT_STRING_EQUAL(b.data, rows[i].text);
		buf_release(&b);
	}
}

/*
 * A refusal names its one cause and what the request meant to do
 * (upgate(8), "Decisions"): a DELETE of a folder is not told that "the
 * file cannot be stored", a 409 does not list three causes.
 */
static void
test_messages_cause_verb(void)
{
	static const struct {
		enum reason reason;
		enum verb   verb;
		enum cause  cause;
		const char *text;
	} rows[] = {
		{ REASON_CONFLICT, VERB_DELETE, CAUSE_TARGET_FOLDER,
		  "The file cannot be deleted: that name is a folder, not a "
		  "file." },
		{ REASON_CONFLICT, VERB_STORE, CAUSE_TARGET_FOLDER,
		  "The file cannot be stored: that name is a folder, not a "
		  "file." },
		{ REASON_CONFLICT, VERB_STORE, CAUSE_NO_OVERWRITE,
		  "The file cannot be stored: a file of that name exists, and "
		  "overwriting is turned off." },
		{ REASON_CONFLICT, VERB_STORE, CAUSE_PARENT_MISSING,
		  "The file cannot be stored: a folder on its path is missing, "
		  "and creating folders is turned off." },
		{ REASON_CONFLICT, VERB_STORE_FORM, CAUSE_PARENT_MISSING,
		  "The files cannot be stored: a folder on its path is "
		  "missing, and creating folders is turned off." },
		{ REASON_CONFLICT, VERB_STORE, CAUSE_NOT_FOLDER,
		  "The file cannot be stored: a file is in the way where its "
		  "path needs a folder." },
		{ REASON_CONFLICT, VERB_DELETE, CAUSE_NOT_FOLDER,
		  "The file cannot be deleted: a file is in the way where its "
		  "path needs a folder." },
		{ REASON_CONFLICT, VERB_DELETE, CAUSE_TARGET_SPECIAL,
		  "The file cannot be deleted: that name is taken by something "
		  "that is not a regular file." },
		{ REASON_NOT_FOUND, VERB_DELETE, CAUSE_MISSING,
		  "The file cannot be deleted: there is no such file." },
		{ REASON_FORBIDDEN, VERB_DELETE, CAUSE_SYMLINK,
		  "The file cannot be deleted: a symbolic link is on its "
		  "path." },
		{ REASON_FORBIDDEN, VERB_STORE, CAUSE_FOREIGN,
		  "The file cannot be stored: a file of that name belongs to "
		  "another user." },
		{ REASON_FORBIDDEN, VERB_SHOW, CAUSE_NO_IDENTITY,
		  "The quota status cannot be shown: no user is "
		  "authenticated, and the server names no anonymous user." },
		{ REASON_PRECONDITION_FAILED, VERB_STORE, CAUSE_EXISTS,
		  "The file cannot be stored: a file of that name exists, and "
		  "the request asked not to replace one (If-None-Match: *)." },
		{ REASON_BAD_REQUEST, VERB_STORE_FORM, CAUSE_PATH_TOO_LONG,
		  "The files cannot be stored: the path is too long for the "
		  "server (with the upload folder's own path, more than 4095 "
		  "bytes)." },
		/* no cause: the reason's own sentence */
		{ REASON_CONFLICT, VERB_STORE, CAUSE_NONE,
		  "Something on the server is in the way of this request." },
		/* out of range: never read past the tables */
		{ REASON_CONFLICT, VERB__MAX, CAUSE_NOT_FOLDER,
		  "The request cannot be served: a file is in the way where "
		  "its path needs a folder." },
		{ REASON_CONFLICT, VERB_STORE, CAUSE__MAX,
		  "Something on the server is in the way of this request." },
		/* a success ignores a stale cause */
		{ REASON_DELETED, VERB_DELETE, CAUSE_MISSING,
		  "The file was deleted." },
	};
	struct reply r;
	struct buf   b;
	size_t       i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = base(rows[i].reason);
		r.verb = rows[i].verb;
		r.cause = rows[i].cause;
		buf_init(&b);
		render_message(&r, &b);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
		ROW(strcmp(b.data, rows[i].text) == 0, i, b.data);
		buf_release(&b);
	}
}

/* Every cause with every verb: one sentence, ending in a full stop. */
static void
test_message_every_cause(void)
{
	struct reply r;
	struct buf   b;
	int          cause, verb;

	for (cause = CAUSE_NO_IDENTITY; cause < CAUSE__MAX; cause++)
		for (verb = VERB_NONE; verb < VERB__MAX; verb++) {
			r = base(REASON_CONFLICT);
			r.cause = (enum cause)cause;
			r.verb = (enum verb)verb;
			buf_init(&b);
			render_message(&r, &b);
			CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
			CU_ASSERT(strstr(b.data, "cannot be") != NULL &&
			    b.data[b.len - 1] == '.');
			CU_ASSERT_PTR_NULL(strchr(b.data, '\n'));
			buf_release(&b);
		}
}

/* Every reason has one sentence, ending in a full stop. */
static void
test_message_every_reason(void)
{
	struct reply r;
	struct buf   b;
	int          reason;

	for (reason = REASON_NONE; reason < REASON__MAX; reason++) {
		r = full_reply((enum reason)reason);
		buf_init(&b);
		render_message(&r, &b);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
		CU_ASSERT(b.len > 10 && b.data[b.len - 1] == '.');
		CU_ASSERT_PTR_NULL(strchr(b.data, '\n'));
		buf_release(&b);
	}
}

static CU_TestInfo figure_tests[] = {
	{ "human_size", test_human_size },
	{ "percentage_used", test_percentage_used },
	{ "messages", test_messages },
	{ "messages name the cause and the verb", test_messages_cause_verb },
	{ "a message for every cause and verb", test_message_every_cause },
	{ "a message for every reason", test_message_every_reason },
	CU_TEST_INFO_NULL
};

static CU_TestInfo head_tests[] = {
	{ "exact heads", test_heads },
	{ "X-Quota-Warning", test_warning },
	{ "X-Quota-Available", test_available_header },
	{ "header injection", test_header_injection },
	{ "HEAD has no body", test_head_only },
	CU_TEST_INFO_NULL
};

static CU_TestInfo body_tests[] = {
	{ "every reason in every format", test_every_reason_every_format },
	{ "json quota_exceeded", test_json_quota },
	{ "json disk_full", test_json_disk_full },
	{ "json too_large and plain", test_json_too_large },
	{ "json POST", test_json_post },
	{ "json PUT", test_json_put },
	{ "json GET", test_json_get },
	{ "xml", test_xml_bodies },
	{ "text", test_text_bodies },
	{ "html", test_html_bodies },
	CU_TEST_INFO_NULL
};

/* Untrusted bytes for a log line, whole or cut to a message's room (buf.h). */
static void
test_escape_log(void)
{
	static const struct {
		const char *in;
		size_t      len, size, max;
		const char *out;
	} rows[] = {
		{ S("alice"), 64, 40, "alice" },
		{ S("a\"b\\c d"), 64, 40, "a\\x22b\\x5cc d" },
		{ S("r\xc3\xa9my\x01\x7f\n"), 64, 40,
		  "r\\xc3\\xa9my\\x01\\x7f\\x0a" },
		{ S("a\0b"), 64, 40, "a\\x00b" },
		{ S("abcdef"), 64, 3, "abc..." },
		{ S("abcdef"), 64, 6, "abcdef" },
		{ S("abcdef"), 8, 40, "abcd..." },
		{ S("abcdef"), 11, 40, "abcdef" },
		{ S("\x01\x02"), 8, 40, "\\x01..." },
		{ S("a\x01"), 9, 40, "a\\x01" },
		{ S(""), 4, 40, "" },
	};
	char       out[64];
	struct buf b;
	size_t     i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(out, 'Z', sizeof out);
		logsafe_copy(out, rows[i].size, rows[i].in, rows[i].len,
		    rows[i].max);
		ROW(strcmp(out, rows[i].out) == 0 &&
		    strlen(out) < rows[i].size, i, out);
		if (rows[i].max < rows[i].len || rows[i].size < 64)
			continue;
		/* uncut, the line's escaping is the same */
		buf_init(&b);
		buf_add_logsafe(&b, rows[i].in, rows[i].len);
		ROW(b.len == strlen(rows[i].out) &&
		    memcmp(b.data, rows[i].out, b.len) == 0, i, "buf");
		buf_release(&b);
	}
}

static CU_TestInfo escape_tests[] = {
	{ "xml and html", test_escape_markup },
	{ "json", test_escape_json },
	{ "bad bytes", test_escape_bytes },
	{ "log lines", test_escape_log },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "figures and messages", NULL, NULL, NULL, NULL, figure_tests },
	{ "headers", NULL, NULL, NULL, NULL, head_tests },
	{ "bodies", NULL, NULL, NULL, NULL, body_tests },
	{ "escaping", NULL, NULL, NULL, NULL, escape_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
