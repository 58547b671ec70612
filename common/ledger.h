/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger: usage accounting (upgate(8), "USAGE ACCOUNTING").  One
 * interface, two backends chosen once from the configuration's `ledger`
 * key: `files` (in state_dir, ledger_files.c) and `postgresql`
 * (ledger_pg.c).  The gate never knows which one it talks to.
 *
 * What a ledger keeps:
 *   usage     bytes of the files upgate stored, per user
 *   records   who stored each file (its path below upload_dir) and its
 *             size, for the charge of a replacement and per_user_dirs = no
 *   reservations
 *             what running uploads hold: bytes, and the temporary files
 *             and folders they made (so a reclaim can remove them).  A
 *             reservation lives as long as its owner: a handler that dies
 *             (its lock, or its database session, gone) leaves one that
 *             the next request of the user reclaims.
 *   leases    reservations of resumable uploads, tied to no process:
 *             live until they expire (see "Resumable uploads" below)
 *
 * Locks are scopes, as narrow as the guarantees: one per user, one per
 * target file (per_user_dirs = no, and form names), and one over
 * everything for the operator's recount and migrate.  A waiting request
 * sleeps until the lock is free or its time is up (LEDGER_BUSY).  Nobody
 * holds a lock while a body streams, an answer is rendered or written,
 * or while wanting another user's lock.
 *
 * Durability (sync = yes): a change that raises usage is durable before
 * the function returns; a record is durable before any change that
 * lowers usage on its account, so that a crash over-counts, never
 * under-counts.  With sync = no nothing is forced to the disk.
 *
 * One struct ledger per thread: the `files` backend's locks belong to
 * the open file description, so two requests of one process exclude
 * each other only through descriptors of their own.  The `postgresql`
 * backend's ledgers of one process share its database sessions (a
 * ledger holds one only while it holds a lock, or for one call), and
 * one more session holds the locks of the process's reservations.
 */
#ifndef UPGATE_LEDGER_H
#define UPGATE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "reply.h"

#define LEDGER_LOCK_TIMEOUT_MS 5000	/* row 15 of upgate(8)'s table */

enum ledger_err {
	LEDGER_OK = 0,
	LEDGER_BUSY,		/* lock not obtained in time: 503 */
	LEDGER_DOWN,		/* the database cannot be reached: 503 */
	LEDGER_NOSPACE,		/* ENOSPC or EDQUOT: 507 */
	LEDGER_IO,		/* anything else: 500 */
	LEDGER__MAX
};
const char *ledger_strerror(enum ledger_err);

/* What ledger_open needs from the configuration. */
struct ledger_config {
	const char *state_dir;	/* always: the compiled quota index lives there */
	const char *uri;	/* NULL: files; else a postgresql:// URI */
	int         sync;	/* the configuration's `sync` */
	int         shared;	/* 1: other threads open ledgers of this
				   configuration at once (the responder's
				   workers); 0: one thread does (the CGI,
				   upgate-quota), whose one session may then
				   hold its reservations' locks too */
};

struct ledger_ops;

/*
 * A ledger, open for one thread.  state_fd is state_dir (both backends
 * keep the compiled quota index there); the rest is the backend's.
 */
struct ledger {
	const struct ledger_ops *ops;	/* NULL: not open */
	int    state_fd;
	int    sync;
	void  *be;			/* the backend's state, owned */
	/* why the last call failed, for the log: "fsync:EIO" */
	char   cause[96];
	/* what ledger_record_get's -1 came to: a database gone is 503 */
	enum ledger_err failed;
};

/* Callers set it up with ledger_reservation_init. */
struct reservation {
	uint64_t id;		/* 0: none */
	int      fd;		/* files: the locked resv file, else -1 */
	char     user[65];
	int64_t  bytes;		/* what it holds of the user's quota */
	int64_t  end;		/* files: where its next path goes */
};

struct usage {
	int64_t used;
	int64_t reserved;	/* live reservations and leases */
	int64_t dead;		/* reservations whose owner is gone: a
				   reclaim has work to do */
};

struct record {
	char    owner[65];
	int64_t size;
};

/* What a reservation names, for a reclaim to remove. */
enum resv_path {
	RESV_TMP = 't',		/* a temporary file ".upgate-tmp-..." */
	RESV_DIR = 'd'		/* a folder the upload created */
};

/*
 * Opens the backend that cfg names: state_dir is created (mode 0700,
 * its parent must exist); a database is connected to, its tables made
 * on first use.  LEDGER_DOWN when the database cannot be reached.  On
 * failure l is closed (ledger_close is safe).  cfg's strings are copied.
 */
enum ledger_err ledger_open(struct ledger *, const struct ledger_config *);

