/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_get: GET and HEAD of a stored file (upgate(8), "WebDAV"): 200
 * with its validators, one byte range (206, or 416), conditional
 * requests (304; RFC 9110 §13), the bytes streamed through the io seam
 * in chunks of one fixed buffer.  The file is opened once, without
 * following a link, and what is served is what that descriptor holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate_int.h"
#include "number.h"
#include "render.h"
#include "validators.h"

#define GET_CHUNK (64 * 1024)

struct served {
	int         fd;
	struct stat st;
	char        etag[ETAG_SIZE];
	char        date[HTTP_DATE_SIZE];
	int64_t     first, last;	/* the range served, inclusive */
};

/* 304 when the client's copy is current (RFC 9110 §13.2.2, steps 3, 4). */
static int
not_modified(struct request *rq, const struct served *s)
{
	const char *inm = request_param(rq, "HTTP_IF_NONE_MATCH");
	const char *ims = request_param(rq, "HTTP_IF_MODIFIED_SINCE");
	time_t      t;

	if (inm != NULL)
		return etag_list_match(inm, s->etag);
	return ims != NULL && http_date_parse(ims, &t) == 0 &&
	    s->st.st_mtime <= t;
}

/*
 * One "bytes=first-last", "first-" or "-suffix" (RFC 9110 §14.1.2):
 * 1 with the range set, 0 to serve the whole file (no Range, one
 * that is not understood, several ranges, an If-Range that does not
 * match), -1 when unsatisfiable.
 */
static int
find_range(struct request *rq, struct served *s)
{
	const char *v = request_param(rq, "HTTP_RANGE");
	const char *ifr = request_param(rq, "HTTP_IF_RANGE");
	const char *dash;
	int64_t     a, b, size = s->st.st_size;
	int         has_a, has_b;

	if (v == NULL || strncmp(v, "bytes=", 6) != 0 ||
	    (ifr != NULL && strcmp(ifr, s->etag) != 0))
		return 0;
	v += 6;
	if ((dash = strchr(v, '-')) == NULL || strchr(v, ',') != NULL)
		return 0;
	has_a = dash > v;
	has_b = dash[1] != '\0';
	if ((has_a && number_parse(v, (size_t)(dash - v), &a) == -1) ||
	    (has_b && number_parse(dash + 1, strlen(dash + 1), &b) == -1) ||
	    (!has_a && !has_b) || (has_a && has_b && b < a))
		return 0;
	if (!has_a) {		/* the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		s->first = b >= size ? 0 : size - b;
		s->last = size - 1;
		return 1;
	}
	if (a >= size)
		return -1;
	s->first = a;
	s->last = has_b && b < size - 1 ? b : size - 1;
	return 1;
}

static void
add_head(struct request *rq, const struct served *s, struct buf *b)
{
	render_head_lines(&rq->reply, "application/octet-stream", b);
	buf_printf(b, "ETag: %s\r\nLast-Modified: %s\r\n", s->etag, s->date);
	if (rq->reply.reason == REASON_NOT_MODIFIED) {
		buf_puts(b, "\r\n");
		return;
	}
	buf_printf(b, "Content-Length: %" PRId64 "\r\nAccept-Ranges: bytes\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: sandbox\r\n",
	    s->last - s->first + 1);
	if (rq->reply.reason == REASON_PARTIAL)
		buf_printf(b, "Content-Range: bytes %" PRId64 "-%" PRId64
		    "/%" PRId64 "\r\n", s->first, s->last,
		    (int64_t)s->st.st_size);
	buf_puts(b, "\r\n");
}

/* The bytes first to last, a chunk at a time; stops at a failed write. */
static void
send_bytes(struct request *rq, const struct served *s)
{
	char   *chunk = malloc(GET_CHUNK);
	int64_t at = s->first, left = s->last - s->first + 1;
	ssize_t n;

	if (chunk == NULL)
		return;
	while (left > 0) {
		n = pread(s->fd, chunk, left < GET_CHUNK ? (size_t)left :
		    GET_CHUNK, at);
		if (n <= 0 || rq->io->write(rq->io->ctx, chunk, (size_t)n) == -1)
			break;	/* the head is out: the short body tells */
		at += n;
		left -= n;
	}
	free(chunk);
}

static void
serve(struct request *rq, struct served *s)
{
	struct buf head;
	int        r;

	etag_of(&s->st, s->etag, sizeof s->etag);
	http_date(s->st.st_mtime, s->date, sizeof s->date);
	s->first = 0;
	s->last = (int64_t)s->st.st_size - 1;
	if (not_modified(rq, s))
		rq->reply.reason = REASON_NOT_MODIFIED;
	else if ((r = find_range(rq, s)) == -1) {
		rq->reply.range_size = s->st.st_size;
		gate_respond(rq, REASON_RANGE_NOT_SATISFIABLE, NULL);
		return;
	} else
		rq->reply.reason = r == 1 ? REASON_PARTIAL : REASON_SERVED;
	rq->reply.user = rq->user;
	buf_init(&head);
	add_head(rq, s, &head);
	if (!head.failed &&
	    rq->io->write(rq->io->ctx, head.data, head.len) == 0 &&
	    rq->reply.reason != REASON_NOT_MODIFIED &&
	    rq->facts.method == METHOD_GET)
		send_bytes(rq, s);
	buf_release(&head);
}

int
get_file(struct request *rq)
{
	struct served s;

	if (rq->facts.target == TARGET_FOLDER)
		return 0;
	quota_from_facts(rq);
	gate_unlock_user(rq);
	s.fd = openat(rq->dav.dir_fd, rq->dav.name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (s.fd == -1 || fstat(s.fd, &s.st) == -1) {
		/* a link or nothing put there since the walk */
		gate_respond(rq, errno == ELOOP ? REASON_FORBIDDEN :
		    errno == ENOENT ? REASON_NOT_FOUND : REASON_SERVER_ERROR,
		    NULL);
	} else if (!S_ISREG(s.st.st_mode)) {
		gate_respond(rq, REASON_CONFLICT, NULL);	/* swapped meanwhile */
	} else
		serve(rq, &s);
	if (s.fd != -1)
		close(s.fd);
	return 1;
}
