/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of store: path walks, folder creation and rollback, temporary
 * files, publishing, and every error path through the store_fault hook,
 * in a fresh folder under $TMPDIR (tmpdir.h).  As root, a 1 MiB tmpfs shows a
 * real ENOSPC.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cause.h"
#include "cu_main.h"
#include "tmpdir.h"
#include "store.h"

#define MIB		(1024 * 1024)

static char root[128];		/* mkdtemp folder of this run */
static int  root_fd = -1;

/* The fault to inject: the nth call of op fails with err. */
static struct {
	const char *op;
	int         nth;
	int         err;
	int         seen;
} fault;

static int
fault_hook(const char *op)
{
	if (fault.op == NULL || strcmp(op, fault.op) != 0)
		return 0;
	return ++fault.seen == fault.nth ? fault.err : 0;
}

static void
fault_set(const char *op, int nth, int err)
{
	fault.op = op;
	fault.nth = nth;
	fault.err = err;
	fault.seen = 0;
	store_fault = op == NULL ? NULL : fault_hook;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) == -1 ? -1 : 0;
}

static int
suite_init(void)
{
	umask(022);
	if (tmpdir_make(root, sizeof root, "store") == -1)
		return -1;
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return root_fd == -1 ? -1 : 0;
}

static int
rm_tree(const char *path)
{
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int tree_fd = -1;	/* the resolve suite's tree */
static char small[PATH_MAX];	/* the tmpfs, when mounted */

static int
suite_clean(void)
{
	fault_set(NULL, 0, 0);
	if (small[0] != '\0')
		umount2(small, MNT_DETACH);
	small[0] = '\0';
	if (tree_fd != -1)
		close(tree_fd);
	tree_fd = -1;
	if (root_fd != -1)
		close(root_fd);
	root_fd = -1;
	return rm_tree(root);
}

/* A new empty folder name below root, opened. */
static int
fresh(const char *name)
{
	if (mkdirat(root_fd, name, 0755) == -1)
		return -1;
	return openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Entries of folder fd, without "." and "..". */
static int
entries(int fd)
{
	struct dirent *e;
	DIR           *d;
	int            n = 0, dup_fd;

	if ((dup_fd = dup(fd)) == -1)
		return -1;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Built by hand: names.c belongs to someone else. */
static void
mkpath(struct path *p, const char *s)
{
	char  *c;
	size_t n = 0;

	memset(p, 0, sizeof *p);
	snprintf(p->buf, sizeof p->buf, "%s", s);
	for (c = p->buf; *c != '\0' && n < PATH_DEPTH_MAX; ) {
		p->comp[n++] = c;
		if ((c = strchr(c, '/')) == NULL)
			break;
		*c++ = '\0';
	}
	p->ncomp = n;
}

static void
put_file(int dir, const char *name, const char *text)
{
	int fd;

	fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* 1 if name in dir holds exactly (data, len). */
static int
holds(int dir, const char *name, const void *data, size_t len)
{
	char   *got;
	ssize_t n;
	int     fd, ok;

	if ((fd = openat(dir, name, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if ((got = malloc(len + 1)) == NULL) {
		close(fd);
		return 0;
	}
	n = read(fd, got, len + 1);
	ok = n == (ssize_t)len && memcmp(got, data, len) == 0;
	free(got);
	close(fd);
	return ok;
}

static int
same_file(int fd, int dir, const char *name)
{
	struct stat a, b;

	if (fstat(fd, &a) == -1 || fstatat(dir, name, &b, 0) == -1)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* --- store_resolve -------------------------------------------------- */

/*
 *	a/b/f.txt  a/b/lf -> f.txt  a/dangling -> nowhere  a/fifo  a/d/
 *	a/sib -> b  etc -> /etc  file
 */
static void
make_tree(void)
{
	if (tree_fd != -1)
		return;
	CU_ASSERT_FATAL((tree_fd = fresh("tree")) != -1);
	CU_ASSERT_FATAL(mkdirat(tree_fd, "a", 0755) == 0);
	CU_ASSERT_FATAL(mkdirat(tree_fd, "a/b", 0755) == 0);
	CU_ASSERT_FATAL(mkdirat(tree_fd, "a/d", 0755) == 0);
	put_file(tree_fd, "a/b/f.txt", "hello");
	put_file(tree_fd, "file", "x");
	CU_ASSERT_FATAL(symlinkat("f.txt", tree_fd, "a/b/lf") == 0);
	CU_ASSERT_FATAL(symlinkat("nowhere", tree_fd, "a/dangling") == 0);
	CU_ASSERT_FATAL(symlinkat("b", tree_fd, "a/sib") == 0);
	CU_ASSERT_FATAL(symlinkat("/etc", tree_fd, "etc") == 0);
	CU_ASSERT_FATAL(mkfifoat(tree_fd, "a/fifo", 0644) == 0);
}

static const struct {
	enum path_kind kind;
	const char    *path;
	enum target    state;
	size_t         found;
	const char    *dir;	/* what dir_fd is, NULL: -1 */
} resolve_rows[] = {
	{ PATH_FILE, "a/b/f.txt", TARGET_EXISTS, 2, "a/b" },
	{ PATH_FILE, "a/b/new.txt", TARGET_NEW, 2, "a/b" },
	{ PATH_FILE, "new.txt", TARGET_NEW, 0, "." },
	{ PATH_FILE, "file", TARGET_EXISTS, 0, "." },
	{ PATH_FILE, "a/b/lf", TARGET_SYMLINK, 2, "a/b" },
	{ PATH_FILE, "a/dangling", TARGET_SYMLINK, 1, "a" },
	{ PATH_FILE, "etc", TARGET_SYMLINK, 0, "." },
	{ PATH_FILE, "etc/passwd", TARGET_SYMLINK, 0, NULL },
	{ PATH_FILE, "etc/x/y", TARGET_SYMLINK, 0, NULL },
	{ PATH_FILE, "a/sib/f.txt", TARGET_SYMLINK, 1, NULL },
	{ PATH_FILE, "a/dangling/x", TARGET_SYMLINK, 1, NULL },
	{ PATH_FILE, "file/x", TARGET_NOT_FOLDER, 0, NULL },
	{ PATH_FILE, "a/b/f.txt/x", TARGET_NOT_FOLDER, 2, NULL },
	{ PATH_FILE, "a/fifo/x", TARGET_NOT_FOLDER, 1, NULL },
	{ PATH_FILE, "a/fifo", TARGET_NOT_REGULAR, 1, "a" },
	{ PATH_FILE, "a/d", TARGET_NOT_REGULAR, 1, "a" },
	{ PATH_FILE, "a/x/y/z.txt", TARGET_PARENT_MISSING, 1, NULL },
	{ PATH_FILE, "x/z.txt", TARGET_PARENT_MISSING, 0, NULL },
	{ PATH_FOLDER, "", TARGET_NEW, 0, "." },
	{ PATH_FOLDER, "a", TARGET_NEW, 1, "a" },
	{ PATH_FOLDER, "a/b", TARGET_NEW, 2, "a/b" },
	{ PATH_FOLDER, "a/b/f.txt", TARGET_NOT_FOLDER, 2, NULL },
	{ PATH_FOLDER, "a/fifo", TARGET_NOT_FOLDER, 1, NULL },
	{ PATH_FOLDER, "file", TARGET_NOT_FOLDER, 0, NULL },
	{ PATH_FOLDER, "etc", TARGET_SYMLINK, 0, NULL },
	{ PATH_FOLDER, "a/sib", TARGET_SYMLINK, 1, NULL },
	{ PATH_FOLDER, "a/b/lf", TARGET_SYMLINK, 2, NULL },
	{ PATH_FOLDER, "a/x", TARGET_PARENT_MISSING, 1, NULL },
	{ PATH_FOLDER, "a/x/y", TARGET_PARENT_MISSING, 1, NULL },
	{ PATH_FOLDER, "x", TARGET_PARENT_MISSING, 0, NULL },
};

static void
test_resolve_table(void)
{
	struct store_target t;
	struct path         p;
	size_t              i;

	make_tree();
	for (i = 0; i < sizeof resolve_rows / sizeof resolve_rows[0]; i++) {
		mkpath(&p, resolve_rows[i].path);
		CU_ASSERT_EQUAL_FATAL(store_resolve(tree_fd, &p,
		    resolve_rows[i].kind, &t), STORE_OK);
		if (t.state != resolve_rows[i].state ||
		    t.found != resolve_rows[i].found)
			printf("\n  row %zu %s: state %d found %zu\n", i,
			    resolve_rows[i].path, t.state, t.found);
		CU_ASSERT_EQUAL(t.state, resolve_rows[i].state);
		CU_ASSERT_EQUAL(t.found, resolve_rows[i].found);
		CU_ASSERT_EQUAL(t.created, 0);
		if (resolve_rows[i].dir == NULL) {
			CU_ASSERT_EQUAL(t.dir_fd, -1);
		} else {
			CU_ASSERT(same_file(t.dir_fd, tree_fd,
			    resolve_rows[i].dir));
		}
		store_target_release(&t);
		store_target_release(&t);
		CU_ASSERT_EQUAL(t.dir_fd, -1);
	}
}

static void
test_resolve_exists_stat(void)
{
	struct store_target t;
	struct path         p;

	make_tree();
	mkpath(&p, "a/b/f.txt");
	CU_ASSERT_EQUAL(store_resolve(tree_fd, &p, PATH_FILE, &t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_EXISTS);
	CU_ASSERT_EQUAL(t.st.st_size, 5);
	CU_ASSERT(S_ISREG(t.st.st_mode));
	store_target_release(&t);
}

static void
test_resolve_errors(void)
{
	struct store_target t;
	struct path         p;

	make_tree();
	/* PATH_FILE needs a component */
	mkpath(&p, "");
	CU_ASSERT_EQUAL(store_resolve(tree_fd, &p, PATH_FILE, &t), STORE_IO);
	CU_ASSERT_EQUAL(errno, EINVAL);
	store_target_release(&t);
	/* a bad base */
	mkpath(&p, "a");
	CU_ASSERT_EQUAL(store_resolve(-1, &p, PATH_FILE, &t), STORE_IO);
	store_target_release(&t);
	/* an open failing for another reason than the path's shape */
	mkpath(&p, "a/b/f.txt");
	fault_set("open", 2, EACCES);
	CU_ASSERT_EQUAL(store_resolve(tree_fd, &p, PATH_FILE, &t), STORE_IO);
	CU_ASSERT_EQUAL(errno, EACCES);
	fault_set(NULL, 0, 0);
	CU_ASSERT_EQUAL(t.dir_fd, -1);
	store_target_release(&t);
}

/* --- store_make_parents, store_target_rollback ---------------------- */

static void
test_parents_make_rollback(void)
{
	struct store_target t;
	struct path         p;
	struct stat         st;
	int                 fd;

	CU_ASSERT_FATAL((fd = fresh("mk")) != -1);
	mkpath(&p, "m/n/o/f.txt");
	CU_ASSERT_EQUAL(store_resolve(fd, &p, PATH_FILE, &t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_PARENT_MISSING);
	CU_ASSERT_EQUAL(store_make_parents(&t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_NEW);
	CU_ASSERT_EQUAL(t.created, 3);
	CU_ASSERT_EQUAL(t.found, 3);
	CU_ASSERT(same_file(t.dir_fd, fd, "m/n/o"));
	CU_ASSERT(fstatat(fd, "m/n", &st, 0) == 0 &&
	    (st.st_mode & 07777) == 0755);
	store_target_rollback(&t);
	CU_ASSERT_EQUAL(t.created, 0);
	CU_ASSERT_EQUAL(entries(fd), 0);
	store_target_release(&t);
	close(fd);
}

static void
test_parents_partial(void)
{
	struct store_target t;
	struct path         p;
	int                 fd;

	CU_ASSERT_FATAL((fd = fresh("mk2")) != -1);
	CU_ASSERT(mkdirat(fd, "a", 0755) == 0);
	mkpath(&p, "a/p/q");
	CU_ASSERT_EQUAL(store_resolve(fd, &p, PATH_FOLDER, &t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_PARENT_MISSING);
	CU_ASSERT_EQUAL(t.found, 1);
	CU_ASSERT_EQUAL(store_make_parents(&t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_NEW);
	CU_ASSERT_EQUAL(t.created, 2);
	CU_ASSERT(same_file(t.dir_fd, fd, "a/p/q"));
	/* someone stored into a/p meanwhile: a/p/q goes, a/p stays */
	put_file(fd, "a/p/other", "x");
	store_target_rollback(&t);
	store_target_rollback(&t);
	CU_ASSERT(faccessat(fd, "a/p/q", F_OK, AT_SYMLINK_NOFOLLOW) == -1);
	CU_ASSERT(faccessat(fd, "a/p/other", F_OK, 0) == 0);
	store_target_release(&t);
	close(fd);
}

static void
test_parents_noop(void)
{
	struct store_target t;
	struct path         p;

	make_tree();
	mkpath(&p, "a/b/new.txt");
	CU_ASSERT_EQUAL(store_resolve(tree_fd, &p, PATH_FILE, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_make_parents(&t), STORE_OK);
	CU_ASSERT_EQUAL(t.state, TARGET_NEW);
	CU_ASSERT_EQUAL(t.created, 0);
	store_target_rollback(&t);
	CU_ASSERT(faccessat(tree_fd, "a/b/f.txt", F_OK, 0) == 0);
	store_target_release(&t);
}

static const struct {
	const char    *op;
	int            nth;
	int            err;
	enum store_err want;
} parent_faults[] = {
	{ "mkdir", 1, ENOSPC, STORE_NOSPACE },
	{ "mkdir", 2, EDQUOT, STORE_QUOTA },
	{ "mkdir", 3, EACCES, STORE_IO },
	{ "fsync_dir", 2, EIO, STORE_IO },
	{ "fsync_dir", 3, ENOSPC, STORE_NOSPACE },
	{ "open", 2, EMFILE, STORE_IO },
};

static void
test_parents_faults(void)
{
	struct store_target t;
	struct path         p;
	size_t              i;
	int                 fd;

	CU_ASSERT_FATAL((fd = fresh("mk3")) != -1);
	mkpath(&p, "x/y/z/f.txt");
	for (i = 0; i < sizeof parent_faults / sizeof parent_faults[0]; i++) {
		CU_ASSERT_EQUAL(store_resolve(fd, &p, PATH_FILE, &t),
		    STORE_OK);
		fault_set(parent_faults[i].op, parent_faults[i].nth,
		    parent_faults[i].err);
		CU_ASSERT_EQUAL(store_make_parents(&t), parent_faults[i].want);
		fault_set(NULL, 0, 0);
		store_target_rollback(&t);
		store_target_release(&t);
		CU_ASSERT_EQUAL(entries(fd), 0);
	}
	close(fd);
}

/* Races: the hook plants r/s just before store makes it. */
static int race_fd = -1;
static const char *race_what;
static int race_mkdirs;

static int
race_hook(const char *op)
{
	int fd;

	if (strcmp(op, "mkdir") != 0 || ++race_mkdirs != 2)
		return 0;
	/* a plant that fails shows as the test's own failure below */
	if (strcmp(race_what, "link") == 0) {
		CU_ASSERT_EQUAL(symlinkat("/etc", race_fd, "r/s"), 0);
	} else if (strcmp(race_what, "folder") == 0) {
		CU_ASSERT_EQUAL(mkdirat(race_fd, "r/s", 0755), 0);
	} else if ((fd = openat(race_fd, "r/s", O_CREAT | O_WRONLY,
	    0644)) >= 0) {
		close(fd);
	} else {
		CU_FAIL("cannot plant r/s");
	}
	return 0;
}

static const struct {
	const char  *what;
	enum target  state;
	size_t       created;
} race_rows[] = {
	{ "link", TARGET_SYMLINK, 1 },	/* r made, then r/s is a link */
	{ "file", TARGET_NOT_FOLDER, 1 },
	{ "folder", TARGET_NEW, 2 },	/* r and r/s/t made */
};

static void
test_parents_races(void)
{
	struct store_target t;
	struct path         p;
	char                r[PATH_MAX];
	size_t              i;

	CU_ASSERT_FATAL((race_fd = fresh("race")) != -1);
	snprintf(r, sizeof r, "%s/race/r", root);
	mkpath(&p, "r/s/t/f.txt");
	for (i = 0; i < sizeof race_rows / sizeof race_rows[0]; i++) {
		CU_ASSERT_EQUAL(store_resolve(race_fd, &p, PATH_FILE, &t),
		    STORE_OK);
		CU_ASSERT_EQUAL(t.state, TARGET_PARENT_MISSING);
		race_what = race_rows[i].what;
		race_mkdirs = 0;
		store_fault = race_hook;
		CU_ASSERT_EQUAL(store_make_parents(&t), STORE_OK);
		store_fault = NULL;
		CU_ASSERT_EQUAL(t.state, race_rows[i].state);
		CU_ASSERT_EQUAL(t.created, race_rows[i].created);
		/* r/s, not ours, stays, and so r; r/s/t goes */
		store_target_rollback(&t);
		store_target_release(&t);
		CU_ASSERT(faccessat(race_fd, "r/s", F_OK,
		    AT_SYMLINK_NOFOLLOW) == 0);
		CU_ASSERT(faccessat(race_fd, "r/s/t", F_OK,
		    AT_SYMLINK_NOFOLLOW) == -1);
		CU_ASSERT_EQUAL(faccessat(race_fd, "/etc/t", F_OK, 0), -1);
		CU_ASSERT_EQUAL(rm_tree(r), 0);
	}
	close(race_fd);
}

/* --- store_open_user_dir -------------------------------------------- */

static void
test_user_dir(void)
{
	struct stat st;
	int         up, fd;

	CU_ASSERT_FATAL((up = fresh("up")) != -1);
	errno = 0;
	CU_ASSERT_EQUAL(store_open_user_dir(up, "alice", 0), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT((fd = store_open_user_dir(up, "alice", 1)) != -1);
	CU_ASSERT(same_file(fd, up, "alice"));
	CU_ASSERT(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0755);
	close(fd);
	CU_ASSERT((fd = store_open_user_dir(up, "alice", 1)) != -1);
	close(fd);
	CU_ASSERT((fd = store_open_user_dir(up, "alice", 0)) != -1);
	close(fd);
	/* a link is never followed, nor its target created */
	CU_ASSERT(symlinkat("elsewhere", up, "eve") == 0);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "eve", 1), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "eve", 0), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT(faccessat(up, "elsewhere", F_OK, 0) == -1);
	put_file(up, "bob", "x");
	CU_ASSERT_EQUAL(store_open_user_dir(up, "bob", 1), -1);
	CU_ASSERT_EQUAL(errno, ENOTDIR);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "bob", 0), -1);
	CU_ASSERT_EQUAL(errno, ENOTDIR);
	/* failures leave no folder */
	fault_set("mkdir", 1, EDQUOT);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "carol", 1), -1);
	CU_ASSERT_EQUAL(errno, EDQUOT);
	fault_set("fsync_dir", 1, EIO);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "carol", 1), -1);
	CU_ASSERT_EQUAL(errno, EIO);
	fault_set("open", 1, EMFILE);
	CU_ASSERT_EQUAL(store_open_user_dir(up, "carol", 1), -1);
	CU_ASSERT_EQUAL(errno, EMFILE);
	fault_set(NULL, 0, 0);
	CU_ASSERT(faccessat(up, "carol", F_OK, 0) == -1);
	close(up);
}

/* --- temporary files ------------------------------------------------ */

/* A temporary file in dir, as the gate makes one: its name, the file. */
static enum store_err
tmp_create(int dir, struct store_tmp *t)
{
	enum store_err e = store_tmp_name(dir, t);

	return e != STORE_OK ? e : store_tmp_open(t);
}

static void
test_tmp_create(void)
{
	struct store_tmp a, b;
	struct stat      st;
	size_t           i, plen = strlen(STORE_TMP_PREFIX);
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("tmp")) != -1);
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &a), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &b), STORE_OK);
	CU_ASSERT(strncmp(a.name, ".upgate-tmp-", plen) == 0);
	CU_ASSERT_EQUAL(strlen(a.name), plen + 16);
	for (i = plen; a.name[i] != '\0'; i++)
		CU_ASSERT(strchr("0123456789abcdef", a.name[i]) != NULL);
	CU_ASSERT(strcmp(a.name, b.name) != 0);
	CU_ASSERT(fstatat(dir, a.name, &st, AT_SYMLINK_NOFOLLOW) == 0);
	CU_ASSERT(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
	CU_ASSERT(a.written == 0 && a.allocated == 0 && a.synced == 0);
	CU_ASSERT_EQUAL(entries(dir), 2);
	store_tmp_abort(&a);
	store_tmp_abort(&a);
	store_tmp_abort(&b);
	CU_ASSERT_EQUAL(a.fd, -1);
	CU_ASSERT_EQUAL(entries(dir), 0);
	close(dir);
}

static void
test_tmp_create_faults(void)
{
	struct store_tmp t;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("tmpf")) != -1);
	/* a name found taken is not ours: left alone */
	fault_set("open", 1, EEXIST);
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_IO);
	CU_ASSERT_EQUAL(t.name[0], '\0');
	store_tmp_abort(&t);
	fault_set("open", 1, ENOSPC);
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_NOSPACE);
	CU_ASSERT_EQUAL(t.fd, -1);
	CU_ASSERT_EQUAL(t.name[0], '\0');
	store_tmp_abort(&t);
	fault_set("open", 1, EACCES);
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_IO);
	CU_ASSERT_EQUAL(errno, EACCES);
	store_tmp_abort(&t);
	fault_set(NULL, 0, 0);
	CU_ASSERT_EQUAL(entries(dir), 0);
	close(dir);
}

