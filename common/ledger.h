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
 * The lock belongs to the open file description, not to the process:
 * each thread (each request of the FastCGI responder) opens its own
 * struct ledger, so that two of them exclude each other.
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

/* Set the fields to -1 (ledger_open does) before ledger_close. */
struct ledger {
	int state_fd;	/* state_dir, O_DIRECTORY */
	int lock_fd;	/* the lock file, -1 when not open */
	int locked;
};

/* Callers set it up with ledger_reservation_init (fd -1). */
struct reservation {
	int     fd;		/* the resv file, locked while the upload runs;
				   -1 when none */
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

/*
 * Opens (creating, mode 0700) state_dir and its folders; its parent must
 * exist.  On failure the struct is closed (ledger_close is still safe).
 */
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

/*
 * used from usage/USER (0 when missing; LEDGER_IO when corrupt) and
 * reserved, the sum of the live reservations.  Dead reservations count
 * for nothing and are left in place: run ledger_reclaim first.
 */
enum ledger_err ledger_usage(struct ledger *, const char *user,
    struct usage *out);

/* Sets used for user (recount). */
enum ledger_err ledger_set_used(struct ledger *, const char *user,
    int64_t used);

/* The record of rel; 0 and *out filled, 1 when there is none, or -1. */
int ledger_record_get(struct ledger *, const char *rel, struct record *out);

/*
 * Writes a reservation of bytes for user, naming the temporary file
 * tmprel (below upload_dir; NULL for none yet) it will own, and keeps it
 * locked in *r, which the caller ends with ledger_release_reservation.
 * On failure *r is as after ledger_reservation_init.  A reclaim removes
 * tmprel only when its last component starts with ".upgate-tmp-".
 */
enum ledger_err ledger_reserve(struct ledger *, const char *user,
    int64_t bytes, const char *tmprel, struct reservation *r);

void ledger_reservation_init(struct reservation *);	/* fd -1, no name */

/*
 * Changes what a live reservation holds (e.g. the next multipart part's
 * temporary file, or fewer bytes once some are committed).  Expects the
 * lock held, like the readers of resv/.
 */
enum ledger_err ledger_reservation_update(struct ledger *,
    struct reservation *, int64_t bytes, const char *tmprel);

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
 * Ends a reservation: removes its resv file and closes it.  Call it only
 * once the temporary file is renamed into place or removed: from then on
 * a reclaim may remove tmprel.  Needs no lock (the file is ours while
 * locked).  Safe on an ended r, on one from ledger_reservation_init and
 * on a zeroed one (an empty name means none, so fd 0 is never closed).
 * l may be NULL: the file then stays, dead, for the next reclaim.
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
 * changed.  Names that start with '.' are skipped at every level
 * (upgate stores none: they are temporary files, state_dir and the
 * like); symbolic links are never followed.  Expects the lock held.
 */
enum ledger_err ledger_recount(struct ledger *, int upload_fd,
    int per_user_dirs, const char *user,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg);

/* Users that have a usage file, for report: calls fn for each. */
enum ledger_err ledger_each_user(struct ledger *,
    void (*fn)(void *, const char *), void *arg);

#endif
