/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "names.h"

/* upgate.conf(5), "The quota table": the bytes a user name may hold. */
#define USER_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-"

int
names_user_valid(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '.' || s[0] == '-')
		return 0;
	n = strspn(s, USER_CHARS);
	return n > 0 && n <= USER_NAME_MAX && s[n] == '\0';
}

/*
 * The length of the UTF-8 sequence that lead byte c starts, with its
 * payload bits in *bits and the smallest code point it may encode in
 * *min (anything below is an overlong form, RFC 3629 §3); 0 for a byte
 * that cannot start a sequence.
 */
static size_t
utf8_lead(unsigned char c, uint32_t *bits, uint32_t *min)
{
	if (c < 0x80) {
		*bits = c;
		*min = 0;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		*bits = c & 0x1f;
		*min = 0x80;
		return 2;
	}
	if ((c & 0xf0) == 0xe0) {
		*bits = c & 0x0f;
		*min = 0x800;
		return 3;
	}
	if ((c & 0xf8) == 0xf0) {
		*bits = c & 0x07;
		*min = 0x10000;
		return 4;
	}
	return 0;
}

/*
 * Decodes the sequence at (s, n) into *cp.  Returns its length, or 0 when
 * it is not the shortest form of a Unicode scalar value: overlong,
 * truncated, a surrogate or above U+10FFFF (RFC 3629 §4).
 */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t   len, i;

	if ((len = utf8_lead(s[0], &c, &min)) == 0 || len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * The Unicode bidirectional controls (UAX #9 §2): ALM, LRM, RLM, the
 * embeddings and overrides LRE..RLO, the isolates LRI..PDI.  A name
 * holding one is shown in another order than its bytes say, so that
 * "invoice<RLO>exe.txt" reads as "invoicetxt.exe" (upgate(8), "Requests").
 */
static int
bidi_control(uint32_t c)
{
	return c == 0x061c || c == 0x200e || c == 0x200f ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/*
 * upgate(8), "Requests": no C0, DEL or C1 control character, no
 * bidirectional control, no separator.
 */
static int
char_allowed(uint32_t c)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	    bidi_control(c))
		return 0;
	return c != '/' && c != '\\';
}

int
names_file_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t             c;
	size_t               i, n;

	if (s == NULL || len == 0 || len > FILE_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < len; i += n) {
		n = utf8_decode(p + i, len - i, &c);
		if (n == 0 || !char_allowed(c))
			return 0;
	}
	return 1;
}

/* Ends the component at buf[start..end) and checks it (upgate(8), Requests). */
static int
add_component(struct path *out, size_t start, size_t end)
{
	if (out->ncomp == PATH_DEPTH_MAX)
		return -1;
	out->buf[end] = '\0';
	if (!names_file_valid(out->buf + start, end - start))
		return -1;
	out->comp[out->ncomp++] = out->buf + start;
	return 0;
}

/*
 * Copies the path after its leading '/' into out->buf, without the
 * trailing '/' a folder may have.  Returns its length, or -1.
 */
static ssize_t
path_copy(const char *path_info, enum path_kind kind, struct path *out)
{
	size_t len;

	if (path_info[0] != '/')
		return -1;
	len = strlen(path_info + 1);
	if (len >= sizeof out->buf)
		return -1;
	memcpy(out->buf, path_info + 1, len + 1);
	if (len == 0 || out->buf[len - 1] != '/')
		return (ssize_t)len;
	if (kind == PATH_FILE || len == 1)	/* "/a/" for PUT, or "//" */
		return -1;
	out->buf[--len] = '\0';
	return (ssize_t)len;
}

int
names_path_parse(const char *path_info, enum path_kind kind, struct path *out)
{
	ssize_t len;
	size_t  start = 0, i;

	out->ncomp = 0;
	out->buf[0] = '\0';
	if (path_info == NULL || path_info[0] == '\0')
		return kind == PATH_FOLDER ? 0 : -1;
	if ((len = path_copy(path_info, kind, out)) == -1)
		goto fail;
	if (len == 0)
		return kind == PATH_FOLDER ? 0 : -1;
	for (i = 0; i <= (size_t)len; i++) {
		if (out->buf[i] != '/' && out->buf[i] != '\0')
			continue;
		if (add_component(out, start, i) == -1)
			goto fail;
		start = i + 1;
	}
	return 0;
fail:
	out->ncomp = 0;
	out->buf[0] = '\0';
	return -1;
}

const char *
names_file_basename(const char *s, size_t slen, size_t *len)
{
	size_t i = slen;

	while (i > 0 && s[i - 1] != '/' && s[i - 1] != '\\')
		i--;
	*len = slen - i;
	return s + i;
}
