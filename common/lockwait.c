/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * lockwait: a bounded F_OFD_SETLKW.  The wait is interrupted by a POSIX
 * timer that signals this thread alone (SIGEV_THREAD_ID) with a signal
 * whose handler does nothing and is installed without SA_RESTART, so
 * the fcntl returns EINTR.  The timer fires again every
 * REARM_MS after its first expiry: a signal that lands just before the
 * fcntl starts to sleep is then followed by another.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockwait.h"

/*
 * Valgrind 3.19 does not know that F_OFD_SETLKW blocks: it would wait
 * holding valgrind's one lock, and the thread holding ours could never
 * run to release it.  Under valgrind alone, the wait polls.
 */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

#define REARM_MS 20

static int lock_signal;

static void
on_signal(int sig)
{
	(void)sig;	/* only there to interrupt the wait */
}

static void
install(void)
{
	struct sigaction sa;

	lock_signal = SIGRTMIN + 2;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;		/* no SA_RESTART: the wait must end */
	if (sigaction(lock_signal, &sa, NULL) == -1)
		lock_signal = 0;
}

static int
set(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	fl.l_pid = 0;		/* required by F_OFD_* */
	return fcntl(fd, cmd, &fl);
}

long
elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000 +
	    (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void
ms_to(struct timespec *ts, long ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = ms % 1000 * 1000000;
}

/* Polls every millisecond; for valgrind only (see above). */
static int
poll_for(int fd, short type, off_t start, off_t len, int timeout_ms)
{
	struct timespec t0, nap = { 0, 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (set(fd, F_OFD_SETLK, type, start, len) == -1) {
		if (errno != EAGAIN && errno != EACCES)
			return -1;
		if (elapsed_ms(&t0) >= timeout_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* The slow path: a timer of this thread bounds the kernel's wait. */
static int
wait_for(int fd, short type, off_t start, off_t len, int timeout_ms)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sigevent   ev;
	struct itimerspec its;
	struct timespec   t0;
	timer_t           timer;
	int               rc, saved;

	if (UNDER_VALGRIND())
		return poll_for(fd, type, start, len, timeout_ms);
	pthread_once(&once, install);
	if (lock_signal == 0)
		return -1;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = lock_signal;
	ev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &ev, &timer) == -1)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ms_to(&its.it_value, timeout_ms);
	ms_to(&its.it_interval, REARM_MS);
	rc = timer_settime(timer, 0, &its, NULL);
	while (rc == 0 && (rc = set(fd, F_OFD_SETLKW, type, start, len)) == -1 &&
	    errno == EINTR) {
		if (elapsed_ms(&t0) >= timeout_ms) {
			errno = ETIMEDOUT;
			break;
		}
		rc = 0;
	}
	saved = errno;
	timer_delete(timer);	/* a signal still queued arrives right here */
	errno = saved;
	return rc;
}

int
lockwait_range(int fd, short type, off_t start, off_t len, int timeout_ms)
{
	if (set(fd, F_OFD_SETLK, type, start, len) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return -1;
	if (timeout_ms <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return wait_for(fd, type, start, len, timeout_ms);
}