/* Stores (data, len) as name in dir with every step; 0 or the error. */
static enum store_err
store_all(int dir, const char *name, const char *data, size_t len,
    int64_t alloc, int replace, struct store_tmp *t)
{
	enum store_err e;
	size_t         off, n;

	if ((e = tmp_create(dir, t)) != STORE_OK)
		return e;
	if ((e = store_tmp_allocate(t, alloc)) != STORE_OK)
		return e;
	for (off = 0; off < len; off += n) {
		n = len - off < 65536 ? len - off : 65536;
		if ((e = store_tmp_write(t, data + off, n)) != STORE_OK)
			return e;
	}
	if ((e = store_tmp_finish(t)) != STORE_OK)
		return e;
	return store_tmp_publish(t, name, replace);
}

static void
test_publish(void)
{
	struct store_tmp t;
	struct stat      st;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("pub")) != -1);
	CU_ASSERT_EQUAL(store_all(dir, "f.txt", "first", 5, 5, 0, &t),
	    STORE_OK);
	CU_ASSERT_EQUAL(t.name[0], '\0');
	CU_ASSERT_EQUAL(t.fd, -1);
	store_tmp_abort(&t);	/* must not touch the stored file */
	CU_ASSERT(holds(dir, "f.txt", "first", 5));
	CU_ASSERT(fstatat(dir, "f.txt", &st, 0) == 0 &&
	    (st.st_mode & 07777) == 0644);
	/* without replace: the file stays, the temporary goes on abort */
	CU_ASSERT_EQUAL(store_all(dir, "f.txt", "second", 6, 6, 0, &t),
	    STORE_EXISTS);
	CU_ASSERT_EQUAL(entries(dir), 2);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 1);
	CU_ASSERT(holds(dir, "f.txt", "first", 5));
	/* with replace */
	CU_ASSERT_EQUAL(store_all(dir, "f.txt", "second", 6, 6, 1, &t),
	    STORE_OK);
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "f.txt", "second", 6));
	CU_ASSERT_EQUAL(entries(dir), 1);
	/* publishing twice */
	CU_ASSERT_EQUAL(store_tmp_publish(&t, "g.txt", 0), STORE_IO);
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* an empty file */
	CU_ASSERT_EQUAL(store_all(dir, "empty", "", 0, 0, 0, &t), STORE_OK);
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "empty", "", 0));
	close(dir);
}

