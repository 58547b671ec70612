/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stdio.h>
#include <string.h>
#include <json.h>

#include "buf.h"
#include "render.h"
#include "render_int.h"

/*
 * The text body: the message on the first line, then every figure of the
 * JSON tree as "path: value", a line each ("quota.limit: 10485760",
 * "files[0].name: a.txt"); a null is "none".  Strings in the tree hold no
 * control characters, so a value never breaks its line.
 */

#define PATH_MAX_TEXT 128

static void line(struct buf *, const char *, struct json_object *);

static void
members(struct buf *b, const char *path, struct json_object *o)
{
	struct json_object_iterator it, end;
	const char                 *key;
	char                        sub[PATH_MAX_TEXT];

	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (path[0] == '\0' && strcmp(key, "message") == 0)
			continue;	/* already the first line */
		snprintf(sub, sizeof sub, "%s%s%s", path,
		    path[0] != '\0' ? "." : "", key);
		line(b, sub, json_object_iter_peek_value(&it));
	}
}

static void
items(struct buf *b, const char *path, struct json_object *a)
{
	char   sub[PATH_MAX_TEXT];
	size_t i, n = json_object_array_length(a);

	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof sub, "%s[%zu]", path, i);
		line(b, sub, json_object_array_get_idx(a, i));
	}
}

static void
line(struct buf *b, const char *path, struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_object:
		members(b, path, v);
		break;
	case json_type_array:
		items(b, path, v);
		break;
	case json_type_null:
		buf_printf(b, "%s: none\n", path);
		break;
	default:
		buf_printf(b, "%s: %s\n", path, json_object_get_string(v));
		break;
	}
}

void
render_text(const struct reply *r, struct json_object *tree, struct buf *b)
{
	struct buf msg;

	buf_init(&msg);
	render_message(r, &msg);
	if (msg.failed)
		b->failed = 1;
	else if (msg.len > 0)
		render_add_clean(b, msg.data, msg.len, 0);
	buf_puts(b, "\n");
	buf_release(&msg);
	members(b, "", tree);
}
