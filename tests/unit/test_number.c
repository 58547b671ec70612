/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of common/number.c: CONTENT_LENGTH (upgate(8), Decisions row 5), sizes and
 * percentages (upgate.conf(5), Keys).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cu_main.h"
#include "table.h"
#include "number.h"

#define BAD	-1
#define OK	0


static const struct {
	const char *s;
	size_t      len;
	int         rc;
	int64_t     v;
} numbers[] = {
	{ S("0"), OK, 0 },
	{ S("5"), OK, 5 },
	{ S("007"), OK, 7 },
	{ S("1048576"), OK, 1048576 },
	{ S("9223372036854775807"), OK, INT64_MAX },
	{ S("09223372036854775807"), OK, INT64_MAX },
	{ S("9223372036854775808"), BAD, 0 },
	{ S("9223372036854775810"), BAD, 0 },
	{ S("18446744073709551616"), BAD, 0 },
	{ S("99999999999999999999999999"), BAD, 0 },
	{ S(""), BAD, 0 },
	{ S("-1"), BAD, 0 },
	{ S("+5"), BAD, 0 },
	{ S(" 5"), BAD, 0 },
	{ S("5 "), BAD, 0 },
	{ S("5\t"), BAD, 0 },
	{ S("5\r\n"), BAD, 0 },
	{ S("0x10"), BAD, 0 },
	{ S("1e3"), BAD, 0 },
	{ S("1.0"), BAD, 0 },
	{ S("1,000"), BAD, 0 },
	{ S("12\0003"), BAD, 0 },	/* an embedded NUL inside the length */
	{ S("5\0"), BAD, 0 },
	{ S("\xd9\xa3"), BAD, 0 },	/* ARABIC-INDIC DIGIT THREE */
	{ S("\xef\xbc\x95"), BAD, 0 },	/* FULLWIDTH DIGIT FIVE */
	{ S("\xb5"), BAD, 0 },
};

static void
test_number_table(void)
{
	size_t  i;
	int64_t v;
	int     rc;

	for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		v = -42;
		rc = number_parse(numbers[i].s, numbers[i].len, &v);
		/* on failure *out is untouched */
		ROW(rc == numbers[i].rc &&
		    v == (rc == OK ? numbers[i].v : -42), i, numbers[i].s);
	}
}

/* Every row again, right before an unreadable page: no read past len. */
static void
test_number_guarded(void)
{
	size_t  i, maplen;
	void   *map = NULL;
	char   *p;
	int64_t v;

	for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		p = guard_copy(numbers[i].s, numbers[i].len, &map, &maplen);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL(number_parse(p, numbers[i].len, &v),
		    numbers[i].rc);
		munmap(map, maplen);
	}
}

static void
test_number_prefix(void)
{
	int64_t v = -1;

	/* s need not end in NUL: only len bytes count */
	CU_ASSERT_EQUAL(number_parse("12345", 3, &v), 0);
	CU_ASSERT_EQUAL(v, 123);
	CU_ASSERT_EQUAL(number_parse("12x", 2, &v), 0);
	CU_ASSERT_EQUAL(v, 12);
	CU_ASSERT_EQUAL(number_parse("5", 0, &v), -1);
	CU_ASSERT_EQUAL(number_parse(NULL, 0, &v), -1);
	CU_ASSERT_EQUAL(number_parse(NULL, 3, &v), -1);
}

#define KiB	((int64_t)1 << 10)
#define MiB	((int64_t)1 << 20)
#define GiB	((int64_t)1 << 30)
#define TiB	((int64_t)1 << 40)

static const struct {
	const char *s;
	int         rc;
	int64_t     v;
} sizes[] = {
	{ "0", OK, 0 },
	{ "0K", OK, 0 },
	{ "1", OK, 1 },
	{ "007", OK, 7 },
	{ "1k", OK, KiB },
	{ "1K", OK, KiB },
	{ "1KiB", OK, KiB },
	{ "1kib", OK, KiB },
	{ "1KIB", OK, KiB },
	{ "1kIb", OK, KiB },
	{ "500M", OK, 500 * MiB },
	{ "500MiB", OK, 500 * MiB },
	{ "10G", OK, 10 * GiB },
	{ "10gib", OK, 10 * GiB },
	{ "2T", OK, 2 * TiB },
	{ "2TiB", OK, 2 * TiB },
	{ "9223372036854775807", OK, INT64_MAX },
	{ "8589934591G", OK, 8589934591 * GiB },
	{ "8388607T", OK, 8388607 * TiB },
	{ "8589934592G", BAD, 0 },	/* 2^63: overflow */
	{ "8388608T", BAD, 0 },
	{ "9007199254740992K", BAD, 0 },
	{ "9223372036854775808", BAD, 0 },
	{ "18446744073709551616", BAD, 0 },
	{ "", BAD, 0 },
	{ "K", BAD, 0 },
	{ "KiB", BAD, 0 },
	{ "1 K", BAD, 0 },
	{ " 1K", BAD, 0 },
	{ "1K ", BAD, 0 },
	{ "1KB", BAD, 0 },
	{ "1kb", BAD, 0 },
	{ "1Ki", BAD, 0 },
	{ "1B", BAD, 0 },
	{ "8E", BAD, 0 },
	{ "1P", BAD, 0 },
	{ "1PiB", BAD, 0 },
	{ "1KK", BAD, 0 },
	{ "1.5G", BAD, 0 },
	{ "1e3", BAD, 0 },
	{ "-1", BAD, 0 },
	{ "+1", BAD, 0 },
	{ "-1K", BAD, 0 },
	{ "0x10", BAD, 0 },
	{ "10%", BAD, 0 },
	{ "unlimited", BAD, 0 },
};

