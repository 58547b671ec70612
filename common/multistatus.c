/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multistatus: 207 bodies, streamed (RFC 4918 §14.16, RFC 4331 §3, §4).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "multistatus.h"
#include "reason.h"
#include "validators.h"

/* The live properties upgate answers (RFC 4918 §15, RFC 4331 §3, §4). */
enum live {
	LIVE_RESOURCETYPE,
	LIVE_GETCONTENTLENGTH,
	LIVE_GETLASTMODIFIED,
	LIVE_GETETAG,
	LIVE_CREATIONDATE,
	LIVE_DISPLAYNAME,
	LIVE_GETCONTENTTYPE,
	LIVE_QUOTA_USED,
	LIVE_QUOTA_AVAILABLE,
	LIVE__MAX
};

static const struct {
	const char *name;
	int         file;	/* a file has it */
	int         folder;	/* a folder has it */
	int         all;	/* listed by allprop (RFC 4331 §3: not quota) */
} lives[LIVE__MAX] = {
	[LIVE_RESOURCETYPE]     = { "resourcetype",          1, 1, 1 },
	[LIVE_GETCONTENTLENGTH] = { "getcontentlength",      1, 0, 1 },
	[LIVE_GETLASTMODIFIED]  = { "getlastmodified",       1, 1, 1 },
	[LIVE_GETETAG]          = { "getetag",               1, 0, 1 },
	[LIVE_CREATIONDATE]     = { "creationdate",          1, 1, 1 },
	[LIVE_DISPLAYNAME]      = { "displayname",           1, 1, 1 },
	[LIVE_GETCONTENTTYPE]   = { "getcontenttype",        1, 0, 1 },
	[LIVE_QUOTA_USED]       = { "quota-used-bytes",      0, 1, 0 },
	[LIVE_QUOTA_AVAILABLE]  = { "quota-available-bytes", 0, 1, 0 },
};

static int
applies(const struct multistatus *ms, enum live l, int folder)
{
	if (l == LIVE_QUOTA_USED || l == LIVE_QUOTA_AVAILABLE)
		return folder && ms->have_quota;
	return folder ? lives[l].folder : lives[l].file;
}

/* The live property (ns, name) names, or LIVE__MAX. */
static enum live
live_of(const struct davxml_prop *p)
{
	int l;

	if (strcmp(p->ns, "DAV:") != 0)
		return LIVE__MAX;
	for (l = 0; l < LIVE__MAX; l++)
		if (strcmp(p->name, lives[l].name) == 0)
			return (enum live)l;
	return LIVE__MAX;
}

static void
flush(struct multistatus *ms)
{
	if (!ms->failed && (ms->out.failed ||
	    ms->io->write(ms->io->ctx, ms->out.data, ms->out.len) == -1))
		ms->failed = 1;
	ms->out.len = 0;
}

void
ms_begin(struct multistatus *ms, const struct io *io, const char *head,
    enum davxml_kind kind, const struct davxml_prop *props, size_t nprops)
{
	ms->io = io;
	buf_init(&ms->out);
	ms->failed = 0;
	ms->kind = kind;
	ms->props = props;
	ms->nprops = nprops;
	buf_puts(&ms->out, head);
	buf_puts(&ms->out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<D:multistatus xmlns:D=\"DAV:\">\n");
}

/* RFC 3986 §2.3: the bytes an href carries as they are. */
static int
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Appends s percent-encoded at *len, '/' kept when slash; -1: too long. */
static int
encode(char *href, size_t *len, const char *s, int slash)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (HREF_MAX - *len < 4)
			return -1;
		if (unreserved(*p) || (slash && *p == '/'))
			href[(*len)++] = (char)*p;
		else
			*len += (size_t)snprintf(href + *len, 4, "%%%02X", *p);
	}
	href[*len] = '\0';
	return 0;
}

static int
add_char(char *href, size_t *len, char c)
{
	if (HREF_MAX - *len < 2)
		return -1;
	href[(*len)++] = c;
	href[*len] = '\0';
	return 0;
}

int
ms_set_base(struct multistatus *ms, const char *script_name,
    const struct path *path, int folder)
{
	size_t len = 0, i;

	ms->href[0] = '\0';
	if (script_name != NULL && encode(ms->href, &len, script_name, 1) == -1)
		return -1;
	for (i = 0; i < path->ncomp; i++)
		if (add_char(ms->href, &len, '/') == -1 ||
		    encode(ms->href, &len, path->comp[i], 0) == -1)
			return -1;
	if ((folder || path->ncomp == 0) && add_char(ms->href, &len, '/') == -1)
		return -1;
	ms->base_len = len;
	return 0;
}

static void
add_value(struct multistatus *ms, enum live l, const char *name,
    const struct stat *st, int folder)
{
	struct buf *b = &ms->out;
	char        s[HTTP_DATE_SIZE > ETAG_SIZE ? HTTP_DATE_SIZE : ETAG_SIZE];

	buf_printf(b, "<D:%s>", lives[l].name);
	switch (l) {
	case LIVE_RESOURCETYPE:
		if (folder)
			buf_puts(b, "<D:collection/>");
		break;
	case LIVE_GETCONTENTLENGTH:
		buf_printf(b, "%" PRId64, (int64_t)st->st_size);
		break;
	case LIVE_GETLASTMODIFIED:
		http_date(st->st_mtime, s, sizeof s);
		buf_puts(b, s);
		break;
	case LIVE_GETETAG:
		etag_of(st, s, sizeof s);
		buf_add_xml(b, s, strlen(s));
		break;
	case LIVE_CREATIONDATE:
		/* no birth time in struct stat: a stored file's is its mtime */
		rfc3339_date(st->st_mtime, s, sizeof s);
		buf_puts(b, s);
		break;
	case LIVE_DISPLAYNAME:
		buf_add_xml(b, name, strlen(name));
		break;
	case LIVE_GETCONTENTTYPE:
		buf_puts(b, "application/octet-stream");
		break;
	case LIVE_QUOTA_USED:
		buf_printf(b, "%" PRId64, ms->quota_used);
		break;
	default:
		buf_printf(b, "%" PRId64, ms->quota_available);
		break;
	}
	buf_printf(b, "</D:%s>", lives[l].name);
}

