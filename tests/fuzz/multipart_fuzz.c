/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multipart_fuzz: a libFuzzer harness for common/multipart.c.  The input
 * is three bytes of settings then a body:
 *
 *	byte 0	the boundary: b, XyZ, bOuNdArY-42 or a browser's (mod 4)
 *	byte 1	the largest read, 1 to 255 (0: 1)
 *	byte 2	the reads' random seed (low 4 bits); high 4 bits: the
 *		begin or end call that refuses (0: none)
 *
 * The body is fed whole, then in reads of random sizes; both must give
 * the same events (data joined across reads), the same error, no data
 * holding the delimiter, and at most one data call per part per read plus
 * one of released look-behind.  Any difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/multipart_fuzz.c common/multipart.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

#define PART_KEEP 65536		/* part data kept for the delimiter check */

static const char *const boundaries[] = {
	"b", "XyZ", "bOuNdArY-42", "----WebKitFormBoundary7MA4YWxkTrZu0gW"
};

/* What one run saw: a hash of the events, and checks along the way. */
struct sig {
	uint64_t    hash;
	size_t      calls;		/* begin and end calls so far */
	size_t      abort_at;		/* refuse at this callback, 0: never */
	int         in_data;		/* the last event was data */
	const char *delim;
	size_t      delim_len;
	const char *chunk;		/* the read being fed */
	size_t      chunk_len;
	size_t      begins, in_calls, rel_calls;
	char        part[PART_KEEP];	/* the current part's data */
	size_t      part_len;
};

static void
mix(struct sig *s, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t               i;

	for (i = 0; i < len; i++)
		s->hash = (s->hash ^ b[i]) * 0x100000001b3u;
}

static void
mix_value(struct sig *s, const char *p, size_t len)
{
	if (p == NULL && len != 0)
		__builtin_trap();
	mix(s, &len, sizeof len);
	mix(s, p == NULL ? "-" : "+", 1);
	if (p != NULL)
		mix(s, p, len);
}

/* The part's data never holds the delimiter. */
static void
part_check(struct sig *s)
{
	if (s->part_len <= PART_KEEP &&
	    memmem(s->part, s->part_len, s->delim, s->delim_len) != NULL)
		__builtin_trap();
	s->part_len = 0;
}

/*
 * Marks an event; a run of data is one.  Refuses at the abort_at-th begin
 * or end (not at data, whose calls depend on the reads).
 */
static int
event(struct sig *s, char what)
{
	if (what != 'D' || !s->in_data)
		mix(s, &what, 1);
	s->in_data = what == 'D';
	return what != 'D' && ++s->calls == s->abort_at;
}

static int
on_begin(void *arg, const struct mp_part *part)
{
	struct sig *s = arg;

	s->begins++;
	if (part->name == NULL || part->has_filename !=
	    (part->filename != NULL || part->filename_star != NULL))
		__builtin_trap();
	if (event(s, 'B'))
		return 1;
	mix_value(s, part->name, part->name_len);
	mix_value(s, part->filename, part->filename_len);
	mix_value(s, part->filename_star, part->filename_star_len);
	mix_value(s, part->content_type, part->content_type_len);
	return 0;
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct sig *s = arg;

	if (len == 0)
		__builtin_trap();
	if ((uintptr_t)buf >= (uintptr_t)s->chunk &&
	    (uintptr_t)(buf + len) <= (uintptr_t)(s->chunk + s->chunk_len))
		s->in_calls++;
	else
		s->rel_calls++;
	event(s, 'D');
	mix(s, buf, len);
	if (s->part_len + len <= PART_KEEP)
		memcpy(s->part + s->part_len, buf, len);
	s->part_len += len;
	return 0;
}

static int
on_end(void *arg)
{
	struct sig *s = arg;

	part_check(s);
	return event(s, 'E');
}

static const struct mp_callbacks cbs = { on_begin, on_data, on_end };

static void
sig_init(struct sig *s, const struct mp *p, size_t abort_at)
{
	s->hash = 0xcbf29ce484222325u;
	s->calls = 0;
	s->abort_at = abort_at;
	s->in_data = 0;
	s->delim = p->delim;
	s->delim_len = p->delim_len;
	s->part_len = 0;
}

/* One read, copied to memory of its size so that over-reads are caught. */
static enum mp_err
feed(struct mp *p, struct sig *s, const uint8_t *buf, size_t len)
{
	enum mp_err e;
	char       *copy;

	if ((copy = malloc(len)) == NULL)
		abort();
	memcpy(copy, buf, len);
	s->chunk = copy;
	s->chunk_len = len;
	s->begins = s->in_calls = s->rel_calls = 0;
	e = mp_feed(p, copy, len, &cbs, s);
	if (s->rel_calls > 1 || s->in_calls > s->begins + 1)
		__builtin_trap();
	free(copy);
	return e;
}

/* Feeds (body, len) in reads of 1 to max bytes (all of it when max 0). */
static enum mp_err
run(struct mp *p, struct sig *s, const uint8_t *body, size_t len,
    size_t max, uint32_t seed)
{
	enum mp_err e = MP_OK;
	size_t      off, n;

	for (off = 0; off < len && e == MP_OK; off += n) {
		n = len - off;
		if (max > 0) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			if (n > 1 + seed % max)
				n = 1 + seed % max;
		}
		e = feed(p, s, body + off, n);
	}
	if (e == MP_OK)
		e = mp_finish(p);
	part_check(s);
	mix(s, &e, sizeof e);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sig  whole, cut;
	struct mp   p;
	char        ctype[128];
	enum mp_err e1, e2;

	if (size < 3)
		return 0;
	strcpy(ctype, "multipart/form-data; boundary=");
	strcat(ctype, boundaries[data[0] % 4]);
	if (mp_init(&p, ctype) != MP_OK)
		__builtin_trap();
	sig_init(&whole, &p, data[2] >> 4);
	e1 = run(&p, &whole, data + 3, size - 3, 0, 0);
	mp_init(&p, ctype);
	sig_init(&cut, &p, data[2] >> 4);
	e2 = run(&p, &cut, data + 3, size - 3, data[1] == 0 ? 1 : data[1],
	    (uint32_t)(data[2] & 15) + 1);
	if (e1 != e2 || whole.hash != cut.hash || whole.calls != cut.calls)
		__builtin_trap();
	return 0;
}