static void
test_size_table(void)
{
	size_t  i;
	int64_t v;
	int     rc;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		v = -42;
		rc = number_size_parse(sizes[i].s, &v);
		ROW(rc == sizes[i].rc && v == (rc == OK ? sizes[i].v : -42), i,
		    sizes[i].s);
	}
	CU_ASSERT_EQUAL(number_size_parse(NULL, &v), -1);
}

static const struct {
	const char *s;
	int         rc;
	int64_t     ppm;
} percents[] = {
	{ "0%", OK, 0 },
	{ "5%", OK, 50000 },
	{ "05%", OK, 50000 },
	{ "0005%", OK, 50000 },
	{ "2.5%", OK, 25000 },
	{ "0.0001%", OK, 1 },
	{ "0.00009%", OK, 0 },		/* below a millionth: truncated */
	{ "33.3333%", OK, 333333 },
	{ "33.33339%", OK, 333333 },
	{ "99.9999%", OK, 999999 },
	{ "100%", OK, 1000000 },
	{ "100.0%", OK, 1000000 },
	{ "100.000000%", OK, 1000000 },
	{ "100.1%", BAD, 0 },
	{ "100.0001%", BAD, 0 },
	{ "100.00001%", BAD, 0 },	/* above 100, however little */
	{ "101%", BAD, 0 },
	{ "999%", BAD, 0 },
	{ "1000%", BAD, 0 },
	{ "99999999999999999999%", BAD, 0 },
	{ "%", BAD, 0 },
	{ "", BAD, 0 },
	{ "5", BAD, 0 },
	{ "-5%", BAD, 0 },
	{ "+5%", BAD, 0 },
	{ "5 %", BAD, 0 },
	{ " 5%", BAD, 0 },
	{ "5% ", BAD, 0 },
	{ "5%%", BAD, 0 },
	{ ".5%", BAD, 0 },
	{ "5.%", BAD, 0 },
	{ "5..5%", BAD, 0 },
	{ "5,5%", BAD, 0 },
	{ "1e1%", BAD, 0 },
	{ "5K%", BAD, 0 },
};

static void
test_percent_table(void)
{
	size_t  i;
	int64_t v;
	int     rc;

	for (i = 0; i < sizeof percents / sizeof percents[0]; i++) {
		v = -42;
		rc = number_percent_parse(percents[i].s, &v);
		ROW(rc == percents[i].rc &&
		    v == (rc == OK ? percents[i].ppm : -42), i, percents[i].s);
	}
	CU_ASSERT_EQUAL(number_percent_parse(NULL, &v), -1);
}

static const struct {
	int64_t a, b, c, r;
} muldivs[] = {
	{ 0, 50000, 1000000, 0 },
	{ 1000000000000, 50000, 1000000, 50000000000 },	/* 5% of 1 TB */
	{ 999, 1, 1000, 0 },				/* rounds down */
	{ INT64_MAX, 1000000, 1000000, INT64_MAX },	/* 100% */
	{ INT64_MAX, 999999, 1000000, 9223362813482738952 },
	{ INT64_MAX, 2, 1, INT64_MAX },			/* saturates */
	{ INT64_MAX, INT64_MAX, 1, INT64_MAX },
	{ 7, 3, 0, 0 },				/* no division by 0 */
	{ -7, 3, 1, 0 },			/* no negative operand */
	{ 4294967296, 4294967296, 4294967297, 4294967295 },
	{ 3037000499, 3037000499, 1, 9223372030926249001 },
	{ INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX },
	{ INT64_MAX - 1, INT64_MAX, INT64_MAX, INT64_MAX - 1 },
	{ 123456789012345, 987654321, 1000000007, 121932630271299 },
};

static void
test_muldiv(void)
{
	size_t i;

	for (i = 0; i < sizeof muldivs / sizeof muldivs[0]; i++)
		ROW(number_muldiv64(muldivs[i].a, muldivs[i].b, muldivs[i].c) ==
		    muldivs[i].r, i, "number_muldiv64");
}

static CU_TestInfo number_tests[] = {
	{ "CONTENT_LENGTH table", test_number_table },
	{ "CONTENT_LENGTH before an unreadable page", test_number_guarded },
	{ "only len bytes count", test_number_prefix },
	CU_TEST_INFO_NULL
};

static CU_TestInfo size_tests[] = {
	{ "sizes", test_size_table },
	{ "percentages", test_percent_table },
	{ "number_muldiv64", test_muldiv },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "number_parse", NULL, NULL, NULL, NULL, number_tests },
	{ "number_size_parse, number_percent_parse", NULL, NULL, NULL, NULL,
	    size_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
