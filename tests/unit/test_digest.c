/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * The pieces of tus's headers (upgate(8), "Resumable uploads"):
 * base64 as Upload-Metadata and Upload-Checksum carry it (RFC 4648 §4,
 * strict), and the digests of Upload-Checksum (sha1, sha256, md5).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "cu_main.h"
#include "digest.h"

static const struct {
	const char *text;
	const char *bytes;	/* NULL: refused */
	long        len;
} b64_rows[] = {
	{ "", "", 0 },
	{ "Zg==", "f", 1 },
	{ "Zm8=", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYg==", "foob", 4 },
	{ "Zm9vYmE=", "fooba", 5 },
	{ "Zm9vYmFy", "foobar", 6 },
	{ "AP8=", "\0\377", 2 },
	{ "Zg", NULL, 0 },		/* no padding */
	{ "Zg=", NULL, 0 },
	{ "Zh==", NULL, 0 },		/* bits left over */
	{ "Zm9=", NULL, 0 },
	{ "Zm9v Yg==", NULL, 0 },	/* white space */
	{ "Zg==Zg==", NULL, 0 },	/* padding inside */
	{ "Z===", NULL, 0 },
	{ "====", NULL, 0 },
	{ "Zm9-", NULL, 0 },		/* the URL alphabet is another */
	{ "Zm9_", NULL, 0 },
};

static void
test_base64_rows(void)
{
	unsigned char out[16];
	size_t        i;
	long          n;

	for (i = 0; i < sizeof b64_rows / sizeof b64_rows[0]; i++) {
		n = base64_decode(b64_rows[i].text, strlen(b64_rows[i].text),
		    out, sizeof out);
		if (b64_rows[i].bytes == NULL) {
			if (n != -1)
				fprintf(stderr, "\n  %s: accepted", b64_rows[i].text);
			CU_ASSERT_EQUAL(n, -1);
			continue;
		}
		CU_ASSERT_EQUAL(n, b64_rows[i].len);
		CU_ASSERT(n < 0 || memcmp(out, b64_rows[i].bytes, (size_t)n) == 0);
	}
}

/* What does not fit is refused, never written past the end. */
static void
test_base64_fit(void)
{
	unsigned char out[4] = { 1, 1, 1, 1 };

	CU_ASSERT_EQUAL(base64_decode("Zm9vYmFy", 8, out, 3), -1);
	CU_ASSERT_EQUAL(base64_decode("Zm9vYg==", 8, out, 3), -1);
	CU_ASSERT_EQUAL(base64_decode("Zm9v", 4, out, 3), 3);
	CU_ASSERT_EQUAL(out[3], 1);
}

/* RFC 3174, FIPS 180-2 and RFC 1321 values of "abc". */
static void
test_digests(void)
{
	static const struct {
		const char *header;
		int         start;
		int         match;
	} rows[] = {
		{ "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", 0, 1 },
		{ "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", 0, 1 },
		{ "md5 kAFQmDzST7DWlj99KOF/cg==", 0, 1 },
		{ "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J4=", 0, 0 },	/* another */
		{ "sha1 kAFQmDzST7DWlj99KOF/cg==", -1, 0 },	/* md5's length */
		{ "crc32 AAAAAA==", -1, 0 },
		{ "SHA1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", -1, 0 },
		{ "sha1", -1, 0 },
		{ "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0", -1, 0 },
	};
	struct digest d;
	size_t        i;

	digest_init(&d);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CU_ASSERT_EQUAL(digest_start(&d, rows[i].header), rows[i].start);
		if (rows[i].start != 0)
			continue;
		CU_ASSERT_EQUAL(digest_update(&d, "a", 1), 0);
		CU_ASSERT_EQUAL(digest_update(&d, "bc", 2), 0);
		CU_ASSERT_EQUAL(digest_matches(&d), rows[i].match);
	}
	digest_release(&d);
	digest_release(&d);	/* twice: safe */
	/* none started: anything matches (no Upload-Checksum) */
	CU_ASSERT_EQUAL(digest_update(&d, "x", 1), 0);
	CU_ASSERT_EQUAL(digest_matches(&d), 1);
}

static CU_TestInfo tests[] = {
	{ "base64: RFC 4648 vectors, strict", test_base64_rows },
	{ "base64: what does not fit", test_base64_fit },
	{ "digests of Upload-Checksum", test_digests },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "tus headers", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

CU_MAIN(suites)
