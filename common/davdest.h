/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davdest: the Destination header of COPY and MOVE (upgate(8),
 * "WebDAV"; RFC 4918 §10.3): an absolute URI on the request's own
 * scheme, host and port, or an absolute path; percent-decoded; below
 * SCRIPT_NAME.  Pure: no I/O, no allocation.
 */
#ifndef UPGATE_DAVDEST_H
#define UPGATE_DAVDEST_H

#include <stddef.h>

#include "decide.h"

struct davdest_request {
	const char *destination;	/* the header; NULL: none */
	const char *host;		/* HTTP_HOST, else SERVER_NAME[:PORT] */
	int         https;		/* the request came over TLS */
	const char *script_name;	/* may be NULL */
};

/*
 * What the Destination names: DEST_PATH with out (size bytes) holding
 * the decoded path below the user's folder ("/a/b", a final '/' kept),
 * for path_parse; else DEST_NONE, DEST_ROOT, DEST_OUTSIDE or DEST_BAD.
 */
enum dest davdest_parse(const struct davdest_request *, char *out,
    size_t size);

#endif
