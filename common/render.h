/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * render: a whole CGI response — Status and the other header lines, then
 * the body — in the format that Accept prefers (upgate(8), Responses).
 */
#ifndef UPGATE_RENDER_H
#define UPGATE_RENDER_H

#include <stdint.h>
#include "buf.h"
#include "format.h"
#include "reply.h"

/* Settings that shape a body; NULL pointers mean "not configured". */
struct render_options {
	enum format  default_format;
	int64_t      retry_after;	/* disk_full */
	const char  *upgrade_url;
	const char  *cleanup_url;
	int          expose_paths;
};

/*
 * Writes the response into out: header lines ending in CRLF, an empty
 * line, then the body unless head_only (HEAD) or the status is 204.
 * accept may be NULL.
 */
void render_reply(const struct reply *, const struct render_options *,
    const char *accept, int head_only, struct buf *out);

/*
 * The first header lines of a reply whose body the caller writes itself
 * (a 207 multistatus, a served file): Status, Content-Type, Cache-Control
 * and X-Quota-*, each ending in CRLF, without the empty line that ends
 * the head.
 */
void render_head_lines(const struct reply *, const char *content_type,
    struct buf *out);

/*
 * "1.5 GiB", "512 bytes", "1 byte": whole bytes below 1 KiB, else binary
 * units with one decimal, rounded to nearest ("1023.96 KiB" is "1.0 MiB").
 * Negative sizes are "0 bytes".  out holds at least 16 bytes.
 */
void render_human_size(int64_t bytes, char *out, size_t outlen);

/*
 * One human sentence for the reply (used by every format): reply->detail
 * when set and not empty, else the reason's own.  Appended raw: each
 * format cleans and escapes it.
 */
void render_message(const struct reply *, struct buf *out);

/*
 * used/limit in percent, rounded down to one decimal (so 100.0 means
 * full); 100 for a limit of 0; -1 when unlimited (JSON null).
 */
double render_percentage_used(const struct quota_figures *);

#endif
