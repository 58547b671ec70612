/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * quota: the flat quota table (upgate.conf(5), "The quota table"), compiled into a sorted index of
 * fixed-size records so that a lookup costs O(log n) whatever the table's
 * size.  The index lives in state_dir (file "quota.idx") and is rebuilt,
 * atomically, when the table's identity (device, inode, size, mtime, ctime)
 * changes; a process keeps it open, re-stats the table per request, and
 * reads a lookup's few records with pread: a file cut or rewritten under
 * it makes a lookup fail, never the process die (upgate.conf(5), "The
 * quota table").
 */
#ifndef UPGATE_QUOTA_H
#define UPGATE_QUOTA_H

#include <stddef.h>
#include <stdint.h>
#include "diag.h"

#define QUOTA_UNLIMITED (-1)
#define QUOTA_TABLE_MAX ((size_t)256 * 1024 * 1024)	/* a larger table is refused */

struct quota_table;	/* opaque */

/* Limit for a user: QUOTA_UNLIMITED when unlimited or when no rule applies. */
struct quota_rule {
	int64_t limit;
	int     named;	/* 1 if a line names the user (not only via '*') */
	int     error;	/* 0, or the errno of an index that cannot be read */
};

/*
 * Parses the text of a quota table (for tests and the index builder).
 * Problems go to d as "file:LINE: message".  Returns a table the caller
 * frees with quota_table_free, or NULL.
 */
struct quota_table *quota_table_parse(const char *text, size_t len,
    const char *file, struct diag *d);

/*
 * Opens the table for quota_file through its index in state_dir_fd,
 * building the index if missing or stale.  *cached may hold the table of a
 * previous call (or NULL): it is reused when the file has not changed,
 * else freed and replaced.  Returns 0 and sets *cached, or -1 with the
 * problems in d (and *cached freed and set to NULL).
 */
int quota_table_open(struct quota_table **cached, const char *quota_file,
    int state_dir_fd, struct diag *d);

/*
 * As quota_table_open, but compiled from quota_file whatever the index in
 * state_dir_fd holds, and the index written anew: for an index found
 * damaged by a lookup.  *cached is freed first.
 */
int quota_table_rebuild(struct quota_table **cached, const char *quota_file,
    int state_dir_fd, struct diag *d);

void quota_table_free(struct quota_table *);	/* NULL is fine */

/*
 * The rule for user; a NULL table means no quota file: unlimited.  When
 * the index cannot be read (cut short, rewritten, not what upgate wrote)
 * the rule has error set (ENODATA for a file that ends early, EBADMSG for
 * bytes that are not a sorted index, else the read's errno) and a limit
 * of 0, so that a caller that forgets to look grants nothing.
 */
struct quota_rule quota_lookup(const struct quota_table *, const char *user);

/*
 * The named users, in byte order, for report: count, then the i-th name,
 * which lives until the next call on the table or its free; NULL past
 * the end, or (with errno) when the index cannot be read.
 */
size_t      quota_table_count(const struct quota_table *);
const char *quota_table_user(struct quota_table *, size_t i);

#endif
