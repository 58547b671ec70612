/*
 * relpath: safe walks of relative paths and trees (see relpath.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relpath.h"

int
walk_split(struct walk *w, const char *rel, int last_dot)
{
	char  *p, *slash = NULL;
	size_t i;

	w->ncomp = w->nfd = 0;
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

	return walk_split(&w, rel, last_dot) == 0 &&
	    strchr(rel, '\n') == NULL;
}

/* Opens (creating it, when create is set) comp[i] as a folder. */
static int
walk_step(struct walk *w, size_t i, int create)
{
	int dfd = w->fd[w->nfd - 1], fd, tries = 0;

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
	w->fd[w->nfd++] = fd;
	return 0;
}

int
walk_open(struct walk *w, int base, size_t nfolders, int create)
{
	size_t i;
	int    rc;

	w->fd[0] = base;
	w->nfd = 1;
	if (base < 0)
		return -1;
	for (i = 0; i < nfolders; i++)
		if ((rc = walk_step(w, i, create)) != 0)
			return rc;
	return 0;
}

void
walk_release(struct walk *w)
{
	while (w->nfd > 1)
		close(w->fd[--w->nfd]);
	w->nfd = 0;
}

int
walk_dir(const struct walk *w)
{
	return w->fd[w->nfd - 1];
}

const char *
walk_last(const struct walk *w)
{
	return w->comp[w->ncomp - 1];
}

void
walk_prune(struct walk *w)
{
	while (w->nfd > 1) {
		close(w->fd[--w->nfd]);
		if (unlinkat(w->fd[w->nfd - 1], w->comp[w->nfd - 1],
		    AT_REMOVEDIR) == -1)
			break;
	}
}

/* ---- trees ---- */

static int tree_walk(struct tree *, int);

void
tree_init(struct tree *t, const char *prefix,
    int (*visit)(struct tree *, int, const char *, const struct stat *),
    void *arg)
{
	t->len = (size_t)snprintf(t->path, sizeof t->path, "%s", prefix);
	t->depth = 0;
	t->visit = visit;
	t->arg = arg;
}

static int
tree_entry(struct tree *t, int dfd, const char *name)
{
	struct stat st;
	size_t      save = t->len, n = strlen(name);
	int         fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (t->len + n + 2 > sizeof t->path)
		return 0;	/* no stored path is that long */
	if (t->len > 0)
		t->path[t->len++] = '/';
	memcpy(t->path + t->len, name, n + 1);
	t->len += n;
	if (S_ISREG(st.st_mode))
		rc = t->visit(t, dfd, name, &st);
	else if (S_ISDIR(st.st_mode) && t->depth < RELPATH_DEPTH_MAX) {
		if ((fd = openat(dfd, name, RELPATH_DIR_FLAGS)) != -1) {
			t->depth++;
			rc = tree_walk(t, fd);
			t->depth--;
		} else if (errno != ENOENT && errno != ENOTDIR &&
		    errno != ELOOP)
			rc = -1;
	}
	t->len = save;
	t->path[save] = '\0';
	return rc;
}

/* Walks the folder fd, which it takes over. */
static int
tree_walk(struct tree *t, int fd)
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
			rc = tree_entry(t, dirfd(d), de->d_name);
	closedir(d);
	return rc;
}

int
tree_walk_at(struct tree *t, int base, const char *rel)
{
	struct walk w;
	int         fd = -1, rc;

	if (rel[0] == '\0')
		fd = openat(base, ".", RELPATH_DIR_FLAGS);
	else if (walk_split(&w, rel, 0) == -1)
		return -1;
	else {
		/* a fresh description: its offset is not shared with base */
		if ((rc = walk_open(&w, base, w.ncomp, 0)) == 0)
			fd = openat(walk_dir(&w), ".", RELPATH_DIR_FLAGS);
		walk_release(&w);
		if (rc == 1)
			return 0;
	}
	return fd == -1 ? -1 : tree_walk(t, fd);
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
remove_tree(int dfd, const char *name)
{
	return remove_tree_at(dfd, name, 0);
}

void
relpath_unlink_tmp(int base, const char *rel, const char *prefix)
{
	struct walk w;

	if (base < 0 || walk_split(&w, rel, 1) == -1 ||
	    strncmp(walk_last(&w), prefix, strlen(prefix)) != 0)
		return;
	if (walk_open(&w, base, w.ncomp - 1, 0) == 0)
		unlinkat(walk_dir(&w), walk_last(&w), 0);
	walk_release(&w);
}

void
relpath_rmdir(int base, const char *rel)
{
	struct walk w;

	if (base < 0 || walk_split(&w, rel, 0) == -1)
		return;
	if (walk_open(&w, base, w.ncomp - 1, 0) == 0)
		unlinkat(walk_dir(&w), walk_last(&w), AT_REMOVEDIR);
	walk_release(&w);
}

int
relpath_is_file(int base, const char *rel, struct stat *st)
{
	struct walk w;
	int         rc = 0;

	if (walk_split(&w, rel, 0) == -1)
		return 0;
	if (walk_open(&w, base, w.ncomp - 1, 0) == 0 &&
	    fstatat(walk_dir(&w), walk_last(&w), st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = S_ISREG(st->st_mode);
	walk_release(&w);
	return rc;
}
