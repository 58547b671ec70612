#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "ledger.h"
#include "names.h"
#include "number.h"
#include "store.h"

#define DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define WALK_MAX	64	/* components of a relative path */
#define TREE_DEPTH_MAX	64	/* folders open at once in a tree walk */
#define RECORD_TMP	".rec.tmp"	/* names upgate stores never start with '.' */
#define RESV_LINE_MAX	(4096 + 32)	/* a resv line: bytes, space, path */

static const char *const errors[LEDGER__MAX] = {
	[LEDGER_OK]      = "success",
	[LEDGER_BUSY]    = "ledger lock not obtained in time",
	[LEDGER_NOSPACE] = "no space left for the ledger",
	[LEDGER_IO]      = "ledger input/output error",
};

const char *
ledger_strerror(enum ledger_err e)
{
	return (unsigned)e < LEDGER__MAX ? errors[e] : "unknown ledger error";
}

/* The error that errno stands for (SPEC §6 rows 14 and 16). */
static enum ledger_err
errno_err(void)
{
	return errno == ENOSPC || errno == EDQUOT ? LEDGER_NOSPACE : LEDGER_IO;
}

/*
 * A user name as SPEC §3 has it: checked again here because user names
 * become file names in usage/ and resv/.
 */
static int
user_ok(const char *s)
{
	return s != NULL && user_name_valid(s);
}

/* An open-file-description lock on the whole file (SPEC §4). */
static int
ofd_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	fl.l_pid = 0;		/* required by F_OFD_* */
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* One of usage/, files/, resv/; the caller closes it. */
static int
subdir(const struct ledger *l, const char *name)
{
	if (l->state_fd < 0) {
		errno = EBADF;
		return -1;
	}
	return openat(l->state_fd, name, DIR_FLAGS);
}

/*
 * Reads a small regular file whole into buf (NUL-terminated).  0 on
 * success, 1 when it does not exist, 2 when it is a folder, -1 otherwise
 * (including a file that does not fit).
 */
static int
read_small(int dfd, const char *name, char *buf, size_t size, size_t *len)
{
	struct stat st;
	ssize_t     n = 0;
	int         fd, rc = -1;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) == -1)
		goto done;
	if (S_ISDIR(st.st_mode)) {
		rc = 2;
		goto done;
	}
	if (!S_ISREG(st.st_mode))
		goto done;
	for (*len = 0; *len < size; *len += (size_t)n) {
		if ((n = read(fd, buf + *len, size - *len)) <= 0)
			break;
	}
	if (n == -1 || *len == size)
		goto done;
	buf[*len] = '\0';
	rc = 0;
done:
	close(fd);
	return rc;
}

/*
 * Replaces name in dfd with (data, len) through tmp and renameat, so a
 * reader sees the old or the new content whole.  With sync the file and
 * the folder are made durable, so a crash cannot undo the change.
 */
static enum ledger_err
write_atomic(int dfd, const char *tmp, const char *name, const char *data,
    size_t len, int sync)
{
	int fd;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return errno_err();
	if (write_all(fd, data, len) == -1 || (sync && fsync(fd) == -1)) {
		close(fd);
		goto fail;
	}
	if (close(fd) == -1 || renameat(dfd, tmp, dfd, name) == -1)
		goto fail;
	if (sync && fsync(dfd) == -1)
		return errno_err();
	return LEDGER_OK;
fail:
	fd = errno;
	unlinkat(dfd, tmp, 0);
	errno = fd;
	return errno_err();
}

/* ---- usage/USER ---- */

static enum ledger_err
used_read(int udir, const char *user, int64_t *used)
{
	char   buf[32];
	size_t len;

	switch (read_small(udir, user, buf, sizeof buf, &len)) {
	case 1:
		*used = 0;
		return LEDGER_OK;
	case 0:
		if (len >= 2 && buf[len - 1] == '\n' &&
		    number_parse(buf, len - 1, used) == 0)
			return LEDGER_OK;
		/* FALLTHROUGH */
	default:
		return LEDGER_IO;
	}
}

static enum ledger_err
used_write(int udir, const char *user, int64_t used, int sync)
{
	char tmp[80], line[32];
	int  n;

	snprintf(tmp, sizeof tmp, ".%s.tmp", user);
	n = snprintf(line, sizeof line, "%lld\n", (long long)used);
	return write_atomic(udir, tmp, user, line, (size_t)n, sync);
}

