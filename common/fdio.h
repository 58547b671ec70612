/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * fdio: whole writes on a descriptor, retried across EINTR and short
 * writes, log lines, and whole reads of a file.  Shared by the core,
 * both front ends and upgate-quota.
 */
#ifndef UPGATE_FDIO_H
#define UPGATE_FDIO_H

#include <stddef.h>

/* Writes all of (data, len) to fd; 0, or -1 with errno. */
int fdio_write_all(int fd, const void *data, size_t len);

/*
 * Writes line and a newline to fd in one write(2), so that the lines of
 * concurrent requests never mix; a line is cut at 8 KiB.  Errors are
 * ignored: there is nowhere left to report them.
 */
void fdio_write_line(int fd, const char *line);

/*
 * Reads fd from its offset to its end into *text, malloc'd (the caller
 * frees it) and NUL-terminated after its *len bytes; one read(2) does
 * for a regular file (sized by fstat) that nobody grows meanwhile.
 * More than max bytes: -1 with EFBIG.  0, or -1 with errno (ENOMEM when
 * memory failed) and *text NULL.
 */
int read_whole(int fd, size_t max, char **text, size_t *len);

#endif
