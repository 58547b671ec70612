/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "number.h"

int
number_parse(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t  i;

	if (s == NULL || len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The binary suffixes of upgate.conf(5), Keys, as powers of 1024. */
static const struct {
	const char *name;
	int         shift;
} suffixes[] = {
	{ "k", 10 }, { "m", 20 }, { "g", 30 }, { "t", 40 },
	{ "kib", 10 }, { "mib", 20 }, { "gib", 30 }, { "tib", 40 },
};

int
number_size_parse(const char *s, int64_t *out)
{
	size_t  digits, i;
	int64_t v;

	if (s == NULL)
		return -1;
	digits = strspn(s, "0123456789");
	if (number_parse(s, digits, &v) == -1)
		return -1;
	if (s[digits] == '\0') {
		*out = v;
		return 0;
	}
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		if (strcasecmp(s + digits, suffixes[i].name) != 0)
			continue;
		if (v > (INT64_MAX >> suffixes[i].shift))
			return -1;
		*out = v << suffixes[i].shift;
		return 0;
	}
	return -1;
}

/*
 * Adds the fraction digits at s (n of them) to *v, in millionths of the
 * whole.  Digits beyond the fourth are below a millionth and dropped;
 * returns 1 if any of those was not 0, so that "100.00001%" is still
 * above 100%.
 */
static int
percent_fraction(const char *s, size_t n, int64_t *v)
{
	int64_t scale = 1000000 / 100;
	size_t  i;
	int     beyond = 0;

	for (i = 0; i < n; i++) {
		if (i < 4) {
			scale /= 10;
			*v += (s[i] - '0') * scale;
		} else if (s[i] != '0')
			beyond = 1;
	}
	return beyond;
}

int
number_percent_parse(const char *s, int64_t *ppm)
{
	size_t  whole, frac;
	int64_t v;
	int     beyond = 0;

	if (s == NULL)
		return -1;
	whole = strspn(s, "0123456789");
	if (number_parse(s, whole, &v) == -1 || v > 100)
		return -1;
	v *= 1000000 / 100;
	s += whole;
	if (*s == '.') {
		s++;
		if ((frac = strspn(s, "0123456789")) == 0)
			return -1;
		beyond = percent_fraction(s, frac, &v);
		s += frac;
	}
	if (strcmp(s, "%") != 0 || v > 1000000 || (v == 1000000 && beyond))
		return -1;
	*ppm = v;
	return 0;
}

/* The 128-bit product of a and b, as hi:lo (no 128-bit type: 32-bit
   targets have none). */
static void
mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
	uint64_t al = a & 0xffffffffu, ah = a >> 32;
	uint64_t bl = b & 0xffffffffu, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);

	*lo = (mid << 32) | (ll & 0xffffffffu);
	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

int64_t
number_muldiv64(int64_t a, int64_t b, int64_t c)
{
	uint64_t hi, lo, d = (uint64_t)c, q = 0, r = 0, bit;
	int      i;

	if (a <= 0 || b <= 0 || c <= 0)
		return 0;
	mul128((uint64_t)a, (uint64_t)b, &hi, &lo);
	if (hi >= d)
		return INT64_MAX;	/* the quotient needs more than 64 bits */
	/* long division, a bit at a time: r < d <= 2^63 never overflows */
	for (i = 127; i >= 0; i--) {
		bit = i >= 64 ? hi >> (i - 64) & 1 : lo >> i & 1;
		r = r << 1 | bit;
		if (r >= d) {
			r -= d;
			if (i < 64)
				q |= (uint64_t)1 << i;
		}
	}
	return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}
