/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of common/multipart.c (upgate(8), Requests, upgate(8), Decisions rows 7 and 13; RFC 7578,
 * RFC 2046 §5.1.1, RFC 8187).  Each body case is one row: the parser's
 * events as a transcript, the same whether the body is fed whole (before
 * an unreadable page), one byte at a time, or split in two at every
 * offset.  In a transcript, B(...) is a part's headers, D(n:bytes) its
 * data with consecutive reads joined (bytes below 0x20 and 0x7f as \xHH),
 * E() its end, F a successful finish and !ERROR a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "table.h"
#include "buf.h"
#include "multipart.h"

#define CT	"multipart/form-data; boundary=XyZ"
#define DL	"--XyZ"
#define CRLF	"\r\n"
#define CD	"Content-Disposition: form-data; "
#define FIELD(n) DL CRLF CD "name=\"" n "\"" CRLF CRLF
#define CLOSE	CRLF DL "--" CRLF
#define FILE_A	DL CRLF CD "name=\"a\"; filename=\"a.txt\"" CRLF CRLF

/* What the callbacks saw. */
struct rec {
	struct buf  ev;		/* the transcript */
	struct buf  pend;	/* data since the last other event */
	struct buf  all;	/* every data byte, when keep */
	int         show;	/* data bytes shown in the transcript */
	int         keep;
	int         abort_on;	/* 'B', 'D' or 'E': that callback fails */
	size_t      calls;	/* callbacks of any kind */
	const char *chunk;	/* the read being fed */
	size_t      chunk_len;
	size_t      begins;	/* in this read */
	size_t      in_calls;	/* data calls pointing into the read */
	size_t      rel_calls;	/* data calls of released look-behind */
	size_t      bad_reads;	/* reads with too many data calls */
	size_t      data_calls;
	struct mp_part last;	/* the last part, its strings copied */
	char        name[512];
	char        filename[512];
};

static const char *const err_names[MP__MAX] = {
	"OK", "NOT_FORM", "BAD_BOUNDARY", "MALFORMED", "HEADER_TOO_LARGE",
	"TRUNCATED", "ABORTED"
};

static void
rec_init(struct rec *r, int show)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->ev);
	buf_init(&r->pend);
	buf_init(&r->all);
	r->show = show;
	r->keep = !show;
}

static void
rec_release(struct rec *r)
{
	buf_release(&r->ev);
	buf_release(&r->pend);
	buf_release(&r->all);
}

/* Appends (s, len) with control bytes as \xHH. */
static void
add_shown(struct buf *b, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			buf_printf(b, "\\x%02x", (unsigned char)s[i]);
		else
			buf_add(b, s + i, 1);
	}
}

/* Writes out the data gathered since the last other event. */
static void
rec_flush(struct rec *r)
{
	if (r->pend.len == 0)
		return;
	buf_printf(&r->ev, "D(%zu", r->pend.len);
	if (r->show) {
		buf_puts(&r->ev, ":");
		add_shown(&r->ev, r->pend.data, r->pend.len);
	}
	buf_puts(&r->ev, ")");
	r->pend.len = 0;
}

static void
add_value(struct buf *b, const char *what, const char *s, size_t len)
{
	if (s == NULL) {
		CU_ASSERT_EQUAL(len, 0);
		return;
	}
	buf_printf(b, "%s%s=", b->data[b->len - 1] == '(' ? "" : ";", what);
	add_shown(b, s, len);
}

/* The header contract: a missing value is (NULL, 0). */
static void
check_part(const struct mp_part *part)
{
	CU_ASSERT_PTR_NOT_NULL(part->name);
	CU_ASSERT_EQUAL(part->has_filename,
	    part->filename != NULL || part->filename_star != NULL);
	CU_ASSERT(part->filename != NULL || part->filename_len == 0);
	CU_ASSERT(part->filename_star != NULL || part->filename_star_len == 0);
	CU_ASSERT(part->content_type != NULL || part->content_type_len == 0);
}

static void
keep_part(struct rec *r, const struct mp_part *part)
{
	r->last = *part;
	if (part->name_len <= sizeof r->name)
		memcpy(r->name, part->name, part->name_len);
	if (part->filename != NULL && part->filename_len <= sizeof r->filename)
		memcpy(r->filename, part->filename, part->filename_len);
	r->last.name = r->name;
	r->last.filename = part->filename != NULL ? r->filename : NULL;
}

static int
on_begin(void *arg, const struct mp_part *part)
{
	struct rec *r = arg;

	r->calls++;
	r->begins++;
	check_part(part);
	keep_part(r, part);
	rec_flush(r);
	buf_puts(&r->ev, "B(");
	add_value(&r->ev, "name", part->name, part->name_len);
	add_value(&r->ev, "filename", part->filename, part->filename_len);
	add_value(&r->ev, "filename*", part->filename_star,
	    part->filename_star_len);
	add_value(&r->ev, "type", part->content_type, part->content_type_len);
	buf_puts(&r->ev, ")");
	return r->abort_on == 'B';
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct rec *r = arg;

	r->calls++;
	r->data_calls++;
	CU_ASSERT(len > 0);
	if ((uintptr_t)buf >= (uintptr_t)r->chunk &&
	    (uintptr_t)(buf + len) <= (uintptr_t)(r->chunk + r->chunk_len))
		r->in_calls++;
	else
		r->rel_calls++;
	buf_add(&r->pend, buf, len);
	if (r->keep)
		buf_add(&r->all, buf, len);
	return r->abort_on == 'D';
}

static int
on_end(void *arg)
{
	struct rec *r = arg;

	r->calls++;
	rec_flush(r);
	buf_puts(&r->ev, "E()");
	return r->abort_on == 'E';
}

static const struct mp_callbacks recorder = { on_begin, on_data, on_end };

/* How a body is cut into reads. */
struct chunker {
	int      mode;		/* 'W'hole, 'B'ytes, 'S'plit, 'R'andom */
	size_t   at;		/* 'S': the split offset */
	size_t   max;		/* 'R': the largest read */
	uint64_t seed;
};

static size_t
next_read(struct chunker *ch, size_t off, size_t left)
{
	size_t n;

	switch (ch->mode) {
	case 'B':
		return 1;
	case 'S':
		return off < ch->at ? ch->at - off : left;
	case 'R':
		ch->seed ^= ch->seed << 13;
		ch->seed ^= ch->seed >> 7;
		ch->seed ^= ch->seed << 17;
		n = 1 + (size_t)(ch->seed % ch->max);
		return n < left ? n : left;
	default:
		return left;
	}
}

/*
 * One read, copied to memory of its exact size (or before an unreadable
 * page for a whole body) so that any over-read is caught.
 */
