/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cause.h"
#include "store.h"

/* New data between two calls that start writeback (see writeback()). */
#define WRITEBACK_CHUNK	((int64_t)8 << 20)

/* Never set by the programs: the fault injection of the unit tests. */
int (*store_fault)(const char *op);

/* 1 (and errno set) when the test hook wants op to fail. */
static int
injected(const char *op)
{
	int e;

	if (store_fault == NULL || (e = store_fault(op)) == 0)
		return 0;
	errno = e;
	return 1;
}

/*
 * Row 14 of upgate(8): running out of disk is a 507 disk_full, out of
 * the filesystem's own quota a 507 quota_exceeded, the rest a 500.
 * call, the system call that failed, is noted for the log (cause.h).
 */
static enum store_err
errno_kind(void)
{
	if (errno == ENOSPC)
		return STORE_NOSPACE;
	if (errno == EDQUOT)
		return STORE_QUOTA;
	return STORE_IO;
}

static enum store_err
errno_err(const char *call)
{
	cause_note(call);
	return errno_kind();
}

/*
 * The configuration's `sync` for the requests of this thread: off, no
 * fsync and no early writeback (what Apache mod_dav_fs and lighttpd
 * mod_webdav do); renames stay atomic.
 */
static _Thread_local int no_sync;

void
store_set_sync(int on)
{
	no_sync = !on;
}

static int
sync_fd(int fd, const char *op)
{
	int r;

	if (no_sync)
		return 0;

	do {
		r = injected(op) ? -1 : fsync(fd);
	} while (r == -1 && errno == EINTR);
	return r;
}

/* Closes *fd if open and marks it closed, keeping errno for the caller. */
static void
close_fd(int *fd)
{
	int e = errno;

	if (*fd != -1)
		close(*fd);
	*fd = -1;
	errno = e;
}

/*
 * Opens folder name in fd without following a link (upgate(8), Requests).  -1 with
 * errno ELOOP for a link, ENOTDIR for another non-folder, ENOENT, or any.
 * Linux answers ENOTDIR, not ELOOP, for a link opened with O_DIRECTORY, so
 * a look at the entry tells the two apart.
 */
static int
open_folder(int fd, const char *name)
{
	struct stat st;
	int         d;

	if (injected("open"))
		return -1;
	d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d != -1 || errno != ENOTDIR)
		return d;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	else
		errno = ENOTDIR;
	return -1;
}

/*
 * The state a failed open_folder stands for, or TARGET__MAX when the
 * error is unexpected.
 */
static enum target
folder_state(int err)
{
	switch (err) {
	case ELOOP:
		return TARGET_SYMLINK;
	case ENOTDIR:
		return TARGET_NOT_FOLDER;
	case ENOENT:
		return TARGET_PARENT_MISSING;
	default:
		return TARGET__MAX;
	}
}

/* Components that name folders: all but the file of a PATH_FILE. */
static size_t
nfolders(const struct store_target *t)
{
	return t->kind == PATH_FILE ? t->path->ncomp - 1 : t->path->ncomp;
}