/* In two steps: the name first, then the file; an existing one is left. */
static void
test_tmp_two_steps(void)
{
	struct store_tmp t;
	int              dir, fd;

	CU_ASSERT_FATAL((dir = fresh("two")) != -1);
	CU_ASSERT_EQUAL_FATAL(store_tmp_name(dir, &t), STORE_OK);
	CU_ASSERT(strncmp(t.name, STORE_TMP_PREFIX,
	    strlen(STORE_TMP_PREFIX)) == 0);
	CU_ASSERT_EQUAL(t.fd, -1);
	CU_ASSERT_EQUAL(entries(dir), 0);
	CU_ASSERT_EQUAL(store_tmp_open(&t), STORE_OK);
	CU_ASSERT(t.fd != -1);
	CU_ASSERT_EQUAL(entries(dir), 1);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 0);
	/* someone else's file under the name: refused, and left alone */
	CU_ASSERT_EQUAL_FATAL(store_tmp_name(dir, &t), STORE_OK);
	fd = openat(dir, t.name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT(fd != -1);
	if (fd != -1)
		close(fd);
	CU_ASSERT_EQUAL(store_tmp_open(&t), STORE_IO);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 1);
	close(dir);
}

/* A link or another file put in the temporary file's place is not published. */
static void
test_publish_swapped(void)
{
	struct store_tmp t;
	int              dir, fd;

	CU_ASSERT_FATAL((dir = fresh("swap")) != -1);
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_write(&t, "data", 4), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_finish(&t), STORE_OK);
	CU_ASSERT_EQUAL(unlinkat(dir, t.name, 0), 0);
	CU_ASSERT_EQUAL(symlinkat("/etc/passwd", dir, t.name), 0);
	CU_ASSERT_EQUAL(store_tmp_publish(&t, "final", 1), STORE_IO);
	CU_ASSERT_EQUAL(errno, ESTALE);
	CU_ASSERT_EQUAL(faccessat(dir, "final", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 0);
	/* a regular file of someone else's in its place */
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_finish(&t), STORE_OK);
	fd = openat(dir, "other", O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT(fd != -1);
	if (fd != -1)
		close(fd);
	/* made while the temporary file exists, so another inode */
	CU_ASSERT_EQUAL(renameat(dir, "other", dir, t.name), 0);
	CU_ASSERT_EQUAL(store_tmp_publish(&t, "final", 0), STORE_IO);
	CU_ASSERT_EQUAL(faccessat(dir, "final", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	store_tmp_abort(&t);
	close(dir);
}

/* Without RENAME_NOREPLACE: link and unlink. */
static void
test_publish_link_fallback(void)
{
	struct store_tmp t;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("publ")) != -1);
	fault_set("rename", 1, EINVAL);
	CU_ASSERT_EQUAL(store_all(dir, "f", "one", 3, 0, 0, &t), STORE_OK);
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "f", "one", 3));
	CU_ASSERT_EQUAL(entries(dir), 1);
	fault_set("rename", 1, ENOSYS);
	CU_ASSERT_EQUAL(store_all(dir, "f", "two", 3, 0, 0, &t),
	    STORE_EXISTS);
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "f", "one", 3));
	CU_ASSERT_EQUAL(entries(dir), 1);
	fault_set(NULL, 0, 0);
	close(dir);
}

