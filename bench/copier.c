/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * copier: the plainest durable store of a request body, the peer that
 * bench/hosting.py measures upgate against on each hosting path.  It
 * reads the body (CGI: standard input up to CONTENT_LENGTH; FastCGI:
 * FCGX_GetStr), writes it to a temporary file in the target folder in
 * 256 KiB writes, fsyncs it, renames it to the last segment of
 * PATH_INFO, fsyncs the folder (what makes the rename durable, as
 * upgate does) and answers 201.  No gate, no ledger, no fallocate, no
 * sync_file_range.  --no-fsync, or COPIER_NO_FSYNC=1, skips both fsyncs.
 *
 *	copier [--dir DIR] [--no-fsync] [--listen HOST:PORT | /path.sock]
 *
 * Like upgate.fcgi it serves the listening socket of a process manager
 * on descriptor 0 (mod_fcgid, lighttpd), or its own with --listen
 * (mod_proxy_fcgi); otherwise it is a CGI program.  COPIER_DIR and
 * COPIER_NO_FSYNC are looked up in the request first (Apache SetEnv,
 * lighttpd setenv.add-environment), then in the process environment;
 * --dir and --no-fsync come last.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "number.h"

#define COPY_BUFFER (256 * 1024)

struct opts {
	const char *dir;	/* --dir, or NULL */
	const char *listen;	/* --listen, or NULL */
	int         no_fsync;	/* --no-fsync */
};

/* One request; buf (COPY_BUFFER bytes) is owned by main. */
struct conn {
	FCGX_Request      *req;	/* NULL under CGI */
	const struct opts *o;
	char              *buf;
};

/* The request's variable, else the process's: borrowed, one request. */
static const char *
param(const struct conn *c, const char *name)
{
	const char *v = NULL;

	if (c->req != NULL)
		v = FCGX_GetParam(name, c->req->envp);
	return v != NULL ? v : getenv(name);
}

static ssize_t
body_read(const struct conn *c, char *buf, size_t len)
{
	ssize_t n;

	if (c->req != NULL) {
		n = FCGX_GetStr(buf, (int)len, c->req->in);
		return n == 0 && FCGX_GetError(c->req->in) != 0 ? -1 : n;
	}
	while ((n = read(STDIN_FILENO, buf, len)) == -1 && errno == EINTR)
		continue;
	return n;
}

static void
reply(const struct conn *c, const char *status)
{
	char buf[256];
	int  n;

	n = snprintf(buf, sizeof buf, "Status: %s\r\nContent-Type: "
	    "text/plain\r\n\r\n%s\n", status, status);
	if (c->req != NULL)
		(void)FCGX_PutStr(buf, n, c->req->out);
	else
		(void)fdio_write_all(STDOUT_FILENO, buf, (size_t)n);
}

/* The last segment of PATH_INFO, if it names a plain file. */
static const char *
target_name(const char *path_info)
{
	const char *name;

	if (path_info == NULL || (name = strrchr(path_info, '/')) == NULL)
		return NULL;
	name++;
	if (name[0] == '\0' || name[0] == '.')
		return NULL;
	return name;
}

static int
copy_body(const struct conn *c, int fd, int64_t length)
{
	ssize_t n;
	size_t  want;

	while (length > 0) {
		want = length > COPY_BUFFER ? COPY_BUFFER : (size_t)length;
		if ((n = body_read(c, c->buf, want)) <= 0)
			return -1;
		if (fdio_write_all(fd, c->buf, (size_t)n) == -1)
			return -1;
		length -= n;
	}
	return 0;
}

/* The folder's fsync makes the rename itself durable. */
static int
sync_dir(const char *dir)
{
	int fd, r;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	(void)close(fd);
	return r;
}

/* Stores length bytes of body as dir/name; 0, or -1 with nothing left. */
static int
store(const struct conn *c, const char *dir, const char *name,
    int64_t length, int durable)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int  fd;

	if (snprintf(tmp, sizeof tmp, "%s/.copier-XXXXXX", dir) >=
	    (int)sizeof tmp || snprintf(dst, sizeof dst, "%s/%s", dir, name) >=
	    (int)sizeof dst)
		return -1;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -1;
	if (copy_body(c, fd, length) == -1 || (durable && fsync(fd) == -1))
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) == -1)
		goto fail;
	return durable ? sync_dir(dir) : 0;
fail:
	if (fd != -1)
		(void)close(fd);
	(void)unlink(tmp);
	return -1;
}

static void
handle(const struct conn *c)
{
	const char *name = target_name(param(c, "PATH_INFO"));
	const char *len = param(c, "CONTENT_LENGTH");
	const char *dir = param(c, "COPIER_DIR");
	const char *nf = param(c, "COPIER_NO_FSYNC");
	int64_t     length;

	if (dir == NULL)
		dir = c->o->dir;
	if (name == NULL || dir == NULL) {
		reply(c, "400 Bad Request");
		return;
	}
	if (len == NULL || number_parse(len, strlen(len), &length) == -1) {
		reply(c, "411 Length Required");
		return;
	}
	if (store(c, dir, name, length, !c->o->no_fsync &&
	    (nf == NULL || strcmp(nf, "1") != 0)) == -1) {
		reply(c, "500 Internal Server Error");
		return;
	}
	reply(c, "201 Created");
}

/* One request at a time: the benchmark sends one at a time. */
static int
serve_fcgi(const struct opts *o, char *buf, int listen_fd)
{
	FCGX_Request req;
	struct conn  c = { &req, o, buf };

	if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		handle(&c);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: copier [--dir DIR] [--no-fsync] "
	    "[--listen HOST:PORT | --listen /path.sock]\n");
	exit(2);
}

static void
parse_opts(int argc, char *argv[], struct opts *o)
{
	static const struct option longs[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "no-fsync", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "d:l:n", longs, NULL)) != -1) {
		switch (ch) {
		case 'd': o->dir = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'n': o->no_fsync = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

int
main(int argc, char *argv[])
{
	struct opts o = { NULL, NULL, 0 };
	struct conn c = { NULL, &o, NULL };
	int         fd = 0, rc;

	parse_opts(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	if ((c.buf = malloc(COPY_BUFFER)) == NULL || FCGX_Init() != 0) {
		fprintf(stderr, "copier: cannot start\n");
		return 1;
	}
	if (o.listen != NULL && (fd = FCGX_OpenSocket(o.listen, 128)) < 0) {
		fprintf(stderr, "copier: cannot listen on %s\n", o.listen);
		return 1;
	}
	if (o.listen == NULL && FCGX_IsCGI()) {
		handle(&c);
		rc = 0;
	} else
		rc = serve_fcgi(&o, c.buf, fd);
	free(c.buf);
	return rc;
}