static enum mp_err
feed_one(struct mp *p, struct rec *r, const char *s, size_t n, int guard)
{
	enum mp_err e;
	void       *map = NULL;
	size_t      maplen = 0;
	char       *copy;

	copy = guard ? guard_copy(s, n, &map, &maplen) : malloc(n);
	CU_ASSERT_FATAL(copy != NULL);
	if (!guard)
		memcpy(copy, s, n);
	r->chunk = copy;
	r->chunk_len = n;
	r->begins = r->in_calls = r->rel_calls = 0;
	e = mp_feed(p, copy, n, &recorder, r);
	/* one data call per part per read, plus one of look-behind */
	if (r->rel_calls > 1 || r->in_calls > r->begins + 1)
		r->bad_reads++;
	if (guard)
		munmap(map, maplen);
	else
		free(copy);
	return e;
}

/* Feeds body as ch cuts it, then finishes; the transcript is in r->ev. */
static enum mp_err
run(const char *ctype, const char *body, size_t len, struct chunker *ch,
    struct rec *r)
{
	struct mp   p;
	enum mp_err e;
	size_t      off, n;

	if ((e = mp_init(&p, ctype)) != MP_OK)
		goto done;
	for (off = 0; off < len; off += n) {
		n = next_read(ch, off, len - off);
		e = feed_one(&p, r, body + off, n,
		    ch->mode == 'W' && n <= 4096);
		if (e != MP_OK)
			goto done;
	}
	e = mp_finish(&p);
done:
	rec_flush(r);
	if (e == MP_OK)
		buf_puts(&r->ev, "F");
	else
		buf_printf(&r->ev, "!%s", err_names[e]);
	CU_ASSERT_EQUAL(r->bad_reads, 0);
	return e;
}

struct mp_case {
	const char *what;
	const char *ctype;	/* NULL: CT */
	const char *body;
	size_t      len;
	const char *want;
};

/* Runs one way of cutting; 0 when the transcript is the one wanted. */
static int
case_run(const struct mp_case *c, struct chunker *ch, size_t row)
{
	struct rec r;
	int        ok;

	rec_init(&r, 1);
	run(c->ctype != NULL ? c->ctype : CT, c->body, c->len, ch, &r);
	ok = r.ev.data != NULL && strcmp(r.ev.data, c->want) == 0;
	if (!ok)
		fprintf(stderr, "\n  row %zu (%s), cut %c at %zu:\n"
		    "    got  %s\n    want %s\n", row, c->what, ch->mode,
		    ch->at, r.ev.data != NULL ? r.ev.data : "", c->want);
	rec_release(&r);
	return ok ? 0 : -1;
}

/* Whole, one byte at a time, and split in two at every offset. */
static void
case_check(const struct mp_case *c, size_t row)
{
	struct chunker ch = { 'W', 0, 0, 0 };
	int            bad = 0;

	bad |= case_run(c, &ch, row);
	ch.mode = 'B';
	bad |= case_run(c, &ch, row);
	ch.mode = 'S';
	for (ch.at = 0; ch.at <= c->len && !bad; ch.at++)
		bad |= case_run(c, &ch, row);
	CU_ASSERT(bad == 0);
}