/* The fallback's own failures, through a hook that fails two ops. */
static const char *fail_op2;

static int
two_hook(const char *op)
{
	if (strcmp(op, "rename") == 0)
		return EINVAL;
	return strcmp(op, fail_op2) == 0 ? EIO : 0;
}

static void
test_publish_link_faults(void)
{
	static const char *const ops[] = { "link", "unlink" };
	struct store_tmp t;
	size_t           i;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("publf")) != -1);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_OK);
		CU_ASSERT_EQUAL(store_tmp_finish(&t), STORE_OK);
		fail_op2 = ops[i];
		store_fault = two_hook;
		CU_ASSERT_EQUAL(store_tmp_publish(&t, "g", 0), STORE_IO);
		CU_ASSERT_EQUAL(errno, EIO);
		store_fault = NULL;
		store_tmp_abort(&t);
		CU_ASSERT_EQUAL(entries(dir), 0);
	}
	close(dir);
}

static void
test_publish_dir_sync_fails(void)
{
	struct store_tmp t;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("pubs")) != -1);
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_finish(&t), STORE_OK);
	fault_set("fsync_dir", 1, EIO);
	CU_ASSERT_EQUAL(store_tmp_publish(&t, "f", 0), STORE_IO);
	fault_set(NULL, 0, 0);
	/* renamed already: abort leaves it to the caller */
	CU_ASSERT_EQUAL(t.name[0], '\0');
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "f", "", 0));
	close(dir);
}

