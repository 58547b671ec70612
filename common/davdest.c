/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davdest: a Destination, decoded and held to the path rules of
 * upgate(8) "Requests" and "WebDAV".
 */
#include <string.h>
#include <strings.h>

#include "davdest.h"

static int
hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Percent-decodes s (n bytes) into out: -1 for a bad escape, a NUL, or
 * no room.
 */
static int
decode(const char *s, size_t n, char *out, size_t size)
{
	size_t i, o = 0;
	int    h, l;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			if (i + 2 >= n || (h = hex(s[i + 1])) < 0 ||
			    (l = hex(s[i + 2])) < 0)
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0' || o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* The length of host without a port that is the scheme's default. */
static size_t
host_len(const char *h, size_t n, int https)
{
	const char *def = https ? ":443" : ":80";
	size_t      d = strlen(def);

	if (n > d && strncmp(h + n - d, def, d) == 0)
		return n - d;
	return n;
}

/* "http://HOST/..." on the request's scheme and host: the path after. */
static const char *
same_origin(const struct davdest_request *r, const char *d, enum dest *why)
{
	const char *scheme = r->https ? "https://" : "http://";
	const char *host, *slash;
	size_t      a, b;

	*why = DEST_OUTSIDE;
	if (strncasecmp(d, "http://", 7) != 0 &&
	    strncasecmp(d, "https://", 8) != 0) {
		*why = DEST_BAD;	/* neither a URI of ours nor a path */
		return NULL;
	}
	if (strncasecmp(d, scheme, strlen(scheme)) != 0 || r->host == NULL)
		return NULL;
	host = d + strlen(scheme);
	slash = host + strcspn(host, "/?#");
	a = host_len(host, (size_t)(slash - host), r->https);
	b = host_len(r->host, strlen(r->host), r->https);
	if (a != b || strncasecmp(host, r->host, a) != 0 || *slash != '/')
		return NULL;
	return slash;
}

/* Each segment: no ".", "..", dot name (403) nor empty one (400). */
static enum dest
segments(const char *p)
{
	while (*p == '/') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0)
			return p[1] == '\0' ? DEST_PATH : DEST_BAD;
		if (p[1] == '.')
			return DEST_OUTSIDE;
		p += 1 + n;
	}
	return DEST_PATH;
}

enum dest
davdest_parse(const struct davdest_request *r, char *out, size_t size)
{
	const char *d = r->destination, *path;
	const char *script = r->script_name != NULL ? r->script_name : "";
	size_t      n = strlen(script);
	enum dest   why;

	if (d == NULL || *d == '\0')
		return DEST_NONE;
	if (*d == '/')
		path = d;
	else if ((path = same_origin(r, d, &why)) == NULL)
		return why;
	if (decode(path, strcspn(path, "?#"), out, size) == -1)
		return DEST_BAD;
	if (strncmp(out, script, n) != 0 || (out[n] != '/' && out[n] != '\0'))
		return DEST_OUTSIDE;
	memmove(out, out + n, strlen(out + n) + 1);
	if (out[0] == '\0' || strcmp(out, "/") == 0)
		return DEST_ROOT;
	return segments(out);
}
