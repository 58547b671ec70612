/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "number.h"
#include "reason.h"
#include "render.h"
#include "render_int.h"

/*
 * The HTML body: a small HTML5 page with the message, a usage bar when a
 * quota applies, the stored files of a success, and for a quota refusal
 * the action links and the largest files.  Every string that did not come
 * from this program is cleaned and escaped (render_add_str).
 */

static void
page_head(struct buf *b, int status)
{
	buf_printf(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n"
	    "<title>%d %s</title>\n"
	    "<style>body{font-family:sans-serif;max-width:40em;"
	    "margin:2em auto;padding:0 1em}meter{width:100%%}</style>\n"
	    "</head>\n<body>\n<h1>%d %s</h1>\n", status,
	    reason_status_phrase(status), status, reason_status_phrase(status));
}

static void
message(struct buf *b, const struct reply *r)
{
	struct buf msg;

	buf_init(&msg);
	render_message(r, &msg);
	if (msg.failed)
		b->failed = 1;
	buf_puts(b, "<p>");
	if (msg.len > 0)
		render_add_clean(b, msg.data, msg.len, 1);
	buf_puts(b, "</p>\n");
	buf_release(&msg);
}

/* A <meter> that turns amber at 80 % and red at 90 %, and its figures. */
static void
usage_bar(struct buf *b, const struct reply *r)
{
	const struct quota_figures *q = &r->quota;
	char used[32], limit[32], avail[32], pct[24];

	render_human_size(q->used, used, sizeof used);
	render_human_size(q->limit, limit, sizeof limit);
	render_human_size(render_available(q), avail, sizeof avail);
	render_tenths_text(render_tenths(q), pct, sizeof pct);
	buf_printf(b, "<p><meter min=\"0\" max=\"%" PRId64 "\" low=\"%" PRId64
	    "\" high=\"%" PRId64 "\" optimum=\"0\" value=\"%" PRId64 "\">"
	    "%s%%</meter><br>\n%s of %s used (%s%%), %s available.</p>\n",
	    q->limit, number_muldiv64(q->limit, 8, 10), number_muldiv64(q->limit, 9, 10),
	    q->used > q->limit ? q->limit : q->used, pct, used, limit, pct,
	    avail);
}

static void
file_item(struct buf *b, const struct stored_file *f)
{
	char size[32];

	render_human_size(f->size, size, sizeof size);
	buf_puts(b, "<li>");
	render_add_str(b, f->name, 1);
	if (f->stored_as != NULL && (f->name == NULL ||
	    strcmp(f->name, f->stored_as) != 0)) {
		buf_puts(b, ", stored as ");
		render_add_str(b, f->stored_as, 1);
	}
	buf_printf(b, " (%s)</li>\n", size);
}

static void
stored_files(struct buf *b, const struct reply *r)
{
	size_t i;

	if (r->nfiles == 0 || r->files == NULL)
		return;
	buf_puts(b, "<h2>Stored files</h2>\n<ul>\n");
	for (i = 0; i < r->nfiles; i++)
		file_item(b, &r->files[i]);
	buf_puts(b, "</ul>\n");
}

static void
action(struct buf *b, const char *url, const char *description)
{
	if (url == NULL)
		return;
	buf_puts(b, "<li><a href=\"");
	render_add_str(b, url, 1);
	buf_printf(b, "\">%s</a></li>\n", description);
}

static void
largest_files(struct buf *b, const struct reply *r)
{
	char   size[32];
	size_t i;

	if (r->nlargest == 0 || r->largest == NULL)
		return;
	buf_puts(b, "<h2>Your largest files</h2>\n<ul>\n");
	for (i = 0; i < r->nlargest; i++) {
		render_human_size(r->largest[i].size, size, sizeof size);
		buf_puts(b, "<li>");
		render_add_clean(b, r->largest[i].name, strnlen(r->largest[i].name,
		    sizeof r->largest[i].name), 1);
		buf_printf(b, " (%s)</li>\n", size);
	}
	buf_puts(b, "</ul>\n");
}

static void
quota_help(struct buf *b, const struct reply *r,
    const struct render_options *o)
{
	if (o->upgrade_url != NULL || o->cleanup_url != NULL) {
		buf_puts(b, "<h2>What you can do</h2>\n<ul>\n");
		action(b, o->upgrade_url, UPGRADE_DESCRIPTION);
		action(b, o->cleanup_url, CLEANUP_DESCRIPTION);
		buf_puts(b, "</ul>\n");
	}
	largest_files(b, r);
}

void
render_html(const struct reply *r, const struct render_options *o,
    struct buf *b)
{
	page_head(b, reason_status(r->reason));
	message(b, r);
	if (render_limited(r))
		usage_bar(b, r);
	if (r->reason == REASON_STORED)
		stored_files(b, r);
	else if (r->reason == REASON_QUOTA_EXCEEDED)
		quota_help(b, r, o);
	buf_puts(b, "</body>\n</html>\n");
}
