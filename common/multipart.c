/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multipart: a streaming multipart/form-data parser (RFC 7578, framing of
 * RFC 2046 §5.1.1).  Each read is searched whole for the delimiter
 * (delim_find); a tail of the read that may begin a delimiter is held
 * back as a count (matched) and compared on with the next read.  The
 * delimiter holds '\r' only as its first byte (bchars exclude CR), so a
 * prefix of it has no border: when the comparison fails, every held byte
 * is data, and the held bytes are the delimiter's own prefix — no
 * look-behind buffer.  A part's body may be empty, its delimiter's CRLF
 * the one of the blank line that ends the headers: the first bytes of a
 * body are looked at alone (lead_scan) before the search takes over.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "multipart.h"

enum {
	S_PREAMBLE,	/* before the first delimiter: discarded */
	S_DELIM,	/* just after a delimiter: padding, CRLF or "--" */
	S_DASH,		/* one '-' of the close delimiter seen */
	S_CR,		/* the CR ending a delimiter line seen */
	S_HEADER,	/* a part's header block */
	S_LEAD,		/* a body's first bytes: a delimiter at once? */
	S_BODY,		/* a part's body */
	S_EPILOGUE	/* after the close delimiter: discarded */
};

/* One parameter of a ';'-separated list, pointing into the list. */
struct param {
	const char *name;
	size_t      name_len;
	const char *val;
	size_t      val_len;
	int         quoted;
};

static const char *const errors[MP__MAX] = {
	[MP_OK] = "no error",
	[MP_NOT_FORM] = "not multipart/form-data",
	[MP_BAD_BOUNDARY] = "missing or invalid multipart boundary",
	[MP_MALFORMED] = "malformed multipart body",
	[MP_HEADER_TOO_LARGE] = "multipart part headers too large",
	[MP_TRUNCATED] = "multipart body ends before its close delimiter",
	[MP_ABORTED] = "multipart parsing stopped by its caller",
};

const char *
mp_strerror(enum mp_err e)
{
	if ((unsigned)e >= MP__MAX)
		return "unknown multipart error";
	return errors[e];
}

/* RFC 9110 §5.6.2 tchar. */
static int
is_tchar(char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 2046 §5.1.1 bcharsnospace. */
static int
is_bchar(char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("'()+_,-./:=?", c) != NULL;
}

/* RFC 8187 §3.2.1 attr-char. */
static int
is_attr_char(char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL;
}

/*
 * A byte of an unquoted parameter value.  Laxer than a token (boundaries
 * such as ----=_Part_1 are often sent unquoted); what is taken is checked
 * again by its user.
 */
static int
is_value_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u > ' ' && u != 0x7f && c != ';' && c != '"';
}

