/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * table: helpers of the table-driven unit tests.  Header-only, included
 * after cu_main.h.
 */
#ifndef UPGATE_TABLE_H
#define UPGATE_TABLE_H

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A literal and its length, embedded NULs included. */
#define S(lit)	lit, sizeof(lit) - 1

/* Names the failing row of a table, which CUnit's message does not. */
#define ROW(cond, i, what) do {					\
	CU_ASSERT(cond);					\
	if (!(cond))						\
		fprintf(stderr, "\n  row %zu: %s\n",		\
		    (size_t)(i), (what));			\
} while (0)

/*
 * Copies (s, len) to the very end of a readable page followed by one that
 * is not, so that reading past len crashes.  munmap(*map, *maplen) frees.
 */
static inline char *
guard_copy(const char *s, size_t len, void **map, size_t *maplen)
{
	long  page = sysconf(_SC_PAGESIZE);
	char *p;

	*maplen = 2 * (size_t)page;
	p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + page, (size_t)page, PROT_NONE) == -1) {
		munmap(p, *maplen);
		return NULL;
	}
	*map = p;
	return memcpy(p + page - len, s, len);
}

#endif