/* Moves user's usage by delta, never below 0 nor above 2^63-1. */
static enum ledger_err
used_adjust(struct ledger *l, const char *user, int64_t delta)
{
	enum ledger_err err;
	int64_t         used;
	int             udir;

	if (delta == 0)
		return LEDGER_OK;
	if ((udir = subdir(l, "usage")) == -1)
		return LEDGER_IO;
	if ((err = used_read(udir, user, &used)) != LEDGER_OK)
		goto done;
	if (delta > 0)
		used = used > INT64_MAX - delta ? INT64_MAX : used + delta;
	else
		used = used + delta < 0 ? 0 : used + delta;
	err = used_write(udir, user, used, 1);
done:
	close(udir);
	return err;
}

/* ---- safe walks of relative paths ---- */

/*
 * A '/'-separated relative path split into components, and the folders
 * opened along it: fd[0] is the borrowed base, fd[i] the folder comp[i-1].
 */
struct walk {
	char        buf[4096];
	const char *comp[WALK_MAX];
	size_t      ncomp;
	int         fd[WALK_MAX + 1];
	size_t      nfd;
};

/*
 * Splits rel.  No component may be empty or start with '.' (upgate
 * stores no such name, and it rules out "." and ".."), except the last
 * one when last_dot is set (a temporary file).  -1 when invalid.
 */
