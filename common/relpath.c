/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * relpath: safe walks of relative paths and trees (see relpath.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relpath.h"

int
relpath_walk_split(struct walk *w, const char *rel, int last_dot)
{
	char  *p, *slash = NULL;
	size_t i;

	w->ncomp = w->depth = 0;
	w->base = w->dir = -1;
	if (rel == NULL || strlen(rel) >= sizeof w->buf)
		return -1;
	strcpy(w->buf, rel);
	for (p = w->buf; w->ncomp < RELPATH_COMP_MAX; p = slash + 1) {
		w->comp[w->ncomp++] = p;
		if ((slash = strchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	if (slash != NULL)
		return -1;
	for (i = 0; i < w->ncomp; i++) {
		if (w->comp[i][0] == '\0')
			return -1;
		if (w->comp[i][0] == '.' && (i + 1 < w->ncomp || !last_dot ||
		    strcmp(w->comp[i], ".") == 0 ||
		    strcmp(w->comp[i], "..") == 0))
			return -1;
	}
	return 0;
}

int
relpath_valid(const char *rel, int last_dot)
{
	struct walk w;

	return relpath_walk_split(&w, rel, last_dot) == 0 &&
	    strchr(rel, '\n') == NULL;
}

/* Opens (creating it, when create is set) comp[i] as a folder. */
static int
walk_step(struct walk *w, size_t i, int create)
{
	int dfd = relpath_walk_dir(w), fd, tries = 0;

	while ((fd = openat(dfd, w->comp[i], RELPATH_DIR_FLAGS)) == -1) {
		if (tries++ == 3)
			return -1;	/* someone keeps changing it */
		if (!create)
			return errno == ENOENT || errno == ENOTDIR ||
			    errno == ELOOP ? 1 : -1;
		/* a stale record where a folder is needed: over-count */
		if ((errno == ENOTDIR || errno == ELOOP) &&
		    unlinkat(dfd, w->comp[i], 0) == -1)
			return -1;
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return -1;
		if (mkdirat(dfd, w->comp[i], 0700) == -1 && errno != EEXIST)
			return -1;
	}
	if (w->dir != -1)
		close(w->dir);
	w->dir = fd;
	w->depth++;
	return 0;
}

int
relpath_walk_open(struct walk *w, int base, size_t nfolders, int create)
{
	size_t i;
	int    rc;

	w->base = base;
	w->dir = -1;
	w->depth = 0;
	if (base < 0)
		return -1;
	for (i = 0; i < nfolders; i++)
		if ((rc = walk_step(w, i, create)) != 0)
			return rc;
	return 0;
}

void
relpath_walk_release(struct walk *w)
{
	if (w->dir != -1)
		close(w->dir);
	w->dir = -1;
	w->depth = 0;
}

int
relpath_walk_dir(const struct walk *w)
{
	return w->dir != -1 ? w->dir : w->base;
}

const char *
relpath_walk_last(const struct walk *w)
{
	return w->comp[w->ncomp - 1];
}

void
relpath_walk_prune(struct walk *w)
{
	size_t n = w->depth;

	for (; n > 0; n--) {
		relpath_walk_release(w);
		if (relpath_walk_open(w, w->base, n - 1, 0) != 0 ||
		    unlinkat(relpath_walk_dir(w), w->comp[n - 1], AT_REMOVEDIR) == -1)
			break;
	}
}

/* ---- trees ---- */

static int tree_walk(struct tree *);

void
relpath_tree_init(struct tree *t, const char *prefix,
    int (*visit)(struct tree *, int, const char *, const struct stat *),
    void *arg)
{
	t->len = (size_t)snprintf(t->path, sizeof t->path, "%s", prefix);
	t->rel[0] = '\0';
	t->rlen = 0;
	t->base = -1;
	t->depth = 0;
	t->visit = visit;
	t->leave = NULL;
	t->arg = arg;
}

/* Appends "/name" ("name" when empty) to buf; -1 when it won't fit. */
static int
push(char *buf, size_t size, size_t *len, const char *name)
{
	size_t n = strlen(name);

	if (*len + n + 2 > size)
		return -1;
	if (*len > 0)
		buf[(*len)++] = '/';
	memcpy(buf + *len, name, n + 1);
	*len += n;
	return 0;
}

/*
 * Opens the folder t->rel below t->base as a fresh description (its
 * offset shared with nobody).  -1 with errno; ENOENT also when a
 * component is missing, a link or not a folder.
 */
static int
tree_open(const struct tree *t)
{
	struct walk w;
	int         fd = -1, rc;

	if (t->rlen == 0)
		return openat(t->base, ".", RELPATH_DIR_FLAGS);
	if (relpath_walk_split(&w, t->rel, 0) == -1) {
		errno = ENOENT;		/* deeper than any stored path */
		return -1;
	}
	if ((rc = relpath_walk_open(&w, t->base, w.ncomp, 0)) == 0) {
		fd = w.dir;
		w.dir = -1;
	} else if (rc == 1)
		errno = ENOENT;
	relpath_walk_release(&w);
	return fd;
}

/* The names of a folder's sub-folders, one after another, NUL-ended. */
struct names {
	char  *buf;
	size_t len, cap;
};

static int
names_add(struct names *s, const char *name)
{
	size_t n = strlen(name) + 1;
	char  *p;

	if (s->len + n > s->cap) {
		s->cap = s->cap * 2 + n + 256;
		if ((p = realloc(s->buf, s->cap)) == NULL)
			return -1;
		s->buf = p;
	}
	memcpy(s->buf + s->len, name, n);
	s->len += n;
	return 0;
}

/* One entry of the folder dfd: a file is visited, a folder noted. */
static int
tree_entry(struct tree *t, int dfd, const char *name, struct names *sub)
{
	struct stat st;
	size_t      save = t->len;
	int         rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode) && t->depth < RELPATH_DEPTH_MAX)
		return names_add(sub, name);
	if (!S_ISREG(st.st_mode) ||
	    push(t->path, sizeof t->path, &t->len, name) == -1)
		return 0;	/* no stored path is that long */
	rc = t->visit(t, dfd, name, &st);
	t->len = save;
	t->path[save] = '\0';
	return rc;
}

/* Lists the folder fd, which it takes over and closes. */
static int
tree_list(struct tree *t, int fd, struct names *sub)
{
	struct dirent *de;
	DIR           *d;
	int            rc = 0;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			rc = tree_entry(t, dirfd(d), de->d_name, sub);
	closedir(d);
	return rc;
}

/* Walks the sub-folder name of the current folder. */
static int
tree_down(struct tree *t, const char *name)
{
	size_t save = t->len, rsave = t->rlen;
	int    rc = 0;

	if (push(t->path, sizeof t->path, &t->len, name) == 0 &&
	    push(t->rel, sizeof t->rel, &t->rlen, name) == 0) {
		t->depth++;
		rc = tree_walk(t);
		t->depth--;
	}
	t->len = save;
	t->path[save] = '\0';
	t->rlen = rsave;
	t->rel[rsave] = '\0';
	return rc;
}

/*
 * Walks the folder t->rel: its files first, then, once it is closed,
 * its sub-folders.  A folder gone, or made a link, meanwhile is skipped.
 */
static int
tree_walk(struct tree *t)
{
	struct names sub = { NULL, 0, 0 };
	const char  *p;
	int          fd, rc;

	if ((fd = tree_open(t)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    0 : -1;
	rc = tree_list(t, fd, &sub);
	for (p = sub.buf; rc == 0 && p != NULL && p < sub.buf + sub.len;
	    p += strlen(p) + 1)
		rc = tree_down(t, p);
	free(sub.buf);
	if (rc == 0 && t->leave != NULL)
		rc = t->leave(t);
	return rc;
}

int
relpath_tree_walk_at(struct tree *t, int base, const char *rel)
{
	size_t n = strlen(rel);

	if (n >= sizeof t->rel)
		return -1;
	memcpy(t->rel, rel, n + 1);
	t->rlen = n;
	t->base = base;
	return tree_walk(t);
}

static int
remove_tree_at(int dfd, const char *name, unsigned depth)
{
	struct dirent *de;
	DIR           *d;
	int            fd;

	if (depth > RELPATH_DEPTH_MAX ||
	    (fd = openat(dfd, name, RELPATH_DIR_FLAGS)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1 && errno == EISDIR)
			remove_tree_at(dirfd(d), de->d_name, depth + 1);
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

int
relpath_remove_tree(int dfd, const char *name)
{
	return remove_tree_at(dfd, name, 0);
}

void
relpath_unlink_tmp(int base, const char *rel, const char *prefix)
{
	struct walk w;

	if (base < 0 || relpath_walk_split(&w, rel, 1) == -1 ||
	    strncmp(relpath_walk_last(&w), prefix, strlen(prefix)) != 0)
		return;
	if (relpath_walk_open(&w, base, w.ncomp - 1, 0) == 0)
		unlinkat(relpath_walk_dir(&w), relpath_walk_last(&w), 0);
	relpath_walk_release(&w);
}

void
relpath_rmdir(int base, const char *rel)
{
	struct walk w;

	if (base < 0 || relpath_walk_split(&w, rel, 0) == -1)
		return;
	if (relpath_walk_open(&w, base, w.ncomp - 1, 0) == 0)
		unlinkat(relpath_walk_dir(&w), relpath_walk_last(&w), AT_REMOVEDIR);
	relpath_walk_release(&w);
}

int
relpath_is_file(int base, const char *rel, struct stat *st)
{
	struct walk w;
	int         rc = 0;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return 0;
	if (relpath_walk_open(&w, base, w.ncomp - 1, 0) == 0 &&
	    fstatat(relpath_walk_dir(&w), relpath_walk_last(&w), st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = S_ISREG(st->st_mode);
	relpath_walk_release(&w);
	return rc;
}
