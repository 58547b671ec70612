/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davpath: what a WebDAV path names below the user's folder (upgate(8),
 * "WebDAV"): walked one component at a time relative to a folder
 * descriptor with O_NOFOLLOW, so a symbolic link is never followed; the
 * first problem from the top down decides.
 */
#ifndef UPGATE_DAVPATH_H
#define UPGATE_DAVPATH_H

#include <sys/stat.h>

#include "decide.h"
#include "names.h"

struct davpath {
	enum target state;	/* TARGET_FOLDER, TARGET_EXISTS (a file),
				   TARGET_NEW, TARGET_PARENT_MISSING,
				   TARGET_SYMLINK, TARGET_NOT_FOLDER,
				   TARGET_NOT_REGULAR */
	int         dir_fd;	/* the folder that holds the target (the
				   target itself when the path is empty);
				   owned; -1 when missing */
	const char *name;	/* the last component; NULL for the user's
				   folder itself */
	struct stat st;		/* the target's, when it exists */
};

/*
 * Walks path (borrowed) below user_fd (borrowed; -1 when the user's
 * folder does not exist yet: then it is an empty folder).  0, with p
 * filled; -1 on an unexpected error (errno kept).  p is always fit for
 * davpath_release.
 */
int  davpath_resolve(int user_fd, const struct path *path, struct davpath *p);
void davpath_release(struct davpath *p);	/* safe twice */

#endif
