/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of common/names.c: user names (upgate.conf(5), "The quota table"), file names and PATH_INFO
 * (upgate(8), Requests).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cu_main.h"
#include "table.h"
#include "names.h"


/* n copies of c (a string of bytes) in out, which holds enough. */
static char *
repeat(char *out, const char *c, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		strcat(out, c);
	return out;
}

static const struct {
	const char *s;
	int         ok;
} users[] = {
	{ "alice", 1 },
	{ "Alice9", 1 },
	{ "a", 1 },
	{ "a.b_c@d-e", 1 },
	{ "alice@example.org", 1 },
	{ "@x", 1 },
	{ "_x", 1 },
	{ "9", 1 },
	{ "a.", 1 },
	{ "a-", 1 },
	{ "", 0 },
	{ ".a", 0 },
	{ ".", 0 },
	{ "..", 0 },
	{ "-a", 0 },
	{ "a b", 0 },
	{ " a", 0 },
	{ "a ", 0 },
	{ "a/b", 0 },
	{ "/", 0 },
	{ "a\\b", 0 },
	{ "a:b", 0 },
	{ "a+b", 0 },
	{ "a%40b", 0 },
	{ "a\n", 0 },
	{ "a\t", 0 },
	{ "\x7f", 0 },
	{ "r\xc3\xa9my", 0 },	/* UTF-8: not in the set */
	{ "DOMAIN\\user", 0 },
	{ "*", 0 },		/* the quota table's wildcard */
};

static void
test_user_table(void)
{
	size_t i;

	for (i = 0; i < sizeof users / sizeof users[0]; i++)
		ROW(names_user_valid(users[i].s) == users[i].ok, i, users[i].s);
	CU_ASSERT_EQUAL(names_user_valid(NULL), 0);
}

static void
test_user_length(void)
{
	char s[80];

	CU_ASSERT_EQUAL(names_user_valid(repeat(s, "a", 64)), 1);
	CU_ASSERT_EQUAL(names_user_valid(repeat(s, "a", 65)), 0);
	CU_ASSERT_EQUAL(names_user_valid(repeat(s, "@", 64)), 1);
	s[0] = '-';
	CU_ASSERT_EQUAL(names_user_valid(repeat(s, "a", 63)), 1);
}