static int
hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t
skip_ows(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* 1 if (s, n) is lit, ASCII case ignored. */
static int
ieq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/*
 * The end of a quoted string whose opening '"' is at s[i]: the index of
 * the closing '"', or n when there is none.  With escapes, a backslash
 * takes the next byte (RFC 9110 quoted-pair); without, the value ends at
 * the next '"' whatever precedes it (RFC 7578 §4.2: browsers send
 * C:\dir\name as it is).
 */
static size_t
quoted_end(const char *s, size_t n, size_t i, int escapes)
{
	for (i++; i < n && s[i] != '"'; i++)
		if (escapes && s[i] == '\\' && i + 1 < n)
			i++;
	return i;
}

/* A parameter's value at s[i]; the index after it, or 0 when bad. */
static size_t
param_value(const char *s, size_t n, size_t i, int escapes,
    struct param *pr)
{
	size_t j;

	if (i < n && s[i] == '"') {
		if ((j = quoted_end(s, n, i, escapes)) == n)
			return 0;
		pr->val = s + i + 1;
		pr->val_len = j - i - 1;
		pr->quoted = 1;
		return j + 1;
	}
	for (j = i; j < n && is_value_char(s[j]); j++)
		continue;
	if (j == i)
		return 0;
	pr->val = s + i;
	pr->val_len = j - i;
	pr->quoted = 0;
	return j;
}

/*
 * The next parameter of the list (s, n) from *pos: OWS ";" OWS
 * [ token "=" value ] (RFC 9110 §5.6.6, empty parameters allowed).
 * 1 and *pr set, 0 at the end of the list, -1 when it is malformed.
 */
static int
param_next(const char *s, size_t n, size_t *pos, int escapes,
    struct param *pr)
{
	size_t i = *pos, j;

	do {
		if ((i = skip_ows(s, n, i)) == n) {
			*pos = n;
			return 0;
		}
		if (s[i] != ';')
			return -1;
		i = skip_ows(s, n, i + 1);
	} while (i == n || s[i] == ';');
	for (j = i; j < n && is_tchar(s[j]); j++)
		continue;
	if (j == i || j == n || s[j] != '=')
		return -1;
	pr->name = s + i;
	pr->name_len = j - i;
	if ((i = param_value(s, n, j + 1, escapes, pr)) == 0)
		return -1;
	*pos = i;
	return 1;
}

/* The length of the token at s[i]. */
static size_t
token_len(const char *s, size_t n, size_t i)
{
	size_t j;

	for (j = i; j < n && is_tchar(s[j]); j++)
		continue;
	return j - i;
}

/* RFC 2046 §5.1.1: 1 to 70 bchars, the last not a space. */
static int
boundary_valid(const char *b, size_t len)
{
	size_t i;

	if (len == 0 || len > MP_BOUNDARY_MAX || b[len - 1] == ' ')
		return 0;
	for (i = 0; i < len; i++)
		if (b[i] != ' ' && !is_bchar(b[i]))
			return 0;
	return 1;
}

/* The boundary parameter of the list (s, n) into p->delim. */
static enum mp_err
boundary_find(struct mp *p, const char *s, size_t n, size_t i)
{
	struct param pr;
	int          r, found = 0;

	while ((r = param_next(s, n, &i, 1, &pr)) == 1) {
		if (!ieq(pr.name, pr.name_len, "boundary"))
			continue;
		if (found++ || !boundary_valid(pr.val, pr.val_len))
			return MP_BAD_BOUNDARY;
		memcpy(p->delim + 4, pr.val, pr.val_len);
		p->delim_len = 4 + pr.val_len;
	}
	return r == 0 && found ? MP_OK : MP_BAD_BOUNDARY;
}

/* The media type, then the boundary (RFC 9110 §8.3.1, RFC 7578 §4.1). */
static enum mp_err
content_type_parse(struct mp *p, const char *s)
{
	size_t n = strlen(s), i, t1, t2;

	i = skip_ows(s, n, 0);
	t1 = token_len(s, n, i);
	if (t1 == 0 || i + t1 == n || s[i + t1] != '/' ||
	    !ieq(s + i, t1, "multipart"))
		return MP_NOT_FORM;
	t2 = token_len(s, n, i + t1 + 1);
	if (!ieq(s + i + t1 + 1, t2, "form-data"))
		return MP_NOT_FORM;
	return boundary_find(p, s, n, i + t1 + 1 + t2);
}

enum mp_err
mp_init(struct mp *p, const char *content_type)
{
	p->state = S_PREAMBLE;
	p->err = MP_OK;
	memcpy(p->delim, "\r\n--", 4);
	p->delim_len = 0;
	/* as if a CRLF came first: the first delimiter may open the body */
	p->matched = 2;
	p->hlen = p->line = 0;
	p->cd_off = p->cd_len = p->ct_off = p->ct_len = 0;
	p->pad = 0;
	if (content_type == NULL)
		p->err = MP_NOT_FORM;
	else
		p->err = content_type_parse(p, content_type);
	return p->err;
}

static void
fail(struct mp *p, enum mp_err e)
{
	if (p->err == MP_OK)
		p->err = e;
}

/* Body bytes: the current part's data, or nothing outside a part. */
static void
emit(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg)
{
	if (len == 0 || p->state != S_BODY || cb->data == NULL)
		return;
	if (cb->data(arg, buf, len) != 0)
		fail(p, MP_ABORTED);
}

static void
delim_seen(struct mp *p, const struct mp_callbacks *cb, void *arg)
{
	if ((p->state == S_BODY || p->state == S_LEAD) && cb->end != NULL &&
	    cb->end(arg) != 0)
		fail(p, MP_ABORTED);
	p->state = S_DELIM;
	p->matched = 0;
	p->pad = 0;
}

/*
 * Goes on comparing the delimiter prefix held from the previous read.
 * Returns the bytes of buf it took; on a mismatch it takes none and
 * releases the held bytes as data.
 */
static size_t
match_resume(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg)
{
	size_t k = p->delim_len - p->matched;

	if (k > len)
		k = len;
	if (memcmp(buf, p->delim + p->matched, k) != 0) {
		emit(p, p->delim, p->matched, cb, arg);
		p->matched = 0;
		return 0;
	}
	p->matched += k;
	if (p->matched == p->delim_len)
		delim_seen(p, cb, arg);
	return k;
}

/*
 * The longest tail of (buf, len) that begins the delimiter, shorter than
 * it.  It begins with the last '\r' of the window or not at all: '\r' is
 * only the delimiter's first byte.
 */
static size_t
tail_match(const struct mp *p, const char *buf, size_t len)
{
	size_t      w = len < p->delim_len - 1 ? len : p->delim_len - 1;
	const char *r = memrchr(buf + len - w, '\r', w);
	size_t      k;

	if (r == NULL)
		return 0;
	k = (size_t)(buf + len - r);
	return memcmp(r, p->delim, k) == 0 ? k : 0;
}

#if defined(__SSE2__)
#define BLOCK 64	/* bytes the filter looks at in one step */

/*
 * A mask of the positions i of the block at s where '\r' stands at i and
 * the delimiter's last byte at i + m - 1.
 */
static uint64_t
block_mask(const char *s, size_t m, __m128i first, __m128i last)
{
	uint64_t mask = 0;
	__m128i  a, b;
	int      k;

	for (k = 0; k < BLOCK; k += 16) {
		a = _mm_loadu_si128((const void *)(s + k));
		b = _mm_loadu_si128((const void *)(s + k + m - 1));
		mask |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_and_si128(
		    _mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))) << k;
	}
	return mask;
}

