/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multipart: a streaming multipart/form-data parser (RFC 7578, with the
 * framing of RFC 2046 §5.1).  It stands alone: no allocation, no I/O, no
 * other upgate header; the caller owns the struct mp (fixed arrays for
 * the delimiter, the look-behind and one part's header block) and feeds
 * the body in reads of any size.
 *
 * Events, the same whatever the sizes of the reads:
 *   begin(part)      a part's headers, parsed whole, handed over once;
 *   data(buf, len)   body bytes of the current part — never a byte that
 *                    turns out to belong to a delimiter; at most one call
 *                    per part per mp_feed (plus one for look-behind bytes
 *                    released), not one per '\r';
 *   end()            the part's delimiter was seen.
 * A callback that returns non-zero aborts: mp_feed returns MP_ABORTED.
 * Errors are sticky: once mp_feed or mp_finish failed, every later call
 * returns the same error without calling back.
 */
#ifndef UPGATE_MULTIPART_H
#define UPGATE_MULTIPART_H

#include <stddef.h>

#define MP_BOUNDARY_MAX  70	/* RFC 2046: 1 to 70 characters */
#define MP_HEADER_MAX    16384	/* one part's header block, CRLFs included */
#define MP_FILENAME_MAX  1024	/* a decoded filename* value */

enum mp_err {
	MP_OK = 0,
	MP_NOT_FORM,		/* not multipart/form-data: 415 */
	MP_BAD_BOUNDARY,	/* missing, empty, over 70 or bad chars: 415 */
	MP_MALFORMED,		/* framing or part headers broken: 400 */
	MP_HEADER_TOO_LARGE,	/* a header block over MP_HEADER_MAX: 400 */
	MP_TRUNCATED,		/* the body ended before the close delimiter */
	MP_ABORTED,		/* a callback asked to stop */
	MP__MAX
};

const char *mp_strerror(enum mp_err);

/*
 * One part's headers, valid only during the begin callback: the pointers
 * point into the parser's header buffer.  Values are raw bytes, not
 * NUL-terminated; a missing one has ptr NULL and len 0.
 */
struct mp_part {
	const char *name;		/* Content-Disposition name */
	size_t      name_len;
	const char *filename;		/* filename, up to the next '"' */
	size_t      filename_len;
	int         has_filename;	/* filename or filename* given, even "" */
	const char *filename_star;	/* filename*=UTF-8''..., decoded */
	size_t      filename_star_len;
	const char *content_type;	/* the part's Content-Type */
	size_t      content_type_len;
};

struct mp_callbacks {
	int (*begin)(void *arg, const struct mp_part *part);
	int (*data)(void *arg, const char *buf, size_t len);
	int (*end)(void *arg);
};

/* Parser state: treat as opaque; its size is fixed. */
struct mp {
	int         state;
	enum mp_err err;
	char        delim[4 + MP_BOUNDARY_MAX];	/* "\r\n--" boundary */
	size_t      delim_len;
	size_t      matched;		/* delimiter bytes matched so far */
	size_t      hlen;		/* bytes in header */
	size_t      line;		/* where the header line being read starts */
	size_t      cd_off, cd_len;	/* Content-Disposition value; off 0: none */
	size_t      ct_off, ct_len;	/* Content-Type value; off 0: none */
	int         pad;		/* transport padding seen after a delimiter */
	char        header[MP_HEADER_MAX];	/* headers, then a body's lead */
	char        filename_star[MP_FILENAME_MAX];
};

/*
 * Sets up p for a body of the given raw Content-Type (the boundary is
 * taken from it: quoted or not, 1 to 70 characters of RFC 2046's bchars,
 * not ending in a space).  MP_NOT_FORM or MP_BAD_BOUNDARY when it cannot
 * serve; content_type may be NULL.
 */
enum mp_err mp_init(struct mp *p, const char *content_type);

/* Parses (buf, len), calling back as it goes. */
enum mp_err mp_feed(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg);

/* The body has ended: MP_TRUNCATED unless the close delimiter was seen. */
enum mp_err mp_finish(struct mp *p);

#endif