static char *
pattern(size_t len)
{
	char  *p;
	size_t i;

	if ((p = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		p[i] = (char)(i * 31 + i / 4096);
	return p;
}

static void
test_allocate(void)
{
	struct store_tmp t;
	struct stat      st;
	int              dir;

	CU_ASSERT_FATAL((dir = fresh("alloc")) != -1);
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, 0), STORE_OK);
	CU_ASSERT_EQUAL(t.allocated, 0);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, -1), STORE_IO);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, MIB), STORE_OK);
	CU_ASSERT_EQUAL(t.allocated, MIB);
	CU_ASSERT(fstat(t.fd, &st) == 0 && st.st_size == MIB &&
	    st.st_blocks * 512 >= MIB);
	CU_ASSERT_EQUAL(store_tmp_write(&t, "0123456789", 10), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_finish(&t), STORE_OK);
	CU_ASSERT(fstatat(dir, t.name, &st, 0) == 0 && st.st_size == 10);
	CU_ASSERT_EQUAL(store_tmp_publish(&t, "ten", 0), STORE_OK);
	CU_ASSERT(holds(dir, "ten", "0123456789", 10));
	/* a filesystem without fallocate: fine, the writes will tell */
	CU_ASSERT_EQUAL_FATAL(tmp_create(dir, &t), STORE_OK);
	fault_set("fallocate", 1, EOPNOTSUPP);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, MIB), STORE_OK);
	CU_ASSERT_EQUAL(t.allocated, 0);
	fault_set("fallocate", 1, EINTR);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, MIB), STORE_OK);
	CU_ASSERT_EQUAL(t.allocated, MIB);
	fault_set(NULL, 0, 0);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 1);
	close(dir);
}

