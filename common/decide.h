/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * decide: the decision table of upgate(8), Decisions as one pure function.  It reads
 * request facts, configuration and figures, and returns the first row that
 * refuses.  No getenv, no clock, no I/O, no allocation.
 *
 * The facts are gathered in the order of the rows, cheapest first, and
 * decide() is called after each step: it stops, answering REASON_NONE, at
 * the first row whose facts are not known yet.  So nothing is looked at
 * (no path walked, no lock taken) when an earlier row already refuses.
 */
#ifndef UPGATE_DECIDE_H
#define UPGATE_DECIDE_H

#include <stdint.h>
#include "reason.h"

#define FRAMING_ALLOWANCE 65536	/* multipart framing and text (upgate(8), Decisions) */

enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_PUT,
	METHOD_POST,
	METHOD_DELETE,
	METHOD_OPTIONS,
	METHOD_PROPFIND,	/* WebDAV (upgate(8), "WebDAV") */
	METHOD_PROPPATCH,
	METHOD_MKCOL,
	METHOD_COPY,
	METHOD_MOVE,
	METHOD_PATCH,		/* resumable uploads (upgate(8)) */
	METHOD_OTHER,
	METHOD__MAX
};

enum method decide_method_parse(const char *);	/* case-sensitive; NULL: OTHER */
enum verb   method_verb(enum method);	/* PUT: VERB_STORE, ... */
const char *decide_method_name(enum method);
#define ALLOWED_METHODS "GET, HEAD, PUT, POST, DELETE, OPTIONS"
/* 1 for the methods that `webdav = no` answers with 405 */
int method_dav(enum method);
/* what Allow adds to ALLOWED_METHODS with `webdav = yes` */
#define DAV_METHODS "PROPFIND, PROPPATCH, MKCOL, COPY, MOVE"
/* Allow on an upload's URL (upgate(8), "Resumable uploads") */
#define TUS_URL_METHODS "OPTIONS, HEAD, PATCH, DELETE"
#define TUS_VERSION "1.0.0"
#define TUS_URL_PREFIX "/.resumable/"	/* PATH_INFO of an upload's URL */

/* What a request is to tus (upgate(8), "Resumable uploads"). */
enum tus {
	TUS_NONE,		/* an ordinary request */
	TUS_CREATE,		/* POST with Tus-Resumable */
	TUS_URL			/* anything on SCRIPT_NAME/.resumable/... */
};

/* Upload-Checksum, as the gate found it. */
enum tus_checksum {
	TUS_CHECKSUM_NONE,	/* not sent */
	TUS_CHECKSUM_OK,	/* a known algorithm and a digest in base64 */
	TUS_CHECKSUM_BAD	/* another algorithm, or malformed: 400 */
};

/* What a walk of the target path found (rows 8 and 9). */
enum target {
	TARGET_NEW,		/* does not exist, its folder does */
	TARGET_EXISTS,		/* a regular file */
	TARGET_BAD_NAME,	/* 400 */
	TARGET_TOO_LONG,	/* 400: past PATH_MAX on the server */
	TARGET_SYMLINK,		/* 403: a symbolic link on the path */
	TARGET_FOREIGN,		/* 403: stored by someone else */
	TARGET_PARENT_MISSING,	/* a folder on the path does not exist */
	TARGET_NOT_FOLDER,	/* 409: a non-folder where a folder is needed */
	TARGET_NOT_REGULAR,	/* 409: the target is not a regular file */
	TARGET_FOLDER,		/* a folder (WebDAV paths only) */
	TARGET__MAX
};

/* A WebDAV request's Depth header (RFC 4918 §10.2); none is infinity. */
enum depth {
	DEPTH_INFINITY,
	DEPTH_0,
	DEPTH_1,
	DEPTH_BAD	/* anything else: 400 */
};

/*
 * What a COPY or MOVE's Destination names (upgate(8), "WebDAV"): a
 * path below the user's folder, or why not.
 */
