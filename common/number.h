/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * number: the one strict, bounded parser of numbers (upgate.conf(5), Keys, upgate(8), Decisions row 5).
 * Plain decimal digits only: no sign, no space, no "0x", not empty, at most
 * 2^63-1.  Leading zeros are accepted ("007" is 7), as RFC 9110 allows in
 * Content-Length.
 */
#ifndef UPGATE_NUMBER_H
#define UPGATE_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *out set on success; -1 on any other input.  s need not end in NUL. */
int number_parse(const char *s, size_t len, int64_t *out);

/*
 * A size: digits with an optional suffix K, M, G, T, KiB, MiB, GiB, TiB in
 * any case, no space; 1024-based.  -1 on bad input or above 2^63-1.
 */
int number_size_parse(const char *s, int64_t *out);

/*
 * A percentage "5%" or "2.5%": a decimal number (digits, optionally a '.'
 * and digits) from 0 to 100 followed by '%'.  Stored in millionths of the
 * whole (5% is 50000) so that the arithmetic stays integral.  -1 on bad
 * input.
 */
int number_percent_parse(const char *s, int64_t *ppm);

/*
 * a*b/c rounded down, exact and without overflow (INT64_MAX when the
 * quotient is larger); 0 when an operand is 0 or negative.
 */
int64_t number_muldiv64(int64_t a, int64_t b, int64_t c);

#endif
