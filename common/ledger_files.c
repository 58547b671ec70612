/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger_files: the `files` ledger, in state_dir (upgate(8), "USAGE
 * ACCOUNTING"; layout in upgate-quota(8), FILES):
 *
 *   lock            the locks: open-file-description locks on one byte
 *                   each, at an offset hashed from the user's name or
 *                   the file's path, so that requests of different
 *                   users never wait for each other; the operator's
 *                   tool locks the whole file
 *   usage/USER      bytes of the files upgate stored for USER, a
 *                   fixed-width line rewritten in place
 *   files/REL       "USER SIZE\n" for each stored file, REL its path
 *                   below upload_dir
 *   resv/USER/ID    a live reservation: its bytes on a fixed-width first
 *                   line, then a line per path it owns ("t REL", "d REL");
 *                   held under a write lock by its owner: a file whose
 *                   lock can be taken belongs to a dead handler
 *   resv/.idle/ID   a released reservation file that its thread keeps,
 *                   locked, for its next one: renamed in and out of
 *                   resv/USER instead of made and removed each time (on
 *                   ext4, every removed inode slows the next creations)
 *   uploads/USER/ID a resumable upload's state and its lease (see
 *                   "leases" below): tied to no process, live until it
 *                   expires
 *   uploads/USER/done/ID
 *                   a finished upload's state, holding nothing, until
 *                   its expiry: out of the way of usage's scan
 *
 * Durability: a raise of usage is one pwrite and one fdatasync of
 * usage/USER (a 21-byte line within the file's first sector: written
 * whole or not at all, as PostgreSQL trusts its pg_control to be); a
 * record is renamed into place, made durable (file and folder) only
 * when usage is about to be lowered on its account.  So a crash at any
 * point over-counts.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <stddef.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "ledger.h"
#include "lockwait.h"
#include "names.h"
#include "number.h"
#include "relpath.h"

#define RECORD_TMP	".rec.tmp"	/* names upgate stores never start with '.' */
#define RECORD_TMP_MAX	64		/* RECORD_TMP ".PID.TID" */
#define USED_WIDTH	21		/* "%20lld\n" */
#define RESV_LINE_MAX	(4096 + 8)	/* "t " + a path + "\n" */
#define LOCK_SPAN	0x3fffffffffffffffLL	/* offsets of one-byte locks */
#define RESV_NAME_MAX	(USER_NAME_MAX + 1 + 16 + 1)	/* "USER/ID" */

/* What a thread keeps open between requests. */
struct files {
	int  lock_fd;		/* state_dir/lock */
	int  usage_fd;		/* usage/ */
	int  files_fd;		/* files/ */
	int  resv_fd;		/* resv/ */
	int  held;		/* locks held: see unlock */
	off_t held_at[2];	/* their offsets; -1 for the whole file */
	int  spare_fd;		/* resv/.idle/ID, locked, 0 bytes; -1: none */
	uint64_t spare_id;
};

#define RESV_IDLE	".idle"		/* user names never start with '.' */

static struct files *
be(struct ledger *l)
{
	return l->be;
}

static enum ledger_err
fail(struct ledger *l, const char *call)
{
	int e = errno;

	ledger_cause(l, call);
	errno = e;
	return e == ENOSPC || e == EDQUOT ? LEDGER_NOSPACE : LEDGER_IO;
}

static int
sync_data(struct ledger *l, int fd)
{
	return l->sync ? fdatasync(fd) : 0;
}

static int
sync_all(struct ledger *l, int fd)
{
	return l->sync ? fsync(fd) : 0;
}

/*
 * 0 when fd is a regular file; else -1, EINVAL.  Every file of the
 * ledger is opened with O_NONBLOCK, so that a FIFO or a device planted
 * in state_dir never makes us wait, then refused here (upgate(8),
 * FILES).
 */
static int
regular(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- open, close ---- */

static enum ledger_err
files_open(struct ledger *l, const struct ledger_config *cfg)
{
	static const char *const dirs[] = { "usage", "files", "resv" };
	struct files *f;
	size_t        i;

	(void)cfg;	/* state_dir is open already: l->state_fd */
	if ((f = calloc(1, sizeof *f)) == NULL)
		return fail(l, "calloc");
	f->lock_fd = f->usage_fd = f->files_fd = f->resv_fd = -1;
	f->spare_fd = -1;
	l->be = f;
	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdirat(l->state_fd, dirs[i], 0700) == -1 &&
		    errno != EEXIST)
			return fail(l, "mkdirat");
	/* O_NONBLOCK: a FIFO planted there must not hang us; then refused */
	f->lock_fd = openat(l->state_fd, "lock",
	    O_CREAT | O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->lock_fd == -1)
		return fail(l, "openat");
	if (regular(f->lock_fd) == -1)
		return fail(l, "lock");
	f->usage_fd = openat(l->state_fd, "usage", RELPATH_DIR_FLAGS);
	f->files_fd = openat(l->state_fd, "files", RELPATH_DIR_FLAGS);
	f->resv_fd = openat(l->state_fd, "resv", RELPATH_DIR_FLAGS);
	if (f->usage_fd == -1 || f->files_fd == -1 || f->resv_fd == -1)
		return fail(l, "openat");
	return LEDGER_OK;
}

/* "USER/ID" or ".idle/ID": a reservation file's name below resv/. */
static void
resv_name(char *out, size_t size, const char *dir, uint64_t id)
{
	snprintf(out, size, "%s/%016llx", dir, (unsigned long long)id);
}

/* Removes the spare reservation file, if any. */
static void
spare_drop(struct files *f)
{
	char name[RESV_NAME_MAX];

	if (f->spare_fd == -1)
		return;
	resv_name(name, sizeof name, RESV_IDLE, f->spare_id);
	unlinkat(f->resv_fd, name, 0);
	close(f->spare_fd);
	f->spare_fd = -1;
}

static void
files_close(struct ledger *l)
{
	struct files *f = be(l);

	if (f == NULL)
		return;
	spare_drop(f);
	if (f->lock_fd >= 0)
		close(f->lock_fd);	/* drops every lock with it */
	if (f->usage_fd >= 0)
		close(f->usage_fd);
	if (f->files_fd >= 0)
		close(f->files_fd);
	if (f->resv_fd >= 0)
		close(f->resv_fd);
	free(f);
	l->be = NULL;
}

/* ---- locks ---- */

static off_t
key_offset(char domain, const char *key)
{
	/* past 0, where nothing else locks; below OFFSET_MAX */
	return (off_t)(ledger_key_hash(domain, key) & LOCK_SPAN) + 1;
}

static enum ledger_err
take(struct ledger *l, off_t at, off_t len, int timeout_ms)
{
	struct files *f = be(l);

	if (f->held == 2) {
		errno = EDEADLK;
		return fail(l, "fcntl");
	}
	if (lockwait_range(f->lock_fd, F_WRLCK, at, len, timeout_ms) == -1) {
		if (errno == ETIMEDOUT)
			return LEDGER_BUSY;
		return fail(l, "fcntl");
	}
	f->held_at[f->held++] = len == 0 ? -1 : at;
	return LEDGER_OK;
}

static enum ledger_err
files_lock_user(struct ledger *l, const char *user, int timeout_ms)
{
	return take(l, key_offset('u', user), 1, timeout_ms);
}

static enum ledger_err
files_lock_file(struct ledger *l, const char *rel, int timeout_ms)
{
	return take(l, key_offset('f', rel), 1, timeout_ms);
}

static enum ledger_err
files_lock_all(struct ledger *l, int timeout_ms)
{
	return take(l, 0, 0, timeout_ms);
}

