/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davpath: WebDAV paths, never through a link (upgate(8), "WebDAV").
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "davpath.h"
#include "relpath.h"

/* The state of an entry that fstatat found, never followed. */
static enum target
state_of(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return TARGET_SYMLINK;
	if (S_ISDIR(st->st_mode))
		return TARGET_FOLDER;
	return S_ISREG(st->st_mode) ? TARGET_EXISTS : TARGET_NOT_REGULAR;
}

/*
 * What is in the way of a folder: O_DIRECTORY | O_NOFOLLOW reports a
 * link as ENOTDIR or ELOOP, so look (a link, 403, first: upgate(8)).
 */
static enum target
not_folder(int dir_fd, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return TARGET_SYMLINK;
	return TARGET_NOT_FOLDER;
}

/*
 * Opens the folders above the last component, one at a time; p->dir_fd
 * ends as the deepest.  1 when a problem decided p->state.
 */
static int
open_folders(int user_fd, const struct path *path, struct davpath *p)
{
	size_t i;
	int    fd;

	if ((p->dir_fd = dup(user_fd)) == -1)
		return -1;
	for (i = 0; i + 1 < path->ncomp; i++) {
		fd = openat(p->dir_fd, path->comp[i], RELPATH_DIR_FLAGS);
		if (fd == -1) {
			if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
				return -1;
			p->state = errno == ENOENT ? TARGET_PARENT_MISSING :
			    not_folder(p->dir_fd, path->comp[i]);
			close(p->dir_fd);
			p->dir_fd = -1;
			return 1;
		}
		close(p->dir_fd);
		p->dir_fd = fd;
	}
	return 0;
}

int
davpath_resolve(int user_fd, const struct path *path, struct davpath *p)
{
	int r;

	memset(p, 0, sizeof *p);
	p->dir_fd = -1;
	p->name = path->ncomp > 0 ? path->comp[path->ncomp - 1] : NULL;
	if (user_fd == -1) {
		/* the user's folder exists for WebDAV before the first upload */
		p->state = path->ncomp == 0 ? TARGET_FOLDER :
		    path->ncomp == 1 ? TARGET_NEW : TARGET_PARENT_MISSING;
		return 0;
	}
	if ((r = open_folders(user_fd, path, p)) != 0)
		return r == 1 ? 0 : -1;
	if (p->name == NULL) {
		p->state = TARGET_FOLDER;
		return fstat(p->dir_fd, &p->st);
	}
	if (fstatat(p->dir_fd, p->name, &p->st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return -1;
		p->state = TARGET_NEW;
		return 0;
	}
	p->state = state_of(&p->st);
	return 0;
}

void
davpath_release(struct davpath *p)
{
	if (p->dir_fd != -1)
		close(p->dir_fd);
	p->dir_fd = -1;
}
