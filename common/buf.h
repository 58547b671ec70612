/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * buf: a growable byte buffer for response heads and bodies, which are
 * small (the upload itself never passes through one).
 */
#ifndef UPGATE_BUF_H
#define UPGATE_BUF_H

#include <stddef.h>

struct buf {
	char   *data;	/* NUL-terminated when len > 0 */
	size_t  len;
	size_t  cap;
	int     failed;	/* an allocation failed: contents incomplete */
};

void buf_init(struct buf *);
void buf_release(struct buf *);	/* safe twice */
void buf_add(struct buf *, const char *s, size_t len);
void buf_puts(struct buf *, const char *s);
void buf_printf(struct buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s escaped for XML and HTML text and attributes (&<>"'). */
void buf_add_xml(struct buf *, const char *s, size_t len);

/*
 * Appends s with every byte outside printable ASCII (space included), and '\' and '"',
 * written as \xHH: for log lines (upgate(8), Logs).
 */
void buf_add_logsafe(struct buf *, const char *s, size_t len);

/*
 * The same into out (size bytes, at least 4; always NUL-terminated), cut
 * after max bytes of s, or where out is full, with "..." after: for a
 * value quoted in a message that may reach a log line.  Returns out.
 */
const char *logsafe_copy(char *out, size_t size, const char *s, size_t len,
    size_t max);

#endif
