/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * reason: every outcome of a request, its HTTP status and its reason
 * phrase.  The mapping from outcomes to statuses lives in reason.c's one
 * table and nowhere else (upgate(8), Decisions, upgate(8), Responses, RFC 9110 §15).
 */
#ifndef UPGATE_REASON_H
#define UPGATE_REASON_H

enum reason {
	REASON_NONE,			/* no refusal (yet): go on */
	/* refusals, upgate(8), Decisions */
	REASON_METHOD_NOT_ALLOWED,
	REASON_SERVER_ERROR,
	REASON_FORBIDDEN,
	REASON_LENGTH_REQUIRED,
	REASON_BAD_REQUEST,
	REASON_TOO_LARGE,
	REASON_UNSUPPORTED_MEDIA_TYPE,
	REASON_NOT_FOUND,
	REASON_PRECONDITION_FAILED,
	REASON_CONFLICT,
	REASON_DISK_FULL,
	REASON_QUOTA_EXCEEDED,
	REASON_INCOMPLETE_BODY,
	REASON_BUSY,
	REASON_RANGE_NOT_SATISFIABLE,	/* 416: GET of a stored file */
	REASON_CHECKSUM_MISMATCH,	/* 460: a tus PATCH's Upload-Checksum */
	/* successes, upgate(8), Responses and upgate(8), Logs */
	REASON_STORED,			/* 201 */
	REASON_REPLACED,		/* 204 */
	REASON_DELETED,			/* 204 */
	REASON_STATUS,			/* GET/HEAD quota status, 200 */
	REASON_OPTIONS,			/* 204 + Allow */
	/* successes of the WebDAV methods (upgate(8), "WebDAV") */
	REASON_CREATED,			/* MKCOL, 201 without a body */
	REASON_MULTISTATUS,		/* PROPFIND, PROPPATCH: 207 */
	REASON_SERVED,			/* GET of a stored file: 200 */
	REASON_PARTIAL,			/* its one range: 206 */
	REASON_NOT_MODIFIED,		/* 304 */
	REASON_DELETED_PARTIAL,		/* folder DELETE, some left: 207 */
	REASON_COPIED,			/* COPY: 201 new, */
	REASON_COPIED_OVER,		/* 204 replacing */
	REASON_MOVED,			/* MOVE: 201 new, */
	REASON_MOVED_OVER,		/* 204 replacing */
	/* successes of resumable uploads (upgate(8), "Resumable uploads") */
	REASON_UPLOAD_STORED,		/* a creation that publishes: 201 */
	REASON_APPENDED,		/* a PATCH: 204 */
	REASON_UPLOAD_DONE,		/* the PATCH that publishes: 204 */
	REASON_UPLOAD_STATUS,		/* HEAD of an upload: 200 */
	REASON__MAX
};

/*
 * Why rows 3, 5, 8 and 9 refused: the message names the one cause that
 * applies, not the row's whole list (upgate(8), "Decisions").
 */
enum cause {
	CAUSE_NONE,
	CAUSE_NO_IDENTITY,	/* row 3: neither REMOTE_USER nor anonymous_user */
	CAUSE_BAD_USER,		/* row 3: not a valid user name */
	CAUSE_BAD_LENGTH,	/* row 5 */
	CAUSE_BAD_PATH,		/* row 8: a name or the path's form */
	CAUSE_PATH_TOO_LONG,	/* row 8: past PATH_MAX on the server */
	CAUSE_SYMLINK,		/* row 8: a symbolic link on the path */
	CAUSE_FOREIGN,		/* row 8: another user's file */
	CAUSE_MISSING,		/* row 8: DELETE of nothing */
	CAUSE_EXISTS,		/* row 8: If-None-Match: * and a file */
	CAUSE_PARENT_MISSING,	/* row 9: with create_parents = no */
	CAUSE_NOT_FOLDER,	/* row 9: a file where a folder is needed */
	CAUSE_TARGET_FOLDER,	/* row 9: the target is a folder */
	CAUSE_TARGET_SPECIAL,	/* row 9: a FIFO, a device, a socket */
	CAUSE_NO_OVERWRITE,	/* row 9: with allow_overwrite = no */
	/* WebDAV (upgate(8), "WebDAV") */
	CAUSE_ROOT,		/* row 8: the user's folder itself */
	CAUSE_NOT_FOLDER_NAMED,	/* row 9: a file named with a final '/' */
	CAUSE_NO_DESTINATION,	/* row 8: no Destination header */
	CAUSE_DEST_OUTSIDE,	/* row 8: another host, outside the folder */
	CAUSE_DEST_BAD,		/* row 8: a Destination breaking the rules */
	CAUSE_DEST_SAME,	/* row 8: the Destination is the source */
	CAUSE_DEST_INSIDE,	/* row 9: one inside the other */
	CAUSE_DEST_EXISTS,	/* row 8: Overwrite: F and a target */
	CAUSE_IF_MATCH,		/* row 8: If-Match does not match */
	CAUSE_BAD_DEPTH,	/* row 8: a Depth the method does not take */
	CAUSE_NOTHING,		/* row 8: nothing of that name */
	CAUSE_INFINITE_DEPTH,	/* row 8: PROPFIND of a folder, infinity */
	CAUSE_NO_PARENT,	/* row 9: MKCOL, Destination: no parent */
	CAUSE_TAKEN,		/* row 9: MKCOL where something is */
	CAUSE_BODY,		/* row 7: MKCOL with a body */
	CAUSE__MAX
};

/* What the refused request meant to do, for its message. */
enum verb {
	VERB_NONE,
	VERB_STORE,		/* PUT */
	VERB_STORE_FORM,	/* POST */
	VERB_DELETE,		/* DELETE */
	VERB_SHOW,		/* GET, HEAD: the quota status */
	VERB_SERVE,		/* GET, HEAD of a stored file */
	VERB_LIST,		/* PROPFIND */
	VERB_PROPS,		/* PROPPATCH */
	VERB_MAKE_FOLDER,	/* MKCOL */
	VERB_DELETE_FOLDER,	/* DELETE of a folder */
	VERB_COPY,		/* COPY */
	VERB_MOVE,		/* MOVE */
	VERB__MAX
};

int         reason_status(enum reason);	/* 201, 507, ... */
const char *reason_name(enum reason);	/* "quota_exceeded", "stored", ... */
int         reason_refuses(enum reason);	/* 1 for the refusals */

/* RFC 9110 reason phrase of a status this program sends ("Content Too Large"). */
const char *reason_status_phrase(int status);

#endif
