/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <json.h>

#include "buf.h"
#include "reason.h"
#include "render.h"
#include "render_int.h"

/*
 * Adds v under key; o then owns v.  A NULL v is an allocation that
 * failed.  0, or -1 (and v freed).
 */
static int
put(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int
put_null(struct json_object *o, const char *key)
{
	return json_object_object_add(o, key, NULL) != 0 ? -1 : 0;
}

static int
put_int(struct json_object *o, const char *key, int64_t v)
{
	return put(o, key, json_object_new_int64(v));
}

/* A new object under key, owned by o; NULL on failure. */
static struct json_object *
put_object(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_new_object();

	return put(o, key, v) == 0 ? v : NULL;
}

/* A string cleaned as for any format (render_add_clean); NULL on failure. */
static struct json_object *
new_string(const char *s, size_t len)
{
	struct json_object *v = NULL;
	struct buf          b;

	buf_init(&b);
	render_add_clean(&b, s, len, 0);
	if (!b.failed && b.len <= INT_MAX)
		v = json_object_new_string_len(b.len > 0 ? b.data : "",
		    (int)b.len);
	buf_release(&b);
	return v;
}

/* A client string (NULL: null). */
static int
put_string(struct json_object *o, const char *key, const char *s)
{
	if (s == NULL)
		return put_null(o, key);
	return put(o, key, new_string(s, strlen(s)));
}

/* "percentage_used": a double whose text is exactly one decimal. */
static int
put_percentage(struct json_object *o, int64_t tenths)
{
	char text[24];

	if (tenths < 0)
		return put_null(o, "percentage_used");
	render_tenths_text(tenths, text, sizeof text);
	return put(o, "percentage_used",
	    json_object_new_double_s((double)tenths / 10.0, text));
}

/* The quota object of upgate(8), Responses: limit and available null when unlimited. */
static int
put_quota(struct json_object *o, const struct reply *r)
{
	struct json_object *q;
	int                 limited = render_limited(r), err;

	if (!r->has_quota)
		return put_null(o, "quota");
	if ((q = put_object(o, "quota")) == NULL)
		return -1;
	err = 0;
	/* a refusal says whose quota refused: upgate's or the filesystem's */
	if (r->reason == REASON_QUOTA_EXCEEDED)
		err = put(q, "source", json_object_new_string(
		    r->quota_filesystem ? "filesystem" : "upgate"));
	err |= limited ? put_int(q, "limit", r->quota.limit) :
	    put_null(q, "limit");
	err |= put_int(q, "used", r->quota.used);
	err |= put_int(q, "reserved", r->quota.reserved);
	err |= limited ? put_int(q, "available", render_available(&r->quota)) :
	    put_null(q, "available");
	err |= put_percentage(q, limited ? render_tenths(&r->quota) : -1);
	return err;
}

/* status, error, reason, message: the head of every error body. */
static int
put_common(struct json_object *o, const struct reply *r)
{
	struct buf msg;
	int        status = reason_status(r->reason), err;

	err = put_int(o, "status", status);
	err |= put(o, "error", json_object_new_string(reason_status_phrase(status)));
	err |= put(o, "reason", json_object_new_string(reason_name(r->reason)));
	buf_init(&msg);
	render_message(r, &msg);
	if (msg.failed)
		err = -1;
	else
		err |= put(o, "message", new_string(msg.len > 0 ? msg.data : "",
		    msg.len));
	buf_release(&msg);
	return err;
}

static int
put_disk_full(struct json_object *o, const struct reply *r,
    const struct render_options *opt)
{
	struct json_object *d;
	int64_t             lack = r->required_space - r->available_space;
	int                 err;

	if ((d = put_object(o, "details")) == NULL)
		return -1;
	err = put_int(d, "required_space", r->required_space);
	err |= put_int(d, "available_space", r->available_space);
	err |= put_int(d, "shortage", lack > 0 ? lack : 0);
	if (opt->expose_paths && r->storage_path != NULL)
		err |= put_string(d, "storage_path", r->storage_path);
	err |= put_int(o, "retry_after", opt->retry_after);
	return err;
}

/* One entry of "actions", when its URL is configured. */
static int
put_action(struct json_object *o, const char *key, const char *url,
    const char *description)
{
	struct json_object *a;
	int                 err;

	if (url == NULL)
		return 0;
	if ((a = put_object(o, key)) == NULL)
		return -1;
	err = put_string(a, "url", url);
	err |= put(a, "description", json_object_new_string(description));
	return err;
}

/* storage_analysis.largest_files, in the order the gate gives (largest first). */
static int
put_largest(struct json_object *o, const struct reply *r)
{
	struct json_object *list, *f;
	size_t              i;
	int                 err = 0;

	list = json_object_new_array();
	if (put(o, "largest_files", list) == -1)
		return -1;
	for (i = 0; i < r->nlargest && r->largest != NULL; i++) {
		f = json_object_new_object();
		if (f == NULL || json_object_array_add(list, f) != 0) {
			json_object_put(f);
			return -1;
		}
		err |= put(f, "name", new_string(r->largest[i].name,
		    strnlen(r->largest[i].name, sizeof r->largest[i].name)));
		err |= put_int(f, "size", r->largest[i].size);
	}
	return err;
}

static int
put_quota_exceeded(struct json_object *o, const struct reply *r,
    const struct render_options *opt)
{
	struct json_object *u, *a, *s;
	int                 err;

	err = put_quota(o, r);
	if ((u = put_object(o, "upload")) == NULL)
		return -1;
	err |= put_int(u, "size", r->upload_size);
	err |= r->quota_filesystem ? put_null(u, "shortage") :
	    put_int(u, "shortage", r->shortage);
	if ((a = put_object(o, "actions")) == NULL)
		return -1;
	err |= put_action(a, "upgrade", opt->upgrade_url, UPGRADE_DESCRIPTION);
	err |= put_action(a, "cleanup", opt->cleanup_url, CLEANUP_DESCRIPTION);
	if ((s = put_object(o, "storage_analysis")) == NULL)
		return -1;
	return err | put_largest(s, r);
}

static int
put_refusal(struct json_object *o, const struct reply *r,
    const struct render_options *opt)
{
	int err = put_common(o, r);

	switch (r->reason) {
	case REASON_DISK_FULL:
		return err | put_disk_full(o, r, opt);
	case REASON_QUOTA_EXCEEDED:
		return err | put_quota_exceeded(o, r, opt);
	case REASON_TOO_LARGE:
		err |= put_int(o, "limit", r->too_large_limit);
		return err | put_int(o, "size", r->too_large_size);
	default:
		return err;
	}
}

/* name, stored_as, size of one stored file (and field for a form). */
static int
put_file(struct json_object *f, const struct stored_file *sf, int form)
{
	int err = 0;

	if (form)
		err = put_string(f, "field", sf->field);
	err |= put_string(f, "name", sf->name);
	err |= put_string(f, "stored_as", sf->stored_as);
	return err | put_int(f, "size", sf->size);
}

/* A PUT stores one file and names no form field (reply.h). */
static int
is_put(const struct reply *r)
{
	return r->nfiles == 1 && r->files != NULL && r->files[0].field == NULL;
}

static int
put_stored(struct json_object *o, const struct reply *r)
{
	struct json_object *list, *f;
	size_t              i;
	int                 err = 0;

	if (is_put(r)) {
		if ((f = put_object(o, "file")) == NULL)
			return -1;
		return put_file(f, &r->files[0], 0) | put_quota(o, r);
	}
	list = json_object_new_array();
	if (put(o, "files", list) == -1)
		return -1;
	for (i = 0; i < r->nfiles && r->files != NULL; i++) {
		f = json_object_new_object();
		if (f == NULL || json_object_array_add(list, f) != 0) {
			json_object_put(f);
			return -1;
		}
		err |= put_file(f, &r->files[i], 1);
	}
	return err | put_quota(o, r);
}

struct json_object *
render_json_tree(const struct reply *r, const struct render_options *opt)
{
	struct json_object *o;
	int                 err;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (reason_refuses(r->reason))
		err = put_refusal(o, r, opt);
	else {
		err = put_int(o, "status", reason_status(r->reason));
		if (r->reason == REASON_STORED)
			err |= put_stored(o, r);
		else if (r->reason == REASON_STATUS) {
			err |= put_string(o, "user", r->user);
			err |= put_quota(o, r);
		}
	}
	if (err != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Plain: one line per body, as compact as json-c writes; "/" unescaped. */
void
render_json(struct json_object *tree, struct buf *out)
{
	const char *s;

	s = json_object_to_json_string_ext(tree,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL) {
		out->failed = 1;
		return;
	}
	buf_puts(out, s);
	buf_puts(out, "\n");
}
