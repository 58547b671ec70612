/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Every failure that returns STORE_IO, STORE_NOSPACE or STORE_QUOTA (or
 * -1) notes its system call and errno for the log (cause.h).
 *
 * store: the only filesystem code for uploads (upgate(8), Requests).  Every step of a
 * path is opened relative to a directory descriptor with O_NOFOLLOW, so a
 * symbolic link is never followed; bodies go to a temporary file
 * ".upgate-tmp-..." in the target folder, created O_EXCL, given its
 * announced length with fallocate(2), made durable with fsync and renamed
 * into place atomically.
 */
#ifndef UPGATE_STORE_H
#define UPGATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "decide.h"
#include "names.h"

#define STORE_TMP_PREFIX ".upgate-tmp-"
/* the prefix and 16 hex digits: the length of every temporary name */
#define STORE_TMP_NAME_LEN (sizeof STORE_TMP_PREFIX - 1 + 16)

enum store_err {
	STORE_OK = 0,
	STORE_NOSPACE,		/* ENOSPC: the disk is full */
	STORE_QUOTA,		/* EDQUOT: the filesystem's own quota */
	STORE_EXISTS,		/* publish without replace found a file */
	STORE_IO,		/* any other failure; errno kept */
	STORE__MAX
};

/*
 * A walk of a path below a base folder.  Owns dir_fd and the names of the
 * folders it created (so store_target_rollback can remove them).
 */
struct store_target {
	enum target state;	/* what the walk found (decide.h) */
	int         dir_fd;	/* the target's folder (or the folder
				   itself for PATH_FOLDER), -1 if missing */
	size_t      found;	/* components of the folder path that exist */
	const struct path *path;
	enum path_kind kind;
	struct stat st;		/* the target's, when TARGET_EXISTS */
	int         base_fd;	/* borrowed */
	size_t      created;	/* folders made by store_make_parents */
	/* private to store.c */
	int         anchor_fd;	/* deepest folder found, when one is missing */
	size_t      anchor;	/* its depth below base_fd */
	unsigned char made[PATH_DEPTH_MAX];	/* 1: folder i was created */
};

/*
 * Walks path below base_fd (borrowed: it must stay open until release)
 * and fills t: TARGET_NEW or TARGET_EXISTS (with dir_fd open),
 * TARGET_PARENT_MISSING (found tells how far it got), TARGET_SYMLINK,
 * TARGET_NOT_FOLDER, TARGET_NOT_REGULAR (dir_fd open when the trouble is
 * the last component of a PATH_FILE, else -1).  path is borrowed for the
 * life of t.  For PATH_FOLDER the state is TARGET_NEW when the folder
 * exists (an empty path is base_fd itself).  Never TARGET_BAD_NAME or
 * TARGET_FOREIGN: those are the caller's.  Returns STORE_OK or STORE_IO
 * (an unexpected error, errno kept); t is always fit for release.
 */
enum store_err store_resolve(int base_fd, const struct path *path,
    enum path_kind, struct store_target *t);

/*
 * Creates the missing folders (mode 0755) of a TARGET_PARENT_MISSING walk,
 * fsyncing each parent, and opens dir_fd; does nothing in another state.
 * Afterwards t->state is rechecked: TARGET_NEW or TARGET_EXISTS, or, when
 * someone raced a link or a file into the path, TARGET_SYMLINK or
 * TARGET_NOT_FOLDER.  STORE_NOSPACE or STORE_IO on failure; either way
 * the caller undoes what was made with store_target_rollback.
 */
enum store_err store_make_parents(struct store_target *t);

/*
 * Removes the folders store_make_parents created, deepest first; a
 * folder that is no longer empty is left.  Call it before release.
 */
void store_target_rollback(struct store_target *t);

void store_target_release(struct store_target *t);	/* safe twice */

/*
 * Opens the user's folder below upload_fd, creating it (mode 0755) when
 * create is set; never follows a symbolic link.  Returns the descriptor,
 * or -1 with errno (ENOENT when missing and not created, ELOOP for a
 * link, ENOTDIR for a non-folder).
 */
int store_open_user_dir(int upload_fd, const char *user, int create);

struct store_tmp {
	int     fd;		/* -1 when closed */
	int     dir_fd;		/* borrowed */
	char    name[64];	/* ".upgate-tmp-..." */
	int64_t written;
	int64_t allocated;	/* bytes given by fallocate */
	int64_t synced;		/* bytes handed to writeback so far */
	dev_t   dev;		/* the file created, to tell it from */
	ino_t   ino;		/* anything put in its place since */
};

/*
 * The temporary file in dir_fd (mode 0600, O_EXCL|O_NOFOLLOW), in two
 * steps, so that the caller writes the name down (in a reservation)
 * before the file exists and a crash in between leaves no file nobody
 * knows of: store_tmp_name picks an unguessable name, store_tmp_open
 * creates the file (an existing one is an error).
 */
enum store_err store_tmp_name(int dir_fd, struct store_tmp *);
enum store_err store_tmp_open(struct store_tmp *);

/*
 * Gives the file len bytes with fallocate(2) (not posix_fallocate).
 * STORE_NOSPACE when the disk cannot hold them, STORE_QUOTA when the
 * filesystem's quota does not let them in; STORE_OK also when the
 * filesystem does not support it (the writes will tell).
 */
enum store_err store_tmp_allocate(struct store_tmp *, int64_t len);

/* Writes all of (buf, len), starting writeback of what came before. */
enum store_err store_tmp_write(struct store_tmp *, const void *buf,
    size_t len);

/*
 * Trims to what was written, fchmod 0644, fsync, close (fd is -1
 * afterwards, whatever the result).  STORE_NOSPACE or STORE_QUOTA when
 * the sync or the close reports ENOSPC or EDQUOT.
 */
enum store_err store_tmp_finish(struct store_tmp *);

/*
 * Renames the temporary file to name in its folder and fsyncs the
 * folder.  Without replace the rename fails with STORE_EXISTS rather than
 * overwrite (RENAME_NOREPLACE, or link+unlink where unsupported).  Once
 * the rename is done t->name is emptied, so abort leaves the file alone,
 * even when the folder's fsync then fails (STORE_IO or STORE_NOSPACE).
 */
enum store_err store_tmp_publish(struct store_tmp *, const char *name,
    int replace);

/*
 * Removes the temporary file (if still there) and closes it; safe twice,
 * and after a failed store_tmp_open.
 */
void store_tmp_abort(struct store_tmp *);

/* Removes the regular file name in dir_fd and fsyncs the folder. */
enum store_err store_unlink(int dir_fd, const char *name);

/*
 * Free bytes an unprivileged user may use (f_bavail x f_frsize) and the
 * total size (f_blocks x f_frsize) of the filesystem holding fd.
 */
int store_space(int fd, int64_t *free_bytes, int64_t *total_bytes);

/*
 * Whether this thread's store calls make their work durable (fsync of
 * files and folders, early writeback): the configuration's `sync`, set
 * by the gate for each request.  On until set.
 */
void store_set_sync(int on);

/*
 * For tests only: when set, called before each system call store makes,
 * with the name of the operation ("open", "mkdir", "fallocate", "write",
 * "sync_file_range", "ftruncate", "fchmod", "fsync", "close", "rename",
 * "link", "unlink", "fsync_dir"); a non-zero return is taken as that
 * call's errno.  NULL (never set) in the programs.
 */
extern int (*store_fault)(const char *op);

#endif