/* Sets t->state from the last component of a PATH_FILE in dir_fd. */
static enum store_err
check_file(struct store_target *t)
{
	const char *name = t->path->comp[t->path->ncomp - 1];

	if (fstatat(t->dir_fd, name, &t->st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return errno_err("fstatat");
		t->state = TARGET_NEW;
	} else if (S_ISLNK(t->st.st_mode))
		t->state = TARGET_SYMLINK;
	else if (S_ISREG(t->st.st_mode))
		t->state = TARGET_EXISTS;
	else
		t->state = TARGET_NOT_REGULAR;
	return STORE_OK;
}

/* The state once every folder is open in dir_fd. */
static enum store_err
settle(struct store_target *t)
{
	t->found = nfolders(t);
	if (t->kind == PATH_FOLDER) {
		t->state = TARGET_NEW;
		return STORE_OK;
	}
	return check_file(t);
}

/*
 * Opens the folders from depth t->found on, starting in fd (taken over).
 * Stops at the first one missing, keeping the deepest found as anchor.
 */
static enum store_err
walk(struct store_target *t, int fd)
{
	size_t n = nfolders(t);
	int    next;

	for (; t->found < n; t->found++) {
		if ((next = open_folder(fd, t->path->comp[t->found])) == -1)
			break;
		close(fd);
		fd = next;
	}
	if (t->found == n) {
		t->dir_fd = fd;
		return settle(t);
	}
	if ((t->state = folder_state(errno)) == TARGET__MAX) {
		cause_note("openat");
		goto fail;
	}
	if (t->state == TARGET_PARENT_MISSING) {
		t->anchor_fd = fd;
		t->anchor = t->found;
		return STORE_OK;
	}
	close_fd(&fd);
	return STORE_OK;
fail:
	close_fd(&fd);
	return STORE_IO;
}

static void
target_init(struct store_target *t, int base_fd, const struct path *path,
    enum path_kind kind)
{
	memset(t, 0, sizeof *t);
	t->state = TARGET__MAX;
	t->dir_fd = t->anchor_fd = -1;
	t->path = path;
	t->kind = kind;
	t->base_fd = base_fd;
}

enum store_err
store_resolve(int base_fd, const struct path *path, enum path_kind kind,
    struct store_target *t)
{
	int fd;

	target_init(t, base_fd, path, kind);
	if (path->ncomp > PATH_DEPTH_MAX ||
	    (kind == PATH_FILE && path->ncomp == 0)) {
		errno = EINVAL;
		return STORE_IO;
	}
	if ((fd = fcntl(base_fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return errno_err("fcntl");
	return walk(t, fd);
}

/*
 * Makes folder name in fd and syncs fd, so the folder outlives a crash
 * with the file stored in it.  A folder that appeared meanwhile is taken
 * as found: *made tells whether this call created it.
 */
static enum store_err
make_folder(int fd, const char *name, unsigned char *made)
{
	*made = 0;
	if (injected("mkdir") || mkdirat(fd, name, 0755) == -1)
		return errno == EEXIST ? STORE_OK : errno_err("mkdirat");
	*made = 1;
	if (sync_fd(fd, "fsync_dir") == -1)
		return errno_err("fsync");
	return STORE_OK;
}

enum store_err
store_make_parents(struct store_target *t)
{
	enum store_err e;
	size_t         n = nfolders(t);
	int            fd, next;

	if (t->state != TARGET_PARENT_MISSING)
		return STORE_OK;
	if ((fd = fcntl(t->anchor_fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return errno_err("fcntl");
	for (; t->found < n; t->found++) {
		e = make_folder(fd, t->path->comp[t->found],
		    &t->made[t->found]);
		t->created += t->made[t->found];
		if (e != STORE_OK)
			goto fail;
		if ((next = open_folder(fd, t->path->comp[t->found])) == -1)
			goto raced;
		close(fd);
		fd = next;
	}
	t->dir_fd = fd;
	return settle(t);
raced:
	/* a link or a file put there meanwhile is a state, not a failure */
	t->state = folder_state(errno);
	e = STORE_OK;
	if (t->state != TARGET_SYMLINK && t->state != TARGET_NOT_FOLDER)
		e = errno_err("openat");
fail:
	close_fd(&fd);
	return e;
}

/* Opens the folder at depth to, walking down from the anchor. */
static int
open_depth(const struct store_target *t, size_t to)
{
	size_t i;
	int    fd, next;

	if ((fd = fcntl(t->anchor_fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	for (i = t->anchor; i < to; i++) {
		next = open_folder(fd, t->path->comp[i]);
		close_fd(&fd);
		if ((fd = next) == -1)
			return -1;
	}
	return fd;
}

void
store_target_rollback(struct store_target *t)
{
	size_t i;
	int    fd;

	if (t->anchor_fd == -1)
		return;
	for (i = nfolders(t); i-- > t->anchor;) {
		if (!t->made[i])
			continue;
		/* a folder that is no longer empty is someone else's too */
		if ((fd = open_depth(t, i)) != -1) {
			unlinkat(fd, t->path->comp[i], AT_REMOVEDIR);
			close(fd);
		}
		t->made[i] = 0;
	}
	t->created = 0;
}

void
store_target_release(struct store_target *t)
{
	close_fd(&t->dir_fd);
	close_fd(&t->anchor_fd);
}

int
store_open_user_dir(int upload_fd, const char *user, int create)
{
	unsigned char made = 0;
	int           fd = -1, e;

	if (create && make_folder(upload_fd, user, &made) != STORE_OK)
		goto fail;
	if ((fd = open_folder(upload_fd, user)) == -1) {
		cause_note("openat");
		goto fail;
	}
	return fd;
fail:
	/* a folder made for a failed request goes (upgate(8), Requests) */
	if (made) {
		e = errno;
		unlinkat(upload_fd, user, AT_REMOVEDIR);
		errno = e;
	}
	return -1;
}

/*
 * ".upgate-tmp-" and 16 hex digits from getrandom(2): a name that no
 * request can create (upgate(8), Requests) and no other local user can guess.
 */
static int
tmp_name(char *name, size_t size)
{
	unsigned char r[8];
	ssize_t       n;

	while ((n = getrandom(r, sizeof r, 0)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof r)
		return -1;
	snprintf(name, size, "%s%02x%02x%02x%02x%02x%02x%02x%02x",
	    STORE_TMP_PREFIX, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	return 0;
}

/* Notes which inode the temporary file is. */
static enum store_err
remember(struct store_tmp *t)
{
	struct stat st;

	if (fstat(t->fd, &st) == -1) {
		store_tmp_abort(t);
		return errno_err("fstat");
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	return STORE_OK;
}

/*
 * 0 if the temporary name still holds the file this upload wrote: whoever
 * can write to the folder could have put a link or another file there,
 * and that must not be published in its place.
 */
static int
still_ours(const struct store_tmp *t)
{
	struct stat st;

	if (fstatat(t->dir_fd, t->name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_dev != t->dev || st.st_ino != t->ino) {
		errno = ESTALE;
		return -1;
	}
	return 0;
}

enum store_err
store_tmp_name(int dir_fd, struct store_tmp *t)
{
	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->dir_fd = dir_fd;
	if (tmp_name(t->name, sizeof t->name) == 0)
		return STORE_OK;
	t->name[0] = '\0';
	return errno_err("getrandom");
}

enum store_err
store_tmp_open(struct store_tmp *t)
{
	t->fd = injected("open") ? -1 : openat(t->dir_fd, t->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (t->fd != -1)
		return remember(t);
	t->name[0] = '\0';	/* not ours: abort must leave it */
	return errno_err("openat");
}

enum store_err
store_tmp_allocate(struct store_tmp *t, int64_t len)
{
	int r;

	if (len < 0) {
		errno = EINVAL;
		return STORE_IO;
	}
	if (len == 0)
		return STORE_OK;
	do {
		r = injected("fallocate") ? -1 : fallocate(t->fd, 0, 0, len);
	} while (r == -1 && errno == EINTR);
	if (r == 0) {
		t->allocated = len;
		return STORE_OK;
	}
	/* upgate(8), Accounting: without support, row 14 catches the overrun instead */
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return STORE_OK;
	return errno_err("fallocate");
}

/*
 * Every WRITEBACK_CHUNK of new data, starts writing it to the disk and
 * waits for what was started before, so that dirty pages stay below two
 * chunks and the final fsync finds nearly everything on disk: streaming
 * then costs about what the disk takes, not a copy plus a full sync.
 * An error here is reported now: sync_file_range consumes the file's
 * writeback error, so fsync would not see it again.
 */
static enum store_err
writeback(struct store_tmp *t)
{
	int64_t start = t->synced;

	if (no_sync || t->written - start < WRITEBACK_CHUNK)
		return STORE_OK;
	if (injected("sync_file_range") ||
	    sync_file_range(t->fd, start, t->written - start,
	    SYNC_FILE_RANGE_WRITE) == -1 ||
	    (start > 0 && sync_file_range(t->fd, 0, start,
	    SYNC_FILE_RANGE_WAIT_BEFORE) == -1))
		goto fail;
	t->synced = t->written;
	return STORE_OK;
fail:
	t->synced = t->written;
	/* not a file that supports it: fsync does all the work */
	if (errno == EINVAL || errno == ESPIPE || errno == ENOSYS)
		return STORE_OK;
	return errno_err("sync_file_range");
}

enum store_err
store_tmp_write(struct store_tmp *t, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t     n;

	while (len > 0) {
		n = injected("write") ? -1 : write(t->fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno_err("write");
		if (n == 0) {
			errno = EIO;
			return errno_err("write");
		}
		p += n;
		len -= (size_t)n;
		t->written += n;
	}
	return writeback(t);
}

enum store_err
store_tmp_finish(struct store_tmp *t)
{
	const char *call;
	int         fd;

	/* fallocate gave the announced size: keep only what came */
	call = "ftruncate";
	if (t->allocated > t->written && (injected(call) ||
	    ftruncate(t->fd, t->written) == -1))
		goto fail;
	/* 0644: the web server may serve upload_dir (upgate(8), Requests) */
	call = "fchmod";
	if (injected(call) || fchmod(t->fd, 0644) == -1)
		goto fail;
	call = "fsync";
	if (sync_fd(t->fd, call) == -1)
		goto fail;
	fd = t->fd;
	t->fd = -1;
	/* NFS may report a full disk only now (upgate(8), Decisions row 14) */
	if (injected("close")) {
		close_fd(&fd);
		return errno_err("close");
	}
	if (close(fd) == -1 && errno != EINTR)
		return errno_err("close");
	return STORE_OK;
fail:
	close_fd(&t->fd);
	return errno_err(call);
}

/*
 * Where RENAME_NOREPLACE is unsupported: link(2) refuses an existing
 * name too; if the temporary name cannot then go, the new one goes.
 */
static int
link_publish(struct store_tmp *t, const char *name)
{
	int e;

	if (injected("link") ||
	    linkat(t->dir_fd, t->name, t->dir_fd, name, 0) == -1) {
		cause_note("linkat");
		return -1;
	}
	if (injected("unlink") || unlinkat(t->dir_fd, t->name, 0) == -1) {
		cause_note("unlinkat");
		e = errno;
		unlinkat(t->dir_fd, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

static int
rename_publish(struct store_tmp *t, const char *name, int replace)
{
	int r;

	if (injected("rename"))
		r = -1;
	else if (replace)
		r = renameat(t->dir_fd, t->name, t->dir_fd, name);
	else
		r = renameat2(t->dir_fd, t->name, t->dir_fd, name,
		    RENAME_NOREPLACE);
	if (r == -1)
		cause_note(replace ? "renameat" : "renameat2");
	return r;
}

enum store_err
store_tmp_publish(struct store_tmp *t, const char *name, int replace)
{
	if (t->name[0] == '\0') {
		errno = EINVAL;
		return STORE_IO;
	}
	if (still_ours(t) == -1)
		return errno_err("fstatat");
	if (rename_publish(t, name, replace) == -1) {
		if (replace || (errno != EINVAL && errno != ENOSYS))
			goto fail;
		if (link_publish(t, name) == -1)
			goto fail;
	}
	t->name[0] = '\0';
	if (sync_fd(t->dir_fd, "fsync_dir") == -1)
		return errno_err("fsync");
	return STORE_OK;
fail:
	/* the call that failed is noted already */
	return errno == EEXIST ? STORE_EXISTS : errno_kind();
}

/* Keeps errno: the caller may still want to log the failure. */
void
store_tmp_abort(struct store_tmp *t)
{
	int e = errno;

	if (t->name[0] != '\0')
		unlinkat(t->dir_fd, t->name, 0);
	t->name[0] = '\0';
	close_fd(&t->fd);
	errno = e;
}

enum store_err
store_unlink(int dir_fd, const char *name)
{
	if (injected("unlink") || unlinkat(dir_fd, name, 0) == -1)
		return errno_err("unlinkat");
	if (sync_fd(dir_fd, "fsync_dir") == -1)
		return errno_err("fsync");
	return STORE_OK;
}

/* a x b, or INT64_MAX when it does not fit */
static int64_t
blocks_bytes(uint64_t blocks, uint64_t size)
{
	if (size != 0 && blocks > (uint64_t)INT64_MAX / size)
		return INT64_MAX;
	return (int64_t)(blocks * size);
}

int
store_space(int fd, int64_t *free_bytes, int64_t *total_bytes)
{
	struct statvfs vfs;

	if (fstatvfs(fd, &vfs) == -1) {
		cause_note("fstatvfs");
		return -1;
	}
	*free_bytes = blocks_bytes(vfs.f_bavail, vfs.f_frsize);
	*total_bytes = blocks_bytes(vfs.f_blocks, vfs.f_frsize);
	return 0;
}