/*
 * The delimiter's first place in (buf, len), searched BLOCK positions at
 * a time for '\r' with the delimiter's last byte m - 1 further on
 * (W. Mula's "generic SIMD" search), then memmem for the last few bytes.
 * Random data passes the filter at memory speed whatever the boundary's
 * length (memmem alone slows to a third of that for short ones).  A
 * candidate costs one memcmp, and each begins with a '\r' of the data:
 * crafted data cannot make it cost more than a memchr('\r') loop pays
 * for the same bytes, and glibc's memmem has hash collisions that can.
 */
static const char *
delim_find(const struct mp *p, const char *buf, size_t len)
{
	const __m128i first = _mm_set1_epi8('\r');
	const __m128i last = _mm_set1_epi8(p->delim[p->delim_len - 1]);
	size_t        m = p->delim_len, i, j;
	uint64_t      mask;

	for (i = 0; i + m - 1 + BLOCK <= len; i += BLOCK) {
		mask = block_mask(buf + i, m, first, last);
		for (; mask != 0; mask &= mask - 1) {
			j = i + (size_t)__builtin_ctzll(mask);
			if (memcmp(buf + j + 1, p->delim + 1, m - 2) == 0)
				return buf + j;
		}
	}
	return memmem(buf + i, len - i, p->delim, m);
}
#else
static const char *
delim_find(const struct mp *p, const char *buf, size_t len)
{
	return memmem(buf, len, p->delim, p->delim_len);
}
#endif

/* Searches one read for the delimiter; returns the bytes it took. */
static size_t
body_scan(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg)
{
	const char *f;
	size_t      n, held;

	if (p->matched > 0)
		return match_resume(p, buf, len, cb, arg);
	if ((f = delim_find(p, buf, len)) != NULL) {
		n = (size_t)(f - buf);
		emit(p, buf, n, cb, arg);
		if (p->err == MP_OK)
			delim_seen(p, cb, arg);
		return n + p->delim_len;
	}
	held = tail_match(p, buf, len);
	emit(p, buf, len - held, cb, arg);
	p->matched = held;
	return len;
}

/* Decodes a filename* ext-value (RFC 8187 §3.2.1), UTF-8 only. */
static int
ext_value_decode(struct mp *p, const struct param *pr, size_t *out)
{
	const char *s = pr->val, *q1, *q2;
	size_t      n = pr->val_len, i, o = 0;

	if (pr->quoted || (q1 = memchr(s, '\'', n)) == NULL ||
	    !ieq(s, (size_t)(q1 - s), "utf-8") ||
	    (q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s))) == NULL)
		return -1;
	for (i = (size_t)(q2 + 1 - s); i < n; i++, o++) {
		if (o == MP_FILENAME_MAX)
			return -1;
		if (is_attr_char(s[i])) {
			p->filename_star[o] = s[i];
			continue;
		}
		if (s[i] != '%' || i + 2 >= n || hex(s[i + 1]) == -1 ||
		    hex(s[i + 2]) == -1)
			return -1;
		p->filename_star[o] = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
		i += 2;
	}
	*out = o;
	return 0;
}