static void
files_unlock(struct ledger *l)
{
	struct files *f = be(l);

	while (f != NULL && f->held > 0) {
		off_t at = f->held_at[--f->held];

		(void)lockwait_range(f->lock_fd, F_UNLCK, at < 0 ? 0 : at,
		    at < 0 ? 0 : 1, 0);
	}
}

/* ---- usage/USER ---- */

/*
 * Parses "USED\n", with spaces before the digits (the fixed width), as
 * read from a file (n bytes of a buffer of size); -1 (EIO) if corrupt.
 */
static int
used_parse(const char *buf, ssize_t n, size_t size, int64_t *used)
{
	size_t skip;

	if (n < 2 || (size_t)n == size || buf[n - 1] != '\n') {
		errno = EIO;	/* corrupt: upgate-quota recount rewrites it */
		return -1;
	}
	skip = strspn(buf, " ");
	if (number_parse(buf + skip, (size_t)n - 1 - skip, used) == -1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* used of user; 0 when the file does not exist. */
static int
used_read(int udir, const char *user, int64_t *used)
{
	char    buf[40];
	ssize_t n;
	int     fd;

	*used = 0;
	fd = openat(udir, user, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (regular(fd) == -1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	n = pread(fd, buf, sizeof buf, 0);
	close(fd);
	return used_parse(buf, n, sizeof buf, used);
}

/* What used_open found in usage/USER. */
struct used_file {
	int     fd;		/* open for reading and writing */
	int     made;		/* a new file: its folder needs a sync */
	char    buf[40];	/* the old content ... */
	ssize_t n;		/* ... of n bytes (-1: no file) */
};

/* The content of a regular file; -1 (EINVAL for anything else). */
static int
used_take(struct used_file *u, struct stat *st)
{
	if (fstat(u->fd, st) == -1)
		return -1;
	if (!S_ISREG(st->st_mode)) {
		errno = EINVAL;
		return -1;
	}
	u->n = pread(u->fd, u->buf, sizeof u->buf, 0);
	return u->n == -1 ? -1 : 0;
}

/*
 * usage/USER, read, then kept to be written in place only when it is a
 * regular file of this process's user with no other name: anything
 * that another user made, or linked to a file elsewhere, is removed and
 * a new file made (O_EXCL), so that upgate-quota run as root never
 * writes through a name planted for it.  Anything but a regular file (a
 * link, a folder, a FIFO: O_NONBLOCK, not to wait for a writer) is
 * refused.  -1 with errno.
 */
static int
used_open(int udir, const char *user, struct used_file *u)
{
	struct stat st;

	u->made = 0;
	u->n = -1;
	u->fd = openat(udir, user, O_RDWR | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC);
	if (u->fd == -1 && errno != ENOENT)
		return -1;
	if (u->fd != -1) {
		if (used_take(u, &st) == -1) {
			int e = errno;

			close(u->fd);
			errno = e;
			return -1;
		}
		if (st.st_nlink == 1 && st.st_uid == geteuid())
			return 0;
		close(u->fd);
		if (unlinkat(udir, user, 0) == -1 && errno != ENOENT)
			return -1;
	}
	u->made = 1;
	u->fd = openat(udir, user, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	return u->fd == -1 ? -1 : 0;
}

/*
 * Writes used in place, durably with sync (see the top of this file);
 * a longer file (a corrupt one) is cut.  A file made now needs its
 * folder synced too, or a crash could take its name away with the
 * figure.  Closes the file.
 */
static enum ledger_err
used_put(struct ledger *l, struct used_file *u, int64_t used)
{
	char line[USED_WIDTH + 1];

	snprintf(line, sizeof line, "%20lld\n", (long long)used);
	if (pwrite(u->fd, line, USED_WIDTH, 0) != USED_WIDTH ||
	    (!u->made && u->n > USED_WIDTH &&
	    ftruncate(u->fd, USED_WIDTH) == -1)) {
		close(u->fd);
		return fail(l, "pwrite");
	}
	if (sync_data(l, u->fd) == -1) {
		close(u->fd);
		return fail(l, "fdatasync");
	}
	if (close(u->fd) == -1)
		return fail(l, "close");
	if (u->made && sync_all(l, be(l)->usage_fd) == -1)
		return fail(l, "fsync");
	return LEDGER_OK;
}

/*
 * Sets user's usage to used.  Anything but a regular file at its name
 * (a FIFO, a device) is removed first: the figure written does not
 * depend on what was there, unlike used_adjust's, which refuses it.
 */
static enum ledger_err
used_write(struct ledger *l, const char *user, int64_t used)
{
	struct used_file u;
	int              rc;

	rc = used_open(be(l)->usage_fd, user, &u);
	if (rc == -1 && errno == EINVAL &&
	    unlinkat(be(l)->usage_fd, user, 0) == 0)
		rc = used_open(be(l)->usage_fd, user, &u);
	if (rc == -1)
		return fail(l, "openat");
	return used_put(l, &u, used);
}

/*
 * Moves user's usage by delta, never below 0 nor above 2^63-1: one
 * open, read and write of usage/USER.
 */
static enum ledger_err
used_adjust(struct ledger *l, const char *user, int64_t delta)
{
	struct used_file u;
	int64_t          used = 0;

	if (delta == 0)
		return LEDGER_OK;
	if (used_open(be(l)->usage_fd, user, &u) == -1)
		return fail(l, "openat");
	if (u.n >= 0 && used_parse(u.buf, u.n, sizeof u.buf, &used) == -1) {
		close(u.fd);
		return fail(l, "read");
	}
	if (delta > 0)
		used = used > INT64_MAX - delta ? INT64_MAX : used + delta;
	else
		used = used + delta < 0 ? 0 : used + delta;
	return used_put(l, &u, used);
}

static enum ledger_err
files_set_used(struct ledger *l, const char *user, int64_t used)
{
	return used_write(l, user, used);
}

static enum ledger_err
files_each_user(struct ledger *l, void (*fn)(void *, const char *),
    void *arg)
{
	struct dirent *de;
	DIR           *d;
	int            fd;

	if ((fd = openat(be(l)->usage_fd, ".", RELPATH_DIR_FLAGS)) == -1)
		return fail(l, "openat");
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fail(l, "fdopendir");
	}
	while ((de = readdir(d)) != NULL)
		if (names_user_valid(de->d_name))
			fn(arg, de->d_name);
	closedir(d);
	return LEDGER_OK;
}

/* ---- records: files/REL ---- */

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
	size_t      got;
	int         fd, rc = -1;

	fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) == -1)
		goto done;
	if (S_ISDIR(st.st_mode)) {
		rc = 2;
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto done;
	}
	for (got = 0; got < size - 1; got += (size_t)n)
		if ((n = read(fd, buf + got, size - 1 - got)) <= 0)
			break;
	if (n == -1 || got >= size - 1)
		goto done;	/* larger than any record */
	buf[got] = '\0';
	*len = got;
	rc = 0;
done:
	close(fd);
	return rc;
}

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
	if (!names_user_valid(out->owner))
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

/*
 * A new file for a record, tmp (RECORD_TMP_MAX bytes) its name in dfd:
 * one that no other process or thread uses, made with O_EXCL so that
 * nothing is written through a name found there.  Such a name is left
 * by a process that died with this pid, or planted: it is removed, and
 * the new file made once more.  -1 with errno.
 */
static int
record_tmp_open(int dfd, char *tmp)
{
	int fd, tries;

	snprintf(tmp, RECORD_TMP_MAX, RECORD_TMP ".%ld.%ld", (long)getpid(),
	    (long)gettid());
	for (tries = 0; tries < 2; tries++) {
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST ||
		    unlinkat(dfd, tmp, 0) == -1)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/*
 * Replaces name in dfd through a new file and renameat, so a reader sees
 * the old record or the new one whole; durable (file and folder) only
 * when durable is set and the ledger syncs.
 */
static enum ledger_err
record_write(struct ledger *l, int dfd, const char *name,
    const char *user, int64_t size, int durable)
{
	char line[128], tmp[RECORD_TMP_MAX];
	int  fd, n, e;

	n = snprintf(line, sizeof line, "%s %lld\n", user, (long long)size);
	if ((fd = record_tmp_open(dfd, tmp)) == -1)
		return fail(l, "openat");
	if (write(fd, line, (size_t)n) != n ||
	    (durable && sync_all(l, fd) == -1)) {
		e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		errno = e;
		return fail(l, durable ? "fsync" : "write");
	}
	if (close(fd) == -1 || renameat(dfd, tmp, dfd, name) == -1) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		return fail(l, "renameat");
	}
	if (durable && sync_all(l, dfd) == -1)
		return fail(l, "fsync");
	return LEDGER_OK;
}

/*
 * The record of a file that had none, written where it goes: one inode,
 * no rename.  A crash may leave it torn, which reads as no record: the
 * file is then charged in full when replaced and frees nothing when
 * deleted, an over-count that recount mends.  Where something is in the
 * way after all, record_write replaces it.
 */
static enum ledger_err
record_create(struct ledger *l, int dfd, const char *name, const char *user,
    int64_t size)
{
	char line[128];
	int  fd, n;

	n = snprintf(line, sizeof line, "%s %lld\n", user, (long long)size);
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST)
		return record_write(l, dfd, name, user, size, 0);
	if (fd == -1)
		return fail(l, "openat");
	if (write(fd, line, (size_t)n) != n) {
		n = errno;
		close(fd);
		unlinkat(dfd, name, 0);
		errno = n;
		return fail(l, "write");
	}
	if (close(fd) == -1)
		return fail(l, "close");
	return LEDGER_OK;
}

