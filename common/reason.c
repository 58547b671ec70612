/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stddef.h>

#include "reason.h"

/* The one table from outcomes to statuses (upgate(8), Decisions, upgate(8), Responses). */
static const struct {
	int         status;
	const char *name;
} reasons[REASON__MAX] = {
	[REASON_NONE]                   = { 0,   "-" },
	[REASON_METHOD_NOT_ALLOWED]     = { 405, "method_not_allowed" },
	[REASON_SERVER_ERROR]           = { 500, "server_error" },
	[REASON_FORBIDDEN]              = { 403, "forbidden" },
	[REASON_LENGTH_REQUIRED]        = { 411, "length_required" },
	[REASON_BAD_REQUEST]            = { 400, "bad_request" },
	[REASON_TOO_LARGE]              = { 413, "too_large" },
	[REASON_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported_media_type" },
	[REASON_NOT_FOUND]              = { 404, "not_found" },
	[REASON_PRECONDITION_FAILED]    = { 412, "precondition_failed" },
	[REASON_CONFLICT]               = { 409, "conflict" },
	[REASON_DISK_FULL]              = { 507, "disk_full" },
	[REASON_QUOTA_EXCEEDED]         = { 507, "quota_exceeded" },
	[REASON_INCOMPLETE_BODY]        = { 400, "incomplete_body" },
	[REASON_BUSY]                   = { 503, "busy" },
	[REASON_RANGE_NOT_SATISFIABLE]  = { 416, "range_not_satisfiable" },
	[REASON_CHECKSUM_MISMATCH]      = { 460, "checksum_mismatch" },
	[REASON_STORED]                 = { 201, "stored" },
	[REASON_REPLACED]               = { 204, "replaced" },
	[REASON_DELETED]                = { 204, "deleted" },
	[REASON_STATUS]                 = { 200, "status" },
	[REASON_OPTIONS]                = { 204, "options" },
	[REASON_CREATED]                = { 201, "created" },
	[REASON_MULTISTATUS]            = { 207, "multistatus" },
	[REASON_SERVED]                 = { 200, "served" },
	[REASON_PARTIAL]                = { 206, "partial" },
	[REASON_NOT_MODIFIED]           = { 304, "not_modified" },
	[REASON_DELETED_PARTIAL]        = { 207, "deleted" },
	[REASON_COPIED]                 = { 201, "copied" },
	[REASON_COPIED_OVER]            = { 204, "copied" },
	[REASON_MOVED]                  = { 201, "moved" },
	[REASON_MOVED_OVER]             = { 204, "moved" },
	[REASON_UPLOAD_STORED]          = { 201, "stored" },
	[REASON_APPENDED]               = { 204, "appended" },
	[REASON_UPLOAD_DONE]            = { 204, "stored" },
	[REASON_UPLOAD_STATUS]          = { 200, "upload_status" },
};

int
reason_status(enum reason r)
{
	return r < REASON__MAX ? reasons[r].status : 500;
}

const char *
reason_name(enum reason r)
{
	return r < REASON__MAX ? reasons[r].name : "server_error";
}

int
reason_refuses(enum reason r)
{
	return r > REASON_NONE && r < REASON_STORED;
}

/* RFC 9110 §15 phrases of the statuses above. */
const char *
reason_status_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 207: return "Multi-Status";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 460: return "Checksum Mismatch";	/* tus 1.0.0, checksum */
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default:  return "Internal Server Error";
	}
}