static const struct mp_case good[] = {
	{ "only the close delimiter", NULL, S(DL "--" CRLF), "F" },
	{ "close delimiter, no CRLF", NULL, S(DL "--"), "F" },
	{ "close delimiter after a preamble", NULL,
	  S("preamble" CRLF DL "--" CRLF "epilogue"), "F" },
	{ "one field", NULL, S(FIELD("a") "hello" CLOSE),
	  "B(name=a)D(5:hello)E()F" },
	{ "one file", NULL,
	  S(DL CRLF CD "name=\"f\"; filename=\"x.txt\"" CRLF
	    "Content-Type: text/plain" CRLF CRLF "abc\r\ndef" CLOSE),
	  "B(name=f;filename=x.txt;type=text/plain)"
	  "D(8:abc\\x0d\\x0adef)E()F" },
	{ "many parts, one empty", NULL,
	  S(FIELD("a") "1" CRLF FIELD("b") CRLF FIELD("c") "333" CLOSE),
	  "B(name=a)D(1:1)E()B(name=b)E()B(name=c)D(3:333)E()F" },
	{ "fields and files", NULL,
	  S(FIELD("t") "text" CRLF DL CRLF CD "name=\"f\"; filename=\"a.bin\""
	    CRLF "Content-Type: application/octet-stream" CRLF CRLF
	    "\x01\x02\x03" CRLF FIELD("u") "more" CLOSE),
	  "B(name=t)D(4:text)E()B(name=f;filename=a.bin;"
	  "type=application/octet-stream)D(3:\\x01\\x02\\x03)E()"
	  "B(name=u)D(4:more)E()F" },
	{ "preamble and epilogue", NULL,
	  S("This is the preamble.\r\nIt has --XyZ in it.\r\n"
	    FIELD("a") "hi" CRLF DL "--" CRLF "epilogue" CRLF
	    FIELD("z") "ignored" CLOSE),
	  "B(name=a)D(2:hi)E()F" },
	{ "a CRLF before the first delimiter", NULL,
	  S(CRLF FIELD("a") "hi" CLOSE), "B(name=a)D(2:hi)E()F" },
	{ "transport padding", NULL,
	  S(DL " \t " CRLF CD "name=a" CRLF CRLF "x" CRLF DL "\t" CRLF
	    CD "name=b" CRLF CRLF "y" CRLF DL "--  " CRLF),
	  "B(name=a)D(1:x)E()B(name=b)D(1:y)E()F" },
	{ "quoted boundary with a space and specials",
	  "multipart/form-data; boundary=\"a b'()+_,-./:=?\"",
	  S("--a b'()+_,-./:=?" CRLF CD "name=a" CRLF CRLF "v" CRLF
	    "--a b'()+_,-./:=?--"),
	  "B(name=a)D(1:v)E()F" },
	{ "unquoted boundary, case, parameters",
	  "Multipart/Form-Data ; charset=utf-8 ;BOUNDARY=XyZ;",
	  S(FIELD("a") "v" CLOSE), "B(name=a)D(1:v)E()F" },
	{ "filename* and filename, both reported", NULL,
	  S(DL CRLF CD "name=\"f\"; filename=\"rates.txt\"; "
	    "filename*=UTF-8''%e2%82%ac%20rates.txt" CRLF CRLF "1" CLOSE),
	  "B(name=f;filename=rates.txt;filename*=\xe2\x82\xac" " rates.txt)"
	  "D(1:1)E()F" },
	{ "filename* without filename", NULL,
	  S(DL CRLF CD "name=f; filename*=utf-8'en'Na%C3%AF" "ve.txt"
	    CRLF CRLF "1" CLOSE),
	  "B(name=f;filename*=Na\xc3\xaf" "ve.txt)D(1:1)E()F" },
	{ "empty filename*", NULL,
	  S(DL CRLF CD "name=f; filename*=UTF-8''" CRLF CRLF CLOSE),
	  "B(name=f;filename*=)E()F" },
	{ "Windows path, no backslash escapes", NULL,
	  S(DL CRLF CD "name=\"f\"; filename=\"C:\\Users\\a\\b.txt\"" CRLF
	    CRLF "x" CLOSE),
	  "B(name=f;filename=C:\\Users\\a\\b.txt)D(1:x)E()F" },
	{ "a backslash just before the closing quote", NULL,
	  S(DL CRLF CD "name=\"f\"; filename=\"dir\\\"" CRLF CRLF CLOSE),
	  "B(name=f;filename=dir\\)E()F" },
	{ "raw UTF-8 names", NULL,
	  S(DL CRLF CD "name=\"gr\xc3\xbc\xc3\x9f\"; "
	    "filename=\"\xe6\x97\xa5\xe6\x9c\xac.txt\"" CRLF CRLF CLOSE),
	  "B(name=gr\xc3\xbc\xc3\x9f;filename=\xe6\x97\xa5\xe6\x9c\xac.txt)"
	  "E()F" },
	{ "../, \\ and NUL delivered as they are", NULL,
	  S(DL CRLF CD "name=\"f\"; filename=\"../..\\etc/pa\0" "ss\""
	    CRLF CRLF CLOSE),
	  "B(name=f;filename=../..\\etc/pa\\x00ss)E()F" },
	{ "token values", NULL,
	  S(DL CRLF CD "name=a; filename=b.txt" CRLF CRLF CLOSE),
	  "B(name=a;filename=b.txt)E()F" },
	{ "header names and parameters in any case", NULL,
	  S(DL CRLF "CONTENT-DISPOSITION: Form-Data; NAME=\"a\"; FileName=x"
	    CRLF "content-type: image/png" CRLF CRLF CLOSE),
	  "B(name=a;filename=x;type=image/png)E()F" },
	{ "other headers, white space", NULL,
	  S(DL CRLF "X-Foo: bar" CRLF "Content-Disposition:form-data;name=a"
	    CRLF "Content-Transfer-Encoding: binary" CRLF
	    "Content-Type: \t text/plain; charset=utf-8 \t" CRLF "X-Empty:"
	    CRLF CRLF CLOSE),
	  "B(name=a;type=text/plain; charset=utf-8)E()F" },
	{ "white space around the disposition", NULL,
	  S(DL CRLF "Content-Disposition: \t form-data \t; \t name=\"a\" \t"
	    CRLF CRLF CLOSE),
	  "B(name=a)E()F" },
	{ "empty filename and name", NULL,
	  S(DL CRLF CD "name=\"\"; filename=\"\"" CRLF CRLF CLOSE),
	  "B(name=;filename=)E()F" },
	{ "empty and unknown parameters", NULL,
	  S(DL CRLF CD ";; name=a; size=3; creation-date=\"Wed, 12 Feb 1997 "
	    "16:29:51 -0500\";" CRLF CRLF CLOSE),
	  "B(name=a)E()F" },
	{ "data with the delimiter's prefixes", NULL,
	  S(FIELD("f") "\r\n--Xy|\r\n--XyY|\r\r\n--|-\r\n-\r" CLOSE),
	  "B(name=f)D(26:\\x0d\\x0a--Xy|\\x0d\\x0a--XyY|\\x0d\\x0d\\x0a--|"
	  "-\\x0d\\x0a-\\x0d)E()F" },
	{ "data ending in the delimiter less a byte", NULL,
	  S(FIELD("f") "ab\r\n--Xy" CLOSE),
	  "B(name=f)D(8:ab\\x0d\\x0a--Xy)E()F" },
	{ "data of CRs", NULL, S(FIELD("f") "\r\r\r\r" CLOSE),
	  "B(name=f)D(4:\\x0d\\x0d\\x0d\\x0d)E()F" },
	{ "data of CRLF--", NULL, S(FIELD("f") "\r\n--\r\n--" CLOSE),
	  "B(name=f)D(8:\\x0d\\x0a--\\x0d\\x0a--)E()F" },
	{ "the delimiter without its CRLF in data", NULL,
	  S(FIELD("f") "--XyZ x\n--XyZ" CLOSE),
	  "B(name=f)D(13:--XyZ x\\x0a--XyZ)E()F" },
	/* RFC 2046 §5.1.1: the blank line's CRLF opens the next delimiter */
	{ "an empty file part, then a file", NULL,
	  S(FILE_A DL CRLF CD "name=\"b\"; filename=\"b.txt\"" CRLF CRLF
	    "hello" CLOSE),
	  "B(name=a;filename=a.txt)E()B(name=b;filename=b.txt)D(5:hello)E()F" },
	{ "an empty text field, then a file", NULL,
	  S(FIELD("t") DL CRLF CD "name=\"f\"; filename=\"f.txt\"" CRLF CRLF
	    "x" CLOSE),
	  "B(name=t)E()B(name=f;filename=f.txt)D(1:x)E()F" },
	{ "an empty last file part", NULL, S(FILE_A DL "--" CRLF),
	  "B(name=a;filename=a.txt)E()F" },
	{ "an empty last part, no CRLF", NULL,
	  S(FIELD("a") DL "--"), "B(name=a)E()F" },
	{ "an empty last part, then an epilogue", NULL,
	  S(FIELD("a") DL "-- \t" CRLF "epilogue --XyZ" CRLF),
	  "B(name=a)E()F" },
	{ "empty parts in a row", NULL,
	  S(FIELD("a") FIELD("b") FIELD("c") DL "--" CRLF),
	  "B(name=a)E()B(name=b)E()B(name=c)E()F" },
	{ "an empty part, padding after its delimiter", NULL,
	  S(FIELD("a") DL " \t " CRLF CD "name=b" CRLF CRLF "y" CLOSE),
	  "B(name=a)E()B(name=b)D(1:y)E()F" },
	{ "an empty part, a boundary ending in '-'",
	  "multipart/form-data; boundary=b-",
	  S("--b-" CRLF CD "name=a" CRLF CRLF "--b-" CRLF CD "name=b" CRLF
	    CRLF "--b--x" CRLF "--b---"),
	  "B(name=a)E()B(name=b)D(6:--b--x)E()F" },
	/* ... and what only starts like a delimiter there stays data */
	{ "data: the boundary and more", NULL,
	  S(FIELD("f") "--XyZdef" CLOSE), "B(name=f)D(8:--XyZdef)E()F" },
	{ "data: the boundary and a byte", NULL,
	  S(FIELD("f") "--XyZX" CLOSE), "B(name=f)D(6:--XyZX)E()F" },
	{ "data: the boundary and one dash", NULL,
	  S(FIELD("f") "--XyZ-x" CLOSE), "B(name=f)D(7:--XyZ-x)E()F" },
	{ "data: the boundary, padding and a byte", NULL,
	  S(FIELD("f") "--XyZ \t x" CLOSE),
	  "B(name=f)D(9:--XyZ \\x09 x)E()F" },
	{ "data: the boundary, padding and dashes", NULL,
	  S(FIELD("f") "--XyZ --" CLOSE), "B(name=f)D(8:--XyZ --)E()F" },
	{ "data: the boundary and a bare LF", NULL,
	  S(FIELD("f") "--XyZ\nx" CLOSE), "B(name=f)D(7:--XyZ\\x0ax)E()F" },
	{ "data: the boundary and a CR without LF", NULL,
	  S(FIELD("f") "--XyZ\rx" CLOSE), "B(name=f)D(7:--XyZ\\x0dx)E()F" },
	{ "data: the boundary, padding, CR, then the delimiter", NULL,
	  S(FIELD("f") "--XyZ \r" CLOSE), "B(name=f)D(7:--XyZ \\x0d)E()F" },
	{ "data: prefixes of the boundary", NULL,
	  S(FIELD("a") "-" CRLF FIELD("b") "--" CRLF FIELD("c") "--Xy" CLOSE),
	  "B(name=a)D(1:-)E()B(name=b)D(2:--)E()B(name=c)D(4:--Xy)E()F" },
	{ "data: a dash-led body after released look-behind", NULL,
	  S(FIELD("a") "x\r\n-q" CRLF FIELD("b") "--XyZ-q" CLOSE),
	  "B(name=a)D(5:x\\x0d\\x0a-q)E()B(name=b)D(7:--XyZ-q)E()F" },
};