static int
walk_split(struct walk *w, const char *rel, int last_dot)
{
	char  *p, *slash = NULL;
	size_t i;

	w->ncomp = w->nfd = 0;
	if (rel == NULL || strlen(rel) >= sizeof w->buf)
		return -1;
	strcpy(w->buf, rel);
	for (p = w->buf; w->ncomp < WALK_MAX; p = slash + 1) {
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

/* Opens (creating them, when create is set) comp[i] as a folder. */
static int
walk_step(struct walk *w, size_t i, int create)
{
	int dfd = w->fd[w->nfd - 1], fd, tries = 0;

	while ((fd = openat(dfd, w->comp[i], DIR_FLAGS)) == -1) {
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

/*
 * Opens the first nfolders components below base (borrowed) as folders,
 * never following a symbolic link.  0, 1 when one is missing or not a
 * folder (only without create), -1 with errno on failure.
 */
static int
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

static void
walk_release(struct walk *w)
{
	while (w->nfd > 1)
		close(w->fd[--w->nfd]);
	w->nfd = 0;
}

static int
walk_dir(const struct walk *w)
{
	return w->fd[w->nfd - 1];
}

static const char *
walk_last(const struct walk *w)
{
	return w->comp[w->ncomp - 1];
}

/* Removes the folders of the walk that are now empty, deepest first. */
static void
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

/*
 * A depth-first walk over the regular files of a tree, skipping every
 * name that starts with '.' (temporary files, state_dir inside
 * upload_dir) and never following a symbolic link.  path holds the
 * relative path of the current entry.  visit returns 0 to go on, 1 to
 * stop, -1 on failure.
 */
struct tree {
	char      path[4096];
	size_t    len;
	unsigned  depth;
	int     (*visit)(struct tree *, int dfd, const char *name,
		    const struct stat *);
	void     *arg;
};

static int tree_walk(struct tree *, int);

static void
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
	else if (S_ISDIR(st.st_mode) && t->depth < TREE_DEPTH_MAX) {
		if ((fd = openat(dfd, name, DIR_FLAGS)) != -1) {
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

/*
 * Walks the folder rel below base (borrowed; "" for base itself).  A
 * missing folder is an empty one.
 */
static int
tree_walk_at(struct tree *t, int base, const char *rel)
{
	struct walk w;
	int         fd = -1, rc;

	if (rel[0] == '\0')
		fd = openat(base, ".", DIR_FLAGS);
	else if (walk_split(&w, rel, 0) == -1)
		return -1;
	else {
		/* a fresh description: its offset is not shared with base */
		if ((rc = walk_open(&w, base, w.ncomp, 0)) == 0)
			fd = openat(walk_dir(&w), ".", DIR_FLAGS);
		walk_release(&w);
		if (rc == 1)
			return 0;
	}
	return fd == -1 ? -1 : tree_walk(t, fd);
}

/* ---- records: files/REL ---- */

/* Parses "USER SIZE\n"; -1 when malformed. */
static int
record_parse(const char *buf, size_t len, struct record *out)
{
	const char *sp;
	size_t      ulen;

	if (len < 4 || buf[len - 1] != '\n' ||
	    (sp = memchr(buf, ' ', len)) == NULL)
		return -1;
	ulen = (size_t)(sp - buf);
	if (ulen >= sizeof out->owner)
		return -1;
	memcpy(out->owner, buf, ulen);
	out->owner[ulen] = '\0';
	if (!user_ok(out->owner))
		return -1;
	sp++;
	return number_parse(sp, (size_t)(buf + len - 1 - sp), &out->size);
}

/* As read_small: 0 (*out filled), 1 none, 2 a folder, -1 corrupt. */
static int
record_read(int dfd, const char *name, struct record *out)
{
	char   buf[128];
	size_t len;
	int    rc;

	if ((rc = read_small(dfd, name, buf, sizeof buf, &len)) != 0)
		return rc;
	return record_parse(buf, len, out);
}

static enum ledger_err
record_write(int dfd, const char *name, const char *user, int64_t size,
    int sync)
{
	char line[128];
	int  n;

	n = snprintf(line, sizeof line, "%s %lld\n", user, (long long)size);
	return write_atomic(dfd, RECORD_TMP, name, line, (size_t)n, sync);
}

/* Removes the folder name below dfd and everything in it. */
static int
remove_tree(int dfd, const char *name, unsigned depth)
{
	struct dirent *de;
	DIR           *d;
	int            fd;

	if (depth > TREE_DEPTH_MAX ||
	    (fd = openat(dfd, name, DIR_FLAGS)) == -1)
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
			remove_tree(dirfd(d), de->d_name, depth + 1);
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

int
ledger_record_get(struct ledger *l, const char *rel, struct record *out)
{
	struct walk w;
	int         files, rc;

	if (walk_split(&w, rel, 0) == -1)
		return -1;
	if ((files = subdir(l, "files")) == -1)
		return -1;
	if ((rc = walk_open(&w, files, w.ncomp - 1, 0)) == 0) {
		rc = record_read(walk_dir(&w), walk_last(&w), out);
		if (rc == 2)
			rc = 1;		/* a folder of records: none */
	}
	walk_release(&w);
	close(files);
	return rc;
}

/* ---- open, lock ---- */

enum ledger_err
ledger_open(struct ledger *l, const char *state_dir)
{
	static const char *const dirs[] = { "usage", "files", "resv" };
	enum ledger_err err;
	size_t          i;

	l->state_fd = l->lock_fd = -1;
	l->locked = 0;
	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((l->state_fd = open(state_dir, DIR_FLAGS)) == -1)
		goto fail;
	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdirat(l->state_fd, dirs[i], 0700) == -1 &&
		    errno != EEXIST)
			goto fail;
	l->lock_fd = openat(l->state_fd, "lock",
	    O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->lock_fd == -1)
		goto fail;
	return LEDGER_OK;
fail:
	err = errno_err();
	ledger_close(l);
	return err;
}

void
ledger_close(struct ledger *l)
{
	if (l->lock_fd >= 0)
		close(l->lock_fd);	/* drops the lock with it */
	if (l->state_fd >= 0)
		close(l->state_fd);
	l->lock_fd = l->state_fd = -1;
	l->locked = 0;
}

static long
elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000;
}

/*
 * Polls with F_OFD_SETLK, backing off from 1 to 50 ms: F_OFD_SETLKW
 * could only be bounded by a signal, and signals and threads do not mix.
 */
enum ledger_err
ledger_lock(struct ledger *l, int timeout_ms)
{
	struct timespec start, now, nap;
	long            delay = 1, spent;

	if (l->lock_fd < 0)
		return LEDGER_IO;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (ofd_lock(l->lock_fd, F_WRLCK) == 0) {
			l->locked = 1;
			return LEDGER_OK;
		}
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return LEDGER_IO;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((spent = elapsed_ms(&start, &now)) >= timeout_ms)
			return LEDGER_BUSY;
		if (delay > timeout_ms - spent)
			delay = timeout_ms - spent;
		nap.tv_sec = delay / 1000;
		nap.tv_nsec = delay % 1000 * 1000000;
		nanosleep(&nap, NULL);
		delay = delay * 2 > 50 ? 50 : delay * 2;
	}
}

void
ledger_unlock(struct ledger *l)
{
	if (l->lock_fd >= 0 && l->locked)
		ofd_lock(l->lock_fd, F_UNLCK);
	l->locked = 0;
}

/* ---- usage ---- */

enum ledger_err
ledger_set_used(struct ledger *l, const char *user, int64_t used)
{
	enum ledger_err err;
	int             udir;

	if (!user_ok(user) || used < 0)
		return LEDGER_IO;
	if ((udir = subdir(l, "usage")) == -1)
		return LEDGER_IO;
	err = used_write(udir, user, used, 1);
	close(udir);
	return err;
}

enum ledger_err
ledger_each_user(struct ledger *l, void (*fn)(void *, const char *),
    void *arg)
{
	struct dirent *de;
	DIR           *d;
	int            udir;

	if ((udir = subdir(l, "usage")) == -1)
		return LEDGER_IO;
	if ((d = fdopendir(udir)) == NULL) {
		close(udir);
		return LEDGER_IO;
	}
	while ((de = readdir(d)) != NULL)
		if (user_ok(de->d_name))
			fn(arg, de->d_name);
	closedir(d);
	return LEDGER_OK;
}

/* ---- reservations: resv/USER.ID ---- */

struct resv_info {
	char    owner[65];
	int64_t bytes;
	char    tmprel[4096];	/* "" when none */
};

/*
 * Splits a resv file name "USER.ID" at its last '.' (user names may hold
 * dots, IDs are hex).  -1 for a name that is not a reservation's.
 */
static int
resv_owner(const char *name, char *owner, size_t size)
{
	const char *dot = strrchr(name, '.');
	size_t      len;

	if (dot == NULL || dot[1] == '\0' ||
	    strspn(dot + 1, "0123456789abcdef") != strlen(dot + 1))
		return -1;
	if ((len = (size_t)(dot - name)) >= size)
		return -1;
	memcpy(owner, name, len);
	owner[len] = '\0';
	return user_ok(owner) ? 0 : -1;
}

/* Parses "BYTES TMPREL\n" or "BYTES\n"; -1 when malformed. */
static int
resv_parse(const char *buf, size_t len, struct resv_info *info)
{
	const char *sp;
	size_t      n;

	info->bytes = 0;
	info->tmprel[0] = '\0';
	if (len < 2 || buf[len - 1] != '\n')
		return -1;
	len--;
	if ((sp = memchr(buf, ' ', len)) == NULL)
		return number_parse(buf, len, &info->bytes);
	n = (size_t)(buf + len - sp - 1);
	if (n >= sizeof info->tmprel)
		return -1;
	memcpy(info->tmprel, sp + 1, n);
	info->tmprel[n] = '\0';
	return number_parse(buf, (size_t)(sp - buf), &info->bytes);
}

static void
resv_read(int fd, struct resv_info *info)
{
	char    buf[RESV_LINE_MAX];
	ssize_t n;

	n = pread(fd, buf, sizeof buf, 0);
	if (n <= 0 || (size_t)n == sizeof buf ||
	    resv_parse(buf, (size_t)n, info) == -1) {
		/* torn by a crash: the reservation charges nothing */
		info->bytes = 0;
		info->tmprel[0] = '\0';
	}
}

/*
 * Calls fn for each reservation of user (every user when NULL), with
 * live set when its owner still holds its lock.  A dead one stays locked
 * by us during fn, so nobody else reclaims it at the same time.  fn
 * returns 0, or -1 to stop with a failure.
 */
static enum ledger_err
resv_each(struct ledger *l, const char *user,
    int (*fn)(void *, int, const char *, int, const struct resv_info *),
    void *arg)
{
	struct resv_info info;
	struct dirent   *de;
	DIR             *d;
	int              rdir, fd, live, rc = 0;

	if ((rdir = subdir(l, "resv")) == -1 ||
	    (d = fdopendir(rdir)) == NULL) {
		if (rdir != -1)
			close(rdir);
		return LEDGER_IO;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (resv_owner(de->d_name, info.owner, sizeof info.owner) ==
		    -1 || (user != NULL && strcmp(user, info.owner) != 0))
			continue;
		fd = openat(dirfd(d), de->d_name,
		    O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			continue;	/* released meanwhile */
		/* a fresh description: even our own threads' locks exclude */
		live = ofd_lock(fd, F_WRLCK) == -1;
		resv_read(fd, &info);
		rc = fn(arg, dirfd(d), de->d_name, live, &info);
		close(fd);
	}
	closedir(d);
	return rc == 0 ? LEDGER_OK : LEDGER_IO;
}

static int
sum_live(void *arg, int rdir, const char *name, int live,
    const struct resv_info *info)
{
	int64_t *sum = arg;

	(void)rdir;
	(void)name;
	if (live)
		*sum = *sum > INT64_MAX - info->bytes ? INT64_MAX :
		    *sum + info->bytes;
	return 0;
}

/*
 * Counts the live reservations only; a dead one is left for
 * ledger_reclaim, which the caller runs first (it needs upload_fd).
 */
enum ledger_err
ledger_usage(struct ledger *l, const char *user, struct usage *out)
{
	enum ledger_err err;
	int             udir;

	out->used = out->reserved = 0;
	if (!user_ok(user))
		return LEDGER_IO;
	if ((udir = subdir(l, "usage")) == -1)
		return LEDGER_IO;
	err = used_read(udir, user, &out->used);
	close(udir);
	if (err != LEDGER_OK)
		return err;
	return resv_each(l, user, sum_live, &out->reserved);
}

static int
tmprel_ok(const char *tmprel)
{
	return tmprel == NULL ||
	    (tmprel[0] != '\0' && strchr(tmprel, '\n') == NULL &&
	    strlen(tmprel) < sizeof ((struct resv_info *)0)->tmprel);
}

static enum ledger_err
resv_write(int fd, int64_t bytes, const char *tmprel)
{
	char line[RESV_LINE_MAX];
	int  n;

	if (tmprel == NULL)
		n = snprintf(line, sizeof line, "%lld\n", (long long)bytes);
	else
		n = snprintf(line, sizeof line, "%lld %s\n",
		    (long long)bytes, tmprel);
	if (ftruncate(fd, 0) == -1 || pwrite(fd, line, (size_t)n, 0) != n)
		return errno_err();
	return LEDGER_OK;
}

void
ledger_reservation_init(struct reservation *r)
{
	r->fd = -1;
	r->name[0] = '\0';
	r->bytes = 0;
}

static enum ledger_err
resv_create(int rdir, struct reservation *r, int64_t bytes,
    const char *tmprel)
{
	enum ledger_err err;

	r->fd = openat(rdir, r->name,
	    O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->fd == -1)
		return errno_err();
	if (ofd_lock(r->fd, F_WRLCK) == -1) {
		err = LEDGER_IO;
		goto fail;
	}
	if ((err = resv_write(r->fd, bytes, tmprel)) != LEDGER_OK)
		goto fail;
	r->bytes = bytes;
	return LEDGER_OK;
fail:
	unlinkat(rdir, r->name, 0);
	close(r->fd);
	return err;
}

enum ledger_err
ledger_reserve(struct ledger *l, const char *user, int64_t bytes,
    const char *tmprel, struct reservation *r)
{
	enum ledger_err err;
	uint64_t        id;
	int             rdir;

	ledger_reservation_init(r);
	if (!user_ok(user) || bytes < 0 || !tmprel_ok(tmprel))
		return LEDGER_IO;
	if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
		return LEDGER_IO;
	snprintf(r->name, sizeof r->name, "%s.%016llx", user,
	    (unsigned long long)id);
	if ((rdir = subdir(l, "resv")) == -1)
		err = LEDGER_IO;
	else {
		err = resv_create(rdir, r, bytes, tmprel);
		close(rdir);
	}
	if (err != LEDGER_OK)
		ledger_reservation_init(r);
	return err;
}

enum ledger_err
ledger_reservation_update(struct ledger *l, struct reservation *r,
    int64_t bytes, const char *tmprel)
{
	enum ledger_err err;

	(void)l;
	if (r->fd < 0 || r->name[0] == '\0' || bytes < 0 ||
	    !tmprel_ok(tmprel))
		return LEDGER_IO;
	if ((err = resv_write(r->fd, bytes, tmprel)) == LEDGER_OK)
		r->bytes = bytes;
	return err;
}

/*
 * The file is removed while we still hold its lock, so nobody can take
 * it for a dead one before it is gone.
 */
void
ledger_release_reservation(struct ledger *l, struct reservation *r)
{
	int rdir;

	if (r->fd >= 0 && r->name[0] != '\0') {
		if (l != NULL && (rdir = subdir(l, "resv")) != -1) {
			unlinkat(rdir, r->name, 0);
			close(rdir);
		}
		close(r->fd);
	}
	ledger_reservation_init(r);
}

/* Removes a temporary file below upload_fd; nothing else, ever. */
static void
unlink_tmp(int upload_fd, const char *tmprel)
{
	struct walk w;

	if (upload_fd < 0 || walk_split(&w, tmprel, 1) == -1 ||
	    strncmp(walk_last(&w), STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
		return;
	if (walk_open(&w, upload_fd, w.ncomp - 1, 0) == 0)
		unlinkat(walk_dir(&w), walk_last(&w), 0);
	walk_release(&w);
}

struct reclaim_ctx {
	int    upload_fd;
	void (*fn)(void *, const char *, int64_t);
	void  *arg;
};

static int
reclaim_one(void *arg, int rdir, const char *name, int live,
    const struct resv_info *info)
{
	struct reclaim_ctx *c = arg;

	if (live)
		return 0;
	if (info->tmprel[0] != '\0')
		unlink_tmp(c->upload_fd, info->tmprel);
	if (unlinkat(rdir, name, 0) == -1 && errno != ENOENT)
		return -1;
	if (c->fn != NULL)
		c->fn(c->arg, info->owner, info->bytes);
	return 0;
}

enum ledger_err
ledger_reclaim(struct ledger *l, const char *user, int upload_fd,
    void (*fn)(void *, const char *, int64_t), void *arg)
{
	struct reclaim_ctx c;

	if (user != NULL && !user_ok(user))
		return LEDGER_IO;
	c.upload_fd = upload_fd;
	c.fn = fn;
	c.arg = arg;
	return resv_each(l, user, reclaim_one, &c);
}

/* ---- commit, forget ---- */

/*
 * Opens the folder of rel's record (creating it) and reads the record:
 * *had is 0 with *old filled, or 1 (none, or a corrupt or stale one,
 * which is replaced without adjusting anything: over-count is safe).
 */
static enum ledger_err
commit_prepare(struct walk *w, int files, struct record *old, int *had)
{
	if (walk_open(w, files, w->ncomp - 1, 1) != 0)
		return errno_err();
	*had = record_read(walk_dir(w), walk_last(w), old);
	if (*had == 2 && remove_tree(walk_dir(w), walk_last(w), 0) == -1)
		return errno_err();
	if (*had != 0)
		*had = 1;
	return LEDGER_OK;
}

/*
 * Raises come before the record is written and lowerings after it, so
 * a crash in between leaves the ledger over-counting.
 */
static enum ledger_err
commit_apply(struct ledger *l, struct walk *w, const char *user,
    int64_t size, const struct record *old, int had)
{
	enum ledger_err err;
	int64_t         up = size, down = 0;
	const char     *down_user = user;

	if (had == 0 && strcmp(old->owner, user) == 0) {
		up = size > old->size ? size - old->size : 0;
		down = size < old->size ? old->size - size : 0;
	} else if (had == 0) {
		down = old->size;
		down_user = old->owner;
	}
	if ((err = used_adjust(l, user, up)) != LEDGER_OK)
		return err;
	err = record_write(walk_dir(w), walk_last(w), user, size, 1);
	if (err != LEDGER_OK) {
		used_adjust(l, user, -up);	/* best effort: else over */
		return err;
	}
	return used_adjust(l, down_user, -down);
}

enum ledger_err
ledger_commit(struct ledger *l, const char *user, const char *rel,
    int64_t size)
{
	enum ledger_err err;
	struct record   old;
	struct walk     w;
	int             files, had;

	if (!user_ok(user) || size < 0 || walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	if ((files = subdir(l, "files")) == -1)
		return LEDGER_IO;
	if ((err = commit_prepare(&w, files, &old, &had)) == LEDGER_OK)
		err = commit_apply(l, &w, user, size, &old, had);
	walk_release(&w);
	close(files);
	return err;
}

enum ledger_err
ledger_forget(struct ledger *l, const char *rel)
{
	enum ledger_err err = LEDGER_OK;
	struct record   old;
	struct walk     w;
	int             files, rc;

	if (walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	if ((files = subdir(l, "files")) == -1)
		return LEDGER_IO;
	if ((rc = walk_open(&w, files, w.ncomp - 1, 0)) == -1)
		err = LEDGER_IO;
	if (rc != 0)
		goto done;
	rc = record_read(walk_dir(&w), walk_last(&w), &old);
	if (rc == 0 || rc == -1) {
		/* the record goes first: a crash then over-counts */
		if (unlinkat(walk_dir(&w), walk_last(&w), 0) == -1)
			err = errno == ENOENT ? LEDGER_OK : LEDGER_IO;
		else if (rc == 0)
			err = used_adjust(l, old.owner, -old.size);
		walk_prune(&w);
	}
done:
	walk_release(&w);
	close(files);
	return err;
}

/* ---- largest ---- */

struct largest_ctx {
	const char       *user;
	struct file_size *out;
	size_t            max, n;
	unsigned long     scanned;
};

/* Keeps out sorted by size, largest first; equal sizes in visit order. */
static void
top_insert(struct largest_ctx *c, const char *name, int64_t size)
{
	size_t i;

	if (c->max == 0 || (c->n == c->max && c->out[c->n - 1].size >= size))
		return;
	i = c->n < c->max ? c->n++ : c->max - 1;
	for (; i > 0 && c->out[i - 1].size < size; i--)
		c->out[i] = c->out[i - 1];
	snprintf(c->out[i].name, sizeof c->out[i].name, "%s", name);
	c->out[i].size = size;
}

static int
largest_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct largest_ctx *c = t->arg;
	struct record       rec;

	(void)st;
	if (c->scanned++ >= LEDGER_SCAN_MAX)
		return 1;
	if (record_read(dfd, name, &rec) == 0 &&
	    strcmp(rec.owner, c->user) == 0)
		top_insert(c, t->path, rec.size);
	return 0;
}

size_t
ledger_largest(struct ledger *l, const char *user, const char *prefix,
    struct file_size *out, size_t max)
{
	struct largest_ctx c = { user, out, max, 0, 0 };
	struct tree        t;
	char               folder[4096];
	size_t             len;
	int                files;

	if (!user_ok(user) || max == 0 || (files = subdir(l, "files")) == -1)
		return 0;
	snprintf(folder, sizeof folder, "%s", prefix == NULL ? "" : prefix);
	len = strlen(folder);
	while (len > 0 && folder[len - 1] == '/')
		folder[--len] = '\0';
	tree_init(&t, "", largest_visit, &c);
	tree_walk_at(&t, files, folder);
	close(files);
	return c.n;
}

/* ---- recount (SPEC §10) ---- */

struct tally {
	char    user[65];
	int64_t sum;
};

struct recount {
	struct ledger *l;
	int            upload_fd;	/* borrowed */
	int            files;		/* files/ */
	int            per_user_dirs;
	const char    *user;		/* NULL: every user */
	struct tally  *v;		/* owned; sorted after the record pass */
	size_t         n, cap;
	struct tally  *cur;		/* per_user_dirs: the folder's owner */
	enum ledger_err err;
};

static void
tally_add(void *arg, const char *user)
{
	struct recount *rc = arg;
	struct tally   *v;
	size_t          cap;

	if (rc->n == rc->cap) {
		cap = rc->cap ? rc->cap * 2 : 64;
		if ((v = reallocarray(rc->v, cap, sizeof *v)) == NULL) {
			rc->err = LEDGER_IO;
			return;
		}
		rc->v = v;
		rc->cap = cap;
	}
	snprintf(rc->v[rc->n].user, sizeof rc->v[rc->n].user, "%s", user);
	rc->v[rc->n++].sum = 0;
}

static int
tally_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tally *)a)->user,
	    ((const struct tally *)b)->user);
}

static int
tally_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tally *)elem)->user);
}

