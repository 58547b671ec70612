/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * upgate.cgi: the CGI/1.1 front end (RFC 3875).  Request variables come
 * from the environment, the body from standard input, the response goes
 * to standard output, the log to standard error.  Command-line arguments
 * are ignored (upgate.conf(5), Keys): a server may pass a query string there.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "gate.h"
#include "io.h"

#define DRAIN_IDLE_MS  (10 * 1000)	/* give up after 10 s without data */
#define DRAIN_TOTAL_S  300		/* or 300 s in all (upgate(8), Decisions) */

static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static ssize_t
cgi_read(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	while ((n = read(STDIN_FILENO, buf, len)) == -1 && errno == EINTR)
		continue;
	return n;
}

static int
cgi_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	return fdio_write_all(STDOUT_FILENO, buf, len);
}

static void
cgi_log(void *ctx, const char *line)
{
	(void)ctx;
	fdio_write_line(STDERR_FILENO, line);
}

/*
 * After a refusal: end the response, then read and drop the rest of the
 * body.  Apache mod_cgi and mod_cgid push the whole body before they read
 * the answer, and lose the answer of a program that exits with its input
 * unread.  shutdown() marks the end of the answer where standard output
 * is a socket shared with standard input (mod_cgid).
 */
static void
drain_input(void)
{
	static char buf[65536];
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	time_t  end = time(NULL) + DRAIN_TOTAL_S;

	(void)shutdown(STDOUT_FILENO, SHUT_WR);
	(void)close(STDOUT_FILENO);
	while (time(NULL) < end) {
		if (poll(&pfd, 1, DRAIN_IDLE_MS) <= 0)
			return;
		if (cgi_read(NULL, buf, sizeof buf) <= 0)
			return;
	}
}

int
main(void)
{
	struct io   io = { cgi_param, cgi_read, cgi_write, cgi_log, NULL };
	struct gate g;
	int         unread;

	/* a client gone away must not kill the program mid-commit */
	signal(SIGPIPE, SIG_IGN);
	gate_init(&g, config_path(NULL, getenv("UPGATE_CONFIG")));
	unread = gate_handle(&g, &io);
	gate_release(&g);
	if (unread)
		drain_input();
	return 0;
}
