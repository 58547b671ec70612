/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

void
diag_init(struct diag *d)
{
	d->text[0] = '\0';
	d->len = 0;
	d->count = 0;
}

void
diag_add(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	char    msg[512];
	char    row[1024];
	va_list ap;
	int     n, saved = errno;	/* the caller may still answer by it */

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		n = snprintf(row, sizeof row, "%s:%u: %s\n", file, line, msg);
	else
		n = snprintf(row, sizeof row, "%s: %s\n", file, msg);
	d->count++;
	if (n >= 0 && (size_t)n < sizeof row &&
	    d->len + (size_t)n < DIAG_SIZE) {
		memcpy(d->text + d->len, row, (size_t)n + 1);
		d->len += (size_t)n;
	}
	errno = saved;
}

void
diag_each(const struct diag *d, void (*fn)(void *, const char *), void *arg)
{
	char        line[1024];
	const char *p = d->text, *nl;
	size_t      n;

	while ((nl = memchr(p, '\n', d->len - (size_t)(p - d->text))) != NULL) {
		n = (size_t)(nl - p);
		if (n >= sizeof line)
			n = sizeof line - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		fn(arg, line);
		p = nl + 1;
	}
}
