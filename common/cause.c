/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cause.h"

static _Thread_local char last[96];

void
cause_note(const char *call)
{
	const char *name = strerrorname_np(errno);
	int         saved = errno;

	snprintf(last, sizeof last, "%s:%s", call,
	    name != NULL ? name : "unknown");
	errno = saved;
}

void
cause_copy(const char *text)
{
	int saved = errno;

	snprintf(last, sizeof last, "%s", text);
	errno = saved;
}

void
cause_clear(void)
{
	last[0] = '\0';
}

const char *
cause_text(void)
{
	return last;
}
