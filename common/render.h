/*
 * render: a whole CGI response — Status and the other header lines, then
 * the body — in the format that Accept prefers (SPEC §7).
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

/* "1.5 GiB", "512 bytes", "1 byte": binary units, one decimal. */
void human_size(int64_t bytes, char *out, size_t outlen);

/* One human sentence for the reply (used by every format). */
void render_message(const struct reply *, struct buf *out);

/* percentage used with one decimal, as a double; 100 for a limit of 0 */
double percentage_used(const struct quota_figures *);

#endif