/* Sorts the users and drops repeated ones. */
static void
tally_sort(struct recount *rc)
{
	size_t i, n = 0;

	if (rc->n == 0)
		return;
	qsort(rc->v, rc->n, sizeof *rc->v, tally_cmp);
	for (i = 1; i < rc->n; i++)
		if (strcmp(rc->v[n].user, rc->v[i].user) != 0)
			rc->v[++n] = rc->v[i];
	rc->n = n + 1;
}

static struct tally *
tally_find(const struct recount *rc, const char *user)
{
	if (rc->n == 0)
		return NULL;
	return bsearch(user, rc->v, rc->n, sizeof *rc->v, tally_key_cmp);
}

/* 1 when rel below upload_fd is a regular file, reached without a link. */
static int
upload_is_file(int upload_fd, const char *rel, struct stat *st)
{
	struct walk w;
	int         rc = 0;

	if (walk_split(&w, rel, 0) == -1)
		return 0;
	if (walk_open(&w, upload_fd, w.ncomp - 1, 0) == 0 &&
	    fstatat(walk_dir(&w), walk_last(&w), st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = S_ISREG(st->st_mode);
	walk_release(&w);
	return rc;
}

/* Makes the record of rel say (user, size), unless it does already. */
static enum ledger_err
record_sync(int files, const char *rel, const char *user, int64_t size)
{
	enum ledger_err err = LEDGER_OK;
	struct record   rec;
	struct walk     w;
	int             had;

	if (walk_split(&w, rel, 0) == -1)
		return LEDGER_OK;	/* not a name upgate stores */
	if (walk_open(&w, files, w.ncomp - 1, 1) != 0) {
		err = errno_err();
		goto done;
	}
	had = record_read(walk_dir(&w), walk_last(&w), &rec);
	if (had == 0 && rec.size == size && strcmp(rec.owner, user) == 0)
		goto done;
	if (had == 2 && remove_tree(walk_dir(&w), walk_last(&w), 0) == -1)
		err = errno_err();
	else
		err = record_write(walk_dir(&w), walk_last(&w), user, size, 0);
done:
	walk_release(&w);
	return err;
}

/*
 * The record pass: drops the records in scope whose file is gone and,
 * for every user, learns the owners.
 */
static int
records_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct recount *rc = t->arg;
	struct record   rec;
	struct stat     ust;
	int             got;

	(void)st;
	got = record_read(dfd, name, &rec) == 0;
	if (!got && !rc->per_user_dirs && rc->user != NULL)
		return 0;	/* whose it was is unknown: leave it */
	if (got && !rc->per_user_dirs && rc->user != NULL &&
	    strcmp(rec.owner, rc->user) != 0)
		return 0;
	if (got && rc->user == NULL)
		tally_add(rc, rec.owner);
	if (!upload_is_file(rc->upload_fd, t->path, &ust) &&
	    unlinkat(dfd, name, 0) == -1 && errno != ENOENT)
		return -1;
	return rc->err == LEDGER_OK ? 0 : -1;
}

/* per_user_dirs: every file in USER/ is USER's. */
static int
user_file_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct recount *rc = t->arg;

	(void)dfd;
	(void)name;
	rc->err = record_sync(rc->files, t->path, rc->cur->user, st->st_size);
	if (rc->cur->sum <= INT64_MAX - st->st_size)
		rc->cur->sum += st->st_size;
	return rc->err == LEDGER_OK ? 0 : -1;
}