enum dest {
	DEST_NONE,		/* no Destination header: 400 */
	DEST_PATH,		/* a path below the user's folder */
	DEST_ROOT,		/* the user's folder itself: 403 */
	DEST_OUTSIDE,		/* another host, or outside the user's
				   folder; a "." or ".." segment, a dot
				   name: 403 */
	DEST_BAD		/* any other breach of the path rules: 400 */
};

/* Where a Destination lies against the source (both below the user's). */
enum dest_place {
	PLACE_APART,
	PLACE_SAME,		/* the source itself: 403 */
	PLACE_INSIDE,		/* below the source: 409 */
	PLACE_ABOVE		/* a folder that holds the source: 409 */
};

/* If-Match against the request's target (RFC 9110 §13.1.1). */
enum if_match {
	IF_MATCH_NONE,		/* no header */
	IF_MATCH_OK,
	IF_MATCH_FAILED		/* another ETag, or no file: 412 */
};

/* Which groups of facts are known (bits of facts.known). */
enum {
	KNOW_CONFIG   = 1 << 0,	/* config_ok */
	KNOW_IDENTITY = 1 << 1,	/* identity_ok */
	KNOW_TARGET   = 1 << 2,	/* target, if_none_match */
	KNOW_SPACE    = 1 << 3,	/* free, min_free */
	KNOW_QUOTA    = 1 << 4,	/* limit, used, reserved, recorded */
	KNOW_BODY     = 1 << 5,	/* body_length: asked again once bytes came */
	KNOW_UPLOAD   = 1 << 6	/* upload_found and its figures */
};

struct facts {
	unsigned    known;
	enum method method;
	int         webdav;		/* the configuration's (row 1) */
	int         config_ok;
	int         identity_ok;
	int         identity_given;	/* REMOTE_USER or anonymous_user set */
	/* CONTENT_LENGTH, else X-Expected-Entity-Length, as sent (NULL: none) */
	const char *length_text;
	int         multipart_ok;	/* POST: multipart/form-data + boundary */
	enum target target;
	int         target_folder;	/* TARGET_NOT_REGULAR is a folder */
	int         trailing_slash;	/* WebDAV: the path ended in '/' */
	enum depth  depth;		/* PROPFIND, COPY, MOVE */
	int         dav_path;		/* DELETE: the path was walked as a
					   WebDAV path (a folder, the user's
					   folder, or ending in '/') */
	int         names_root;		/* the path is the user's folder */
	/* COPY and MOVE */
	enum dest   dest;
	enum target dest_target;	/* what the Destination names */
	int         dest_slash;		/* it ended in '/' */
	enum dest_place dest_place;
	int         overwrite;		/* Overwrite: T (the default) */
	enum if_match if_match;
	int64_t     copy_bytes;		/* COPY: the bytes of the source's files
					   (with KNOW_SPACE) */
	int         if_none_match_star;
	int64_t     free_space;		/* f_bavail x f_frsize */
	int64_t     min_free;		/* from config_min_free() */
	int64_t     limit;		/* QUOTA_UNLIMITED: none */
	int64_t     used;
	int64_t     reserved;
	int64_t     recorded;		/* ledger size of a replaced file, or 0 */
	/*
	 * Asked again while or after the body streams (KNOW_BODY): the
	 * bytes to hold against rows 10 and 11 exactly — what came, or what
	 * the next step of a growing body reserves — in place of the
	 * announced length, with no allowance for multipart framing; rows 4
	 * to 7 were passed before.  reserved then leaves out the request's
	 * own reservation.
	 */
	int64_t     body_length;
	int64_t     space_held;		/* bytes the request holds on the disk
					   (fallocate): free for it */
	/* resumable uploads (decide_tus.c) */
	int         resumable;		/* the configuration's (row 1) */
	enum tus    tus;
	const char *tus_version;	/* Tus-Resumable as sent, or NULL */
	const char *upload_length_text;	/* Upload-Length as sent, or NULL */
	int         defer_length;	/* Upload-Defer-Length was sent */
	int         offset_stream;	/* Content-Type: application/offset+
					   octet-stream */
	const char *upload_offset_text;	/* Upload-Offset as sent, or NULL */
	enum tus_checksum checksum;
	int         upload_found;	/* the user's, unexpired (KNOW_UPLOAD) */
	int64_t     upload_offset;	/* its durable offset */
	int64_t     upload_length;	/* its Upload-Length */
};

