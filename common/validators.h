/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * validators: the Last-Modified dates and ETags of stored files (RFC 9110
 * §8.8), the same in a PROPFIND and a GET (upgate(8), "WebDAV").
 */
#ifndef UPGATE_VALIDATORS_H
#define UPGATE_VALIDATORS_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#define HTTP_DATE_SIZE 32	/* "Sun, 06 Nov 1994 08:49:37 GMT" and NUL */
#define ETAG_SIZE      64

/* The IMF-fixdate of t (RFC 9110 §5.6.7) into out (HTTP_DATE_SIZE). */
void http_date(time_t t, char *out, size_t size);

/* An IMF-fixdate into *t: 0, or -1 when s is not one. */
int  http_date_parse(const char *s, time_t *t);

/* An RFC 3339 date-time of t, for DAV:creationdate (RFC 4918 §15.1). */
void rfc3339_date(time_t t, char *out, size_t size);

/*
 * The strong ETag of a file, quotes included: its inode, size and
 * modification time, so that a file replaced by a rename, or rewritten,
 * has another (into out, ETAG_SIZE).
 */
void etag_of(const struct stat *st, char *out, size_t size);

/*
 * 1 when the list of entity tags v (If-Match, If-None-Match: RFC 9110
 * §13.1) is "*" or names etag, compared weakly.
 */
int  etag_list_match(const char *v, const char *etag);

#endif