static const struct mp_case bad[] = {
	{ "empty body", NULL, S(""), "!TRUNCATED" },
	{ "preamble only", NULL, S("just a preamble\r\n"), "!TRUNCATED" },
	{ "no final boundary", NULL, S(FIELD("a") "hello"),
	  "B(name=a)D(5:hello)!TRUNCATED" },
	{ "ends after a delimiter", NULL, S(FIELD("a") "hello" CRLF DL),
	  "B(name=a)D(5:hello)E()!TRUNCATED" },
	{ "ends inside a delimiter", NULL, S(FIELD("a") "hello" CRLF "--X"),
	  "B(name=a)D(5:hello)!TRUNCATED" },
	{ "ends after one dash", NULL, S(FIELD("a") "hello" CRLF DL "-"),
	  "B(name=a)D(5:hello)E()!TRUNCATED" },
	{ "ends after padding", NULL, S(DL "  "), "!TRUNCATED" },
	{ "ends after a delimiter's CR", NULL, S(DL "\r"), "!TRUNCATED" },
	{ "ends inside headers", NULL, S(DL CRLF CD "name=a"),
	  "!TRUNCATED" },
	{ "ends after headers", NULL, S(FIELD("a")), "B(name=a)!TRUNCATED" },
	{ "ends in a body's first bytes", NULL, S(FIELD("a") "--XyZ \r"),
	  "B(name=a)!TRUNCATED" },
	{ "ends after an empty part's delimiter", NULL, S(FIELD("a") DL CRLF),
	  "B(name=a)E()!TRUNCATED" },
	{ "a body of the bare delimiter is an empty part", NULL,
	  S(FIELD("a") DL CLOSE), "B(name=a)E()!MALFORMED" },
	{ "a delimiter inside headers", NULL,
	  S(DL CRLF CD "name=a" CRLF DL "--" CRLF), "!MALFORMED" },
	{ "a delimiter line inside headers", NULL,
	  S(DL CRLF CD "name=a" CRLF DL CRLF CD "name=b" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "missing Content-Disposition", NULL,
	  S(DL CRLF "Content-Type: text/plain" CRLF CRLF "x" CLOSE),
	  "!MALFORMED" },
	{ "no headers at all", NULL, S(DL CRLF CRLF "x" CLOSE), "!MALFORMED" },
	{ "not form-data", NULL,
	  S(DL CRLF "Content-Disposition: attachment; name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "form-data with a suffix", NULL,
	  S(DL CRLF "Content-Disposition: form-datax; name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "no name", NULL,
	  S(DL CRLF CD "filename=\"x\"" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "form-data alone", NULL,
	  S(DL CRLF "Content-Disposition: form-data" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "empty Content-Disposition", NULL,
	  S(DL CRLF "Content-Disposition:" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "name twice", NULL,
	  S(DL CRLF CD "name=a; name=b" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "filename twice", NULL,
	  S(DL CRLF CD "name=a; filename=b; FILENAME=c" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename* twice", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''b; filename*=UTF-8''c"
	    CRLF CRLF CLOSE), "!MALFORMED" },
	{ "Content-Disposition twice", NULL,
	  S(DL CRLF CD "name=a" CRLF CD "name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "Content-Type twice", NULL,
	  S(DL CRLF CD "name=a" CRLF "Content-Type: a/b" CRLF
	    "Content-Type: a/b" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "bare LF ending a header", NULL,
	  S(DL CRLF CD "name=a\n" CRLF "x" CLOSE), "!MALFORMED" },
	{ "bare LF ending the header block", NULL,
	  S(DL CRLF CD "name=a" CRLF "\nx" CLOSE), "!MALFORMED" },
	{ "bare LF after a delimiter", NULL,
	  S(DL "\n" CD "name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "bare LF after padding", NULL,
	  S(DL " \n" CD "name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "bare LF opening the header block", NULL,
	  S(DL CRLF "\n" CD "name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "bare CR in a header", NULL,
	  S(DL CRLF "X-A: b\rc" CRLF CD "name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "folded header (space)", NULL,
	  S(DL CRLF CD CRLF " name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "folded header (tab)", NULL,
	  S(DL CRLF CD "name=a;" CRLF "\tfilename=b" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "header without a colon", NULL,
	  S(DL CRLF "Content-Disposition form-data; name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "space before the colon", NULL,
	  S(DL CRLF "Content-Disposition : form-data; name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "empty header name", NULL,
	  S(DL CRLF ": x" CRLF CD "name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "CR in a quoted filename", NULL,
	  S(DL CRLF CD "name=a; filename=\"a\rb\"" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "LF in a quoted filename", NULL,
	  S(DL CRLF CD "name=a; filename=\"a\nb\"" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "CRLF in a quoted filename", NULL,
	  S(DL CRLF CD "name=a; filename=\"a\r\nb\"" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "unterminated quote", NULL,
	  S(DL CRLF CD "name=\"a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "bytes after a quoted value", NULL,
	  S(DL CRLF CD "name=\"a\"b" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "an escaped quote (not an escape here)", NULL,
	  S(DL CRLF CD "name=a; filename=\"a\\\"b\"" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "parameter without a value", NULL,
	  S(DL CRLF CD "name=" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "parameter without =", NULL,
	  S(DL CRLF CD "name" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "missing ;", NULL,
	  S(DL CRLF "Content-Disposition: form-data name=a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "bytes after the delimiter", NULL,
	  S(FIELD("a") "x" CRLF DL "Z" CRLF CD "name=b" CRLF CRLF CLOSE),
	  "B(name=a)D(1:x)E()!MALFORMED" },
	{ "bytes after the first delimiter", NULL,
	  S(DL "junk" CRLF CD "name=b" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "the delimiter and bytes in the preamble", NULL,
	  S("x\r\n--XyZjunk" CRLF FIELD("a") CLOSE), "!MALFORMED" },
	{ "padding before the dashes", NULL, S(DL " --" CRLF), "!MALFORMED" },
	{ "one dash", NULL, S(DL "-x" CRLF), "!MALFORMED" },
	{ "CR without LF after a delimiter", NULL,
	  S(DL "\rx" CD "name=a" CRLF CRLF CLOSE), "!MALFORMED" },
	{ "filename*: truncated escape", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''a%4" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: bad hex", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''a%zz" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: half bad hex", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''%4g" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: lone %", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''%" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: another charset", NULL,
	  S(DL CRLF CD "name=a; filename*=ISO-8859-1''a%e9" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: no charset", NULL,
	  S(DL CRLF CD "name=a; filename*=''a" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: no quotes", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8a.txt" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: one quote", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8'a.txt" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: quoted", NULL,
	  S(DL CRLF CD "name=a; filename*=\"UTF-8''a.txt\"" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: a byte that must be encoded", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''a*b" CRLF CRLF CLOSE),
	  "!MALFORMED" },
	{ "filename*: raw UTF-8", NULL,
	  S(DL CRLF CD "name=a; filename*=UTF-8''\xc3\xa9" CRLF CRLF CLOSE),
	  "!MALFORMED" },
};

static void
test_good(void)
{
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		case_check(&good[i], i);
}

static void
test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		case_check(&bad[i], i);
}

#define B72 "0123456789abcdefghijABCDEFGHIJ'()+_,-./:=?" \
	"0123456789abcdefghij0123456789"

static const struct {
	const char *ctype;
	enum mp_err err;
	const char *boundary;	/* the boundary taken, when MP_OK */
} ctypes[] = {
	{ "multipart/form-data; boundary=x", MP_OK, "x" },
	{ "multipart/form-data;boundary=x", MP_OK, "x" },
	{ " multipart/form-data ; boundary=\"x\" ", MP_OK, "x" },
	{ "MULTIPART/FORM-DATA; BOUNDARY=AbC", MP_OK, "AbC" },
	{ "multipart/form-data; charset=utf-8; boundary=b; x=y", MP_OK, "b" },
	{ "multipart/form-data;\tboundary=b;", MP_OK, "b" },
	{ "multipart/form-data; a=\"q\\\"; x\"; boundary=b", MP_OK, "b" },
	{ "multipart/form-data; boundary=----=_Part_0_1.2", MP_OK,
	  "----=_Part_0_1.2" },
	{ "multipart/form-data; boundary=\"with space\"", MP_OK,
	  "with space" },
	{ "multipart/form-data; boundary=" B72, MP_BAD_BOUNDARY, NULL },
	{ NULL, MP_NOT_FORM, NULL },
	{ "", MP_NOT_FORM, NULL },
	{ "text/plain", MP_NOT_FORM, NULL },
	{ "text/plain; boundary=x", MP_NOT_FORM, NULL },
	{ "multipart/mixed; boundary=x", MP_NOT_FORM, NULL },
	{ "multipart/form-datax; boundary=x", MP_NOT_FORM, NULL },
	{ "multipart/; boundary=x", MP_NOT_FORM, NULL },
	{ "multipart", MP_NOT_FORM, NULL },
	{ "form-data; boundary=x", MP_NOT_FORM, NULL },
	{ "multipart / form-data; boundary=x", MP_NOT_FORM, NULL },
	{ "application/x-www-form-urlencoded", MP_NOT_FORM, NULL },
	{ "multipart/form-data", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data;", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; charset=utf-8", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"\"", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"x \"", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"x\\y\"", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"x", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=a@b", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"a\rb\"", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=\"a\xc3\xa9\"", MP_BAD_BOUNDARY,
	  NULL },
	{ "multipart/form-data; boundary=abc def", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary=a; boundary=a", MP_BAD_BOUNDARY,
	  NULL },
	{ "multipart/form-data boundary=x", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; boundary = x", MP_BAD_BOUNDARY, NULL },
	{ "multipart/form-data; =x; boundary=x", MP_BAD_BOUNDARY, NULL },
};

/* The boundary in use: "--" boundary "--" closes an empty form. */
static int
boundary_works(const char *ctype, const char *boundary)
{
	struct mp          p;
	struct mp_callbacks none = { NULL, NULL, NULL };
	char               body[128];
	int                n;

	n = snprintf(body, sizeof body, "--%s--", boundary);
	if (mp_init(&p, ctype) != MP_OK ||
	    mp_feed(&p, body, (size_t)n - 1, &none, NULL) != MP_OK ||
	    mp_finish(&p) != MP_TRUNCATED)
		return 0;
	mp_init(&p, ctype);
	return mp_feed(&p, body, (size_t)n, &none, NULL) == MP_OK &&
	    mp_finish(&p) == MP_OK;
}

static void
test_content_type(void)
{
	struct mp p;
	size_t    i;

	for (i = 0; i < sizeof ctypes / sizeof ctypes[0]; i++) {
		ROW(mp_init(&p, ctypes[i].ctype) == ctypes[i].err, i,
		    ctypes[i].ctype != NULL ? ctypes[i].ctype : "NULL");
		if (ctypes[i].err == MP_OK)
			ROW(boundary_works(ctypes[i].ctype, ctypes[i].boundary),
			    i, ctypes[i].ctype);
	}
}

/* 70 characters pass, 71 do not (RFC 2046 §5.1.1). */
static void
test_boundary_length(void)
{
	char      ct[256], b[80];
	struct mp p;

	memset(b, 'b', 71);
	b[70] = '\0';
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b);
	CU_ASSERT_EQUAL(mp_init(&p, ct), MP_OK);
	CU_ASSERT(boundary_works(ct, b));
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", b);
	CU_ASSERT(boundary_works(ct, b));
	b[70] = 'b';
	b[71] = '\0';
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b);
	CU_ASSERT_EQUAL(mp_init(&p, ct), MP_BAD_BOUNDARY);
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", b);
	CU_ASSERT_EQUAL(mp_init(&p, ct), MP_BAD_BOUNDARY);
}

static void
test_strerror(void)
{
	int i, j;

	for (i = 0; i < MP__MAX; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(mp_strerror((enum mp_err)i));
		for (j = 0; j < i; j++)
			CU_ASSERT(strcmp(mp_strerror((enum mp_err)i),
			    mp_strerror((enum mp_err)j)) != 0);
	}
	CU_ASSERT_PTR_NOT_NULL(mp_strerror(MP__MAX));
	CU_ASSERT_PTR_NOT_NULL(mp_strerror((enum mp_err)-1));
}

/*
 * A body whose first header block is exactly size bytes (CRLFs and the
 * empty line included), in out (which holds enough); its length.
 */
static size_t
big_header_body(char *out, size_t size)
{
	const char *head = DL CRLF;
	const char *cd = CD "name=a" CRLF;
	size_t      n, pad = size - strlen(cd) - strlen("X-Pad: \r\n\r\n");

	n = (size_t)sprintf(out, "%s%sX-Pad: ", head, cd);
	memset(out + n, 'p', pad);
	n += pad;
	n += (size_t)sprintf(out + n, "%s", CRLF CRLF "v" CLOSE);
	return n;
}

static void
test_header_max(void)
{
	static char    body[MP_HEADER_MAX + 256];
	struct chunker ch = { 'W', 0, 0, 0 };
	struct rec     r;
	size_t         n;

	n = big_header_body(body, MP_HEADER_MAX);
	rec_init(&r, 1);
	CU_ASSERT_EQUAL(run(CT, body, n, &ch, &r), MP_OK);
	CU_ASSERT_STRING_EQUAL(r.ev.data, "B(name=a)D(1:v)E()F");
	rec_release(&r);
	n = big_header_body(body, MP_HEADER_MAX + 1);
	ch.mode = 'B';
	rec_init(&r, 1);
	CU_ASSERT_EQUAL(run(CT, body, n, &ch, &r), MP_HEADER_TOO_LARGE);
	CU_ASSERT_STRING_EQUAL(r.ev.data, "!HEADER_TOO_LARGE");
	rec_release(&r);
	/* one endless line is stopped at the bound too */
	n = (size_t)sprintf(body, DL CRLF);
	memset(body + n, 'h', MP_HEADER_MAX + 1);
	rec_init(&r, 1);
	ch.mode = 'W';
	CU_ASSERT_EQUAL(run(CT, body, n + MP_HEADER_MAX + 1, &ch, &r),
	    MP_HEADER_TOO_LARGE);
	rec_release(&r);
}

/*
 * A body's first bytes, "--XyZ", pad spaces, then end (CR LF, or "x"):
 * held in the header buffer, so a delimiter line padded past it is
 * refused rather than taken for data or for a delimiter.
 */
static void
lead_check(size_t pad, const char *end, const char *want)
{
	static char    body[MP_HEADER_MAX + 256];
	struct chunker ch = { 'W', 0, 0, 0 };
	struct rec     r;
	size_t         n;
	int            i;

	n = (size_t)sprintf(body, FIELD("a") DL);
	memset(body + n, ' ', pad);
	n += pad;
	n += (size_t)sprintf(body + n, "%s%s", end,
	    CD "name=b" CRLF CRLF CLOSE);
	for (i = 0; i < 2; i++) {
		ch.mode = "WB"[i];
		rec_init(&r, 0);
		run(CT, body, n, &ch, &r);
		ROW(strcmp(r.ev.data, want) == 0, pad, r.ev.data);
		rec_release(&r);
	}
}

static void
test_lead_max(void)
{
	char want[64];

	/* "--XyZ", the spaces and the CR fill the buffer exactly */
	lead_check(MP_HEADER_MAX - 6, CRLF, "B(name=a)E()B(name=b)E()F");
	lead_check(MP_HEADER_MAX - 5, CRLF, "B(name=a)!MALFORMED");
	snprintf(want, sizeof want, "B(name=a)D(%zu)E()F",
	    (size_t)MP_HEADER_MAX + 1 + strlen(CD "name=b" CRLF CRLF));
	lead_check(MP_HEADER_MAX - 5, "x", want);
	lead_check(MP_HEADER_MAX - 4, "x", "B(name=a)!MALFORMED");
}

/* 300-byte names are delivered whole: the caller rejects them. */
static void
test_long_names(void)
{
	static char    body[2048];
	char           name[300], file[300];
	struct chunker ch = { 'B', 0, 0, 0 };
	struct rec     r;
	int            n;

	memset(name, 'n', sizeof name);
	memset(file, 'f', sizeof file);
	n = snprintf(body, sizeof body, DL CRLF CD "name=\"%.300s\"; "
	    "filename=\"%.300s\"" CRLF CRLF "x" CLOSE, name, file);
	rec_init(&r, 1);
	CU_ASSERT_EQUAL(run(CT, body, (size_t)n, &ch, &r), MP_OK);
	CU_ASSERT_EQUAL_FATAL(r.last.name_len, 300);
	CU_ASSERT_EQUAL_FATAL(r.last.filename_len, 300);
	CU_ASSERT(memcmp(r.last.name, name, 300) == 0);
	CU_ASSERT(memcmp(r.last.filename, file, 300) == 0);
	CU_ASSERT(r.last.has_filename);
	rec_release(&r);
}

/* filename* decodes to at most MP_FILENAME_MAX bytes. */
static void
test_filename_star_max(void)
{
	static char    body[MP_FILENAME_MAX * 4];
	struct chunker ch = { 'W', 0, 0, 0 };
	struct rec     r;
	size_t         n, len;

	for (len = MP_FILENAME_MAX - 1; len <= MP_FILENAME_MAX + 1; len++) {
		n = (size_t)sprintf(body, DL CRLF CD "name=f; filename*=UTF-8''");
		memset(body + n, 'a', len - 1);
		n += len - 1;
		n += (size_t)sprintf(body + n, "%%41" CRLF CRLF CLOSE);
		rec_init(&r, 0);
		ROW(run(CT, body, n, &ch, &r) ==
		    (len <= MP_FILENAME_MAX ? MP_OK : MP_MALFORMED), len,
		    "filename* length");
		if (len <= MP_FILENAME_MAX)
			CU_ASSERT_EQUAL(r.last.filename_star_len, len);
		rec_release(&r);
	}
}

/* A callback's refusal stops the parse, for good. */
static void
test_abort(void)
{
	static const char body[] = FIELD("a") "hello" CLOSE;
	static const char *const want[] = {
		"B(name=a)!ABORTED", "B(name=a)D(5:hello)!ABORTED",
		"B(name=a)D(5:hello)E()!ABORTED"
	};
	const char *who = "BDE";
	struct mp   p;
	struct rec  r;
	size_t      i, calls;

	for (i = 0; i < 3; i++) {
		rec_init(&r, 1);
		r.abort_on = who[i];
		mp_init(&p, CT);
		CU_ASSERT_EQUAL(mp_feed(&p, body, sizeof body - 1, &recorder,
		    &r), MP_ABORTED);
		calls = r.calls;
		CU_ASSERT_EQUAL(mp_feed(&p, body, sizeof body - 1, &recorder,
		    &r), MP_ABORTED);
		CU_ASSERT_EQUAL(mp_finish(&p), MP_ABORTED);
		CU_ASSERT_EQUAL(r.calls, calls);
		rec_flush(&r);
		buf_puts(&r.ev, "!ABORTED");
		ROW(strcmp(r.ev.data, want[i]) == 0, i, r.ev.data);
		rec_release(&r);
	}
}

/* The end of an empty part, seen at its body's first bytes, may refuse. */
static void
test_abort_empty(void)
{
	static const char body[] = FIELD("a") FIELD("b") DL "--";
	struct chunker    ch = { 'B', 0, 0, 0 };
	struct rec        r;

	rec_init(&r, 1);
	r.abort_on = 'E';
	CU_ASSERT_EQUAL(run(CT, body, sizeof body - 1, &ch, &r), MP_ABORTED);
	CU_ASSERT_STRING_EQUAL(r.ev.data, "B(name=a)E()!ABORTED");
	rec_release(&r);
}

/* Once failed, every call returns the same error without calling back. */
static void
test_sticky(void)
{
	static const char good_body[] = FIELD("a") "hello" CLOSE;
	struct mp         p;
	struct rec        r;

	rec_init(&r, 1);
	mp_init(&p, CT);
	CU_ASSERT_EQUAL(mp_feed(&p, S(DL "X"), &recorder, &r), MP_MALFORMED);
	CU_ASSERT_EQUAL(mp_feed(&p, good_body, sizeof good_body - 1,
	    &recorder, &r), MP_MALFORMED);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_MALFORMED);
	CU_ASSERT_EQUAL(mp_feed(&p, S(""), &recorder, &r), MP_MALFORMED);

	mp_init(&p, CT);
	CU_ASSERT_EQUAL(mp_feed(&p, S(DL), &recorder, &r), MP_OK);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_TRUNCATED);
	CU_ASSERT_EQUAL(mp_feed(&p, S("--"), &recorder, &r), MP_TRUNCATED);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_TRUNCATED);

	CU_ASSERT_EQUAL(mp_init(&p, "text/plain"), MP_NOT_FORM);
	CU_ASSERT_EQUAL(mp_feed(&p, good_body, sizeof good_body - 1,
	    &recorder, &r), MP_NOT_FORM);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_NOT_FORM);
	CU_ASSERT_EQUAL(mp_init(&p, "multipart/form-data"), MP_BAD_BOUNDARY);
	CU_ASSERT_EQUAL(mp_feed(&p, S("x"), &recorder, &r), MP_BAD_BOUNDARY);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_BAD_BOUNDARY);
	CU_ASSERT_EQUAL(r.calls, 0);
	rec_release(&r);
}

/* Callbacks may be left NULL; the epilogue may go on after the finish. */
static void
test_null_callbacks(void)
{
	static const char   body[] = FIELD("a") "hello" CLOSE;
	struct mp_callbacks none = { NULL, NULL, NULL };
	struct mp           p;

	mp_init(&p, CT);
	CU_ASSERT_EQUAL(mp_feed(&p, body, sizeof body - 1, &none, NULL), MP_OK);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_OK);
	CU_ASSERT_EQUAL(mp_feed(&p, S("more epilogue"), &none, NULL), MP_OK);
	CU_ASSERT_EQUAL(mp_finish(&p), MP_OK);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define BIG_B	"bOuNdArY-42"
#define BIG_CT	"multipart/form-data; boundary=" BIG_B

/*
 * Random bytes strewn with pieces of the delimiter (never the whole of
 * it: where chance completes one, its last byte is changed).
 */
static void
fill_tricky(char *s, size_t len, uint64_t *seed)
{
	static const char *const bits[] = {
		"\r", "\r\n", "\r\n-", "\r\n--", "\r\n--bOuN", "\r\n--bOuNdArY-4",
		"\r\n--bOuNdArY-43", "\r\n--bOuNdAr\r\n--b", "\r\r\r\n"
	};
	const char *delim = "\r\n--" BIG_B, *f;
	size_t      i, k, n;

	for (i = 0; i < len; i++)
		s[i] = (char)(rnd(seed) >> 24);
	for (k = 0; k < len / 64; k++) {
		f = bits[rnd(seed) % (sizeof bits / sizeof bits[0])];
		n = strlen(f);
		i = (size_t)(rnd(seed) % len);
		if (i + n <= len)
			memcpy(s + i, f, n);
	}
	while ((f = memmem(s, len, delim, strlen(delim))) != NULL)
		s[(size_t)(f - s) + strlen(delim) - 1] ^= 1;
}

/* A body of nparts file parts of random sizes; content gets the data. */
static size_t
big_body(struct buf *body, struct buf *content, size_t nparts, size_t max)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	size_t   i, n;
	char    *part;

	buf_puts(body, "preamble\r\n--" BIG_B "\r\n");
	for (i = 0; i < nparts; i++) {
		n = (size_t)(rnd(&seed) % max);
		if ((part = malloc(n + 1)) == NULL)
			return 0;
		fill_tricky(part, n, &seed);
		buf_printf(body, "Content-Disposition: form-data; name=\"p%zu\"; "
		    "filename=\"p%zu.bin\"\r\n\r\n", i, i);
		buf_add(body, part, n);
		buf_add(content, part, n);
		buf_puts(body, i + 1 < nparts ? "\r\n--" BIG_B "\r\n" :
		    "\r\n--" BIG_B "--\r\n");
		free(part);
	}
	return body->len;
}

/* Random cuts of a 1 MiB body: the same events, the data exact. */
static void
test_random_cuts(void)
{
	static const size_t maxes[] = { 1, 2, 3, 7, 16, 100, 4096, 65536,
	    1 << 20 };
	struct buf     body, content, want;
	struct chunker ch = { 'W', 0, 0, 0 };
	struct rec     r;
	size_t         i;

	buf_init(&body);
	buf_init(&content);
	buf_init(&want);
	CU_ASSERT_FATAL(big_body(&body, &content, 12, 180000) > 0);
	rec_init(&r, 0);
	CU_ASSERT_EQUAL(run(BIG_CT, body.data, body.len, &ch, &r), MP_OK);
	buf_add(&want, r.ev.data, r.ev.len);
	CU_ASSERT(r.all.len == content.len &&
	    memcmp(r.all.data, content.data, content.len) == 0);
	rec_release(&r);
	for (i = 0; i < sizeof maxes / sizeof maxes[0] * 2; i++) {
		ch.mode = 'R';
		ch.max = maxes[i % (sizeof maxes / sizeof maxes[0])];
		ch.seed = 1 + i;
		rec_init(&r, 0);
		CU_ASSERT_EQUAL(run(BIG_CT, body.data, body.len, &ch, &r), MP_OK);
		ROW(strcmp(r.ev.data, want.data) == 0, i, r.ev.data);
		ROW(r.all.len == content.len &&
		    memcmp(r.all.data, content.data, content.len) == 0, i,
		    "data");
		rec_release(&r);
	}
	buf_release(&body);
	buf_release(&content);
	buf_release(&want);
}

/*
 * A big part in 64 KiB reads: one data call per read, plus one per read
 * at most for look-behind released (the reads end in delimiter pieces).
 */
static void
test_calls_per_read(void)
{
	const size_t rd = 65536, size = 256 * rd;
	struct buf   body;
	struct rec   r;
	struct mp    p;
	size_t       head, i, n, off, reads = 0;

	buf_init(&body);
	buf_puts(&body, "--" BIG_B "\r\n" CD "name=f; filename=a\r\n\r\n");
	head = body.len;
	for (i = 0; i < size / rd; i++)
		buf_printf(&body, "%*s\r\n--bOu", (int)(rd - 7), "");
	buf_puts(&body, "\r\n--" BIG_B "--");
	rec_init(&r, 0);
	mp_init(&p, BIG_CT);
	/* each read ends in "\r\n-", held back, then released */
	for (off = 0; off < body.len; off += n, reads++) {
		n = off == 0 ? head + rd - 4 : rd;
		if (n > body.len - off)
			n = body.len - off;
		CU_ASSERT_EQUAL(feed_one(&p, &r, body.data + off, n, 0), MP_OK);
	}
	CU_ASSERT_EQUAL(mp_finish(&p), MP_OK);
	CU_ASSERT_EQUAL(r.bad_reads, 0);
	CU_ASSERT(r.data_calls >= reads - 1 && r.data_calls <= 2 * reads);
	CU_ASSERT_EQUAL(r.all.len, size);
	CU_ASSERT(memmem(r.all.data, r.all.len, "\r\n--" BIG_B, 15) == NULL);
	rec_release(&r);
	buf_release(&body);
}

/*
 * The bodies crafted against delimiter searches, each 200 KiB then a real
 * delimiter: the events and the data exact, whole and in random reads.
 */
static void
test_crafted(void)
{
	static const char *const pats[] = {
		"\r\n--", "\r\n--bOuNdArY-43", "\r\n--bOuNdBrY-42", "\r",
		"\r2", "\r22", "\r\n--bOuNdArY-4\r\n--bOuN"
	};
	static const size_t maxes[] = { 200 * 1024, 65536, 4096, 1000, 7 };
	const char    *head = "--" BIG_B "\r\n" CD "name=f\r\n\r\n";
	struct buf     body;
	struct chunker ch = { 'R', 0, 0, 7 };
	struct rec     r;
	size_t         i, k, n;
	char           want[64];

	for (i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		buf_init(&body);
		buf_puts(&body, head);
		for (n = 0; n < 200 * 1024; n += strlen(pats[i]))
			buf_puts(&body, pats[i]);
		snprintf(want, sizeof want, "B(name=f)D(%zu)E()F", n);
		buf_puts(&body, "\r\n--" BIG_B "--");
		for (k = 0; k < sizeof maxes / sizeof maxes[0]; k++) {
			ch.max = maxes[k];
			rec_init(&r, 0);
			run(BIG_CT, body.data, body.len, &ch, &r);
			ROW(strcmp(r.ev.data, want) == 0, i, r.ev.data);
			ROW(r.all.len == n && memcmp(r.all.data,
			    body.data + strlen(head), n) == 0, i, "data");
			rec_release(&r);
		}
		buf_release(&body);
	}
}

static CU_TestInfo init_tests[] = {
	{ "Content-Type and boundary", test_content_type },
	{ "boundary of 70 and 71 characters", test_boundary_length },
	{ "mp_strerror", test_strerror },
	CU_TEST_INFO_NULL
};

static CU_TestInfo body_tests[] = {
	{ "well-formed bodies, every cut", test_good },
	{ "malformed and truncated bodies, every cut", test_bad },
	CU_TEST_INFO_NULL
};

static CU_TestInfo limit_tests[] = {
	{ "header block bound", test_header_max },
	{ "a body's first bytes, bound", test_lead_max },
	{ "300-byte names delivered", test_long_names },
	{ "filename* bound", test_filename_star_max },
	CU_TEST_INFO_NULL
};

static CU_TestInfo callback_tests[] = {
	{ "callback abort", test_abort },
	{ "callback abort at an empty part", test_abort_empty },
	{ "sticky errors", test_sticky },
	{ "NULL callbacks", test_null_callbacks },
	CU_TEST_INFO_NULL
};

static CU_TestInfo stream_tests[] = {
	{ "random cuts of a 1 MiB body", test_random_cuts },
	{ "data calls per read", test_calls_per_read },
	{ "crafted bodies", test_crafted },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "mp_init", NULL, NULL, NULL, NULL, init_tests },
	{ "mp_feed transcripts", NULL, NULL, NULL, NULL, body_tests },
	{ "limits", NULL, NULL, NULL, NULL, limit_tests },
	{ "callbacks", NULL, NULL, NULL, NULL, callback_tests },
	{ "streaming", NULL, NULL, NULL, NULL, stream_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
