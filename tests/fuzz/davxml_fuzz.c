/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davxml_fuzz: a libFuzzer harness for common/davxml.c (with expat).
 * The input's first byte chooses the document (PROPFIND or PROPPATCH)
 * and where the rest is split in two; the rest is fed whole, then in the
 * two pieces, then one byte at a time.  The three results must agree
 * (error, kind and every property), and hold to the bounds: at most
 * DAVXML_PROPS_MAX properties, each a name that is not empty.  Any
 * difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/davxml_fuzz.c common/davxml.c -lexpat
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "davxml.h"

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* Feeds (data, size) in pieces of at most step bytes after the first. */
static struct davxml *
run(enum davxml_root root, const char *data, size_t size, size_t first,
    size_t step, enum davxml_err *err)
{
	struct davxml *x = davxml_new(root);
	size_t         at = 0, n;

	if (x == NULL)
		abort();
	*err = DAVXML_OK;
	while (at < size && *err == DAVXML_OK) {
		n = at == 0 ? first : step;
		if (n > size - at)
			n = size - at;
		*err = davxml_feed(x, data + at, n);
		at += n;
	}
	if (*err == DAVXML_OK)
		*err = davxml_finish(x);
	return x;
}

static void
same(const struct davxml *a, enum davxml_err ea, const struct davxml *b,
    enum davxml_err eb)
{
	size_t i;

	check(ea == eb);
	if (ea != DAVXML_OK)
		return;
	check(davxml_kind(a) == davxml_kind(b));
	check(davxml_nprops(a) == davxml_nprops(b));
	check(davxml_nprops(a) <= DAVXML_PROPS_MAX);
	for (i = 0; i < davxml_nprops(a); i++) {
		check(strcmp(davxml_props(a)[i].ns, davxml_props(b)[i].ns) == 0);
		check(strcmp(davxml_props(a)[i].name,
		    davxml_props(b)[i].name) == 0);
		check(davxml_props(a)[i].name[0] != '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum davxml_root root;
	enum davxml_err  e1, e2, e3;
	struct davxml   *whole, *split, *bytes;
	const char      *body = (const char *)data + 1;
	size_t           len, cut;

	if (size == 0)
		return 0;
	root = data[0] & 1 ? DAVXML_ROOT_PROPERTYUPDATE : DAVXML_ROOT_PROPFIND;
	len = size - 1;
	cut = len > 0 ? (size_t)(data[0] >> 1) % len : 0;
	whole = run(root, body, len, len, len, &e1);
	split = run(root, body, len, cut > 0 ? cut : len, len, &e2);
	bytes = run(root, body, len, 1, 1, &e3);
	same(whole, e1, split, e2);
	same(whole, e1, bytes, e3);
	davxml_free(whole);
	davxml_free(split);
	davxml_free(bytes);
	return 0;
}
