/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * names_fuzz: a libFuzzer harness for common/names.c.  The input's bytes
 * are a stored name for names_file_valid and a multipart filename for
 * names_file_basename; cut at its first NUL they are a user name and a
 * PATH_INFO of each kind.
 *
 * Each validator is compared with a second implementation here: the user
 * name with upgate.conf(5), "The quota table" read literally, the file name with the well-formed
 * byte sequences of Unicode 15 Table 3-7 and the bytes of each
 * bidirectional control (so no decoding at all), the path with a plain
 * split on '/'.  A parsed path holds 1 to PATH_DEPTH_MAX
 * components (0 for an empty folder), each a valid file name, none "."
 * or "..", that joined again give the PATH_INFO.  A basename is a suffix
 * of its input without '/' or '\\', preceded by one or by nothing.  The
 * input as a COPY's Destination (common/davdest.c) is checked too: a
 * path it lets through is below SCRIPT_NAME, starts with '/', holds no
 * NUL, no empty segment but a last one, no segment starting with '.'
 * (upgate(8), "WebDAV").  Any difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/names_fuzz.c common/names.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "davdest.h"
#include "names.h"

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

static int
ref_user(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!in((unsigned char)s[i], 'a', 'z') &&
		    !in((unsigned char)s[i], 'A', 'Z') &&
		    !in((unsigned char)s[i], '0', '9') &&
		    strchr("._@-", s[i]) == NULL)
			return 0;
	return 1;
}

/*
 * The length of the well-formed sequence at s (Unicode Table 3-7), 0 if
 * none.  The second byte's range depends on the first; the rest are
 * 80..BF.
 */
static size_t
ref_seq(const unsigned char *s, size_t n)
{
	static const struct {
		unsigned char lo, hi, lo2, hi2;
		size_t        len;
	} rows[] = {
		{ 0x00, 0x7f, 0,    0,    1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};
	size_t r, i;

	for (r = 0; r < sizeof rows / sizeof rows[0]; r++)
		if (in(s[0], rows[r].lo, rows[r].hi))
			break;
	if (r == sizeof rows / sizeof rows[0] || rows[r].len > n)
		return 0;
	if (rows[r].len > 1 && !in(s[1], rows[r].lo2, rows[r].hi2))
		return 0;
	for (i = 2; i < rows[r].len; i++)
		if (!in(s[i], 0x80, 0xbf))
			return 0;
	return rows[r].len;
}

/*
 * The bidirectional controls as the bytes that encode them: U+061C is
 * D8 9C; U+200E, U+200F are E2 80 8E, 8F; U+202A..U+202E are E2 80 AA..AE;
 * U+2066..U+2069 are E2 81 A6..A9.  s holds a well-formed sequence of n.
 */
static int
ref_bidi(const unsigned char *s, size_t n)
{
	if (n == 2)
		return s[0] == 0xd8 && s[1] == 0x9c;
	if (n != 3 || s[0] != 0xe2)
		return 0;
	if (s[1] == 0x80)
		return in(s[2], 0x8e, 0x8f) || in(s[2], 0xaa, 0xae);
	return s[1] == 0x81 && in(s[2], 0xa6, 0xa9);
}

/*
 * upgate(8), "Requests"; C1 controls are U+0080..U+009F, that is C2 80..C2
 * 9F.
 */
static int
ref_file_name(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t               i, n;

	if (len < 1 || len > 255 || s[0] == '.')
		return 0;
	for (i = 0; i < len; i += n) {
		if ((n = ref_seq(p + i, len - i)) == 0)
			return 0;
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/' ||
		    p[i] == '\\' || (p[i] == 0xc2 && p[i + 1] <= 0x9f) ||
		    ref_bidi(p + i, n))
			return 0;
	}
	return 1;
}

/* PATH_INFO split on '/' with each piece a valid name: components or -1. */
static int
ref_path(const char *s, enum path_kind kind)
{
	size_t len, n, count = 0;

	if (s[0] == '\0')
		return kind == PATH_FOLDER ? 0 : -1;
	if (s[0] != '/' || (len = strlen(++s)) >= 4096)
		return -1;
	if (len > 0 && s[len - 1] == '/') {
		if (kind == PATH_FILE || len == 1)
			return -1;
		len--;
	}
	if (len == 0)
		return kind == PATH_FOLDER ? 0 : -1;
	for (;; s += n + 1) {
		n = strcspn(s, "/");
		if (n > len)
			n = len;
		if (!ref_file_name(s, n) || ++count > PATH_DEPTH_MAX)
			return -1;
		if (n == len)
			return (int)count;
		len -= n + 1;
	}
}

static void
check_path(const char *s, enum path_kind kind, char *joined)
{
	struct path p;
	size_t      i, n, at = 0;
	int         want = ref_path(s, kind);

	if (names_path_parse(s, kind, &p) == -1) {
		check(want == -1 && p.ncomp == 0);
		return;
	}
	check(want >= 0 && p.ncomp == (size_t)want);
	check(p.ncomp <= PATH_DEPTH_MAX && (kind == PATH_FOLDER || p.ncomp > 0));
	for (i = 0; i < p.ncomp; i++) {
		n = strlen(p.comp[i]);
		check(names_file_valid(p.comp[i], n));
		check(strcmp(p.comp[i], ".") != 0 && strcmp(p.comp[i], "..") != 0);
		joined[at++] = '/';
		memcpy(joined + at, p.comp[i], n);
		at += n;
	}
	joined[at] = '\0';
	n = strlen(s);
	check(strcmp(joined, s) == 0 || (kind == PATH_FOLDER && n > 0 &&
	    s[n - 1] == '/' && at == n - 1 && memcmp(joined, s, at) == 0));
}

static void
check_basename(const char *s, size_t slen)
{
	const char *b;
	size_t      len, i;

	b = names_file_basename(s, slen, &len);
	check(b >= s && len <= slen && b + len == s + slen);
	for (i = 0; i < len; i++)
		check(b[i] != '/' && b[i] != '\\');
	check(b == s || b[-1] == '/' || b[-1] == '\\');
}

/* A Destination davdest_parse lets through, held to its promises. */
static void
check_dest(const char *s)
{
	struct davdest_request r = { s, "example.org:8080", 0, "/upload" };
	char                   out[4096];
	const char            *p;
	enum dest              d = davdest_parse(&r, out, sizeof out);

	if (d != DEST_PATH)
		return;
	check(out[0] == '/' && strlen(out) < sizeof out);
	for (p = out; *p == '/'; p += 1 + strcspn(p + 1, "/")) {
		check(p[1] != '.');
		check(p[1] != '/' && (p[1] != '\0' || p > out));
	}
	check(*p == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	char       *s, *joined;

	check(names_file_valid(raw, size) == ref_file_name(raw, size));
	check_basename(raw, size);
	if ((s = malloc(size + 1)) == NULL || (joined = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check(names_user_valid(s) == ref_user(s));
	check_path(s, PATH_FILE, joined);
	check_path(s, PATH_FOLDER, joined);
	check_dest(s);
	free(joined);
	free(s);
	return 0;
}
