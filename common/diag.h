/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * diag: problems reported as "FILE:LINE: message" lines (upgate.conf(5), Keys), collected
 * into a fixed buffer the caller owns, so that the parsers allocate nothing
 * for their error text and a request can log every problem on its own line.
 */
#ifndef UPGATE_DIAG_H
#define UPGATE_DIAG_H

#include <stddef.h>

#define DIAG_SIZE 4096

struct diag {
	char     text[DIAG_SIZE];	/* lines, each ending in '\n' */
	size_t   len;
	unsigned count;			/* problems reported, even if truncated */
};

void diag_init(struct diag *);

/*
 * Adds one line "FILE:LINE: message" (line 0: "FILE: message").  The
 * message is printf-formatted; untrusted bytes must be escaped by the
 * caller (logsafe_copy, buf.h).  Lines that no longer fit are counted, not kept.
 */
void diag_add(struct diag *, const char *file, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Calls fn once per line, without its '\n'.  The line is only valid for
 * the duration of the call.
 */
void diag_each(const struct diag *, void (*fn)(void *, const char *),
    void *arg);

#endif
