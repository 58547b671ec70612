/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * accept_fuzz: a libFuzzer harness for format_negotiate (common/format.c).
 * The input, cut at its first NUL, is an Accept header; it is negotiated
 * against each of the four defaults.
 *
 * The answer is always one of the four formats with one of its own media
 * types.  And three rewrites of the header must not change it (RFC 9110
 * §12.5.1): media types and parameter names are case-insensitive, so the
 * header in upper case chooses the same; "*\/\*;q=0" adds nothing that
 * is acceptable, so neither a leading nor a trailing one changes the
 * choice.  A header without a '/' names no range: the default.  Any
 * difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/accept_fuzz.c common/format.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

#define EXCLUDE_ALL "*/*;q=0"

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* The media types each format may be sent as. */
static int
type_ok(struct negotiated n)
{
	const char *t = n.content_type;

	switch (n.format) {
	case FORMAT_JSON:
		return strcmp(t, "application/json") == 0;
	case FORMAT_XML:
		return strcmp(t, "application/xml; charset=utf-8") == 0 ||
		    strcmp(t, "text/xml; charset=utf-8") == 0;
	case FORMAT_HTML:
		return strcmp(t, "text/html; charset=utf-8") == 0;
	case FORMAT_TEXT:
		return strcmp(t, "text/plain; charset=utf-8") == 0;
	default:
		return 0;
	}
}

static int
same(struct negotiated a, struct negotiated b)
{
	return a.format == b.format && a.content_type == b.content_type;
}

/* What the header says with a different spelling, all for def. */
static void
check_rewrites(const char *accept, size_t len, enum format def,
    struct negotiated n, char *tmp)
{
	size_t i;

	for (i = 0; i <= len; i++)
		tmp[i] = accept[i] >= 'a' && accept[i] <= 'z' ?
		    (char)(accept[i] - 'a' + 'A') : accept[i];
	check(same(format_negotiate(tmp, def), n));
	memcpy(tmp, EXCLUDE_ALL ",", sizeof EXCLUDE_ALL);
	memcpy(tmp + sizeof EXCLUDE_ALL, accept, len + 1);
	check(same(format_negotiate(tmp, def), n));
	memcpy(tmp, accept, len);
	memcpy(tmp + len, "," EXCLUDE_ALL, sizeof EXCLUDE_ALL + 1);
	check(same(format_negotiate(tmp, def), n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct negotiated n;
	char             *accept, *tmp;
	size_t            len;
	int               def;

	if ((accept = malloc(size + 1)) == NULL ||
	    (tmp = malloc(size + sizeof EXCLUDE_ALL + 1)) == NULL)
		abort();
	memcpy(accept, data, size);
	accept[size] = '\0';
	len = strlen(accept);
	for (def = 0; def < FORMAT__MAX; def++) {
		n = format_negotiate(accept, (enum format)def);
		check(type_ok(n));
		check((int)format_negotiate(NULL, (enum format)def).format == def);
		if (strchr(accept, '/') == NULL)
			check(same(n, format_negotiate(NULL, (enum format)def)));
		check_rewrites(accept, len, (enum format)def, n, tmp);
	}
	free(tmp);
	free(accept);
	return 0;
}
