/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * quota_fuzz: a libFuzzer harness for quota_table_parse and quota_lookup
 * (common/quota.c).  The input is the text of a quota table (upgate.conf(5), "The quota table").
 *
 * A second reading of the lines here decides whether the table is good
 * (every line blank, a comment, or "user limit" with a valid name and
 * limit; no user twice; at most one '*') and what it holds.  The parse
 * must agree: a table with no problem reported for a good text, NULL and
 * a problem for a bad one; the same users in strictly increasing byte
 * order, each found by quota_lookup, named, with its line's limit; a
 * name no line can hold gets the '*' limit, or none.  Any difference
 * traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/quota_fuzz.c common/quota.c common/names.c \
 *	    common/number.c common/fdio.c common/diag.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "number.h"
#include "quota.h"

#define WORDS 3

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* A line's first WORDS words, up to a word starting with '#'. */
struct words {
	const char *w[WORDS];
	size_t      len[WORDS];
	size_t      n;
};

static void
split(const char *s, size_t len, struct words *out)
{
	size_t i = 0, start;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	out->n = 0;
	while (out->n < WORDS) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == '#')
			return;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		out->w[out->n] = s + start;
		out->len[out->n++] = i - start;
	}
}

/* The limit a word gives: 0 and *limit set, or -1 if it is not one. */
static int
limit_of(const char *w, size_t len, int64_t *limit)
{
	char buf[32];

	if (len == 9 && memcmp(w, "unlimited", 9) == 0) {
		*limit = QUOTA_UNLIMITED;
		return 0;
	}
	if (len >= sizeof buf)
		return -1;
	memcpy(buf, w, len);
	buf[len] = '\0';
	return number_size_parse(buf, limit);
}

/* What the table should hold, read here line by line. */
struct ref {
	struct rule {
		char    name[USER_NAME_MAX + 1];
		int64_t limit;
	}      *v;
	size_t  n;
	int     stars;
	int64_t star;
	int     ok;
};

static int
rule_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rule *)a)->name,
	    ((const struct rule *)b)->name);
}

/* One line: blank, a comment, or "user limit"; anything else is wrong. */
static void
ref_line(struct ref *ref, const char *s, size_t len)
{
	struct words ws;
	struct rule *r = &ref->v[ref->n];

	split(s, len, &ws);
	if (memchr(s, '\0', len > 0 && s[len - 1] == '\r' ? len - 1 : len))
		ref->ok = 0;
	if (ws.n == 0)
		return;
	if (ws.n != 2 || limit_of(ws.w[1], ws.len[1], &r->limit) == -1) {
		ref->ok = 0;
		return;
	}
	if (ws.len[0] == 1 && ws.w[0][0] == '*') {
		ref->stars++;
		ref->star = r->limit;
		return;
	}
	if (ws.len[0] > USER_NAME_MAX) {
		ref->ok = 0;
		return;
	}
	memcpy(r->name, ws.w[0], ws.len[0]);
	r->name[ws.len[0]] = '\0';
	if (!names_user_valid(r->name))
		ref->ok = 0;
	ref->n++;
}

/* Reads the table; ref->v has room for one rule per line. */
static void
ref_read(struct ref *ref, const char *text, size_t size)
{
	const char *nl;
	size_t      off = 0, n, i;

	ref->n = 0;
	ref->stars = 0;
	ref->star = QUOTA_UNLIMITED;
	ref->ok = 1;
	while (off < size) {
		nl = memchr(text + off, '\n', size - off);
		n = nl == NULL ? size - off : (size_t)(nl - (text + off));
		ref_line(ref, text + off, n);
		off += n + 1;
	}
	if (ref->stars > 1)
		ref->ok = 0;
	qsort(ref->v, ref->n, sizeof *ref->v, rule_cmp);
	for (i = 1; i < ref->n; i++)
		if (strcmp(ref->v[i - 1].name, ref->v[i].name) == 0)
			ref->ok = 0;
}

/* The table of a successful parse against the rules read here. */
static void
check_table(struct quota_table *t, const struct ref *ref)
{
	struct quota_rule r;
	size_t            i;

	check(quota_table_count(t) == ref->n);
	for (i = 0; i < ref->n; i++) {
		check(strcmp(quota_table_user(t, i), ref->v[i].name) == 0);
		r = quota_lookup(t, ref->v[i].name);
		check(r.named == 1 && r.limit == ref->v[i].limit);
	}
	check(quota_table_user(t, ref->n) == NULL);
	r = quota_lookup(t, "no~user");		/* '~' is never in a name */
	check(r.named == 0 && r.limit == ref->star);
	r = quota_lookup(t, "*");
	check(r.named == 0 && r.limit == ref->star);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quota_table *t;
	struct diag         d;
	struct ref          ref;
	size_t              i, lines = 1;

	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	if ((ref.v = malloc(lines * sizeof *ref.v)) == NULL)
		abort();
	diag_init(&d);
	t = quota_table_parse((const char *)data, size, "quota", &d);
	ref_read(&ref, (const char *)data, size);
	check((t != NULL) == ref.ok && (d.count == 0) == ref.ok);
	if (t != NULL)
		check_table(t, &ref);
	quota_table_free(t);
	free(ref.v);
	return 0;
}
