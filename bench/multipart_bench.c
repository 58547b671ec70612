/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * multipart_bench: the multipart parser's speed on one file part, fed in
 * 64 KiB reads, against a plain memchr('\r') loop over the same reads in
 * the same run.  The bodies: random file data, and the adversarial ones
 * that make a byte-wise delimiter search crawl ("\r\n--" repeated, the
 * delimiter with its last or a middle byte changed, "\r" alone, "\r" and
 * the delimiter's last byte).  Targets (the issue): at least 1.25 times
 * the loop on random data, 0.3 times it on each adversarial body.
 *
 *	bench/multipart_bench [BOUNDARY [RANDOM_MIB [ADVERSARIAL_MIB]]]
 *
 * Prints figures; asserts nothing about time.  Exits 1 when the parser
 * did not return the part's bytes exactly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "multipart.h"

#define READ_SIZE	65536
#define REPEATS		5

struct body {
	struct mp *mp;		/* the parser, reused */
	char      *buf;		/* header, content, close delimiter */
	size_t     len;
	size_t     content;	/* bytes of file data */
};

struct count {
	size_t bytes;
	size_t calls;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct count *c = arg;

	(void)buf;
	c->bytes += len;
	c->calls++;
	return 0;
}

static void
fill_random(char *s, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	size_t   i;

	for (i = 0; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(s + i, &x, 8);
	}
	for (; i < len; i++)
		s[i] = (char)i;
}

static void
fill_pattern(char *s, size_t len, const char *pat, size_t plen)
{
	size_t i;

	for (i = 0; i < len; i += plen)
		memcpy(s + i, pat, len - i < plen ? len - i : plen);
}

/* One part around content already in place at b->buf + head. */
static void
body_frame(struct body *b, const char *boundary, size_t head)
{
	int n;

	n = snprintf(b->buf, head + 1, "--%s\r\nContent-Disposition: "
	    "form-data; name=\"f\"; filename=\"r.bin\"\r\n\r\n", boundary);
	b->len = (size_t)n + b->content;
	memmove(b->buf + n, b->buf + head, b->content);
	b->len += (size_t)sprintf(b->buf + b->len, "\r\n--%s--\r\n", boundary);
}

/* Seconds to parse the body in reads; -1 when the data came out wrong. */
static double
time_parser(const struct body *b, const char *ctype, size_t *calls)
{
	struct mp_callbacks cb = { NULL, on_data, NULL };
	struct count        c = { 0, 0 };
	double              start = now_s();
	size_t              off, n;

	mp_init(b->mp, ctype);
	for (off = 0; off < b->len; off += n) {
		n = b->len - off < READ_SIZE ? b->len - off : READ_SIZE;
		if (mp_feed(b->mp, b->buf + off, n, &cb, &c) != MP_OK)
			return -1;
	}
	if (mp_finish(b->mp) != MP_OK || c.bytes != b->content)
		return -1;
	*calls = c.calls;
	return now_s() - start;
}

/* Seconds for the baseline: memchr for every '\r', counted. */
static double
time_memchr(const struct body *b, size_t *found)
{
	double      start = now_s();
	const char *s, *end;
	size_t      off, n, count = 0;

	for (off = 0; off < b->len; off += n) {
		n = b->len - off < READ_SIZE ? b->len - off : READ_SIZE;
		s = b->buf + off;
		end = s + n;
		while ((s = memchr(s, '\r', (size_t)(end - s))) != NULL) {
			count++;
			s++;
		}
	}
	*found = count;
	return now_s() - start;
}

/* Best of REPEATS, alternating; prints one line. -1 on a wrong parse. */
static int
measure(const char *what, const struct body *b, const char *ctype,
    double target)
{
	double ours = 1e9, base = 1e9, t;
	size_t calls = 0, found = 0, reads, i;

	for (i = 0; i < REPEATS; i++) {
		if ((t = time_parser(b, ctype, &calls)) < 0) {
			fprintf(stderr, "%s: wrong parse\n", what);
			return -1;
		}
		ours = t < ours ? t : ours;
		t = time_memchr(b, &found);
		base = t < base ? t : base;
	}
	reads = (b->len + READ_SIZE - 1) / READ_SIZE;
	printf("%-28s %6zu MiB  ours %6.2f GB/s  memchr %6.2f GB/s  "
	    "ratio %5.2f (target %.2f%s)  data calls %zu / %zu reads\n",
	    what, b->content >> 20, (double)b->len / ours / 1e9,
	    (double)b->len / base / 1e9, base / ours, target,
	    base / ours >= target ? "" : ", BELOW", calls, reads);
	return 0;
}

/* The adversarial contents, each built from the delimiter. */
static int
adversarial(struct body *b, const char *boundary, const char *ctype,
    size_t size, size_t head)
{
	char   delim[4 + MP_BOUNDARY_MAX + 1], pat[2 * sizeof delim];
	size_t dl;
	int    rc = 0;

	dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	b->content = size;

	fill_pattern(b->buf + head, size, "\r\n--", 4);
	body_frame(b, boundary, head);
	rc |= measure("\\r\\n-- repeated", b, ctype, 0.3);

	memcpy(pat, delim, dl);
	pat[dl - 1] ^= 1;
	fill_pattern(b->buf + head, size, pat, dl);
	body_frame(b, boundary, head);
	rc |= measure("delimiter, last byte off", b, ctype, 0.3);

	memcpy(pat, delim, dl);
	pat[dl / 2] ^= 1;
	fill_pattern(b->buf + head, size, pat, dl);
	body_frame(b, boundary, head);
	rc |= measure("delimiter, middle byte off", b, ctype, 0.3);

	fill_pattern(b->buf + head, size, "\r", 1);
	body_frame(b, boundary, head);
	rc |= measure("\\r only", b, ctype, 0.3);

	pat[0] = '\r';
	pat[1] = delim[dl - 1];
	fill_pattern(b->buf + head, size, pat, 2);
	body_frame(b, boundary, head);
	rc |= measure("\\r + delimiter's last byte", b, ctype, 0.3);
	return rc;
}

int
main(int argc, char *argv[])
{
	const char *boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
	char        ctype[128];
	size_t      rnd = 256, adv = 64, head = 256;
	struct body b;
	int         rc;

	if (argc > 1)
		boundary = argv[1];
	if ((argc > 2 && (rnd = strtoul(argv[2], NULL, 10)) == 0) ||
	    (argc > 3 && (adv = strtoul(argv[3], NULL, 10)) == 0)) {
		fprintf(stderr, "usage: multipart_bench [BOUNDARY [RANDOM_MIB "
		    "[ADVERSARIAL_MIB]]]\n");
		return 2;
	}
	snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=\"%s\"",
	    boundary);
	rnd <<= 20;
	adv <<= 20;
	if ((b.mp = malloc(sizeof *b.mp)) == NULL ||
	    (b.buf = malloc((rnd > adv ? rnd : adv) + 2 * head)) == NULL) {
		perror("malloc");
		return 1;
	}
	if (mp_init(b.mp, ctype) != MP_OK) {
		fprintf(stderr, "%s: bad boundary\n", boundary);
		return 2;
	}
	printf("boundary \"%s\" (delimiter %zu bytes), %d KiB reads, "
	    "best of %d\n", boundary, strlen(boundary) + 4, READ_SIZE >> 10,
	    REPEATS);
	b.content = rnd;
	fill_random(b.buf + head, rnd);
	body_frame(&b, boundary, head);
	rc = measure("random file data", &b, ctype, 1.25);
	rc |= adversarial(&b, boundary, ctype, adv, head);
	free(b.buf);
	free(b.mp);
	return rc == 0 ? 0 : 1;
}