/*
 * As ledger_open, on state_dir already open as state_fd (borrowed: the
 * ledger keeps a copy of its own), so that nothing is looked up by
 * cfg->state_dir; -1 opens it by path as ledger_open does.  For
 * upgate-quota, which opens state_dir itself before it becomes its owner.
 */
enum ledger_err ledger_open_at(struct ledger *, int state_fd,
    const struct ledger_config *);
void ledger_close(struct ledger *);	/* safe twice, and on a zeroed one */
void ledger_init(struct ledger *);	/* closed: ops NULL, state_fd -1 */

/*
 * Scopes.  ledger_lock_user takes user's lock; ledger_lock_file the lock
 * of a file's path below upload_dir (taken after the user's); ledger_
 * lock_all every lock at once (the operator's tool).  Each waits at most
 * timeout_ms (0: tries once): LEDGER_BUSY.  A failed lock call leaves
 * nothing more held; after any failure inside a scope the caller still
 * ends it with ledger_unlock, which drops every lock held and is safe
 * when none is.
 */
enum ledger_err ledger_lock_user(struct ledger *, const char *user,
    int timeout_ms);
enum ledger_err ledger_lock_file(struct ledger *, const char *rel,
    int timeout_ms);
enum ledger_err ledger_lock_all(struct ledger *, int timeout_ms);
void ledger_unlock(struct ledger *);

/*
 * The functions below expect the lock of the user they change (or
 * ledger_lock_all) held, unless they say otherwise.
 */

/*
 * used (0 when unknown) and reserved, the live reservations' bytes; dead
 * counts the reservations a reclaim would remove, so that a request
 * reads the figures once when there is nothing to reclaim.
 */
enum ledger_err ledger_usage(struct ledger *, const char *user,
    struct usage *out);

/* Sets used for user (recount, migrate). */
enum ledger_err ledger_set_used(struct ledger *, const char *user,
    int64_t used);

/*
 * The record of rel: 0 and *out filled, 1 when there is none, or -1
 * with l->failed saying what the failure came to (LEDGER_DOWN, ...).
 */
int ledger_record_get(struct ledger *, const char *rel, struct record *out);

/*
 * Records that rel now holds size bytes of user's, replacing whatever
 * record rel had: usage moves by size minus the old record's size (for
 * the old record's owner).  A raise is durable before it returns; call
 * it before the rename into place when it raises, after when it lowers.
 */
enum ledger_err ledger_commit(struct ledger *, const char *user,
    const char *rel, int64_t size);

/* Drops the record of rel and lowers its owner's usage.  After unlink. */
enum ledger_err ledger_forget(struct ledger *, const char *rel);

/*
 * The records follow a file or a folder that was renamed from `from` to
 * `to` (MOVE): the record of from, and every record below it as a
 * folder, now names the same place below to, owner and size unchanged,
 * so usage does not move.  A record at or below to that was not
 * forgotten first is stale and dropped.  After the rename: a crash
 * between leaves the records at from, which a recount mends.
 */
enum ledger_err ledger_move(struct ledger *, const char *from,
    const char *to);

void ledger_reservation_init(struct reservation *);	/* id 0, fd -1 */

/*
 * A reservation of bytes for user, live until r is released, l is
 * closed, or its owner is gone (this process; with a database, the
 * session that holds its lock: a moment after the process dies);
 * tmprel (below upload_dir; NULL for none yet) is
 * its first path, named before the file exists.  On failure r is as
 * after ledger_reservation_init.
 */
enum ledger_err ledger_reserve(struct ledger *, const char *user,
    int64_t bytes, const char *tmprel, struct reservation *r);

/* Changes the bytes r holds. */
enum ledger_err ledger_reservation_set(struct ledger *, struct reservation *,
    int64_t bytes);

/*
 * Adds a path r owns: a temporary file (only names that start with
 * ".upgate-tmp-" are ever removed for it) or a folder it made (removed
 * when empty).  Needs no lock: r is its owner's.
 */
enum ledger_err ledger_reservation_add(struct ledger *, struct reservation *,
    enum resv_path, const char *rel);

/*
 * Ends r.  Call it once the temporary files are renamed into place or
 * removed; under the user's lock when the bytes it held are now usage
 * (so that nobody sees them twice).  Safe on an ended r and on one from
 * ledger_reservation_init; l may be NULL (the reservation then stays
 * for a reclaim once its owner is gone).
 */
void ledger_release_reservation(struct ledger *, struct reservation *);

/*
 * Reclaims the reservations of user (every user when NULL) whose owner
 * is gone: removes their temporary files, then their folders when empty,
 * below upload_fd, then the reservations.  Calls fn(arg, user, bytes)
 * for each, when fn is not NULL.
 */
enum ledger_err ledger_reclaim(struct ledger *, const char *user,
    int upload_fd, void (*fn)(void *, const char *, int64_t), void *arg);

