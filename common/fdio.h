/*
 * fdio: whole writes on a descriptor, retried across EINTR and short
 * writes.  Shared by the ledger, the quota index and the CGI front end.
 */
#ifndef UPGATE_FDIO_H
#define UPGATE_FDIO_H

#include <stddef.h>

/* Writes all of (data, len) to fd; 0, or -1 with errno. */
int write_all(int fd, const void *data, size_t len);

#endif
