/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * io: the one seam between the core and a transport.  The CGI front end
 * fills it with getenv/read(0)/write(1), the FastCGI responder with
 * FCGX_GetParam/FCGX_GetStr/FCGX_PutStr, the tests with tables and
 * buffers.
 */
#ifndef UPGATE_IO_H
#define UPGATE_IO_H

#include <stddef.h>
#include <sys/types.h>

struct io {
	/*
	 * A CGI meta-variable ("REQUEST_METHOD", "CONTENT_LENGTH",
	 * "HTTP_ACCEPT", ...), or NULL when unset.  The string is borrowed
	 * for the current request only.
	 */
	const char *(*param)(void *ctx, const char *name);
	/* Up to len body bytes: > 0 read, 0 at the end, -1 on error. */
	ssize_t     (*read)(void *ctx, void *buf, size_t len);
	/* All of len bytes of response, or -1. */
	int         (*write)(void *ctx, const void *buf, size_t len);
	/* One log line, without its newline (upgate(8), Logs). */
	void        (*log)(void *ctx, const char *line);
	void         *ctx;
};

#endif