/*
 * The largest files recorded for user, largest first, at most max of
 * them, looking at no more than LEDGER_SCAN_MAX records (so the cost of
 * a refusal does not grow with the user's number of files).  Names are
 * relative to the user's folder when prefix (e.g. "alice/") is given.
 * Needs no lock.
 */
#define LEDGER_SCAN_MAX 10000
size_t ledger_largest(struct ledger *, const char *user, const char *prefix,
    struct file_size *out, size_t max);

/*
 * Rebuilds the ledger of user (every user when NULL) from the disk
 * (upgate-quota(8), recount): reclaims dead reservations, then sums
 * st_size of the regular files below upload_fd that belong to the user
 * — with per_user_dirs everything in USER/ but names starting with '.',
 * without it the files whose record names the user — rewriting records
 * and usage.  Calls fn(arg, user, old_used, new_used) for each user
 * whose usage changed.  Symbolic links are never followed.  Expects
 * ledger_lock_all held.
 */
enum ledger_err ledger_recount(struct ledger *, int upload_fd,
    int per_user_dirs, const char *user,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg);

/* Users that have a usage figure: calls fn for each.  Needs no lock. */
enum ledger_err ledger_each_user(struct ledger *,
    void (*fn)(void *, const char *), void *arg);

/*
 * Every record (of owner, when not NULL): fn(arg, rel, rec) returns 0 to
 * go on, 1 to stop, -1 to fail.  Needs no lock; sees each record once.
 * A record that cannot be read (a torn file) comes, when owner is NULL,
 * with an empty owner and size -1, so that a recount can mend it.
 */
enum ledger_err ledger_each_record(struct ledger *, const char *owner,
    int (*fn)(void *, const char *, const struct record *), void *arg);

/*
 * Record upkeep for recount and migrate: writes (or drops) rel's record
 * as it is, moving no usage.  Expects ledger_lock_all held — or, to drop
 * the stale record of a file that is not there before storing one, the
 * locks of the user and the file.
 */
enum ledger_err ledger_record_put(struct ledger *, const char *rel,
    const struct record *);
enum ledger_err ledger_record_drop(struct ledger *, const char *rel);

/* Makes every change so far durable (after a recount or a migrate). */
enum ledger_err ledger_flush(struct ledger *);

/*
 * Resumable uploads (upgate(8), "RESUMABLE UPLOADS").  An unfinished
 * upload holds a lease: a reservation tied to no process, live until
 * its expiry (pushed on by each PATCH), its completion or its
 * termination; counted in usage's reserved like a reservation, and
 * once expired reclaimed with its temporary file by the user's next
 * ledger_reclaim or by recount.  A finished upload keeps its state,
 * holding nothing, until that expiry, so that its URL still answers.
 * Its own lock excludes two requests on one upload; it is the only lock
 * a PATCH holds while its body streams.
 */
#define UPLOAD_ID_LEN	32	/* lowercase hex digits, from getrandom */
#define UPLOAD_META_MAX	4096	/* Upload-Metadata, as sent */

struct upload {
	char     id[UPLOAD_ID_LEN + 1];
	char     owner[65];
	char     folder[4096];	/* its target folder, below upload_dir */
	char     name[256];	/* the file's name, from its metadata */
	char     tmp[4096];	/* its temporary file, below upload_dir */
	char     metadata[UPLOAD_META_MAX + 1];
	int64_t  length;	/* Upload-Length */
	int64_t  offset;	/* bytes durable in tmp */
	int64_t  expires;	/* seconds since the epoch */
	int      finished;	/* published: holds nothing, answers HEAD */
	uint64_t lease;		/* the backend's key of its lease */
	uint64_t held;		/* the backend's mark of its lock; 0: none */
};

/* 1 when id is UPLOAD_ID_LEN lowercase hex digits. */
int upload_id_valid(const char *id);

/*
 * Turns r (made by ledger_reserve, its paths added) into the lease of
 * u: u->id is made, u->owner set to r's user, and u's state (folder,
 * name, tmp, metadata, length, offset, expires) is kept, durable with
 * sync = yes, before r ends.  r ends either way; on failure its bytes
 * and paths go as after ledger_release_reservation.
 */
enum ledger_err ledger_lease_begin(struct ledger *, struct reservation *r,
    struct upload *u);

/*
 * The upload id of user, into *out: 0, expired or not (out->expires
 * says); 1 when there is none (another user's is none); -1 on failure.
 * Needs no lock.
 */
int ledger_upload_get(struct ledger *, const char *user, const char *id,
    struct upload *out);

/*
 * The upload's own lock, tried once: LEDGER_BUSY when another request
 * holds it.  Held until ledger_upload_unlock (safe when not held), or
 * until the process dies.
 */
