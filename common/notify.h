/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * notify: runs notify_command when an upload takes a user's usage from
 * below 80, 90 or 100 % of the limit to at or above it (upgate(8),
 * "Notifications"; upgate.conf(5)).  Detached: the answer never waits
 * for the command, it never becomes anyone's zombie, and its process
 * group is killed after NOTIFY_SECONDS.
 */
#ifndef UPGATE_NOTIFY_H
#define UPGATE_NOTIFY_H

#include <stdint.h>
#include "diag.h"

#define NOTIFY_SECONDS		10	/* then the command's group: SIGKILL */
#define NOTIFY_RUNNING_MAX	8	/* commands running at once, per process */

/*
 * Runs cmd (an absolute path, no arguments, no shell) once per
 * threshold that used crossed going from before to after, with
 * UPGATE_USER, UPGATE_USED, UPGATE_LIMIT, UPGATE_PERCENT,
 * UPGATE_THRESHOLD and PATH=/usr/bin:/bin as its whole environment.
 * Waits only for the exec(2) to be done.  limit must be finite and
 * above 0.  A command that cannot be started adds a line to d; the
 * caller's request is not affected.
 */
void notify_thresholds(const char *cmd, const char *user, int64_t before,
    int64_t after, int64_t limit, struct diag *d);

#endif