static const struct {
	const char *s;
	size_t      len;
	int         ok;
} files[] = {
	{ S("a"), 1 },
	{ S("report.pdf"), 1 },
	{ S("a b.txt"), 1 },
	{ S("a.tar.gz"), 1 },
	{ S("a."), 1 },
	{ S("-x"), 1 },
	{ S("~x"), 1 },
	{ S("%2e%2e"), 1 },
	{ S("r\xc3\xa9sum\xc3\xa9.pdf"), 1 },		/* résumé.pdf */
	{ S("\xe6\x97\xa5\xe6\x9c\xac.txt"), 1 },	/* 日本.txt */
	{ S("\xf0\x9f\x98\x80.png"), 1 },		/* U+1F600 */
	{ S("\xc2\xa0"), 1 },			/* U+00A0, after C1 */
	{ S("a\xed\x9f\xbf"), 1 },		/* U+D7FF, last before D800 */
	{ S("a\xee\x80\x80"), 1 },		/* U+E000, after them */
	{ S("a\xef\xbf\xbf"), 1 },		/* U+FFFF */
	{ S("a\xf4\x8f\xbf\xbf"), 1 },		/* U+10FFFF, the last */
	{ S(""), 0 },
	{ S("."), 0 },
	{ S(".."), 0 },
	{ S(".htaccess"), 0 },
	{ S(".upgate"), 0 },
	{ S(".upgate-x"), 0 },
	{ S(".upgate-tmp-123"), 0 },
	{ S("a/b"), 0 },
	{ S("/"), 0 },
	{ S("a\\b"), 0 },
	{ S("\\"), 0 },
	{ S("a\0b"), 0 },			/* NUL inside the length */
	{ S("a\0"), 0 },
	{ S("a\rb"), 0 },
	{ S("a\nb"), 0 },
	{ S("a\r\n"), 0 },
	{ S("a\tb"), 0 },
	{ S("\x01"), 0 },
	{ S("a\x1f"), 0 },
	{ S("a\x1b[31m"), 0 },			/* ESC */
	{ S("a\x7f"), 0 },			/* DEL */
	{ S("a\xc2\x80"), 0 },			/* U+0080, first C1 */
	{ S("a\xc2\x85"), 0 },			/* NEL */
	{ S("a\xc2\x9b"), 0 },			/* CSI */
	{ S("a\xc2\x9f"), 0 },			/* U+009F, last C1 */
	{ S("a\xc0\xaf"), 0 },			/* overlong '/' */
	{ S("a\xc0\xae\xc0\xae"), 0 },		/* overlong ".." */
	{ S("a\xc1\xbf"), 0 },			/* overlong U+007F */
	{ S("a\xe0\x80\xaf"), 0 },		/* overlong in 3 bytes */
	{ S("a\xe0\x9f\xbf"), 0 },		/* overlong U+07FF */
	{ S("a\xf0\x80\x80\xaf"), 0 },		/* overlong in 4 bytes */
	{ S("a\xf0\x8f\xbf\xbf"), 0 },		/* overlong U+FFFF */
	{ S("a\xed\xa0\x80"), 0 },		/* U+D800, a surrogate */
	{ S("a\xed\xbf\xbf"), 0 },		/* U+DFFF */
	{ S("a\xed\xa0\xbd\xed\xb8\x80"), 0 },	/* CESU-8 pair */
	{ S("a\xf4\x90\x80\x80"), 0 },		/* U+110000 */
	{ S("a\xf5\x80\x80\x80"), 0 },
	{ S("a\xf8\x88\x80\x80\x80"), 0 },	/* 5-byte form */
	{ S("a\xfc\x84\x80\x80\x80\x80"), 0 },	/* 6-byte form */
	{ S("a\xfe"), 0 },
	{ S("a\xff"), 0 },
	{ S("a\x80"), 0 },			/* lone continuation */
	{ S("\xbf"), 0 },
	{ S("a\xc3"), 0 },			/* truncated */
	{ S("a\xe6\x97"), 0 },
	{ S("a\xf0\x9f\x98"), 0 },
	{ S("a\xc3x"), 0 },			/* continuation missing */
	{ S("a\xe6x\xa5"), 0 },
	{ S("\xef\xbb\xbf.htaccess"), 1 },	/* BOM: not a dot name */
	/* bidirectional controls (upgate(8), "Requests"), and their neighbours */
	{ S("invoice\xe2\x80\xae" "exe.txt"), 0 },	/* U+202E RLO */
	{ S("a\xd8\x9c"), 0 },			/* U+061C ALM */
	{ S("a\xd8\x9b"), 1 },			/* U+061B, before it */
	{ S("a\xd8\x9d"), 1 },			/* U+061D, after it */
	{ S("a\xe2\x80\x8d"), 1 },		/* U+200D ZWJ, before LRM */
	{ S("a\xe2\x80\x8e"), 0 },		/* U+200E LRM */
	{ S("a\xe2\x80\x8f"), 0 },		/* U+200F RLM */
	{ S("a\xe2\x80\x90"), 1 },		/* U+2010 hyphen, after RLM */
	{ S("a\xe2\x80\xa9"), 1 },		/* U+2029, before LRE */
	{ S("a\xe2\x80\xaa"), 0 },		/* U+202A LRE */
	{ S("a\xe2\x80\xab"), 0 },		/* U+202B RLE */
	{ S("a\xe2\x80\xac"), 0 },		/* U+202C PDF */
	{ S("a\xe2\x80\xad"), 0 },		/* U+202D LRO */
	{ S("\xe2\x80\xae" "a"), 0 },		/* U+202E RLO, leading */
	{ S("a\xe2\x80\xaf"), 1 },		/* U+202F, after RLO */
	{ S("a\xe2\x81\xa5"), 1 },		/* U+2065, before LRI */
	{ S("a\xe2\x81\xa6"), 0 },		/* U+2066 LRI */
	{ S("a\xe2\x81\xa7"), 0 },		/* U+2067 RLI */
	{ S("a\xe2\x81\xa8"), 0 },		/* U+2068 FSI */
	{ S("a\xe2\x81\xa9"), 0 },		/* U+2069 PDI, trailing */
	{ S("a\xe2\x81\xaa"), 1 },		/* U+206A, after PDI */
};

static void
test_file_table(void)
{
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++)
		ROW(names_file_valid(files[i].s, files[i].len) == files[i].ok,
		    i, files[i].s);
	CU_ASSERT_EQUAL(names_file_valid(NULL, 0), 0);
	CU_ASSERT_EQUAL(names_file_valid("abc", 0), 0);
}

/* Every row again, right before an unreadable page: no read past len. */
static void
test_file_guarded(void)
{
	size_t i, maplen;
	void  *map = NULL;
	char  *p;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (files[i].len == 0)
			continue;
		p = guard_copy(files[i].s, files[i].len, &map, &maplen);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		ROW(names_file_valid(p, files[i].len) == files[i].ok, i,
		    files[i].s);
		munmap(map, maplen);
	}
}