static int
files_record_get(struct ledger *l, const char *rel, struct record *out)
{
	struct walk w;
	int         rc;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return -1;
	if ((rc = relpath_walk_open(&w, be(l)->files_fd, w.ncomp - 1, 0)) == 0) {
		rc = record_read(relpath_walk_dir(&w), relpath_walk_last(&w), out);
		if (rc == 2)
			rc = 1;		/* a folder of records: none */
	}
	if (rc == -1)
		(void)fail(l, "record");	/* corrupt, or not a file */
	relpath_walk_release(&w);
	return rc;
}

/*
 * Opens the folder of rel's record (creating it) and reads the record:
 * *had is 0 with *old filled, or 1 (none, or a corrupt or stale one,
 * which is replaced without adjusting anything: over-count is safe).
 */
static enum ledger_err
record_prepare(struct ledger *l, struct walk *w, struct record *old,
    int *had)
{
	if (relpath_walk_open(w, be(l)->files_fd, w->ncomp - 1, 1) != 0)
		return fail(l, "mkdirat");
	*had = record_read(relpath_walk_dir(w), relpath_walk_last(w), old);
	if (*had == 2 && relpath_remove_tree(relpath_walk_dir(w), relpath_walk_last(w)) == -1)
		return fail(l, "unlinkat");
	if (*had != 0)
		*had = 1;
	return LEDGER_OK;
}

/*
 * A raise comes before the record is written, a lowering after it is
 * durable, so a crash in between leaves the ledger over-counting.
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
	if (had != 0 && down == 0)
		err = record_create(l, relpath_walk_dir(w), relpath_walk_last(w), user, size);
	else
		err = record_write(l, relpath_walk_dir(w), relpath_walk_last(w), user, size,
		    down > 0);
	if (err != LEDGER_OK) {
		(void)used_adjust(l, user, -up);	/* best effort: else over */
		return err;
	}
	return used_adjust(l, down_user, -down);
}

static enum ledger_err
files_commit(struct ledger *l, const char *user, const char *rel,
    int64_t size)
{
	enum ledger_err err;
	struct record   old;
	struct walk     w;
	int             had;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	if ((err = record_prepare(l, &w, &old, &had)) == LEDGER_OK)
		err = commit_apply(l, &w, user, size, &old, had);
	relpath_walk_release(&w);
	return err;
}

static enum ledger_err
files_forget(struct ledger *l, const char *rel)
{
	enum ledger_err err = LEDGER_OK;
	struct record   old;
	struct walk     w;
	int             rc;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	if ((rc = relpath_walk_open(&w, be(l)->files_fd, w.ncomp - 1, 0)) == -1)
		err = fail(l, "openat");
	if (rc != 0)
		goto done;
	rc = record_read(relpath_walk_dir(&w), relpath_walk_last(&w), &old);
	if (rc == 0 || rc == -1) {
		/* the record goes first, durably: a crash then over-counts */
		if (unlinkat(relpath_walk_dir(&w), relpath_walk_last(&w), 0) == -1)
			err = errno == ENOENT ? LEDGER_OK : fail(l, "unlinkat");
		else if (rc == 0 && sync_all(l, relpath_walk_dir(&w)) == -1)
			err = fail(l, "fsync");
		else if (rc == 0)
			err = used_adjust(l, old.owner, -old.size);
		relpath_walk_prune(&w);
	}
done:
	relpath_walk_release(&w);
	return err;
}

/*
 * Records are files below files/ at the paths they name, so a folder's
 * records move with one rename of their folder.
 */
static enum ledger_err
files_move(struct ledger *l, const char *from, const char *to)
{
	enum ledger_err err = LEDGER_OK;
	struct walk     wf, wt;
	int             rc;

	if (relpath_walk_split(&wf, from, 0) == -1 || relpath_walk_split(&wt, to, 0) == -1)
		return LEDGER_IO;
	if ((rc = relpath_walk_open(&wf, be(l)->files_fd, wf.ncomp - 1, 0)) != 0) {
		relpath_walk_release(&wf);
		return rc == 1 ? LEDGER_OK : fail(l, "openat");	/* none */
	}
	if (relpath_walk_open(&wt, be(l)->files_fd, wt.ncomp - 1, 1) != 0) {
		err = fail(l, "mkdirat");
		goto done;
	}
	rc = renameat(relpath_walk_dir(&wf), relpath_walk_last(&wf), relpath_walk_dir(&wt),
	    relpath_walk_last(&wt));
	if (rc == -1 && (errno == ENOTEMPTY || errno == EEXIST ||
	    errno == EISDIR || errno == ENOTDIR)) {
		/* stale records in the way: dropping them only over-counts */
		(void)relpath_remove_tree(relpath_walk_dir(&wt), relpath_walk_last(&wt));
		(void)unlinkat(relpath_walk_dir(&wt), relpath_walk_last(&wt), 0);
		rc = renameat(relpath_walk_dir(&wf), relpath_walk_last(&wf), relpath_walk_dir(&wt),
		    relpath_walk_last(&wt));
	}
	if (rc == -1)
		err = errno == ENOENT ? LEDGER_OK : fail(l, "renameat");
	else if (sync_all(l, relpath_walk_dir(&wt)) == -1 ||
	    sync_all(l, relpath_walk_dir(&wf)) == -1)
		err = fail(l, "fsync");
	else
		relpath_walk_prune(&wf);
done:
	relpath_walk_release(&wt);
	relpath_walk_release(&wf);
	return err;
}

static enum ledger_err
files_record_put(struct ledger *l, const char *rel, const struct record *r)
{
	enum ledger_err err;
	struct record   old;
	struct walk     w;
	int             had;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	err = record_prepare(l, &w, &old, &had);
	if (err == LEDGER_OK && (had != 0 || old.size != r->size ||
	    strcmp(old.owner, r->owner) != 0))
		err = record_write(l, relpath_walk_dir(&w), relpath_walk_last(&w), r->owner,
		    r->size, 0);
	relpath_walk_release(&w);
	return err;
}

