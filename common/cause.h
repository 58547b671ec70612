/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * cause: why this thread's request failed, for the log line of a 500
 * (upgate(8), "Logs"): the failing call and its errno name,
 * "fsync:EIO".  The layer that sees the failure notes it; the gate
 * writes it once, at the end of the request's line.  One per thread,
 * like errno, so that the storage code keeps its plain error values.
 */
#ifndef UPGATE_CAUSE_H
#define UPGATE_CAUSE_H

/* Notes call and the current errno (kept).  call: a static string. */
void cause_note(const char *call);

/* Notes a cause already written as "call:WHAT" (a ledger's). */
void cause_copy(const char *text);

/* Forgets the last cause: a new request starts. */
void cause_clear(void);

/* The last cause noted, "" when none; valid until the next note. */
const char *cause_text(void);

#endif