static void
test_file_length(void)
{
	char s[400];

	CU_ASSERT_EQUAL(names_file_valid(repeat(s, "a", 255), 255), 1);
	CU_ASSERT_EQUAL(names_file_valid(repeat(s, "a", 256), 256), 0);
	/* 85 three-byte characters are 255 bytes, 86 are too many */
	CU_ASSERT_EQUAL(names_file_valid(repeat(s, "\xe6\x97\xa5", 85), 255), 1);
	CU_ASSERT_EQUAL(names_file_valid(repeat(s, "\xe6\x97\xa5", 86), 258), 0);
	/* only len bytes count: a sequence cut by len is truncated */
	CU_ASSERT_EQUAL(names_file_valid("ab/c", 2), 1);
	CU_ASSERT_EQUAL(names_file_valid("r\xc3\xa9", 2), 0);
}

/* The components joined by '|', for comparing with a table. */
static const char *
joined(const struct path *p, char *out, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < p->ncomp; i++) {
		if (i > 0)
			strncat(out, "|", n - strlen(out) - 1);
		strncat(out, p->comp[i], n - strlen(out) - 1);
	}
	return out;
}

#define F	PATH_FILE
#define D	PATH_FOLDER

static const struct {
	const char    *s;
	enum path_kind kind;
	const char    *comps;	/* NULL: invalid */
} paths[] = {
	{ "/a/b.txt", F, "a|b.txt" },
	{ "/a.txt", F, "a.txt" },
	{ "/r\xc3\xa9sum\xc3\xa9.pdf", F, "r\xc3\xa9sum\xc3\xa9.pdf" },
	{ "/%2e%2e/x", F, "%2e%2e|x" },	/* the server decoded it */
	{ "/a%2fb", F, "a%2fb" },
	{ "/a/b/c/d", F, "a|b|c|d" },
	{ "/a.txt\0.jpg", F, "a.txt" },	/* a C string ends at its NUL */
	{ "a.txt", F, NULL },		/* PATH_INFO starts with '/' */
	{ "a/b", F, NULL },
	{ "", F, NULL },
	{ "/", F, NULL },
	{ "//", F, NULL },
	{ "/a/", F, NULL },		/* trailing '/' */
	{ "/a//b", F, NULL },
	{ "//a", F, NULL },
	{ "/../x", F, NULL },
	{ "/a/../x", F, NULL },
	{ "/..", F, NULL },
	{ "/.", F, NULL },
	{ "/a/./b", F, NULL },
	{ "/a/.", F, NULL },
	{ "/.htaccess", F, NULL },
	{ "/a/.upgate/ledger", F, NULL },
	{ "/.upgate-tmp-1", F, NULL },
	{ "/a\\b", F, NULL },
	{ "/..\\x", F, NULL },
	{ "/a\x01", F, NULL },
	{ "/a\rb", F, NULL },
	{ "/a\nb", F, NULL },
	{ "/a\x7f", F, NULL },
	{ "/a\xc2\x85", F, NULL },
	{ "/a\xc0\xaf", F, NULL },
	{ "/a\xed\xa0\x80", F, NULL },
	{ "/a\xff/b", F, NULL },
	{ "/a\xe2\x80\xae/b.txt", F, NULL },	/* U+202E in a folder */
	{ "/a/b\xe2\x81\xa6.txt", F, NULL },	/* U+2066 in the file */
	{ "/a\xe2\x80\x8f/", D, NULL },		/* U+200F in a folder */
	{ NULL, F, NULL },
	{ NULL, D, "" },
	{ "", D, "" },
	{ "/", D, "" },
	{ "/a", D, "a" },
	{ "/a/", D, "a" },
	{ "/a/b/", D, "a|b" },
	{ "//", D, NULL },
	{ "///", D, NULL },
	{ "/a//", D, NULL },
	{ "/a//b/", D, NULL },
	{ "a/", D, NULL },
	{ "a", D, NULL },
	{ "/../", D, NULL },
	{ "/./", D, NULL },
	{ "/a/../", D, NULL },
	{ "/.upgate/", D, NULL },
	{ "/a\\", D, NULL },
};

static void
test_path_table(void)
{
	struct path p;
	char        out[4200];
	size_t      i;
	int         rc;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		rc = names_path_parse(paths[i].s, paths[i].kind, &p);
		if (paths[i].comps == NULL) {
			ROW(rc == -1 && p.ncomp == 0, i, paths[i].s);
			continue;
		}
		ROW(rc == 0 && strcmp(joined(&p, out, sizeof out),
		    paths[i].comps) == 0, i, paths[i].s);
	}
}

/* "/" and n components of len bytes of 'a', the last of last bytes. */
static char *
deep(char *out, size_t n, size_t len, size_t last)
{
	char   comp[300];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		strcat(out, "/");
		strcat(out, repeat(comp, "a", i + 1 < n ? len : last));
	}
	return out;
}