enum ledger_err ledger_upload_lock(struct ledger *, struct upload *);
void ledger_upload_unlock(struct ledger *, struct upload *);

/* Writes u's offset and expiry: durable (sync = yes).  Under u's lock. */
enum ledger_err ledger_upload_put(struct ledger *, const struct upload *);

/*
 * After its file was published and committed (ledger_commit): the
 * lease holds nothing and forgets the temporary file, u is finished.
 * Under the user's lock and u's.
 */
enum ledger_err ledger_upload_finish(struct ledger *, struct upload *);

/*
 * Termination: removes u's temporary file, then the folders its creation
 * made when they are empty, below upload_fd (as a reclaim does); then
 * forgets u and its lease.  Under u's lock (an unfinished one).
 */
enum ledger_err ledger_upload_end(struct ledger *, struct upload *,
    int upload_fd);

/*
 * Every unfinished upload of user (every user when NULL), expired ones
 * too; finished ones may be among them.  fn returns 0 to go on, 1 to
 * stop.  Needs no lock.
 */
enum ledger_err ledger_each_upload(struct ledger *, const char *user,
    int (*fn)(void *, const struct upload *), void *arg);

/*
 * The backends' table.  Each returns the layer's error and, on a
 * failure, writes the failing call and errno name into l->cause.  open
 * finds state_dir open already, in l->state_fd.
 */
struct ledger_ops {
	const char *name;
	enum ledger_err (*open)(struct ledger *, const struct ledger_config *);
	void (*close)(struct ledger *);
	enum ledger_err (*lock_user)(struct ledger *, const char *, int);
	enum ledger_err (*lock_file)(struct ledger *, const char *, int);
	enum ledger_err (*lock_all)(struct ledger *, int);
	void (*unlock)(struct ledger *);
	enum ledger_err (*usage)(struct ledger *, const char *, struct usage *);
	enum ledger_err (*set_used)(struct ledger *, const char *, int64_t);
	int (*record_get)(struct ledger *, const char *, struct record *);
	enum ledger_err (*record_put)(struct ledger *, const char *,
	    const struct record *);
	enum ledger_err (*record_drop)(struct ledger *, const char *);
	enum ledger_err (*commit)(struct ledger *, const char *, const char *,
	    int64_t);
	enum ledger_err (*forget)(struct ledger *, const char *);
	enum ledger_err (*move)(struct ledger *, const char *, const char *);
	enum ledger_err (*reserve)(struct ledger *, const char *, int64_t,
	    struct reservation *);
	enum ledger_err (*reservation_set)(struct ledger *,
	    struct reservation *, int64_t);
	enum ledger_err (*reservation_add)(struct ledger *,
	    struct reservation *, enum resv_path, const char *);
	void (*release)(struct ledger *, struct reservation *);
	/*
	 * Calls fn for each path of each dead reservation of user (every
	 * user when NULL), temporary files before folders, deepest folder
	 * first; then done(arg, user, bytes) and forgets the reservation.
	 */
	enum ledger_err (*reclaim)(struct ledger *, const char *,
	    void (*fn)(void *, enum resv_path, const char *),
	    void (*done)(void *, const char *, int64_t), void *arg);
	size_t (*largest)(struct ledger *, const char *, const char *,
	    struct file_size *, size_t);
	enum ledger_err (*each_user)(struct ledger *,
	    void (*)(void *, const char *), void *);
	enum ledger_err (*each_record)(struct ledger *, const char *,
	    int (*)(void *, const char *, const struct record *), void *);
	enum ledger_err (*flush)(struct ledger *);
	/* leases (resumable uploads): see above */
	enum ledger_err (*lease_begin)(struct ledger *, struct reservation *,
	    struct upload *);
	int (*upload_get)(struct ledger *, const char *, const char *,
	    struct upload *);
	enum ledger_err (*upload_lock)(struct ledger *, struct upload *);
	void (*upload_unlock)(struct ledger *, struct upload *);
	enum ledger_err (*upload_put)(struct ledger *, const struct upload *);
	enum ledger_err (*upload_finish)(struct ledger *, struct upload *);
	enum ledger_err (*upload_end)(struct ledger *, struct upload *,
	    void (*)(void *, enum resv_path, const char *), void *);
	enum ledger_err (*each_upload)(struct ledger *, const char *,
	    int (*)(void *, const struct upload *), void *);
};

extern const struct ledger_ops ledger_files_ops;
extern const struct ledger_ops ledger_pg_ops;

/* For the backends: fills l->cause with "call:ERRNO" from errno. */
void ledger_cause(struct ledger *, const char *call);

/* A 64-bit FNV-1a of a lock's domain and key (both backends). */
uint64_t ledger_key_hash(char domain, const char *key);

#endif
