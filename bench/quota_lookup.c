/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * quota_lookup: what the quota table costs a CGI request (upgate.conf(5), "The quota table": a table
 * of 100,000 users costs at most 1 ms more than one of 10).  Each request
 * is done as a fresh process does it — nothing cached: stat the table,
 * open the warm index, look a user up (a pread per step of the binary
 * search), close — and timed for both sizes.
 *
 *	bench/quota_lookup [REQUESTS [DIR]]
 *
 * DIR (default: a new directory under $TMPDIR or /tmp) receives the tables
 * and their state directories, removed at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "quota.h"

struct bench {
	char   table[4096];
	char   state[4096];
	int    sfd;
	size_t users;
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Writes a table of n users, "user0000000" on, and a '*' rule. */
static int
table_write(const char *path, size_t n)
{
	FILE  *f;
	size_t i;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "# %zu users\n", n);
	for (i = 0; i < n; i++)
		fprintf(f, "user%07zu\t%zuM\n", i, i % 1000 + 1);
	fprintf(f, "*\t1G\n");
	return fclose(f) == 0 ? 0 : -1;
}

static int
bench_make(struct bench *b, const char *dir, size_t users)
{
	b->users = users;
	snprintf(b->table, sizeof b->table, "%s/quotas-%zu", dir, users);
	snprintf(b->state, sizeof b->state, "%s/state-%zu", dir, users);
	if (table_write(b->table, users) == -1 || mkdir(b->state, 0700) == -1)
		return -1;
	b->sfd = open(b->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return b->sfd == -1 ? -1 : 0;
}

static void
bench_remove(struct bench *b)
{
	unlinkat(b->sfd, "quota.idx", 0);
	close(b->sfd);
	rmdir(b->state);
	unlink(b->table);
}

/* One request as the CGI does it; -1 on any failure. */
static int
request(const struct bench *b, size_t i, int64_t *sum)
{
	struct quota_table *t = NULL;
	struct diag         d;
	char                user[32];

	diag_init(&d);
	if (quota_table_open(&t, b->table, b->sfd, &d) == -1) {
		fputs(d.text, stderr);
		return -1;
	}
	/* spread over the table, so that the lookups touch different pages */
	snprintf(user, sizeof user, "user%07zu", i * 7919 % (b->users + 1));
	*sum += quota_lookup(t, user).limit;
	quota_table_free(t);
	return 0;
}

/* Microseconds per fresh request over n requests, or -1. */
static double
per_request(const struct bench *b, size_t n)
{
	double  start;
	int64_t sum = 0;
	size_t  i;

	start = now_us();
	for (i = 0; i < n; i++)
		if (request(b, i, &sum) == -1)
			return -1;
	return (now_us() - start) / (double)n;
}

/*
 * Microseconds per request with the table cached (the FastCGI case): the
 * stat of the table and a lookup, which reads the index's records.
 */
static double
per_cached(const struct bench *b, size_t n)
{
	struct quota_table *t = NULL;
	struct diag         d;
	double              start;
	int64_t             sum = 0;
	char                user[32];
	size_t              i;

	start = now_us();
	for (i = 0; i < n; i++) {
		diag_init(&d);
		if (quota_table_open(&t, b->table, b->sfd, &d) == -1)
			return -1;
		snprintf(user, sizeof user, "user%07zu",
		    i * 7919 % (b->users + 1));
		sum += quota_lookup(t, user).limit;
	}
	if (sum == 0)
		fprintf(stderr, "quota_lookup: no limit found\n");
	quota_table_free(t);
	return (now_us() - start) / (double)n;
}

/* The first open: parse, and write the index. */
static double
cold_us(const struct bench *b)
{
	double  start = now_us();
	int64_t sum = 0;

	return request(b, 0, &sum) == -1 ? -1 : now_us() - start;
}

static int
run(const char *dir, size_t n)
{
	struct bench small, big;
	double       cold[2], warm[2], cached[2];
	int          rc = -1;

	if (bench_make(&small, dir, 10) == -1 ||
	    bench_make(&big, dir, 100000) == -1) {
		perror(dir);
		return -1;
	}
	if ((cold[0] = cold_us(&small)) < 0 || (cold[1] = cold_us(&big)) < 0 ||
	    (warm[0] = per_request(&small, n)) < 0 ||
	    (warm[1] = per_request(&big, n)) < 0 ||
	    (cached[0] = per_cached(&small, n)) < 0 ||
	    (cached[1] = per_cached(&big, n)) < 0)
		goto done;
	printf("requests per size: %zu\n", n);
	printf("first open (parse, index): 10 users %.1f us, "
	    "100000 users %.1f us\n", cold[0], cold[1]);
	printf("fresh process (CGI): 10 users %.2f us, 100000 users %.2f us, "
	    "difference %.2f us (the aim: at most 1000)\n",
	    warm[0], warm[1], warm[1] - warm[0]);
	printf("cached table (FastCGI): 10 users %.2f us, "
	    "100000 users %.2f us, difference %.2f us\n",
	    cached[0], cached[1], cached[1] - cached[0]);
	rc = 0;
done:
	bench_remove(&small);
	bench_remove(&big);
	return rc;
}

int
main(int argc, char *argv[])
{
	char        tmpl[4096];
	const char *tmp = getenv("TMPDIR");
	size_t      n = 10000;
	int         rc;

	if (argc > 1 && (n = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: quota_lookup [REQUESTS [DIR]]\n");
		return 2;
	}
	snprintf(tmpl, sizeof tmpl, "%s/quota-bench-XXXXXX",
	    argc > 2 ? argv[2] : tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		perror(tmpl);
		return 1;
	}
	rc = run(tmpl, n);
	rmdir(tmpl);
	return rc == 0 ? 0 : 1;
}
