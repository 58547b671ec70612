/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

/* Makes room for n more bytes and the NUL; 0, or -1 (and failed set). */
static int
reserve(struct buf *b, size_t n)
{
	size_t cap;
	char  *p;

	if (b->failed)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	if ((p = realloc(b->data, cap)) == NULL)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = 1;
	return -1;
}

void
buf_add(struct buf *b, const char *s, size_t len)
{
	if (reserve(b, len) == -1)
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_add_xml(struct buf *b, const char *s, size_t len)
{
	size_t i, start = 0;
	const char *ent;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		buf_add(b, s + start, i - start);
		buf_puts(b, ent);
		start = i + 1;
	}
	buf_add(b, s + start, len - start);
}

/* A byte a log line carries as it is (upgate(8), Logs): the rest is \xHH. */
static int
log_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
}

void
buf_add_logsafe(struct buf *b, const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (log_plain(c))
			buf_add(b, s + i, 1);
		else
			buf_printf(b, "\\x%02x", c);
	}
}

const char *
logsafe_copy(char *out, size_t size, const char *s, size_t len, size_t max)
{
	size_t        i, o = 0;
	unsigned char c;

	for (i = 0; i < len && i < max; i++) {
		c = (unsigned char)s[i];
		/* room for this byte, "..." and the NUL */
		if (o + (log_plain(c) ? 1 : 4) + 4 > size)
			break;
		if (log_plain(c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
