/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * base64: RFC 4648 §4, decoding only, strict: padding required, no
 * white space, no bits left over in the last group.
 */
#include "base64.h"

static int
value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	return c == '/' ? 63 : -1;
}

long
base64_decode(const char *in, size_t n, unsigned char *out, size_t size)
{
	size_t i, o = 0, pad;
	long   acc;
	int    k, v;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		acc = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				pad++;
				v = 0;
			} else if (pad > 0 || (v = value(in[i + k])) < 0)
				return -1;
			acc = acc << 6 | v;
		}
		if (o + 3 - pad > size ||
		    (pad == 1 && (acc & 0xff) != 0) ||
		    (pad == 2 && (acc & 0xffff) != 0))
			return -1;
		out[o++] = (unsigned char)(acc >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(acc >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)acc;
	}
	return (long)o;
}
