/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * validators: HTTP dates and ETags (RFC 9110 §5.6.7, §8.8.3).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "validators.h"

/*
 * t in UTC, as RFC 3339 says (iso) or as IMF-fixdate; a time gmtime
 * cannot break down is written as the epoch.
 */
static void
utc(time_t t, int iso, char *out, size_t size)
{
	static const time_t epoch = 0;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		(void)gmtime_r(&epoch, &tm);
	if (iso)
		(void)strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		(void)strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void
http_date(time_t t, char *out, size_t size)
{
	utc(t, 0, out, size);
}

/* strptime's %a and %b follow the C locale the programs run in. */
int
http_date_parse(const char *s, time_t *t)
{
	struct tm   tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

void
rfc3339_date(time_t t, char *out, size_t size)
{
	utc(t, 1, out, size);
}

void
etag_of(const struct stat *st, char *out, size_t size)
{
	snprintf(out, size, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "%09ld\"",
	    (uint64_t)st->st_ino, (uint64_t)st->st_size,
	    (uint64_t)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
}

/* An entity tag of a list, weak or strong, against ours (weak compare). */
static int
tag_is(const char *t, size_t n, const char *etag)
{
	if (n >= 2 && t[0] == 'W' && t[1] == '/') {
		t += 2;
		n -= 2;
	}
	return n == strlen(etag) && memcmp(t, etag, n) == 0;
}

int
etag_list_match(const char *v, const char *etag)
{
	size_t n;

	while (*v != '\0') {
		v += strspn(v, " \t,");
		n = strcspn(v, " \t,");
		if ((n == 1 && *v == '*') || (n > 0 && tag_is(v, n, etag)))
			return 1;
		v += n;
	}
	return 0;
}