/* A property named by the client, empty, in its own namespace. */
static void
add_named(struct buf *b, const struct davxml_prop *p)
{
	if (strcmp(p->ns, "DAV:") == 0) {
		buf_printf(b, "<D:%s/>", p->name);
		return;
	}
	if (p->ns[0] == '\0') {	/* no namespace: no prefix either */
		buf_printf(b, "<%s xmlns=\"\"/>", p->name);
		return;
	}
	buf_printf(b, "<R:%s xmlns:R=\"", p->name);
	buf_add_xml(b, p->ns, strlen(p->ns));
	buf_puts(b, "\"/>");
}

static void
propstat_open(struct buf *b)
{
	buf_puts(b, "<D:propstat><D:prop>");
}

static void
propstat_close(struct buf *b, const char *status)
{
	buf_printf(b, "</D:prop><D:status>HTTP/1.1 %s</D:status>"
	    "</D:propstat>\n", status);
}

/* allprop and propname: every property the resource has. */
static void
add_all(struct multistatus *ms, const char *name, const struct stat *st,
    int folder)
{
	int l;

	propstat_open(&ms->out);
	for (l = 0; l < LIVE__MAX; l++) {
		if (ms->kind == DAVXML_ALLPROP && lives[l].all &&
		    applies(ms, (enum live)l, folder))
			add_value(ms, (enum live)l, name, st, folder);
		else if (ms->kind == DAVXML_PROPNAME &&
		    applies(ms, (enum live)l, folder))
			buf_printf(&ms->out, "<D:%s/>", lives[l].name);
	}
	propstat_close(&ms->out, "200 OK");
}

/* prop: the ones it has with their values, the others under 404. */
static void
add_asked(struct multistatus *ms, const char *name, const struct stat *st,
    int folder)
{
	size_t    i, missing = 0;
	enum live l;

	propstat_open(&ms->out);
	for (i = 0; i < ms->nprops; i++) {
		l = live_of(&ms->props[i]);
		if (l != LIVE__MAX && applies(ms, l, folder))
			add_value(ms, l, name, st, folder);
		else
			missing++;
	}
	propstat_close(&ms->out, "200 OK");
	if (missing == 0)
		return;
	propstat_open(&ms->out);
	for (i = 0; i < ms->nprops; i++) {
		l = live_of(&ms->props[i]);
		if (l == LIVE__MAX || !applies(ms, l, folder))
			add_named(&ms->out, &ms->props[i]);
	}
	propstat_close(&ms->out, "404 Not Found");
}

static void
response_open(struct multistatus *ms, const char *child, int folder)
{
	struct buf *b = &ms->out;

	buf_puts(b, "<D:response><D:href>");
	buf_add(b, ms->href, ms->base_len);
	if (child != NULL) {
		char   enc[3 * 256 + 2];
		size_t len = 0;

		/* a valid file name: at most 255 bytes, so it fits */
		(void)encode(enc, &len, child, 0);
		buf_add(b, enc, len);
		if (folder)
			buf_puts(b, "/");
	}
	buf_puts(b, "</D:href>\n");
}

void
ms_resource(struct multistatus *ms, const char *child, const char *name,
    const struct stat *st, int folder)
{
	if (ms->failed)
		return;
	response_open(ms, child, folder);
	if (ms->kind == DAVXML_PROP)
		add_asked(ms, name, st, folder);
	else
		add_all(ms, name, st, folder);
	buf_puts(&ms->out, "</D:response>\n");
	if (ms->out.len >= MULTISTATUS_FLUSH)
		flush(ms);
}

void
ms_refuse_all(struct multistatus *ms)
{
	size_t i;

	response_open(ms, NULL, 0);
	if (ms->nprops > 0) {
		propstat_open(&ms->out);
		for (i = 0; i < ms->nprops; i++)
			add_named(&ms->out, &ms->props[i]);
		propstat_close(&ms->out, "403 Forbidden");
	}
	buf_puts(&ms->out, "<D:responsedescription>No properties are kept "
	    "here.</D:responsedescription></D:response>\n");
}

void
ms_status(struct multistatus *ms, const char *sub, int folder, int status)
{
	size_t len = ms->base_len;
	struct buf *b = &ms->out;

	if (ms->failed)
		return;
	if (sub != NULL && (encode(ms->href, &len, sub, 1) == -1 ||
	    (folder && add_char(ms->href, &len, '/') == -1)))
		len = ms->base_len;	/* too long to name: its folder */
	buf_puts(b, "<D:response><D:href>");
	buf_add(b, ms->href, len);
	ms->href[ms->base_len] = '\0';
	buf_printf(b, "</D:href>\n<D:status>HTTP/1.1 %d %s</D:status>"
	    "</D:response>\n", status, reason_status_phrase(status));
	if (ms->out.len >= MULTISTATUS_FLUSH)
		flush(ms);
}

int
ms_end(struct multistatus *ms)
{
	buf_puts(&ms->out, "</D:multistatus>\n");
	flush(ms);
	return ms->failed ? -1 : 0;
}

void
ms_release(struct multistatus *ms)
{
	buf_release(&ms->out);
}