static enum ledger_err
files_record_drop(struct ledger *l, const char *rel)
{
	enum ledger_err err = LEDGER_OK;
	struct walk     w;
	int             rc;

	if (relpath_walk_split(&w, rel, 0) == -1)
		return LEDGER_IO;
	rc = relpath_walk_open(&w, be(l)->files_fd, w.ncomp - 1, 0);
	if (rc == -1)
		err = fail(l, "openat");
	else if (rc == 0 && unlinkat(relpath_walk_dir(&w), relpath_walk_last(&w), 0) == -1) {
		if (errno != ENOENT)	/* none: nothing to prune either */
			err = fail(l, "unlinkat");
	} else if (rc == 0)
		relpath_walk_prune(&w);
	relpath_walk_release(&w);
	return err;
}

/* ---- each record, largest ---- */

struct each_ctx {
	const char *owner;
	int       (*fn)(void *, const char *, const struct record *);
	void       *arg;
};

static int
each_visit(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	struct each_ctx *c = t->arg;
	struct record    rec;

	(void)st;
	switch (record_read(dfd, name, &rec)) {
	case 0:
		break;
	case -1:
		/* corrupt: shown, ownerless, only to a walk of every owner */
		rec.owner[0] = '\0';
		rec.size = -1;
		break;
	default:
		return 0;	/* gone meanwhile */
	}
	if (c->owner != NULL && strcmp(rec.owner, c->owner) != 0)
		return 0;
	return c->fn(c->arg, t->path, &rec);
}

static enum ledger_err
files_each_record(struct ledger *l, const char *owner,
    int (*fn)(void *, const char *, const struct record *), void *arg)
{
	struct each_ctx c = { owner, fn, arg };
	struct tree     t;

	relpath_tree_init(&t, "", each_visit, &c);
	return relpath_tree_walk_at(&t, be(l)->files_fd, "") == -1 ?
	    fail(l, "readdir") : LEDGER_OK;
}

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

	if (c->n == c->max && c->out[c->n - 1].size >= size)
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

static size_t
files_largest(struct ledger *l, const char *user, const char *prefix,
    struct file_size *out, size_t max)
{
	struct largest_ctx c = { user, out, max, 0, 0 };
	struct tree        t;
	char               folder[4096];
	size_t             len;

	snprintf(folder, sizeof folder, "%s", prefix == NULL ? "" : prefix);
	len = strlen(folder);
	while (len > 0 && folder[len - 1] == '/')
		folder[--len] = '\0';
	relpath_tree_init(&t, "", largest_visit, &c);
	relpath_tree_walk_at(&t, be(l)->files_fd, folder);
	return c.n;
}

static enum ledger_err
files_flush(struct ledger *l)
{
	if (l->sync && syncfs(l->state_fd) == -1)
		return fail(l, "syncfs");
	return LEDGER_OK;
}

/* ---- reservations: resv/USER/ID ---- */

static enum ledger_err
resv_write_bytes(struct ledger *l, int fd, int64_t bytes)
{
	char line[USED_WIDTH + 1];

	snprintf(line, sizeof line, "%20lld\n", (long long)bytes);
	if (pwrite(fd, line, USED_WIDTH, 0) != USED_WIDTH)
		return fail(l, "pwrite");
	return LEDGER_OK;
}

static void files_release(struct ledger *, struct reservation *);

/*
 * Moves a reservation file between resv/from and resv/to (".idle" or a
 * user's folder, made when missing); the lock goes with the inode.
 */
static int
resv_move(struct ledger *l, uint64_t id, const char *from, const char *to)
{
	char src[RESV_NAME_MAX], dst[RESV_NAME_MAX];
	int  fd = be(l)->resv_fd;

	resv_name(src, sizeof src, from, id);
	resv_name(dst, sizeof dst, to, id);
	if (renameat(fd, src, fd, dst) == 0)
		return 0;
	if (errno != ENOENT || (mkdirat(fd, to, 0700) == -1 && errno != EEXIST))
		return -1;
	return renameat(fd, src, fd, dst);
}

/*
 * The thread's spare file becomes r: moved into the user's folder while
 * it still holds 0 bytes, then given its bytes.  -1: no spare (or it
 * could not be moved, and is dropped).
 */
static int
spare_take(struct ledger *l, const char *user, struct reservation *r)
{
	struct files *f = be(l);

	if (f->spare_fd == -1)
		return -1;
	if (resv_move(l, f->spare_id, RESV_IDLE, user) == -1) {
		spare_drop(f);
		return -1;
	}
	r->id = f->spare_id;
	r->fd = f->spare_fd;
	f->spare_fd = -1;
	return 0;
}

/*
 * A reservation file is not written to disk durably: after a crash its
 * lock is gone anyway, and a torn one still names its paths line by line.
 */
static enum ledger_err
files_reserve(struct ledger *l, const char *user, int64_t bytes,
    struct reservation *r)
{
	enum ledger_err err;
	char            name[RESV_NAME_MAX];

