/*
 * gate_body: what PUT and POST share once the decision let them through:
 * the folders they need (and their removal on failure), the body read in
 * one fixed buffer and handed to a sink, the figures of a full disk.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "gate_int.h"

/*
 * The folders the path needs: the user's, then the missing ones.  The
 * walk is asked again of what it made: a link or a file slipped into the
 * path meanwhile is refused as rows 8 and 9 would have.
 */
struct outcome
make_folders(struct request *rq)
{
	if (rq->user_fd == -1) {
		rq->user_fd = store_open_user_dir(rq->upload_fd, rq->user, 1);
		if (rq->user_fd == -1)
			return outcome(REASON_SERVER_ERROR, NULL);
		rq->made_user_dir = 1;
		if (store_resolve(rq->user_fd, &rq->path, rq->kind,
		    &rq->target) != STORE_OK)
			return outcome(REASON_SERVER_ERROR, NULL);
	}
	if (rq->target.state == TARGET_PARENT_MISSING &&
	    store_make_parents(&rq->target) != STORE_OK)
		return outcome(REASON_SERVER_ERROR, NULL);
	switch (rq->target.state) {
	case TARGET_NEW:
	case TARGET_EXISTS:
		return outcome(REASON_NONE, NULL);
	case TARGET_SYMLINK:
		return outcome(REASON_FORBIDDEN, NULL);
	default:
		return outcome(REASON_CONFLICT, NULL);
	}
}

/* Removes what this request made on the way: all or nothing. */
void
undo_folders(struct request *rq)
{
	store_target_rollback(&rq->target);
	if (rq->made_user_dir)
		(void)unlinkat(rq->upload_fd, rq->user, AT_REMOVEDIR);
}

/* The figures of a 507 disk_full, measured now. */
struct outcome
disk_full(struct request *rq, int64_t required)
{
	int64_t freeb = 0, total = 0;

	if (store_space(rq->upload_fd, &freeb, &total) == 0)
		rq->reply.available_space = space_available(freeb,
		    config_min_free(&rq->g->cfg, total));
	rq->reply.required_space = required;
	return outcome(REASON_DISK_FULL, NULL);
}

/* How much to ask for next: never past a known CONTENT_LENGTH. */
static size_t
next_read(const struct request *rq)
{
	int64_t left = rq->verdict.length - rq->received;

	if (rq->verdict.length < 0 || rq->expected_only || left > BODY_BUFFER)
		return BODY_BUFFER;
	return (size_t)left;
}

/*
 * Rows 13 and 6 for what any body may do wrong while it streams: grow
 * past its X-Expected-Entity-Length, or, of unknown length, past
 * max_upload_size.  Then the sink stores the bytes.
 */
static struct outcome
take(struct request *rq, const char *buf, size_t n, sink_fn sink)
{
	int64_t max = rq->policy.max_upload_size;

	rq->received += (int64_t)n;
	if (rq->expected_only && rq->received > rq->verdict.length)
		return outcome(REASON_BAD_REQUEST, "The body is longer than "
		    "its X-Expected-Entity-Length.");
	if (rq->verdict.length < 0 && max > 0 && rq->received > max) {
		rq->reply.too_large_limit = max;
		rq->reply.too_large_size = rq->received;
		return outcome(REASON_TOO_LARGE, NULL);
	}
	return sink(rq, buf, n);
}

static struct outcome
stream(struct request *rq, char *buf, sink_fn sink)
{
	struct outcome o;
	ssize_t        n = 0;
	size_t         want;

	while ((want = next_read(rq)) > 0) {
		n = rq->io->read(rq->io->ctx, buf, want);
		if (n <= 0)
			break;
		if ((o = take(rq, buf, (size_t)n, sink)).reason != REASON_NONE)
			return o;
	}
	if (n < 0 && want > 0)
		return outcome(REASON_INCOMPLETE_BODY, "The body could not be read.");
	rq->body_done = 1;
	if (rq->verdict.length >= 0 && rq->received < rq->verdict.length)
		return outcome(REASON_INCOMPLETE_BODY, NULL);
	return outcome(REASON_NONE, NULL);
}

struct outcome
stream_body(struct request *rq, sink_fn sink)
{
	struct outcome o;
	char          *buf = malloc(BODY_BUFFER);

	if (buf == NULL)
		return outcome(REASON_SERVER_ERROR, NULL);
	o = stream(rq, buf, sink);
	free(buf);
	return o;
}

struct outcome
ledger_failed(enum ledger_err e)
{
	return e == LEDGER_NOSPACE ? outcome(REASON_DISK_FULL, NULL) :
	    outcome(REASON_SERVER_ERROR, NULL);
}
