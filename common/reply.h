/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * reply: everything a response says, gathered by the gate and handed to
 * render.  It points to strings it does not own; they must outlive the
 * call to render_reply().
 */
#ifndef UPGATE_REPLY_H
#define UPGATE_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include "reason.h"

struct quota_figures {
	int64_t limit;		/* QUOTA_UNLIMITED: none */
	int64_t used;
	int64_t reserved;
};

struct stored_file {
	const char *field;	/* multipart field name, NULL for PUT */
	const char *name;	/* the name the client gave */
	const char *stored_as;	/* relative to the user's folder */
	int64_t     size;
};

struct file_size {
	char    name[4096];	/* relative to the user's folder */
	int64_t size;
};

struct reply {
	enum reason reason;
	const char *user;		/* NULL before row 3 or when invalid */
	int         has_quota;		/* quota figures known */
	struct quota_figures quota;
	/* too_large: the limit and the size (bytes, or counts) */
	int64_t     too_large_limit;
	int64_t     too_large_size;
	/* disk_full */
	int64_t     required_space;
	int64_t     available_space;
	const char *storage_path;	/* shown only with expose_paths */
	/* quota_exceeded */
	int64_t     upload_size;
	int64_t     shortage;
	int         quota_filesystem;	/* refused by the filesystem's own
					   quota (EDQUOT): source
					   "filesystem", shortage unknown */
	const struct file_size *largest;
	size_t      nlargest;
	/* successes */
	const struct stored_file *files;
	size_t      nfiles;
	const char *location;		/* PUT 201: the request's own URI */
	/* PUT and COPY of a file: its validators, as PROPFIND gives them */
	const char *etag;
	const char *last_modified;
	/* a sentence that says more than the reason's own (may be NULL) */
	const char *detail;
	/* else, for a refusal: what the request meant to do, and why not */
	enum verb   verb;
	enum cause  cause;
	/* WebDAV (upgate(8), "WebDAV") */
	int         webdav;		/* Allow and OPTIONS name its methods */
	const char *condition;		/* DAV: precondition element, or NULL */
	int64_t     range_size;		/* 416: the file's size */
	int         connection_close;	/* refusal with the body unread */
	int         retry_after;	/* busy: seconds, 0 for the usual 1 */
	/* resumable uploads (upgate(8), "Resumable uploads") */
	int         tus_url;		/* an upload's URL: its own Allow */
	const char *tus_headers;	/* "Tus-Resumable: ...\r\n" lines */
};

#endif