/* The settings that rows 4 to 11 read, copied from struct config. */
struct policy {
	int64_t max_upload_size;	/* 0: no limit */
	int     allow_unknown_length;
	int     allow_overwrite;
	int     create_parents;
};

struct verdict {
	enum reason reason;	/* REASON_NONE: no row refuses so far */
	int         row;	/* the row of upgate(8), Decisions that decided, 0 if none */
	enum cause  cause;	/* rows 3, 5, 8, 9: which of the row's causes */
	int64_t     length;	/* the announced length, -1 if unknown */
	int64_t     charge;	/* what the upload adds to the user's usage */
	/* figures of the refusal */
	int64_t     limit;	/* too_large: max_upload_size */
	int64_t     available;	/* disk_full: max(0, free - min_free);
				   quota_exceeded: max(0, limit-used-reserved) */
	int64_t     shortage;	/* disk_full, quota_exceeded */
	/* the DAV: precondition of a refusal (RFC 4918 §16), or NULL */
	const char *condition;
};

struct verdict decide(const struct facts *, const struct policy *);

/*
 * The WebDAV methods' rows (decide_dav.c), asked by decide() after row
 * 3: PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, GET or HEAD of a WebDAV
 * path, and DELETE of a folder.
 */
struct verdict decide_dav(const struct facts *, const struct policy *,
    struct verdict);

/*
 * COPY and MOVE's rows (decide_copy.c), asked by decide_dav once the
 * source is walked: the source, Depth, the Destination, Overwrite, then
 * for COPY rows 10 and 11 with length the bytes to copy and recorded
 * the bytes the copy replaces.
 */
struct verdict decide_copy(const struct facts *, const struct policy *,
    struct verdict);

/*
 * The rows of resumable uploads (decide_tus.c), asked by decide() after
 * row 3 for a tus request.
 */
struct verdict decide_tus(const struct facts *, const struct policy *,
    struct verdict);

/*
 * Rows 8 to 11 of an upload whose length v.length is known (for
 * decide_tus.c: a creation's Upload-Length).
 */
struct verdict decide_store(const struct facts *, const struct policy *,
    struct verdict);

/* v refused with reason by row (for decide_dav.c) */
struct verdict decide_refuse(struct verdict v, enum reason, int row);
/* The same, naming the one cause of the row that applies. */
struct verdict decide_refuse_by(struct verdict v, enum reason, int row,
    enum cause);

/*
 * Rows 8 and 9 of what a WebDAV path's walk found (decide_dav.c): a bad
 * name (400, cause bad), a link or another user's file (403), a file
 * where a folder is needed (409); else v.
 */
struct verdict decide_walk(enum target, enum cause bad, struct verdict v);

/* Rows 10 and 11 for v.length bytes (COPY: decide_copy.c). */
struct verdict decide_room_rows(const struct facts *, struct verdict);

/*
 * max(0, limit - used - reserved) of a finite limit, saturating: the
 * one place the quota left is computed (a forged ledger may hold any
 * figure up to 2^63-1).
 */
int64_t decide_quota_left(int64_t limit, int64_t used, int64_t reserved);

/*
 * The most bytes rows 10 and 11 would let the request hold now: the
 * smaller of the space (counting what it holds) and the quota left.
 */
int64_t decide_room(const struct facts *);

/* max(0, free - min_free) */
int64_t decide_space_available(int64_t free_space, int64_t min_free);

#endif
