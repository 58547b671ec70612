/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "format.h"

static const char *const names[FORMAT__MAX] = {
	[FORMAT_JSON] = "json",
	[FORMAT_XML]  = "xml",
	[FORMAT_HTML] = "html",
	[FORMAT_TEXT] = "text",
};

/*
 * The media types upgate sends.  The order breaks the last ties, those
 * among types that one wildcard covers and that are not the default: so
 * "application/xml" comes before "text/xml" (upgate(8), Responses: application/xml when
 * the client named neither), and a text wildcard alone gives text/plain.
 * RFC 8259 §11 defines no charset for application/json.
 */
static const struct media {
	const char *type;
	const char *subtype;
	enum format format;
	const char *content_type;
} media[] = {
	{ "application", "json", FORMAT_JSON, "application/json" },
	{ "application", "xml",  FORMAT_XML,  "application/xml; charset=utf-8" },
	{ "text",        "plain", FORMAT_TEXT, "text/plain; charset=utf-8" },
	{ "text",        "html", FORMAT_HTML, "text/html; charset=utf-8" },
	{ "text",        "xml",  FORMAT_XML,  "text/xml; charset=utf-8" },
};
#define NMEDIA (sizeof media / sizeof media[0])

/* One member of Accept: a media range and its weight in thousandths. */
struct range {
	const char *type;
	size_t      typelen;
	const char *sub;
	size_t      sublen;
	int         q;
};

/* How a media type fares: the weight of its most specific range. */
struct score {
	int    q;	/* -1: no range matches */
	int    spec;	/* 2 type/subtype, 1 type/\*, 0 *\/\*, -1 none */
	size_t index;	/* the member that gave q */
};

int
format_parse(const char *name, enum format *out)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < FORMAT__MAX; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum format)i;
			return 0;
		}
	}
	return -1;
}

/* RFC 9110 §5.6.2 tchar */
static int
is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c)
	    != NULL);
}

static size_t
token_len(const char *s, const char *end)
{
	const char *p = s;

	while (p < end && is_tchar(*p))
		p++;
	return (size_t)(p - s);
}

