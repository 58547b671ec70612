/*
 * fdio: whole writes on a descriptor, retried across EINTR and short
 * writes, and log lines.  Shared by the core and both front ends.
 */
#ifndef UPGATE_FDIO_H
#define UPGATE_FDIO_H

#include <stddef.h>

/* Writes all of (data, len) to fd; 0, or -1 with errno. */
int write_all(int fd, const void *data, size_t len);

/*
 * Writes line and a newline to fd in one write(2), so that the lines of
 * concurrent requests never mix; a line is cut at 8 KiB.  Errors are
 * ignored: there is nowhere left to report them.
 */
void write_line(int fd, const char *line);

#endif