/* per_user_dirs = no: a file is the user's whose name its record holds. */
static int
shared_file_visit(struct tree *t, int dfd, const char *name,
    const struct stat *st)
{
	struct recount *rc = t->arg;
	struct record   rec;
	struct tally   *e;
	struct walk     w;
	int             got = 0;

	(void)dfd;
	(void)name;
	if (walk_split(&w, t->path, 0) == 0 &&
	    walk_open(&w, rc->files, w.ncomp - 1, 0) == 0)
		got = record_read(walk_dir(&w), walk_last(&w), &rec) == 0;
	walk_release(&w);
	if (!got || (e = tally_find(rc, rec.owner)) == NULL)
		return 0;	/* stored by nobody, through upgate */
	if (rec.size != st->st_size)
		rc->err = record_sync(rc->files, t->path, rec.owner,
		    st->st_size);
	if (e->sum <= INT64_MAX - st->st_size)
		e->sum += st->st_size;
	return rc->err == LEDGER_OK ? 0 : -1;
}

/* per_user_dirs, every user: the folders of upload_dir named like users. */
static int
collect_user_dirs(struct recount *rc)
{
	struct dirent *de;
	struct stat    st;
	DIR           *d;
	int            fd;

	if ((fd = openat(rc->upload_fd, ".", DIR_FLAGS)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (user_ok(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			tally_add(rc, de->d_name);
	closedir(d);
	return 0;
}

static int
recount_records(struct recount *rc)
{
	struct tree t;
	const char *top = "";

	if (rc->user == NULL) {
		if (ledger_each_user(rc->l, tally_add, rc) != LEDGER_OK ||
		    (rc->per_user_dirs && collect_user_dirs(rc) == -1))
			return -1;
	} else {
		tally_add(rc, rc->user);
		if (rc->per_user_dirs)
			top = rc->user;
	}
	tree_init(&t, top, records_visit, rc);
	if (tree_walk_at(&t, rc->files, top) == -1)
		return -1;
	tally_sort(rc);
	return rc->err == LEDGER_OK ? 0 : -1;
}

static int
recount_files(struct recount *rc)
{
	struct tree t;
	size_t      i;

	if (!rc->per_user_dirs) {
		tree_init(&t, "", shared_file_visit, rc);
		return tree_walk_at(&t, rc->upload_fd, "");
	}
	for (i = 0; i < rc->n; i++) {
		rc->cur = &rc->v[i];
		tree_init(&t, rc->cur->user, user_file_visit, rc);
		if (tree_walk_at(&t, rc->upload_fd, rc->cur->user) == -1)
			return -1;
	}
	return 0;
}

/* Writes the sums that differ from the ledger and reports them. */
static enum ledger_err
recount_usage(struct recount *rc,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg)
{
	enum ledger_err err = LEDGER_OK;
	int64_t         old;
	size_t          i;
	int             udir;

	if ((udir = subdir(rc->l, "usage")) == -1)
		return LEDGER_IO;
	for (i = 0; i < rc->n && err == LEDGER_OK; i++) {
		if (used_read(udir, rc->v[i].user, &old) != LEDGER_OK)
			old = -1;	/* corrupt: rewrite it */
		if (old == rc->v[i].sum)
			continue;
		err = used_write(udir, rc->v[i].user, rc->v[i].sum, 0);
		if (err == LEDGER_OK && fn != NULL)
			fn(arg, rc->v[i].user, old < 0 ? 0 : old,
			    rc->v[i].sum);
	}
	close(udir);
	return err;
}

/*
 * Records and usage are written without fsync, one syncfs at the end
 * making them durable together: a recount may touch every record.
 */
enum ledger_err
ledger_recount(struct ledger *l, int upload_fd, int per_user_dirs,
    const char *user, void (*fn)(void *, const char *, int64_t, int64_t),
    void *arg)
{
	struct recount  rc;
	enum ledger_err err;

	if ((user != NULL && !user_ok(user)) || upload_fd < 0)
		return LEDGER_IO;
	if ((err = ledger_reclaim(l, user, upload_fd, NULL, NULL)) !=
	    LEDGER_OK)
		return err;
	memset(&rc, 0, sizeof rc);
	rc.l = l;
	rc.upload_fd = upload_fd;
	rc.per_user_dirs = per_user_dirs;
	rc.user = user;
	rc.err = LEDGER_OK;
	if ((rc.files = subdir(l, "files")) == -1)
		return LEDGER_IO;
	if (recount_records(&rc) == -1 || recount_files(&rc) == -1)
		err = rc.err != LEDGER_OK ? rc.err : errno_err();
	else
		err = recount_usage(&rc, fn, arg);
	if (syncfs(l->state_fd) == -1 && err == LEDGER_OK)
		err = LEDGER_IO;
	close(rc.files);
	free(rc.v);
	return err;
}