static const char *
skip_ows(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* Past a quoted-string starting at s (RFC 9110 §5.6.4), or NULL if open. */
static const char *
skip_quoted(const char *s, const char *end)
{
	for (s++; s < end; s++) {
		if (*s == '\\' && s + 1 < end)
			s++;
		else if (*s == '"')
			return s + 1;
	}
	return NULL;
}

/* The end of the member starting at s: the next ',' outside quotes. */
static const char *
member_end(const char *s, const char *end)
{
	const char *q;

	while (s < end && *s != ',') {
		if (*s != '"') {
			s++;
			continue;
		}
		if ((q = skip_quoted(s, end)) == NULL)
			return end;
		s = q;
	}
	return s;
}

/*
 * RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
 * Anything else (q=2, q=-1, q=1e999, q=0.0001) is malformed: -1.
 */
static int
qvalue_parse(const char *s, size_t len)
{
	int    q, scale = 100;
	size_t i;

	if (len == 0 || len > 5 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (len == 1)
		return q;
	if (s[1] != '.')
		return -1;
	for (i = 2; i < len; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/*
 * One parameter at s: name "=" ( token / quoted-string ).  Sets *q for a
 * "q" parameter.  Returns the end of the parameter, or NULL if malformed.
 */
static const char *
param_parse(const char *s, const char *end, int *q)
{
	size_t      n, v;
	const char *val;

	n = token_len(s, end);
	if (n == 0 || s + n >= end || s[n] != '=')
		return NULL;
	val = s + n + 1;
	if (val < end && *val == '"') {
		if (n == 1 && (*s == 'q' || *s == 'Q'))
			return NULL;	/* a weight is never quoted */
		return skip_quoted(val, end);
	}
	if ((v = token_len(val, end)) == 0)
		return NULL;
	if (n == 1 && (*s == 'q' || *s == 'Q')) {
		if ((*q = qvalue_parse(val, v)) == -1)
			return NULL;
	}
	return val + v;
}

/* Parses the member [s, end) into r; -1 if malformed. */
static int
range_parse(const char *s, const char *end, struct range *r)
{
	s = skip_ows(s, end);
	r->type = s;
	r->typelen = token_len(s, end);
	s += r->typelen;
	if (r->typelen == 0 || s >= end || *s++ != '/')
		return -1;
	r->sub = s;
	r->sublen = token_len(s, end);
	s += r->sublen;
	if (r->sublen == 0 || (r->typelen == 1 && *r->type == '*' &&
	    !(r->sublen == 1 && *r->sub == '*')))
		return -1;
	r->q = 1000;
	while ((s = skip_ows(s, end)) < end) {
		if (*s++ != ';')
			return -1;
		s = skip_ows(s, end);
		if (s == end || *s == ';')
			continue;	/* RFC 9110 §5.6.6: a parameter may be empty */
		if ((s = param_parse(s, end, &r->q)) == NULL)
			return -1;
	}
	return 0;
}

static int
token_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* How specifically r names m: 2, 1, 0, or -1 if it does not cover it. */
static int
range_match(const struct range *r, const struct media *m)
{
	if (token_is(r->type, r->typelen, "*"))
		return 0;
	if (!token_is(r->type, r->typelen, m->type))
		return -1;
	if (token_is(r->sub, r->sublen, "*"))
		return 1;
	return token_is(r->sub, r->sublen, m->subtype) ? 2 : -1;
}

/*
 * RFC 9110 §12.5.1: a type takes the weight of the most specific range
 * that covers it; among equally specific ranges, the highest weight.
 */
static void
score_ranges(const struct range *r, size_t index, struct score *sc)
{
	size_t i;
	int    spec;

	for (i = 0; i < NMEDIA; i++) {
		spec = range_match(r, &media[i]);
		if (spec < 0 || spec < sc[i].spec ||
		    (spec == sc[i].spec && r->q <= sc[i].q))
			continue;
		sc[i].q = r->q;
		sc[i].spec = spec;
		sc[i].index = index;
	}
}

/* Is media a better than media b?  The tie rules of upgate(8), Responses, in order. */
static int
better(const struct score *sc, size_t a, size_t b, enum format def)
{
	int named_a = media[a].format == def && sc[a].spec == 2;
	int named_b = media[b].format == def && sc[b].spec == 2;

	if (sc[a].q != sc[b].q)
		return sc[a].q > sc[b].q;
	if (named_a != named_b)
		return named_a;
	if (sc[a].spec != sc[b].spec)
		return sc[a].spec > sc[b].spec;
	if (sc[a].index != sc[b].index)
		return sc[a].index < sc[b].index;
	/* one wildcard covers both: it states no preference */
	if ((media[a].format == def) != (media[b].format == def))
		return media[a].format == def;
	return a < b;
}

static struct negotiated
negotiated_default(enum format def)
{
	struct negotiated n;
	size_t            i;

	if ((unsigned)def >= FORMAT__MAX)
		def = FORMAT_JSON;
	n.format = def;
	n.content_type = media[0].content_type;
	for (i = NMEDIA; i-- > 0; )
		if (media[i].format == def)
			n.content_type = media[i].content_type;
	return n;
}

/*
 * One pass over the header, a fixed amount of work per byte and per
 * member, nothing allocated: hostile headers cost only their length.
 */
struct negotiated
format_negotiate(const char *accept, enum format def)
{
	struct score      sc[NMEDIA];
	struct range      r;
	struct negotiated n;
	const char       *s, *end, *e;
	size_t            i, best = NMEDIA, index = 0;

	for (i = 0; i < NMEDIA; i++)
		sc[i] = (struct score){ -1, -1, 0 };
	s = accept != NULL ? accept : "";
	end = s + strlen(s);
	for (; s < end; s = e + 1, index++) {
		e = member_end(s, end);
		if (range_parse(s, e, &r) == 0)
			score_ranges(&r, index, sc);
		if (e == end)
			break;
	}
	for (i = 0; i < NMEDIA; i++)
		if (sc[i].q > 0 && (best == NMEDIA || better(sc, i, best, def)))
			best = i;
	if (best == NMEDIA)
		return negotiated_default(def);
	n.format = media[best].format;
	n.content_type = media[best].content_type;
	return n;
}
