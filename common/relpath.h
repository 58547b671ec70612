/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * relpath: '/'-separated paths below a folder descriptor, as the ledger
 * names files (records, reservations) — opened one component at a time
 * with O_NOFOLLOW, so a symbolic link is never followed; and walks over
 * the regular files of a tree.  Used by the ledger's backends and its
 * recount; the upload path itself goes through store.h.
 */
#ifndef UPGATE_RELPATH_H
#define UPGATE_RELPATH_H

#include <stddef.h>
#include <sys/stat.h>

#define RELPATH_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define RELPATH_COMP_MAX  64	/* components of a path */
#define RELPATH_DEPTH_MAX 64	/* folders open at once in a tree walk */

/*
 * 1 when rel is a path upgate may name: 1 to 4095 bytes, no empty
 * component, none starting with '.' — except the last when last_dot is
 * set (a temporary file), which is still never "." or "..".
 */
int relpath_valid(const char *rel, int last_dot);

/*
 * A path split into components, and the deepest folder opened along it:
 * a walk holds one descriptor of its own, however deep it goes (a
 * request's descriptors are counted: upgate(8), "FastCGI").  base is
 * borrowed; dir is folder comp[depth-1], or -1 at depth 0.
 */
struct walk {
	char        buf[4096];
	const char *comp[RELPATH_COMP_MAX];
	size_t      ncomp;
	int         base;
	int         dir;
	size_t      depth;
};

/* Splits rel as relpath_valid checks it; -1 when invalid. */
int relpath_walk_split(struct walk *, const char *rel, int last_dot);

/*
 * Opens the first nfolders components below base (borrowed) as folders,
 * creating them (mode 0700) when create is set.  0; 1 when one is
 * missing or not a folder (only without create); -1 with errno.
 */
int relpath_walk_open(struct walk *, int base, size_t nfolders, int create);
void relpath_walk_release(struct walk *);	/* closes what relpath_walk_open opened */
int relpath_walk_dir(const struct walk *);	/* the deepest folder opened */
const char *relpath_walk_last(const struct walk *);	/* the last component */

/*
 * Removes the folders of the walk that are now empty, deepest first,
 * opening each parent again from base.
 */
void relpath_walk_prune(struct walk *);

/*
 * A depth-first walk over the regular files of a tree, skipping every
 * name that starts with '.' and never following a symbolic link.  path
 * holds the current entry's path; visit returns 0 to go on, 1 to stop,
 * -1 on failure.  A folder is listed whole and closed before its
 * sub-folders are walked (each opened again from base), so the walk
 * holds two descriptors at most, however deep the tree.
 */
struct tree {
	char      path[4096];
	size_t    len;
	char      rel[4096];	/* the current folder below base */
	size_t    rlen;
	int       base;		/* borrowed */
	unsigned  depth;
	int     (*visit)(struct tree *, int dfd, const char *name,
		    const struct stat *);
	/*
	 * When set, called once a folder is walked whole, its sub-folders
	 * included, with rel naming it (deepest first, the top one last):
	 * 0 to go on, 1 to stop, -1 on failure.  NULL after tree_init.
	 */
	int     (*leave)(struct tree *);
	void     *arg;
};

void relpath_tree_init(struct tree *, const char *prefix,
    int (*visit)(struct tree *, int, const char *, const struct stat *),
    void *arg);

/*
 * Walks the folder rel below base (borrowed; "" for base itself).  A
 * missing folder is an empty one.  0, 1 when a visit stopped, or -1.
 */
int relpath_tree_walk_at(struct tree *, int base, const char *rel);

/* Removes the folder name below dfd and everything in it. */
int relpath_remove_tree(int dfd, const char *name);

/* Removes rel below base when its last component starts with prefix. */
void relpath_unlink_tmp(int base, const char *rel, const char *prefix);

/* Removes the folder rel below base when it is empty. */
void relpath_rmdir(int base, const char *rel);

/* 1 when rel below base is a regular file (st filled), reached safely. */
int relpath_is_file(int base, const char *rel, struct stat *st);

#endif
