/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multistatus: the 207 body of PROPFIND and PROPPATCH (RFC 4918 §13,
 * §14.16), written through the io seam as it is made: one response at a
 * time, flushed every MULTISTATUS_FLUSH bytes, so a folder of any size
 * is listed in constant memory (upgate(8), "WebDAV").
 */
#ifndef UPGATE_MULTISTATUS_H
#define UPGATE_MULTISTATUS_H

#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "davxml.h"
#include "io.h"
#include "names.h"

#define MULTISTATUS_FLUSH 32768
#define HREF_MAX          (3 * 4096 + 4096)	/* percent-encoded */

struct multistatus {
	const struct io          *io;		/* borrowed */
	struct buf                out;
	int                       failed;	/* a write failed: no more */
	enum davxml_kind          kind;
	const struct davxml_prop *props;	/* borrowed: what prop names */
	size_t                    nprops;
	int                       have_quota;	/* RFC 4331, on folders */
	int64_t                   quota_used;
	int64_t                   quota_available;
	char                      href[HREF_MAX];
	size_t                    base_len;	/* the href of the folder */
};

/*
 * Starts the body after head (the HTTP head, its empty line included).
 * kind and (props, nprops), borrowed, say what each response lists.
 */
void ms_begin(struct multistatus *, const struct io *, const char *head,
    enum davxml_kind kind, const struct davxml_prop *props, size_t nprops);

/*
 * The href of what the request names: script_name (SCRIPT_NAME, may be
 * NULL) and path, each byte outside RFC 3986's unreserved characters
 * percent-encoded, ending in '/' for a folder.  0, or -1 when too long.
 */
int  ms_set_base(struct multistatus *, const char *script_name,
    const struct path *path, int folder);

/*
 * One response: the base href, or with child the base followed by child
 * (a folder's entry).  name is the displayname; st the resource's.
 */
void ms_resource(struct multistatus *, const char *child, const char *name,
    const struct stat *st, int folder);

/* PROPPATCH's one response: every property named, 403 (nothing kept). */
void ms_refuse_all(struct multistatus *);

/*
 * A response with a status alone (RFC 4918 §13: DELETE, COPY and MOVE
 * name what failed): the base href followed by sub, a '/'-separated
 * path below it (NULL: the base itself), '/' at its end for a folder;
 * status is an HTTP status (409).
 */
void ms_status(struct multistatus *, const char *sub, int folder,
    int status);

/* Ends the document and writes the rest; -1 when a write failed. */
int  ms_end(struct multistatus *);
void ms_release(struct multistatus *);	/* safe twice */

#endif