/* One Content-Disposition parameter into part; -1 when bad or repeated. */
static int
disposition_param(struct mp *p, const struct param *pr, struct mp_part *part)
{
	if (ieq(pr->name, pr->name_len, "name")) {
		if (part->name != NULL)
			return -1;
		part->name = pr->val;
		part->name_len = pr->val_len;
	} else if (ieq(pr->name, pr->name_len, "filename")) {
		if (part->filename != NULL)
			return -1;
		part->filename = pr->val;
		part->filename_len = pr->val_len;
	} else if (ieq(pr->name, pr->name_len, "filename*")) {
		if (part->filename_star != NULL ||
		    ext_value_decode(p, pr, &part->filename_star_len) == -1)
			return -1;
		part->filename_star = p->filename_star;
	}
	return 0;
}

/* RFC 7578 §4.2: form-data; name=...; [filename=...]; [filename*=...] */
static int
disposition_parse(struct mp *p, struct mp_part *part)
{
	const char  *s = p->header + p->cd_off;
	size_t       n = p->cd_len, i;
	struct param pr;
	int          r;

	i = token_len(s, n, 0);
	if (!ieq(s, i, "form-data"))
		return -1;
	while ((r = param_next(s, n, &i, 0, &pr)) == 1)
		if (disposition_param(p, &pr, part) == -1)
			return -1;
	if (r == -1 || part->name == NULL)
		return -1;
	part->has_filename = part->filename != NULL ||
	    part->filename_star != NULL;
	return 0;
}

/* The header block is complete: hands the part over. */
static void
headers_done(struct mp *p, const struct mp_callbacks *cb, void *arg)
{
	struct mp_part part;

	memset(&part, 0, sizeof part);
	if (p->cd_off == 0 || disposition_parse(p, &part) == -1) {
		fail(p, MP_MALFORMED);
		return;
	}
	if (p->ct_off != 0) {
		part.content_type = p->header + p->ct_off;
		part.content_type_len = p->ct_len;
	}
	p->state = S_LEAD;
	p->matched = 0;
	if (cb->begin != NULL && cb->begin(arg, &part) != 0)
		fail(p, MP_ABORTED);
	p->hlen = 0;	/* the buffer now holds the body's first bytes */
}

/*
 * Notes where a header's value lies, trimmed of white space; -1 when the
 * header is repeated.
 */
static int
header_note(size_t *off, size_t *len, const char *s, size_t from, size_t to)
{
	if (*off != 0)
		return -1;
	from = skip_ows(s, to, from);
	while (to > from && (s[to - 1] == ' ' || s[to - 1] == '\t'))
		to--;
	*off = from;
	*len = to - from;
	return 0;
}

/*
 * A complete header line [p->line, end): name ":" value (RFC 9110 §5.1).
 * A folded line begins with white space, which is no token: malformed,
 * and so is a delimiter met here.
 */
static int
header_line(struct mp *p, size_t end)
{
	const char *s = p->header;
	size_t      nl = token_len(s, end, p->line), colon = p->line + nl;

	if (nl == 0 || colon == end || s[colon] != ':')
		return -1;
	if (ieq(s + p->line, nl, "content-disposition"))
		return header_note(&p->cd_off, &p->cd_len, s, colon + 1, end);
	if (ieq(s + p->line, nl, "content-type"))
		return header_note(&p->ct_off, &p->ct_len, s, colon + 1, end);
	return 0;
}

/* One byte of a header block: lines end in CRLF, nothing else. */
static void
header_byte(struct mp *p, char c, const struct mp_callbacks *cb, void *arg)
{
	char prev = p->hlen > 0 ? p->header[p->hlen - 1] : '\0';

	if (p->hlen == MP_HEADER_MAX) {
		fail(p, MP_HEADER_TOO_LARGE);
		return;
	}
	if ((prev == '\r') != (c == '\n')) {
		fail(p, MP_MALFORMED);
		return;
	}
	p->header[p->hlen++] = c;
	if (c != '\n')
		return;
	if (p->hlen - p->line == 2)
		headers_done(p, cb, arg);
	else if (header_line(p, p->hlen - 2) == -1)
		fail(p, MP_MALFORMED);
	p->line = p->hlen;
}

