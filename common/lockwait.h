/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * lockwait: open-file-description locks (F_OFD_SETLK, F_OFD_SETLKW) on a
 * byte range, waited for in the kernel with a time limit.
 */
#ifndef UPGATE_LOCKWAIT_H
#define UPGATE_LOCKWAIT_H

#include <sys/types.h>
#include <time.h>

/*
 * Takes a lock of type (F_RDLCK or F_WRLCK; F_UNLCK releases) on len
 * bytes of fd from start (len 0: to the end of any file).  When it is
 * held by another description, sleeps in F_OFD_SETLKW until it is free
 * or timeout_ms have passed: a timer of the calling thread's own
 * interrupts the wait, so no other thread is disturbed and nobody polls.
 * timeout_ms 0: try once.  0, or -1 with errno (ETIMEDOUT when it stayed
 * held).
 */
int lockwait_range(int fd, short type, off_t start, off_t len, int timeout_ms);

/*
 * Milliseconds since *since, a time of CLOCK_MONOTONIC: for a wait's
 * limit, and for the time a request took (its log line).
 */
long elapsed_ms(const struct timespec *since);

#endif
