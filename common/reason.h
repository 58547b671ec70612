/*
 * reason: every outcome of a request, its HTTP status and its reason
 * phrase.  The mapping from outcomes to statuses lives in reason.c's one
 * table and nowhere else (SPEC §6, §7, RFC 9110 §15).
 */
#ifndef UPGATE_REASON_H
#define UPGATE_REASON_H

enum reason {
	REASON_NONE,			/* no refusal (yet): go on */
	/* refusals, SPEC §6 */
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
	/* successes, SPEC §7 and §9 */
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
	REASON__MAX
};

int         reason_status(enum reason);	/* 201, 507, ... */
const char *reason_name(enum reason);	/* "quota_exceeded", "stored", ... */
int         reason_refuses(enum reason);	/* 1 for the refusals */

/* RFC 9110 reason phrase of a status this program sends ("Content Too Large"). */
const char *status_phrase(int status);

#endif
