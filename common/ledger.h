/*
 * ledger: usage accounting in state_dir (SPEC §4).
 *
 * Layout, all below state_dir (mode 0700):
 *   lock            the ledger lock: an open-file-description lock on it
 *                   guards every read-modify-write below
 *   usage/USER      "USED\n": bytes of the files upgate stored for USER
 *   files/REL       "USER SIZE\n" for each stored file, REL its path below
 *                   upload_dir (so with per_user_dirs it starts "USER/")
 *   resv/USER.ID    a live reservation: "BYTES TMPREL\n", held under an
 *                   OFD write lock by the upload that owns it; a file
 *                   whose lock can be taken belongs to a dead handler
 *
 * Critical sections are short (no body byte is read under the lock), so
 * one lock for all users keeps ownership races (per_user_dirs = no)
 * impossible at little cost.  Usage is written before a file is renamed
 * into place and lowered after it is removed, so a crash over-counts.
 */
#ifndef UPGATE_LEDGER_H
#define UPGATE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "reply.h"

#define LEDGER_LOCK_TIMEOUT_MS 5000

enum ledger_err {
	LEDGER_OK = 0,
	LEDGER_BUSY,		/* lock not obtained in time: 503 */
	LEDGER_NOSPACE,		/* ENOSPC or EDQUOT: 507 */
	LEDGER_IO,		/* anything else: 500 */
	LEDGER__MAX
};
const char *ledger_strerror(enum ledger_err);

struct ledger {
	int state_fd;	/* state_dir, O_DIRECTORY */
	int lock_fd;	/* the lock file, -1 when not open */
	int locked;
};

struct reservation {
	int     fd;		/* the resv file, locked while the upload runs */
	char    name[128];	/* "USER.ID" below resv/ */
	int64_t bytes;
};

struct usage {
	int64_t used;
	int64_t reserved;	/* live reservations */
};

struct record {
	char    owner[65];
	int64_t size;
};

/* Opens (creating, mode 0700) state_dir and its folders.  -1 on failure. */
enum ledger_err ledger_open(struct ledger *, const char *state_dir);
void ledger_close(struct ledger *);	/* safe twice */

/*
 * Takes the ledger lock, waiting at most timeout_ms; LEDGER_BUSY when it
 * could not.  Every function below but ledger_release_reservation expects
 * it held.
 */
enum ledger_err ledger_lock(struct ledger *, int timeout_ms);
void ledger_unlock(struct ledger *);

/*
 * Reclaims the reservations of user (all users when user is NULL) whose
 * owner is gone: removes their temporary files below upload_fd and their
 * resv files.  Calls fn(arg, user, bytes) for each, when fn is not NULL.
 */
enum ledger_err ledger_reclaim(struct ledger *, const char *user,
    int upload_fd, void (*fn)(void *, const char *, int64_t), void *arg);

enum ledger_err ledger_usage(struct ledger *, const char *user,
    struct usage *out);

/* Sets used for user (recount). */
enum ledger_err ledger_set_used(struct ledger *, const char *user,
    int64_t used);

/* The record of rel; 0 and *out filled, 1 when there is none, or -1. */
int ledger_record_get(struct ledger *, const char *rel, struct record *out);

/*
 * Writes a reservation of bytes for user, naming the temporary file
 * tmprel (below upload_dir) it will own, and keeps it locked in *r.
 */
enum ledger_err ledger_reserve(struct ledger *, const char *user,
    int64_t bytes, const char *tmprel, struct reservation *r);

/*
 * Records that rel now holds size bytes of user's, replacing whatever
 * record rel had: usage moves by size minus the old record's size (for
 * the old record's owner).  Called before the rename into place.
 */
enum ledger_err ledger_commit(struct ledger *, const char *user,
    const char *rel, int64_t size);

/* Drops the record of rel and lowers its owner's usage.  After unlink. */
enum ledger_err ledger_forget(struct ledger *, const char *rel);

/*
 * Ends a reservation: removes its resv file and closes it.  Needs no
 * lock (the file is ours while locked); safe on a zeroed or ended r.
 */
void ledger_release_reservation(struct ledger *, struct reservation *);

/*
 * The largest files recorded for user, largest first, at most max of
 * them, looking at no more than LEDGER_SCAN_MAX records (so the cost of a
 * refusal does not grow with the user's number of files).  Names are
 * relative to the user's folder when prefix (e.g. "alice/") is given.
 */
#define LEDGER_SCAN_MAX 10000
size_t ledger_largest(struct ledger *, const char *user, const char *prefix,
    struct file_size *out, size_t max);

/*
 * Rebuilds the ledger of user (every user when NULL) from the disk
 * (SPEC §10): reclaims dead reservations, then sums st_size of the
 * regular files below upload_fd that belong to the user — with
 * per_user_dirs everything in USER/ but temporary files, without it the
 * files whose record names the user — rewriting records and usage.
 * Calls fn(arg, user, old_used, new_used) for each user whose usage
 * changed.  Expects the lock held.
 */
enum ledger_err ledger_recount(struct ledger *, int upload_fd,
    int per_user_dirs, const char *user,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg);

/* Users that have a usage file, for report: calls fn for each. */
enum ledger_err ledger_each_user(struct ledger *,
    void (*fn)(void *, const char *), void *arg);

#endif
