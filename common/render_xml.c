/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <string.h>
#include <json.h>

#include "buf.h"
#include "reason.h"
#include "render_int.h"

/*
 * The XML body: the JSON tree written as elements in the namespace
 * urn:upgate, under the WebDAV error element of RFC 4918 §16 for a
 * refusal (with the RFC 4331 §6 precondition for quota and disk space),
 * or under <u:response> for a success.  A null is an empty element; the
 * items of an array (lists of files) are <u:file> elements.
 */

static void value(struct buf *, const char *, struct json_object *, int);

static void
indent(struct buf *b, int depth)
{
	while (depth-- > 0)
		buf_puts(b, "  ");
}

static void
members(struct buf *b, struct json_object *o, int depth)
{
	struct json_object_iterator it, end;

	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		value(b, json_object_iter_peek_name(&it),
		    json_object_iter_peek_value(&it), depth);
}

static void
items(struct buf *b, struct json_object *a, int depth)
{
	size_t i, n = json_object_array_length(a);

	for (i = 0; i < n; i++)
		value(b, "file", json_object_array_get_idx(a, i), depth);
}

/* Keys are this program's own names: valid XML names as they are. */
static void
value(struct buf *b, const char *name, struct json_object *v, int depth)
{
	const char *s;
	enum json_type type = json_object_get_type(v);

	indent(b, depth);
	if (type == json_type_null) {
		buf_printf(b, "<u:%s/>\n", name);
		return;
	}
	buf_printf(b, "<u:%s>", name);
	if (type == json_type_object || type == json_type_array) {
		buf_puts(b, "\n");
		if (type == json_type_object)
			members(b, v, depth + 1);
		else
			items(b, v, depth + 1);
		indent(b, depth);
	} else {
		/* strings were cleaned when the tree was built */
		s = json_object_get_string(v);
		buf_add_xml(b, s, strlen(s));
	}
	buf_printf(b, "</u:%s>\n", name);
}

void
render_xml(const struct reply *r, struct json_object *tree, struct buf *b)
{
	int refusal = reason_refuses(r->reason);

	buf_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
	if (refusal)
		buf_puts(b, "<D:error xmlns:D=\"DAV:\" xmlns:u=\"urn:upgate\">\n");
	else
		buf_puts(b, "<u:response xmlns:u=\"urn:upgate\">\n");
	if (r->reason == REASON_QUOTA_EXCEEDED)
		buf_puts(b, "  <D:quota-not-exceeded/>\n");
	else if (r->reason == REASON_DISK_FULL)
		buf_puts(b, "  <D:sufficient-disk-space/>\n");
	else if (refusal && r->condition != NULL)
		buf_printf(b, "  <D:%s/>\n", r->condition);
	members(b, tree, 1);
	buf_puts(b, refusal ? "</D:error>\n" : "</u:response>\n");
}