static void
test_path_limits(void)
{
	static char s[10000];
	struct path p;

	CU_ASSERT_EQUAL(names_path_parse(deep(s, 1, 255, 255), F, &p), 0);
	CU_ASSERT_EQUAL(strlen(p.comp[0]), 255);
	CU_ASSERT_EQUAL(names_path_parse(deep(s, 1, 256, 256), F, &p), -1);
	CU_ASSERT_EQUAL(names_path_parse(deep(s, 3, 1, 256), F, &p), -1);
	CU_ASSERT_EQUAL(names_path_parse(deep(s, 3, 256, 1), D, &p), -1);
	/* depth: PATH_DEPTH_MAX components, not one more */
	CU_ASSERT_EQUAL(names_path_parse(deep(s, PATH_DEPTH_MAX, 1, 1), F, &p), 0);
	CU_ASSERT_EQUAL(p.ncomp, PATH_DEPTH_MAX);
	CU_ASSERT_EQUAL(names_path_parse(deep(s, PATH_DEPTH_MAX + 1, 1, 1), F, &p),
	    -1);
	strcat(deep(s, PATH_DEPTH_MAX, 1, 1), "/");
	CU_ASSERT_EQUAL(names_path_parse(s, D, &p), 0);
	strcat(deep(s, PATH_DEPTH_MAX + 1, 1, 1), "/");
	CU_ASSERT_EQUAL(names_path_parse(s, D, &p), -1);
	/* length: 4095 bytes after the leading '/' fit, 4096 do not */
	CU_ASSERT_EQUAL(strlen(deep(s, 16, 255, 255)), 4096);
	CU_ASSERT_EQUAL(names_path_parse(s, F, &p), 0);
	CU_ASSERT_EQUAL(p.ncomp, 16);
	CU_ASSERT_EQUAL(strlen(deep(s, 17, 240, 240)), 4097);
	CU_ASSERT_EQUAL(names_path_parse(s, F, &p), -1);
	CU_ASSERT_EQUAL(names_path_parse(deep(s, 30, 255, 255), F, &p), -1);
}

/* A failure leaves an empty path, not half of one. */
static void
test_path_reset(void)
{
	struct path p;

	CU_ASSERT_EQUAL(names_path_parse("/a/b", F, &p), 0);
	CU_ASSERT_EQUAL(p.ncomp, 2);
	CU_ASSERT_EQUAL(names_path_parse("/a/b/../c", F, &p), -1);
	CU_ASSERT_EQUAL(p.ncomp, 0);
	CU_ASSERT_EQUAL(names_path_parse("/a/", D, &p), 0);
	CU_ASSERT_EQUAL(p.ncomp, 1);
	CU_ASSERT_EQUAL(names_path_parse(NULL, D, &p), 0);
	CU_ASSERT_EQUAL(p.ncomp, 0);
}

static const struct {
	const char *s;
	size_t      len;
	const char *base;
} bases[] = {
	{ S("a.txt"), "a.txt" },
	{ S("/a/b/c.txt"), "c.txt" },
	{ S("C:\\Users\\me\\report.pdf"), "report.pdf" },
	{ S("a\\b/c"), "c" },
	{ S("a/b\\c"), "c" },
	{ S("..\\..\\x"), "x" },
	{ S("../../etc/passwd"), "passwd" },
	{ S("dir/"), "" },
	{ S("dir\\"), "" },
	{ S("/"), "" },
	{ S(""), "" },
	{ S(".."), ".." },		/* reduced, then refused as a name */
	{ S("a/.htaccess"), ".htaccess" },
	{ S("r\xc3\xa9/\xe6\x97\xa5.txt"), "\xe6\x97\xa5.txt" },
	{ S("a\0/b"), "b" },		/* NUL is not a separator */
	{ "a/b/c", 3, "b" },		/* only slen bytes count */
};

static void
test_basename(void)
{
	const char *r;
	size_t      i, n;

	for (i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		n = 99;
		r = names_file_basename(bases[i].s, bases[i].len, &n);
		ROW(n == strlen(bases[i].base) &&
		    memcmp(r, bases[i].base, n) == 0 &&
		    r + n == bases[i].s + bases[i].len,
		    i, bases[i].s);
	}
}

static CU_TestInfo user_tests[] = {
	{ "user names", test_user_table },
	{ "user name length", test_user_length },
	CU_TEST_INFO_NULL
};

static CU_TestInfo file_tests[] = {
	{ "file names", test_file_table },
	{ "file names before an unreadable page", test_file_guarded },
	{ "file name length", test_file_length },
	{ "basename", test_basename },
	CU_TEST_INFO_NULL
};

static CU_TestInfo path_tests[] = {
	{ "PATH_INFO", test_path_table },
	{ "PATH_INFO limits", test_path_limits },
	{ "PATH_INFO reset on failure", test_path_reset },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "names_user_valid", NULL, NULL, NULL, NULL, user_tests },
	{ "names_file_valid", NULL, NULL, NULL, NULL, file_tests },
	{ "names_path_parse", NULL, NULL, NULL, NULL, path_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