/* Beyond WRITEBACK_CHUNK: writeback starts, the content is intact. */
static void
test_big_write(void)
{
	struct store_tmp t;
	size_t           len = 20 * MIB + 123;
	char            *data;
	int              dir;

	CU_ASSERT_FATAL((data = pattern(len)) != NULL);
	CU_ASSERT_FATAL((dir = fresh("big")) != -1);
	CU_ASSERT_EQUAL(store_all(dir, "big", data, len, (int64_t)len, 0, &t),
	    STORE_OK);
	CU_ASSERT(t.synced >= 16 * MIB);
	CU_ASSERT_EQUAL(t.written, (int64_t)len);
	CU_ASSERT(holds(dir, "big", data, len));
	CU_ASSERT_EQUAL(entries(dir), 1);
	free(data);
	close(dir);
}

/*
 * Every failure of the stream, with what it must answer; after each,
 * abort leaves the folder empty.  size is what is written, with room
 * allocated for 4 KiB more so that finish trims.
 */
static const struct {
	const char    *op;
	int            nth;
	int            err;
	size_t         size;
	enum store_err want;
} stream_faults[] = {
	{ "open", 1, ENOSPC, 100, STORE_NOSPACE },
	{ "open", 1, EACCES, 100, STORE_IO },
	{ "fallocate", 1, ENOSPC, 100, STORE_NOSPACE },
	{ "fallocate", 1, EDQUOT, 100, STORE_QUOTA },
	{ "fallocate", 1, EIO, 100, STORE_IO },
	{ "write", 1, ENOSPC, 100, STORE_NOSPACE },
	{ "write", 3, EDQUOT, 300000, STORE_QUOTA },
	{ "write", 2, EIO, 300000, STORE_IO },
	{ "write", 2, EINTR, 300000, STORE_OK },
	{ "sync_file_range", 1, EIO, 10 * MIB, STORE_IO },
	{ "sync_file_range", 1, ENOSPC, 10 * MIB, STORE_NOSPACE },
	{ "sync_file_range", 1, EINVAL, 10 * MIB, STORE_OK },
	{ "ftruncate", 1, EIO, 100, STORE_IO },
	{ "fchmod", 1, EPERM, 100, STORE_IO },
	{ "fsync", 1, ENOSPC, 100, STORE_NOSPACE },
	{ "fsync", 1, EDQUOT, 100, STORE_QUOTA },
	{ "fsync", 1, EIO, 100, STORE_IO },
	{ "fsync", 1, EINTR, 100, STORE_OK },
	{ "close", 1, EDQUOT, 100, STORE_QUOTA },
	{ "close", 1, EIO, 100, STORE_IO },
	{ "rename", 1, EIO, 100, STORE_IO },
	{ "rename", 1, EXDEV, 100, STORE_IO },
	{ "rename", 1, EDQUOT, 100, STORE_QUOTA },
};