static void
header_start(struct mp *p)
{
	p->state = S_HEADER;
	p->hlen = p->line = 0;
	p->cd_off = p->cd_len = p->ct_off = p->ct_len = 0;
}

/*
 * After a delimiter: transport padding and CRLF, or "--" for the close
 * delimiter (RFC 2046 §5.1.1); anything else is malformed.
 */
static void
delim_byte(struct mp *p, char c)
{
	if (c == '-' && !p->pad)
		p->state = S_DASH;
	else if (c == ' ' || c == '\t')
		p->pad = 1;
	else if (c == '\r')
		p->state = S_CR;
	else
		fail(p, MP_MALFORMED);
}

/* What a byte does to the bytes held at the start of a body. */
enum {
	L_DATA,		/* they are data: the delimiter is not there */
	L_MORE,		/* still a delimiter's beginning: take the byte */
	L_NEXT,		/* the byte ends a delimiter line */
	L_CLOSE		/* the byte ends the close delimiter */
};

/*
 * RFC 2046 §5.1.1 lets a body be empty: then the CRLF of the blank line
 * that ends the headers also opens the delimiter, and "--" boundary comes
 * at once.  It is a delimiter only when "--", or transport padding and
 * CRLF, follow; "--boundaryX" or "--boundary-x" are data as they stand.
 */
static int
lead_class(const struct mp *p, char c)
{
	size_t b = p->delim_len - 2;	/* "--" boundary, without the CRLF */
	char   prev = p->hlen > b ? p->header[p->hlen - 1] : '\0';

	if (p->hlen < b)
		return c == p->delim[2 + p->hlen] ? L_MORE : L_DATA;
	if (prev == '\r')
		return c == '\n' ? L_NEXT : L_DATA;
	if (prev == '-')
		return c == '-' ? L_CLOSE : L_DATA;
	if (c == '-' && p->hlen == b)
		return L_MORE;
	return c == ' ' || c == '\t' || c == '\r' ? L_MORE : L_DATA;
}

/*
 * The first bytes of a body, held in the header buffer (free once begin
 * has run) until they prove a delimiter or data.  Returns the bytes of buf
 * it took.  When they are data it takes none: the bytes held from earlier
 * reads are released, and buf is searched again as body (what the lead
 * took from it holds no CRLF: no delimiter begins there).  A delimiter
 * line padded beyond MP_HEADER_MAX cannot be told from data: malformed.
 */
static size_t
lead_scan(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg)
{
	size_t held = p->hlen, i;

	for (i = 0; i < len; i++) {
		switch (lead_class(p, buf[i])) {
		case L_MORE:
			if (p->hlen == MP_HEADER_MAX) {
				fail(p, MP_MALFORMED);
				return i;
			}
			p->header[p->hlen++] = buf[i];
			break;
		case L_DATA:
			p->state = S_BODY;
			emit(p, p->header, held, cb, arg);
			return 0;
		case L_NEXT:
			delim_seen(p, cb, arg);
			header_start(p);
			return i + 1;
		default:	/* L_CLOSE */
			delim_seen(p, cb, arg);
			p->state = S_EPILOGUE;
			return i + 1;
		}
	}
	return len;
}

enum mp_err
mp_feed(struct mp *p, const char *buf, size_t len,
    const struct mp_callbacks *cb, void *arg)
{
	size_t i = 0;

	while (p->err == MP_OK && i < len) {
		switch (p->state) {
		case S_PREAMBLE:
		case S_BODY:
			i += body_scan(p, buf + i, len - i, cb, arg);
			break;
		case S_DELIM:
			delim_byte(p, buf[i++]);
			break;
		case S_DASH:
			if (buf[i++] != '-')
				fail(p, MP_MALFORMED);
			p->state = S_EPILOGUE;
			break;
		case S_CR:
			if (buf[i++] != '\n')
				fail(p, MP_MALFORMED);
			header_start(p);
			break;
		case S_HEADER:
			header_byte(p, buf[i++], cb, arg);
			break;
		case S_LEAD:
			i += lead_scan(p, buf + i, len - i, cb, arg);
			break;
		default:	/* S_EPILOGUE: ignored */
			i = len;
			break;
		}
	}
	return p->err;
}

enum mp_err
mp_finish(struct mp *p)
{
	if (p->state != S_EPILOGUE)
		fail(p, MP_TRUNCATED);
	return p->err;
}
