/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * number_fuzz: a libFuzzer harness for common/number.c, the parser of
 * CONTENT_LENGTH (decide.c, upgate(8), Decisions row 5) and of the sizes and
 * percentages of the configuration and quota table (upgate.conf(5), Keys), and its
 * number_muldiv64 (min_free_space and percentages of a limit).
 *
 * number_parse sees the input's bytes as they are; number_size_parse and
 * number_percent_parse see it cut at its first NUL.  Each is compared with a
 * second, plainer implementation here: number_parse with one that drops
 * leading zeros and compares the rest with "9223372036854775807" as text
 * (so it never overflows), the other two with readings built on it.  An
 * accepted size or percentage, printed back (in digits, and with the
 * largest suffix that divides it), parses to the same value.  number_muldiv64
 * of three numbers from the input's first 24 bytes is compared with the
 * compiler's 128-bit arithmetic (the fuzzer runs on a 64-bit target,
 * where it has one; number_muldiv64 itself must build where there is none).
 * Any difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/number_fuzz.c common/number.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "number.h"

#define INT64_MAX_TEXT "9223372036854775807"

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits only, 1 or more, at most 2^63-1: decided as text, then summed. */
static int
ref_number(const char *s, size_t len, int64_t *out)
{
	size_t  i, lead = 0;
	int64_t v = 0;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if (!digit(s[i]))
			return -1;
	while (lead < len - 1 && s[lead] == '0')
		lead++;
	s += lead;
	len -= lead;
	if (len > sizeof INT64_MAX_TEXT - 1 ||
	    (len == sizeof INT64_MAX_TEXT - 1 &&
	    memcmp(s, INT64_MAX_TEXT, len) > 0))
		return -1;
	for (i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	*out = v;
	return 0;
}

static const char *const suffix[] = { "", "K", "M", "G", "T" };

/* Digits then nothing or a suffix of upgate.conf(5), Keys; the product must fit. */
static int
ref_size(const char *s, int64_t *out)
{
	size_t  n = 0, k;
	int64_t v;

	while (digit(s[n]))
		n++;
	if (ref_number(s, n, &v) == -1)
		return -1;
	for (k = 0; k < 5; k++) {
		if (strcasecmp(s + n, suffix[k]) == 0 ||
		    (k > 0 && strlen(s + n) == 3 &&
		    strncasecmp(s + n, suffix[k], 1) == 0 &&
		    strcasecmp(s + n + 1, "iB") == 0))
			break;
	}
	if (k == 5)
		return -1;
	for (; k > 0; k--) {
		if (v > INT64_MAX / 1024)
			return -1;
		v *= 1024;
	}
	*out = v;
	return 0;
}

/* W[.F]% with W + 0.F <= 100, in millionths, cut below a millionth. */
static int
ref_percent(const char *s, int64_t *ppm)
{
	size_t  w = 0, f = 0, i;
	int64_t whole, frac = 0;
	int     nonzero = 0;

	while (digit(s[w]))
		w++;
	if (ref_number(s, w, &whole) == -1 || whole > 100)
		return -1;
	if (s[w] == '.') {
		while (digit(s[w + 1 + f]))
			f++;
		if (f == 0)
			return -1;
		for (i = 0; i < f; i++) {
			if (i < 4)
				frac += (s[w + 1 + i] - '0') *
				    (i == 0 ? 1000 : i == 1 ? 100 : i == 2 ? 10 : 1);
			nonzero |= s[w + 1 + i] != '0';
		}
		w += 1 + f;
	}
	if (strcmp(s + w, "%") != 0 || (whole == 100 && nonzero))
		return -1;
	*ppm = whole * 10000 + frac;
	return 0;
}

static void
check_size(const char *s, const uint8_t *data, size_t size)
{
	static const char *const spell[] = { "k", "KiB", "m", "MIB", "G",
	    "gib", "t", "TiB" };
	int64_t v, w, back;
	char    text[64];
	int     rc, k;

	rc = number_size_parse(s, &v);
	check(rc == ref_size(s, &w) && (rc == -1 || v == w));
	if (rc == -1)
		return;
	check(v >= 0);
	snprintf(text, sizeof text, "%lld", (long long)v);
	check(number_size_parse(text, &back) == 0 && back == v);
	for (k = 4; k > 0 && (v & ((INT64_C(1) << (10 * k)) - 1)) != 0; k--)
		;
	if (k == 0 || v == 0)
		return;
	snprintf(text, sizeof text, "%lld%s", (long long)(v >> (10 * k)),
	    spell[2 * (k - 1) + (size > 0 && (data[0] & 1))]);
	check(number_size_parse(text, &back) == 0 && back == v);
}

static void
check_percent(const char *s)
{
	int64_t v, w, back;
	char    text[64];
	int     rc;

	rc = number_percent_parse(s, &v);
	check(rc == ref_percent(s, &w) && (rc == -1 || v == w));
	if (rc == -1)
		return;
	check(v >= 0 && v <= 1000000);
	snprintf(text, sizeof text, "%lld.%04lld%%", (long long)(v / 10000),
	    (long long)(v % 10000));
	check(number_percent_parse(text, &back) == 0 && back == v);
	if (v % 10000 != 0)
		return;
	snprintf(text, sizeof text, "%lld%%", (long long)(v / 10000));
	check(number_percent_parse(text, &back) == 0 && back == v);
}

/* number_muldiv64 against __int128, on three operands taken from the input. */
static void
check_muldiv(const uint8_t *data, size_t size)
{
	__extension__ typedef __int128 wide;
	int64_t op[3];
	wide    r;

	if (size < sizeof op)
		return;
	memcpy(op, data, sizeof op);
	if (op[0] <= 0 || op[1] <= 0 || op[2] <= 0) {
		check(number_muldiv64(op[0], op[1], op[2]) == 0);
		return;
	}
	r = (wide)op[0] * op[1] / op[2];
	check(number_muldiv64(op[0], op[1], op[2]) ==
	    (r > INT64_MAX ? INT64_MAX : (int64_t)r));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t v, w;
	char   *s;
	int     rc;

	/* libFuzzer's buffer is of its size: a read past the end is caught. */
	rc = number_parse((const char *)data, size, &v);
	check(rc == ref_number((const char *)data, size, &w) &&
	    (rc == -1 || v == w));
	check(number_parse(NULL, 0, &v) == -1);
	check_muldiv(data, size);
	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check_size(s, data, size);
	check_percent(s);
	free(s);
	return 0;
}