/*
 * The cause noted for the log (upgate(8), "Logs"): the system call
 * behind the hook's op, and the errno's name.
 */
static void
check_cause(const char *op, int err)
{
	const char *call = strcmp(op, "open") == 0 ? "openat" :
	    strcmp(op, "rename") == 0 ? "renameat" : op;
	const char *text = cause_text();
	char        want[64];

	snprintf(want, sizeof want, ":%s", strerrorname_np(err));
	CU_ASSERT_EQUAL(strncmp(text, call, strlen(call)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
	if (strncmp(text, call, strlen(call)) != 0)
		printf("\n  %s: cause %s\n", op, text);
}

static void
test_stream_faults(void)
{
	struct store_tmp t;
	enum store_err   e;
	size_t           i;
	char            *data;
	int              dir;

	CU_ASSERT_FATAL((data = pattern(10 * MIB)) != NULL);
	CU_ASSERT_FATAL((dir = fresh("faults")) != -1);
	for (i = 0; i < sizeof stream_faults / sizeof stream_faults[0]; i++) {
		fault_set(stream_faults[i].op, stream_faults[i].nth,
		    stream_faults[i].err);
		e = store_all(dir, "f", data, stream_faults[i].size,
		    (int64_t)stream_faults[i].size + 4096, 0, &t);
		if (e != stream_faults[i].want || fault.seen <
		    stream_faults[i].nth)
			printf("\n  row %zu %s: error %d (seen %d)\n", i,
			    stream_faults[i].op, (int)e, fault.seen);
		CU_ASSERT_EQUAL(e, stream_faults[i].want);
		CU_ASSERT(fault.seen >= stream_faults[i].nth);
		fault_set(NULL, 0, 0);
		if (e != STORE_OK) {
			CU_ASSERT_EQUAL(errno, stream_faults[i].err);
			check_cause(stream_faults[i].op, stream_faults[i].err);
		}
		store_tmp_abort(&t);
		if (e == STORE_OK) {
			CU_ASSERT(holds(dir, "f", data,
			    stream_faults[i].size));
			CU_ASSERT_EQUAL(store_unlink(dir, "f"), STORE_OK);
		}
		CU_ASSERT_EQUAL(entries(dir), 0);
	}
	free(data);
	close(dir);
}

/* --- store_unlink, store_space --------------------------------------- */

static void
test_unlink(void)
{
	int dir;

	CU_ASSERT_FATAL((dir = fresh("unl")) != -1);
	put_file(dir, "f", "x");
	CU_ASSERT_EQUAL(store_unlink(dir, "f"), STORE_OK);
	CU_ASSERT_EQUAL(entries(dir), 0);
	CU_ASSERT_EQUAL(store_unlink(dir, "f"), STORE_IO);
	CU_ASSERT_EQUAL(errno, ENOENT);
	put_file(dir, "f", "x");
	fault_set("fsync_dir", 1, ENOSPC);
	CU_ASSERT_EQUAL(store_unlink(dir, "f"), STORE_NOSPACE);
	fault_set("unlink", 1, EIO);
	put_file(dir, "g", "x");
	CU_ASSERT_EQUAL(store_unlink(dir, "g"), STORE_IO);
	fault_set(NULL, 0, 0);
	CU_ASSERT(holds(dir, "g", "x", 1));
	close(dir);
}

static void
test_space(void)
{
	int64_t free_bytes = -1, total = -1;

	CU_ASSERT_EQUAL(store_space(root_fd, &free_bytes, &total), 0);
	CU_ASSERT(free_bytes > 0 && total >= free_bytes);
	CU_ASSERT_EQUAL(store_space(-1, &free_bytes, &total), -1);
}

/* --- a real ENOSPC on a 1 MiB tmpfs --------------------------------- */

/* 1 when mounted; else says loudly why the test is skipped. */
static int
mount_small(void)
{
	if (geteuid() != 0) {
		printf("\n  SKIPPED: real ENOSPC needs root to mount a "
		    "tmpfs\n");
		return 0;
	}
	snprintf(small, sizeof small, "%s/small", root);
	if (mkdir(small, 0755) == -1 ||
	    mount("tmpfs", small, "tmpfs", 0, "size=1m") == -1) {
		printf("\n  SKIPPED: cannot mount a tmpfs on %s: %s\n", small,
		    strerror(errno));
		small[0] = '\0';
		return 0;
	}
	return 1;
}

static void
test_real_nospace(void)
{
	struct store_tmp t;
	char            *data;
	size_t           off;
	enum store_err   e = STORE_OK;
	int              dir;

	if (!mount_small())
		return;
	CU_ASSERT_FATAL((data = pattern(2 * MIB)) != NULL);
	dir = open(small, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(dir != -1);
	/* reserving more than the disk holds */
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_OK);
	CU_ASSERT_EQUAL(store_tmp_allocate(&t, 2 * MIB), STORE_NOSPACE);
	CU_ASSERT_EQUAL(errno, ENOSPC);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 0);
	/* writing past the end, unreserved */
	CU_ASSERT_EQUAL(tmp_create(dir, &t), STORE_OK);
	for (off = 0; off < 2 * MIB && e == STORE_OK; off += 65536)
		e = store_tmp_write(&t, data + off, 65536);
	CU_ASSERT_EQUAL(e, STORE_NOSPACE);
	CU_ASSERT(t.written <= MIB);
	store_tmp_abort(&t);
	CU_ASSERT_EQUAL(entries(dir), 0);
	/* and the space is back */
	CU_ASSERT_EQUAL(store_all(dir, "f", data, MIB / 2, MIB / 2, 0, &t),
	    STORE_OK);
	store_tmp_abort(&t);
	CU_ASSERT(holds(dir, "f", data, MIB / 2));
	close(dir);
	free(data);
	CU_ASSERT_EQUAL(umount2(small, MNT_DETACH), 0);
	small[0] = '\0';
}

static CU_TestInfo resolve_tests[] = {
	{ "every state, files and folders", test_resolve_table },
	{ "an existing file's stat", test_resolve_exists_stat },
	{ "unexpected errors", test_resolve_errors },
	CU_TEST_INFO_NULL
};

static CU_TestInfo parent_tests[] = {
	{ "make then rollback leaves nothing", test_parents_make_rollback },
	{ "partial path, non-empty folder kept", test_parents_partial },
	{ "nothing missing: no-op", test_parents_noop },
	{ "failures roll back", test_parents_faults },
	{ "races: link, file, folder", test_parents_races },
	{ "user folders", test_user_dir },
	CU_TEST_INFO_NULL
};

static CU_TestInfo tmp_tests[] = {
	{ "create: 0600, name", test_tmp_create },
	{ "create failures", test_tmp_create_faults },
	{ "publish, replace, exists", test_publish },
	{ "temporary file in two steps", test_tmp_two_steps },
	{ "publish of a swapped temporary file", test_publish_swapped },
	{ "publish by link", test_publish_link_fallback },
	{ "publish by link failures", test_publish_link_faults },
	{ "folder sync fails after rename", test_publish_dir_sync_fails },
	{ "fallocate", test_allocate },
	{ "20 MiB with writeback", test_big_write },
	{ "every stream failure", test_stream_faults },
	{ "real ENOSPC on tmpfs", test_real_nospace },
	CU_TEST_INFO_NULL
};

static CU_TestInfo misc_tests[] = {
	{ "unlink", test_unlink },
	{ "space", test_space },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "resolve", suite_init, suite_clean, NULL, NULL, resolve_tests },
	{ "parents", suite_init, suite_clean, NULL, NULL, parent_tests },
	{ "tmp", suite_init, suite_clean, NULL, NULL, tmp_tests },
	{ "misc", suite_init, suite_clean, NULL, NULL, misc_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