	snprintf(r->user, sizeof r->user, "%s", user);
	r->bytes = bytes;
	r->end = USED_WIDTH;
	if (spare_take(l, user, r) == 0) {
		if ((err = resv_write_bytes(l, r->fd, bytes)) != LEDGER_OK)
			files_release(l, r);
		return err;
	}
	do {
		if (getrandom(&r->id, sizeof r->id, 0) != (ssize_t)sizeof r->id)
			return fail(l, "getrandom");
	} while (r->id == 0);
	resv_name(name, sizeof name, user, r->id);
	r->fd = openat(be(l)->resv_fd, name, O_CREAT | O_EXCL | O_RDWR |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->fd == -1 && errno == ENOENT) {
		if (mkdirat(be(l)->resv_fd, user, 0700) == -1 &&
		    errno != EEXIST)
			return fail(l, "mkdirat");
		r->fd = openat(be(l)->resv_fd, name, O_CREAT | O_EXCL |
		    O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (r->fd == -1)
		return fail(l, "openat");
	if (lockwait_range(r->fd, F_WRLCK, 0, 0, 0) == -1)
		err = fail(l, "fcntl");
	else
		err = resv_write_bytes(l, r->fd, bytes);
	if (err != LEDGER_OK) {
		unlinkat(be(l)->resv_fd, name, 0);
		close(r->fd);
		r->fd = -1;
	}
	return err;
}

static enum ledger_err
files_reservation_set(struct ledger *l, struct reservation *r, int64_t bytes)
{
	enum ledger_err err;

	if ((err = resv_write_bytes(l, r->fd, bytes)) == LEDGER_OK)
		r->bytes = bytes;
	return err;
}

static enum ledger_err
files_reservation_add(struct ledger *l, struct reservation *r,
    enum resv_path kind, const char *rel)
{
	char line[RESV_LINE_MAX];
	int  n;

	n = snprintf(line, sizeof line, "%c %s\n", (char)kind, rel);
	if (n < 0 || (size_t)n >= sizeof line) {
		errno = ENAMETOOLONG;
		return fail(l, "pwrite");
	}
	if (pwrite(r->fd, line, (size_t)n, r->end) != n)
		return fail(l, "pwrite");
	r->end += n;
	return LEDGER_OK;
}

/*
 * The thread keeps the file as its spare when it has none: 0 bytes and
 * no paths, under the user's lock when those bytes are now usage, then
 * moved out of the user's folder.  Otherwise it is removed while we
 * still hold its lock, so nobody can take it for a dead one before it
 * is gone.
 */
static void
files_release(struct ledger *l, struct reservation *r)
{
	struct files *f = be(l);
	char          name[RESV_NAME_MAX];

	if (r->fd == -1)
		return;
	if (f->spare_fd == -1 && resv_write_bytes(l, r->fd, 0) == LEDGER_OK &&
	    (r->end == USED_WIDTH || ftruncate(r->fd, USED_WIDTH) == 0) &&
	    resv_move(l, r->id, r->user, RESV_IDLE) == 0) {
		f->spare_fd = r->fd;
		f->spare_id = r->id;
		return;
	}
	resv_name(name, sizeof name, r->user, r->id);
	unlinkat(f->resv_fd, name, 0);
	close(r->fd);
}

/* A reservation as read back: its bytes, its paths (kept in buf). */
struct resv_info {
	int64_t bytes;
	char   *paths;		/* "t REL\nd REL\n..." */
	size_t  len;
};

/*
 * Reads fd (just opened) whole into info->paths, freed by the caller;
 * -1 only when memory failed.
 */
static int
resv_read(int fd, struct resv_info *info)
{
	char  *buf;
	size_t n, skip;

	info->bytes = 0;
	info->paths = NULL;
	info->len = 0;
	/* not a file at all (planted): charges nothing */
	if (regular(fd) == -1)
		return 0;
	if (read_whole(fd, 64 * 1024 * 1024, &buf, &n) == -1)
		return errno == ENOMEM ? -1 : 0;	/* charges nothing */
	if (n < USED_WIDTH) {
		free(buf);
		return 0;	/* torn by a crash: charges nothing */
	}
	skip = strspn(buf, " ");
	if (skip >= USED_WIDTH - 1 || number_parse(buf + skip,
	    USED_WIDTH - 1 - skip, &info->bytes) == -1)
		info->bytes = 0;
	info->paths = buf;
	info->len = n;
	return 0;
}

/* Calls fn(kind, rel) for the lines of one kind, last line first. */
static void
resv_paths(const struct resv_info *info, char kind,
    void (*fn)(void *, enum resv_path, const char *), void *arg)
{
	char *end = info->paths + info->len, *p, *nl;

	/* from the end: folders were added outermost first */
	while (end > info->paths + USED_WIDTH) {
		p = end - 1;	/* the '\n' ending the previous line, or not */
		while (p > info->paths + USED_WIDTH && p[-1] != '\n')
			p--;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl != NULL && nl - p >= 3 && p[0] == kind && p[1] == ' ') {
			*nl = '\0';
			if (relpath_valid(p + 2, kind == RESV_TMP))
				fn(arg, (enum resv_path)kind, p + 2);
			*nl = '\n';
		}
		end = p;
	}
}

struct resv_scan {
	const char *user;
	void      (*fn)(void *, enum resv_path, const char *);
	void      (*done)(void *, const char *, int64_t);
	void       *arg;
	int64_t     live;		/* bytes of the live ones */
	int64_t     dead;		/* how many are dead (and kept) */
	int         reclaim;	/* 1: remove the dead ones */
};

/* One reservation file: count it when live, reclaim it when dead. */
static int
resv_one(struct ledger *l, struct resv_scan *s, int dir, const char *name)
{
	struct resv_info info;
	struct stat      st;
	int              fd, live;

	fd = openat(dir, name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return 0;	/* released meanwhile */
	/* a fresh description: even our own threads' locks exclude */
	live = lockwait_range(fd, F_WRLCK, 0, 0, 0) == -1;
	/* unlinked meanwhile: released, or reclaimed by another request */
	if (!live && (fstat(fd, &st) == -1 || st.st_nlink == 0)) {
		close(fd);
		return 0;
	}
	if (resv_read(fd, &info) == -1) {
		close(fd);
		return fail(l, "malloc"), -1;
	}
	if (live)
		s->live = s->live > INT64_MAX - info.bytes ? INT64_MAX :
		    s->live + info.bytes;
	else if (s->reclaim) {
		if (info.paths != NULL) {
			resv_paths(&info, RESV_TMP, s->fn, s->arg);
			resv_paths(&info, RESV_DIR, s->fn, s->arg);
		}
		unlinkat(dir, name, 0);
		s->done(s->arg, s->user, info.bytes);
	} else
		s->dead++;
	free(info.paths);
	close(fd);
	return 0;
}

/* Every reservation of one user. */
static enum ledger_err
resv_scan_user(struct ledger *l, struct resv_scan *s)
{
	struct dirent *de;
	DIR           *d;
	int            dir, rc = 0;

	if ((dir = openat(be(l)->resv_fd, s->user, RELPATH_DIR_FLAGS)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    LEDGER_OK : fail(l, "openat");	/* none, or not ours */
	if ((d = fdopendir(dir)) == NULL) {
		close(dir);
		return fail(l, "fdopendir");
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			rc = resv_one(l, s, dirfd(d), de->d_name);
	closedir(d);
	return rc == 0 ? LEDGER_OK : LEDGER_IO;
}

static enum ledger_err lease_scan_user(struct ledger *, struct resv_scan *);
static enum ledger_err lease_reclaim_all(struct ledger *, struct resv_scan *);

static enum ledger_err
files_usage(struct ledger *l, const char *user, struct usage *out)
{
	struct resv_scan s;
	enum ledger_err  err;

	memset(&s, 0, sizeof s);
	s.user = user;
	if (used_read(be(l)->usage_fd, user, &out->used) == -1)
		return fail(l, "usage");
	if ((err = resv_scan_user(l, &s)) == LEDGER_OK)
		err = lease_scan_user(l, &s);
	out->reserved = s.live;
	out->dead = s.dead;
	return err;
}

/* Every user with a folder in resv/. */
struct resv_all {
	struct ledger   *l;
	struct resv_scan s;
	enum ledger_err  err;
};

static void
reclaim_user(void *arg, const char *user)
{
	struct resv_all *a = arg;
	enum ledger_err  e;

	a->s.user = user;
	if ((e = resv_scan_user(a->l, &a->s)) != LEDGER_OK)
		a->err = e;
}

/*
 * The spare files of dead handlers (resv/.idle): they hold nothing, so
 * no request looks at them; the operator's reclaim of everyone removes
 * them.
 */
static void
idle_sweep(struct ledger *l)
{
	struct dirent *de;
	DIR           *d;
	int            fd;

	if ((fd = openat(be(l)->resv_fd, RESV_IDLE, RELPATH_DIR_FLAGS)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDWR | O_NONBLOCK |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			continue;
		if (lockwait_range(fd, F_WRLCK, 0, 0, 0) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

static enum ledger_err
files_reclaim(struct ledger *l, const char *user,
    void (*fn)(void *, enum resv_path, const char *),
    void (*done)(void *, const char *, int64_t), void *arg)
{
	struct resv_all a;
	struct dirent  *de;
	DIR            *d;
	int             fd;

	memset(&a, 0, sizeof a);
	a.l = l;
	a.s.fn = fn;
	a.s.done = done;
	a.s.arg = arg;
	a.s.reclaim = 1;
	if (user != NULL) {
		a.s.user = user;
		if ((a.err = resv_scan_user(l, &a.s)) == LEDGER_OK)
			a.err = lease_scan_user(l, &a.s);
		return a.err;
	}
	if ((fd = openat(be(l)->resv_fd, ".", RELPATH_DIR_FLAGS)) == -1)
		return fail(l, "openat");
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fail(l, "fdopendir");
	}
	while ((de = readdir(d)) != NULL)
		if (names_user_valid(de->d_name))
			reclaim_user(&a, de->d_name);
	closedir(d);
	idle_sweep(l);
	if (a.err == LEDGER_OK)
		a.err = lease_reclaim_all(l, &a.s);
	return a.err;
}

/* ---- leases: uploads/USER/ID, a resumable upload's state ---- */

/*
 * One file per upload, rewritten whole through a new file and a rename
 * (durable, file and folder, with sync = yes):
 *
 *   upgate-upload 1         bytes N        (what its lease holds)
 *   length N   offset N     expires N      finished 0|1
 *   folder REL   name NAME   tmp REL   metadata AS-SENT
 *   then its paths, as a reservation's: "t REL", "d REL"
 *
 * Its lease lives while its expiry has not passed, or while its lock
 * (one byte of `lock`, at an offset hashed from its id) is held: a PATCH
 * that outlasts the expiry is not reclaimed under it.
 */
#define UPLOADS		"uploads"
#define UPLOAD_FILE_MAX	(3 * 4096 + UPLOAD_META_MAX + 64 * 1024)
/*
 * A finished upload's state moves to uploads/USER/done: usage reads
 * every file of uploads/USER on each request, and a user who finishes
 * thousands of uploads within resumable_expiry would make each of their
 * requests read thousands of files holding nothing.  The expired ones
 * are swept at most every DONE_SWEEP_EVERY seconds by the request that
 * finishes an upload (DONE_SWEPT's mtime says when last), and by the
 * operator's reclaim: a request reads only what it must.
 */
#define UPLOADS_DONE	"done"
#define DONE_SWEPT	".swept"
#define DONE_SWEEP_EVERY 600

/* The folder name in top, made when create is set: a descriptor, or -1. */
static int
subdir_open(int top, const char *name, int create)
{
	int fd = openat(top, name, RELPATH_DIR_FLAGS);

	if (fd == -1 && errno == ENOENT && create &&
	    (mkdirat(top, name, 0700) == 0 || errno == EEXIST))
		fd = openat(top, name, RELPATH_DIR_FLAGS);
	return fd;
}

/* uploads/USER, made when create is set: a descriptor, or -1. */
static int
uploads_open(struct ledger *l, const char *user, int create)
{
	int top, fd;

	if ((top = subdir_open(l->state_fd, UPLOADS, create)) == -1)
		return -1;
	fd = subdir_open(top, user, create);
	close(top);
	return fd;
}

static int64_t
lease_bytes(const struct upload *u)
{
	return u->finished ? 0 : u->length;
}

/* One "key value" line of the state into u; -1 when unknown or bad. */
static int
upload_field(struct upload *u, const char *key, const char *val, size_t n,
    int64_t *bytes)
{
	static const struct { const char *key; size_t off; } nums[] = {
		{ "length", offsetof(struct upload, length) },
		{ "offset", offsetof(struct upload, offset) },
		{ "expires", offsetof(struct upload, expires) },
	};
	static const struct { const char *key; size_t off, size; } strs[] = {
		{ "folder", offsetof(struct upload, folder), 4096 },
		{ "name", offsetof(struct upload, name), 256 },
		{ "tmp", offsetof(struct upload, tmp), 4096 },
		{ "metadata", offsetof(struct upload, metadata),
		    UPLOAD_META_MAX + 1 },
	};
	size_t  i;
	int64_t x;

	for (i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (strcmp(key, nums[i].key) == 0)
			return number_parse(val, n, (int64_t *)(void *)
			    ((char *)u + nums[i].off));
	for (i = 0; i < sizeof strs / sizeof strs[0]; i++)
		if (strcmp(key, strs[i].key) == 0) {
			if (n >= strs[i].size)
				return -1;
			memcpy((char *)u + strs[i].off, val, n);
			((char *)u + strs[i].off)[n] = '\0';
			return 0;
		}
	if (strcmp(key, "bytes") == 0)
		return number_parse(val, n, bytes);
	if (strcmp(key, "finished") == 0 && number_parse(val, n, &x) == 0 &&
	    x <= 1) {
		u->finished = (int)x;
		return 0;
	}
	return strcmp(key, "upgate-upload") == 0 ? 0 : -1;
}

/*
 * Parses a state file (buf, NUL-terminated) into u; *paths is where its
 * path lines start.  -1 when it is torn or not one.
 */
static int
upload_parse(char *buf, size_t len, struct upload *u, int64_t *bytes,
    size_t *paths)
{
	char  *p = buf, *nl, *sp;

	*bytes = -1;
	while (p < buf + len && (nl = memchr(p, '\n', len - (size_t)(p -
	    buf))) != NULL) {
		if (p[0] != '\0' && p[1] == ' ' && (p[0] == 't' || p[0] == 'd'))
			break;		/* the paths: last */
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
			return -1;
		*sp = '\0';
		if (upload_field(u, p, sp + 1, (size_t)(nl - sp - 1),
		    bytes) == -1)
			return -1;
		*sp = ' ';
		p = nl + 1;
	}
	*paths = (size_t)(p - buf);
	if (*bytes < 0 || strncmp(buf, "upgate-upload 1\n", 16) != 0 ||
	    len == 0 || buf[len - 1] != '\n')
		return -1;
	return 0;
}

/*
 * Reads uploads/USER/id (dfd: uploads/USER) into u, and its text into
 * *text (the caller frees it) when text is not NULL.  0; 1 when there
 * is none; -1 when it cannot be read (a torn one reads as none: 1).
 */
static int
upload_read(int dfd, const char *user, const char *id, struct upload *u,
    int64_t *bytes, char **text, size_t *paths)
{
	char  *buf;
	size_t len, at;
	int    fd, rc;

	memset(u, 0, sizeof *u);
	fd = openat(dfd, id, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ELOOP ? 1 : -1;
	if (regular(fd) == -1) {
		close(fd);
		return 1;
	}
	rc = read_whole(fd, UPLOAD_FILE_MAX, &buf, &len);
	close(fd);
	if (rc == -1)
		return errno == ENOMEM ? -1 : 1;
	if (upload_parse(buf, len, u, bytes, &at) == -1) {
		free(buf);
		return 1;
	}
	snprintf(u->id, sizeof u->id, "%s", id);
	snprintf(u->owner, sizeof u->owner, "%s", user);
	if (paths != NULL)
		*paths = at;
	if (text != NULL)
		*text = buf;
	else
		free(buf);
	return 0;
}

/*
 * Writes u's state as uploads/USER/ID, its path lines paths (n bytes),
 * through a new file and a rename: a reader sees the old state or the
 * new one whole.
 */
static enum ledger_err
upload_write(struct ledger *l, int dfd, const struct upload *u,
    const char *paths, size_t n)
{
	char   head[3 * 4096 + UPLOAD_META_MAX + 512], tmp[RECORD_TMP_MAX];
	int    fd, e, len;

	len = snprintf(head, sizeof head, "upgate-upload 1\nbytes %lld\n"
	    "length %lld\noffset %lld\nexpires %lld\nfinished %d\n"
	    "folder %s\nname %s\ntmp %s\nmetadata %s\n",
	    (long long)lease_bytes(u), (long long)u->length,
	    (long long)u->offset, (long long)u->expires, u->finished,
	    u->folder, u->name, u->tmp, u->metadata);
	if (len < 0 || (size_t)len >= sizeof head) {
		errno = ENAMETOOLONG;
		return fail(l, "snprintf");
	}
	if ((fd = record_tmp_open(dfd, tmp)) == -1)
		return fail(l, "openat");
	if (write(fd, head, (size_t)len) != len ||
	    (n > 0 && write(fd, paths, n) != (ssize_t)n) ||
	    sync_all(l, fd) == -1 || close(fd) == -1) {
		e = errno;
		close(fd);	/* EBADF after a failed close: harmless */
		unlinkat(dfd, tmp, 0);
		errno = e;
		return fail(l, "write");
	}
	if (renameat(dfd, tmp, dfd, u->id) == -1) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		return fail(l, "renameat");
	}
	if (sync_all(l, dfd) == -1)
		return fail(l, "fsync");
	return LEDGER_OK;
}

/*
 * The state file is durable before r's file goes: a crash in between
 * counts the bytes twice, never none.
 */
static enum ledger_err
files_lease_begin(struct ledger *l, struct reservation *r, struct upload *u)
{
	enum ledger_err err;
	char           *paths = NULL;
	size_t          n = (size_t)(r->end - USED_WIDTH);
	int             dfd;

	if ((dfd = uploads_open(l, u->owner, 1)) == -1)
		return fail(l, "mkdirat");
	if (n > 0 && (paths = malloc(n)) == NULL)
		err = fail(l, "malloc");
	else if (n > 0 && pread(r->fd, paths, n, USED_WIDTH) != (ssize_t)n)
		err = fail(l, "pread");
	else
		err = upload_write(l, dfd, u, paths, n);
	free(paths);
	close(dfd);
	if (err == LEDGER_OK)
		files_release(l, r);
	return err;
}

static int
files_upload_get(struct ledger *l, const char *user, const char *id,
    struct upload *out)
{
	int64_t bytes;
	int     dfd, done, rc;

	if ((dfd = uploads_open(l, user, 0)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    1 : (fail(l, "openat"), -1);
	rc = upload_read(dfd, user, id, out, &bytes, NULL, NULL);
	if (rc == 1 && (done = subdir_open(dfd, UPLOADS_DONE, 0)) != -1) {
		rc = upload_read(done, user, id, out, &bytes, NULL, NULL);
		close(done);
	}
	close(dfd);
	if (rc == -1)
		(void)fail(l, "upload");
	return rc;
}

static off_t
upload_lock_at(const char *id)
{
	return key_offset('r', id);
}

static enum ledger_err
files_upload_lock(struct ledger *l, struct upload *u)
{
	off_t at = upload_lock_at(u->id);

	if (lockwait_range(be(l)->lock_fd, F_WRLCK, at, 1, 0) == -1)
		return errno == ETIMEDOUT ? LEDGER_BUSY : fail(l, "fcntl");
	u->held = (uint64_t)at;
	return LEDGER_OK;
}

static void
files_upload_unlock(struct ledger *l, struct upload *u)
{
	(void)lockwait_range(be(l)->lock_fd, F_UNLCK, (off_t)u->held, 1, 0);
}

/*
 * Rewrites u's state, its path lines kept but for the temporary file's
 * when keep_tmp is 0.
 */
static enum ledger_err
upload_rewrite(struct ledger *l, const struct upload *u, int keep_tmp)
{
	struct upload   old;
	enum ledger_err err;
	int64_t         bytes;
	char           *text = NULL, *p, *q;
	size_t          at = 0;
	int             dfd, rc;

	if ((dfd = uploads_open(l, u->owner, 0)) == -1)
		return fail(l, "openat");
	rc = upload_read(dfd, u->owner, u->id, &old, &bytes, &text, &at);
	if (rc != 0) {
		close(dfd);
		errno = rc == 1 ? ENOENT : errno;
		return fail(l, "upload");
	}
	/* the paths, without the "t" lines when they go */
	for (p = q = text + at; !keep_tmp && *p != '\0';) {
		size_t n = strcspn(p, "\n") + 1;

		if (p[0] != 't') {
			memmove(q, p, n);
			q += n;
		}
		p += n;
	}
	if (keep_tmp)
		q = text + strlen(text);
	err = upload_write(l, dfd, u, text + at, (size_t)(q - (text + at)));
	free(text);
	close(dfd);
	return err;
}

static enum ledger_err
files_upload_put(struct ledger *l, const struct upload *u)
{
	return upload_rewrite(l, u, 1);
}

/*
 * A walk of the folder fd (which it takes) with room for one upload's
 * state: 0, or -1 with fd closed.
 */
static int
uploads_walk(int fd, DIR **d, struct upload **u)
{
	if ((*d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	if ((*u = malloc(sizeof **u)) == NULL) {
		closedir(*d);
		return -1;
	}
	return 0;
}

/*
 * Calls fn for the paths of the state u read as text (its path lines at
 * at): the temporary file of an unfinished one, then the folders, as a
 * reservation's (resv_paths).
 */
static void
upload_paths(const struct upload *u, char *text, size_t at,
    void (*fn)(void *, enum resv_path, const char *), void *arg)
{
	struct resv_info info = { 0, NULL, 0 };

	/* resv_paths reads past USED_WIDTH: the paths start there */
	info.paths = text + at - USED_WIDTH;
	info.len = strlen(text) - at + USED_WIDTH;
	if (!u->finished)
		resv_paths(&info, RESV_TMP, fn, arg);
	resv_paths(&info, RESV_DIR, fn, arg);
}

/* Removes the finished uploads in done whose expiry passed. */
static void
done_sweep(int done)
{
	struct dirent *de;
	struct upload *u;
	int64_t        bytes, now = (int64_t)time(NULL);
	DIR           *d;
	int            fd;

	if ((fd = dup(done)) == -1 || uploads_walk(fd, &d, &u) == -1)
		return;
	/* nothing changes a finished state but its removal: no lock */
	while ((de = readdir(d)) != NULL)
		if (upload_id_valid(de->d_name) && upload_read(dirfd(d), "",
		    de->d_name, u, &bytes, NULL, NULL) == 0 &&
		    u->expires <= now)
			unlinkat(dirfd(d), de->d_name, 0);
	free(u);
	closedir(d);
}

/* done_sweep, when DONE_SWEEP_EVERY passed since the last one began. */
static void
done_sweep_due(int done)
{
	struct stat st;
	int         fd;

	if (fstatat(done, DONE_SWEPT, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime + DONE_SWEEP_EVERY > time(NULL))
		return;
	/* the stamp first: requests finishing meanwhile do not sweep too */
	fd = openat(done, DONE_SWEPT, O_WRONLY | O_CREAT | O_NONBLOCK |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return;
	(void)futimens(fd, NULL);
	close(fd);
	done_sweep(done);
}

/*
 * The finished state is durable in done/ before the lease's file goes:
 * a crash in between leaves the lease, which the next HEAD finishes
 * again (or its expiry reclaims), never an upload with no state.  The
 * folders the creation made are no longer the upload's: they hold its
 * file, as a PUT's do.
 */
static enum ledger_err
files_upload_finish(struct ledger *l, struct upload *u)
{
	struct upload  *fin;
	enum ledger_err err;
	int             dfd, done;

	if ((dfd = uploads_open(l, u->owner, 0)) == -1)
		return fail(l, "openat");
	if ((done = subdir_open(dfd, UPLOADS_DONE, 1)) == -1) {
		close(dfd);
		return fail(l, "mkdirat");
	}
	if ((fin = malloc(sizeof *fin)) == NULL)
		err = fail(l, "malloc");
	else {
		*fin = *u;
		fin->finished = 1;
		err = upload_write(l, done, fin, NULL, 0);
		free(fin);
	}
	if (err == LEDGER_OK && unlinkat(dfd, u->id, 0) == -1 &&
	    errno != ENOENT)
		err = fail(l, "unlinkat");
	else if (err == LEDGER_OK && sync_all(l, dfd) == -1)
		err = fail(l, "fsync");
	if (err == LEDGER_OK)
		done_sweep_due(done);
	close(done);
	close(dfd);
	return err;
}

/*
 * An upload's state, wherever it is: uploads/USER (its paths removed
 * first, so that a crash in between leaves the state, which its expiry
 * reclaims, never a file that nothing owns) or done/.
 */
static enum ledger_err
files_upload_end(struct ledger *l, struct upload *u,
    void (*fn)(void *, enum resv_path, const char *), void *arg)
{
	struct upload *old;
	int64_t        bytes;
	char          *text;
	size_t         at;
	int            dfd, done, rc;

	if ((dfd = uploads_open(l, u->owner, 0)) == -1)
		return fail(l, "openat");
	if ((old = malloc(sizeof *old)) == NULL) {
		close(dfd);
		return fail(l, "malloc");
	}
	if (upload_read(dfd, u->owner, u->id, old, &bytes, &text, &at) == 0) {
		upload_paths(old, text, at, fn, arg);
		free(text);
	}
	free(old);
	rc = unlinkat(dfd, u->id, 0);
	if (rc == -1 && errno == ENOENT &&
	    (done = subdir_open(dfd, UPLOADS_DONE, 0)) != -1) {
		rc = unlinkat(done, u->id, 0);
		close(done);
	}
	close(dfd);
	if (rc == -1 && errno != ENOENT)
		return fail(l, "unlinkat");
	return LEDGER_OK;
}

/* 1 when another description holds the byte at of the lock file. */
static int
byte_held(int fd, off_t at)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = at;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return 1;	/* cannot tell: live, the safe side */
	return fl.l_type != F_UNLCK;
}

/*
 * Reclaims one expired upload of s->user, named name in dfd: under its
 * own lock (tried: a request on it keeps it), read again, removed with
 * its temporary file and the folders it made.
 */
static void
lease_reclaim(struct ledger *l, struct resv_scan *s, int dfd,
    const char *name)
{
	struct upload    u;
	int64_t          bytes;
	char            *text = NULL;
	size_t           at;
	off_t            lk = upload_lock_at(name);

	if (lockwait_range(be(l)->lock_fd, F_WRLCK, lk, 1, 0) == -1)
		return;
	if (upload_read(dfd, s->user, name, &u, &bytes, &text, &at) == 0 &&
	    u.expires <= (int64_t)time(NULL)) {
		upload_paths(&u, text, at, s->fn, s->arg);
		unlinkat(dfd, name, 0);
		if (bytes > 0)
			s->done(s->arg, s->user, bytes);
	}
	free(text);
	(void)lockwait_range(be(l)->lock_fd, F_UNLCK, lk, 1, 0);
}

/*
 * The leases of s->user: live ones (unexpired, or locked) add their
 * bytes; expired ones are reclaimed (s->reclaim), or counted dead.
 */
static enum ledger_err
lease_scan_user(struct ledger *l, struct resv_scan *s)
{
	struct dirent *de;
	struct upload  u;
	int64_t        bytes, now = (int64_t)time(NULL);
	DIR           *d;
	int            dfd;

	if ((dfd = uploads_open(l, s->user, 0)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    LEDGER_OK : fail(l, "openat");
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return fail(l, "fdopendir");
	}
	while ((de = readdir(d)) != NULL) {
		if (!upload_id_valid(de->d_name) || upload_read(dirfd(d),
		    s->user, de->d_name, &u, &bytes, NULL, NULL) != 0)
			continue;
		if (u.expires > now ||
		    byte_held(be(l)->lock_fd, upload_lock_at(de->d_name)))
			s->live = s->live > INT64_MAX - bytes ? INT64_MAX :
			    s->live + bytes;
		else if (s->reclaim)
			lease_reclaim(l, s, dirfd(d), de->d_name);
		else
			s->dead++;
	}
	closedir(d);
	return LEDGER_OK;
}

/* The expired finished uploads of user (uploads/USER/done, in top). */
static void
done_sweep_of(int top, const char *user)
{
	int dfd, done;

	if ((dfd = subdir_open(top, user, 0)) == -1)
		return;
	if ((done = subdir_open(dfd, UPLOADS_DONE, 0)) != -1) {
		done_sweep(done);
		close(done);
	}
	close(dfd);
}

/*
 * Every user with a folder in uploads/: their expired leases, and their
 * finished uploads whose expiry passed.
 */
static enum ledger_err
lease_reclaim_all(struct ledger *l, struct resv_scan *s)
{
	struct dirent  *de;
	enum ledger_err err = LEDGER_OK, e;
	DIR            *d;
	int             fd;

	if ((fd = openat(l->state_fd, UPLOADS, RELPATH_DIR_FLAGS)) == -1)
		return errno == ENOENT ? LEDGER_OK : fail(l, "openat");
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fail(l, "fdopendir");
	}
	while ((de = readdir(d)) != NULL)
		if (names_user_valid(de->d_name)) {
			s->user = de->d_name;
			if ((e = lease_scan_user(l, s)) != LEDGER_OK)
				err = e;
			done_sweep_of(dirfd(d), de->d_name);
		}
	closedir(d);
	return err;
}

struct each_upload_ctx {
	int (*fn)(void *, const struct upload *);
	void *arg;
	int   stop;
};

static void
each_upload_of(struct ledger *l, const char *user, struct each_upload_ctx *c)
{
	struct dirent *de;
	struct upload *u;
	int64_t        bytes;
	DIR           *d;
	int            dfd;

	if ((dfd = uploads_open(l, user, 0)) == -1 ||
	    uploads_walk(dfd, &d, &u) == -1)
		return;
	while (!c->stop && (de = readdir(d)) != NULL)
		if (upload_id_valid(de->d_name) && upload_read(dirfd(d), user,
		    de->d_name, u, &bytes, NULL, NULL) == 0)
			c->stop = c->fn(c->arg, u) != 0;
	free(u);
	closedir(d);
}

static enum ledger_err
files_each_upload(struct ledger *l, const char *user,
    int (*fn)(void *, const struct upload *), void *arg)
{
	struct each_upload_ctx c = { fn, arg, 0 };
	struct dirent         *de;
	DIR                   *d;
	int                    fd;

	if (user != NULL) {
		each_upload_of(l, user, &c);
		return LEDGER_OK;
	}
	if ((fd = openat(l->state_fd, UPLOADS, RELPATH_DIR_FLAGS)) == -1)
		return errno == ENOENT ? LEDGER_OK : fail(l, "openat");
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fail(l, "fdopendir");
	}
	while (!c.stop && (de = readdir(d)) != NULL)
		if (names_user_valid(de->d_name))
			each_upload_of(l, de->d_name, &c);
	closedir(d);
	return LEDGER_OK;
}

const struct ledger_ops ledger_files_ops = {
	.name = "files",
	.open = files_open,
	.close = files_close,
	.lock_user = files_lock_user,
	.lock_file = files_lock_file,
	.lock_all = files_lock_all,
	.unlock = files_unlock,
	.usage = files_usage,
	.set_used = files_set_used,
	.record_get = files_record_get,
	.record_put = files_record_put,
	.record_drop = files_record_drop,
	.commit = files_commit,
	.forget = files_forget,
	.move = files_move,
	.reserve = files_reserve,
	.reservation_set = files_reservation_set,
	.reservation_add = files_reservation_add,
	.release = files_release,
	.reclaim = files_reclaim,
	.largest = files_largest,
	.each_user = files_each_user,
	.each_record = files_each_record,
	.flush = files_flush,
	.lease_begin = files_lease_begin,
	.upload_get = files_upload_get,
	.upload_lock = files_upload_lock,
	.upload_unlock = files_upload_unlock,
	.upload_put = files_upload_put,
	.upload_finish = files_upload_finish,
	.upload_end = files_upload_end,
	.each_upload = files_each_upload,
};
