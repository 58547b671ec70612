/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * tmpdir: a fresh folder of a test's own under $TMPDIR (default /tmp),
 * never at a fixed path: a folder of that name left by another user (say
 * root's /tmp/quota) would make the tests fail for everyone else, as
 * README.md ("Tests") promises they do not.
 */
#ifndef UPGATE_TMPDIR_H
#define UPGATE_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/*
 * Makes $TMPDIR/upgate-NAME.XXXXXX with mkdtemp and writes its path into
 * buf (size bytes).  Returns 0, or -1 when the path does not fit or the
 * folder cannot be made.  The caller removes the folder.
 */
static inline int
tmpdir_make(char *buf, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int         n;

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	n = snprintf(buf, size, "%s/upgate-%s.XXXXXX", tmp, name);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(buf) == NULL ? -1 : 0;
}

#endif
