/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * decide_tus: the rows of upgate(8) "DECISIONS" as resumable uploads
 * (tus 1.0.0, "RESUMABLE UPLOADS") meet them, after row 3: the
 * version, then for a creation its Upload-Length in place of the body's
 * length (rows 5 and 6, then 8 to 11), for a request on an upload's URL
 * the upload itself and what a PATCH says of its bytes.  Pure, as
 * decide() is.
 */
#include <stddef.h>
#include <string.h>

#include "decide.h"
#include "number.h"

/* A length header: -1 when absent, -2 when not plain digits. */
static int64_t
length_of(const char *text)
{
	int64_t n;

	if (text == NULL)
		return -1;
	return number_parse(text, strlen(text), &n) == 0 ? n : -2;
}

/*
 * A creation: Upload-Length decides as CONTENT_LENGTH does elsewhere;
 * a body sent with it (creation-with-upload) may not pass it.
 */
static struct verdict
tus_create(const struct facts *f, const struct policy *p, struct verdict v)
{
	int64_t body;

	/* a quota needs the length: no deferred one */
	if (f->defer_length || (v.length = length_of(f->upload_length_text)) < 0) {
		v.length = -1;
		return decide_refuse(v, REASON_BAD_REQUEST, 5);
	}
	if (p->max_upload_size > 0 && v.length > p->max_upload_size) {
		v.limit = p->max_upload_size;
		return decide_refuse(v, REASON_TOO_LARGE, 6);
	}
	body = f->offset_stream ? length_of(f->length_text) : -1;
	if (body == -2 || body > v.length)
		return decide_refuse(v, REASON_BAD_REQUEST, 5);
	return decide_store(f, p, v);
}

/*
 * A PATCH: its type, then its offset against the durable one, then a
 * body that would pass the upload's length (refused before a byte of
 * it is read, so nothing of it is kept).
 */
static struct verdict
tus_patch(const struct facts *f, struct verdict v)
{
	int64_t offset = length_of(f->upload_offset_text);

	if (!f->offset_stream)
		return decide_refuse(v, REASON_UNSUPPORTED_MEDIA_TYPE, 7);
	if (offset < 0)
		return decide_refuse(v, REASON_BAD_REQUEST, 5);
	if (offset != f->upload_offset)
		return decide_refuse(v, REASON_CONFLICT, 9);
	if (f->checksum == TUS_CHECKSUM_BAD)
		return decide_refuse(v, REASON_BAD_REQUEST, 5);
	if ((v.length = length_of(f->length_text)) == -2) {
		v.length = -1;
		return decide_refuse(v, REASON_BAD_REQUEST, 5);
	}
	if (v.length > f->upload_length - f->upload_offset)
		return decide_refuse(v, REASON_BAD_REQUEST, 13);
	return v;
}

struct verdict
decide_tus(const struct facts *f, const struct policy *p, struct verdict v)
{
	if (f->tus_version == NULL || strcmp(f->tus_version, TUS_VERSION) != 0)
		return decide_refuse(v, REASON_PRECONDITION_FAILED, 3);
	if (f->tus == TUS_CREATE)
		return tus_create(f, p, v);
	if (!(f->known & KNOW_UPLOAD))
		return v;
	if (!f->upload_found)
		return decide_refuse(v, REASON_NOT_FOUND, 8);
	return f->method == METHOD_PATCH ? tus_patch(f, v) : v;
}
