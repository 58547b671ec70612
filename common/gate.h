/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate: one request, from its CGI variables to its response.  Both front
 * ends call gate_handle() with their struct io; everything between —
 * configuration, decision, accounting, storage, rendering, logging —
 * happens here.
 */
#ifndef UPGATE_GATE_H
#define UPGATE_GATE_H

#include "config.h"
#include "io.h"
#include "ledger.h"
#include "quota.h"

/*
 * What a gate keeps between requests: the configuration and the quota
 * table, re-read when their files change.  One gate per thread.
 */
struct gate {
	const char         *config_path;	/* borrowed */
	struct config       cfg;
	int                 have_cfg;
	struct quota_table *quota;
	struct ledger       ledger;	/* open while cfg is; this thread's */
	int                 shared;	/* other threads own gates too: set
					   by the responder after gate_init */
};

void gate_init(struct gate *, const char *config_path);
void gate_release(struct gate *);	/* safe twice */

/*
 * Handles one request through io.  Returns 1 when the response was
 * written with the request body (partly) unread: the front end then
 * closes its output and discards the rest (upgate(8), Decisions).  Returns 0 otherwise.
 */
int gate_handle(struct gate *, const struct io *);

/*
 * Answers the request through io with 503 busy and Retry-After, at once,
 * without a look at its body, the ledger or the disk: for a front end
 * that has no worker left to spare (upgate(8), "FastCGI").  The reply's
 * format follows Accept as any other, and the request is logged.  Same
 * return value as gate_handle.
 */
int gate_refuse_busy(struct gate *, const struct io *);

#endif
