/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * pgpool: the PostgreSQL sessions of one process, shared by the
 * `postgresql` ledgers (ledger_pg.c) that its threads open with one URI.
 * It knows sessions, not SQL: ledger_pg.c opens and settles them.
 *
 * A ledger needs a session only while it holds a lock scope and for
 * its short calls, not while a body streams: it borrows one for that
 * and gives it back.  The pool keeps up to PGPOOL_IDLE idle sessions,
 * closes the others, and has at most PGPOOL_MAX lent, idle or being
 * opened at once; a borrower beyond that waits for one to come back.
 *
 * Beside them, one session — the holder — holds the lock of every live
 * reservation of the process, from its reserve to its release, so that
 * a reservation outlives the session of the call that made it, and
 * ends with the process.  It runs one statement at a time, under its
 * own mutex (pgpool_holder_lock), held for that statement only.  gen
 * counts the holders: a reservation made under one generation is lost
 * once the pool has moved to the next (its locks ended with the old
 * holder's session).
 *
 * A pool that only one ledger uses (the CGI, upgate-quota) and that
 * was not opened as shared lends the holder as that ledger's session
 * too, so that a request opens one connection rather than two; a
 * statement on a lent holder is run under the holder's mutex all the
 * same.  Pools opened as shared (the responder's workers) never lend
 * it.
 *
 * Lock order: the registry's mutex, then a holder's mutex, then a
 * pool's mutex.  No mutex is held across a round trip to the server,
 * but the holder's for its one statement (and while a holder is
 * connected: nobody could use it meanwhile anyway).
 */
#ifndef UPGATE_PGPOOL_H
#define UPGATE_PGPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#define PGPOOL_IDLE	4	/* idle sessions kept */
#define PGPOOL_MAX	16	/* sessions lent, idle or opening, holder aside */

/* One session, owned by the pool, lent to one ledger at a time. */
struct pgsess {
	PGconn        *conn;
	int            lock_ms;		/* its lock_timeout; -1: unknown */
	int            stmt_ms;		/* its statement_timeout; 0: the URI's */
	int            holder;		/* it is its pool's holder */
	/*
	 * Mixed into every bigint lock key: a hash of the schema the
	 * tables are in, so that two ledgers in one database (two sites,
	 * each with its own schema) never wait for each other's locks.
	 * The sessions of a pool share their URI, and so their salt.
	 */
	int64_t        salt;
	struct pgsess *next;		/* in the idle list */
};

struct pgpool;

/*
 * The pool of uri and sync, made on first use: one reference more,
 * dropped by pgpool_detach.  shared: other threads attach to it too (it
 * never lends its holder then).  NULL when out of memory.
 */
struct pgpool *pgpool_attach(const char *uri, int sync, int shared);

/* Drops a reference; the last one closes every session. */
void pgpool_detach(struct pgpool *);

/* The URI the pool was made for; lives as long as the pool. */
const char *pgpool_uri(const struct pgpool *);

/* ms from now on CLOCK_MONOTONIC, for the waits below. */
void pgpool_deadline(struct timespec *, int ms);

enum pgpool_take {
	PGPOOL_GOT,		/* *out: a session that looked alive */
	PGPOOL_OPEN,		/* the caller opens one: pgpool_opened */
	PGPOOL_TIMEOUT		/* none came back before the deadline */
};

/*
 * A session for one caller: an idle one (probed without a round trip;
 * those found dead are closed), or leave to open one, or a wait until
 * one comes back or the deadline passes.
 */
enum pgpool_take pgpool_take(struct pgpool *, const struct timespec *,
    struct pgsess **out);

/*
 * What came of a PGPOOL_OPEN: the session, now lent to the caller (and
 * made the holder when the pool lends its holder and has none), or NULL
 * when it could not be opened.  s is the pool's from now on.
 */
void pgpool_opened(struct pgpool *, struct pgsess *s);

/*
 * After an open that failed: waits until a session comes back, 0; or
 * -1 at once when none is lent (nobody will bring one), or once the
 * deadline passed.  A server that refuses more connections is waited
 * for this way, not failed.
 */
int pgpool_wait(struct pgpool *, const struct timespec *);

/*
 * Gives back a session the caller borrowed.  A dead one, one beyond
 * PGPOOL_IDLE, and one the caller says to drop (its locks could not be
 * released) are closed.  A holder closed so loses the reservations.
 */
void pgpool_give(struct pgpool *, struct pgsess *, int drop);

/* Whether conn looks alive, without a round trip (see pgpool.c). */
int pgpool_alive(PGconn *);

/* Closes a session that no pool holds (opening it failed halfway). */
void pgpool_sess_free(struct pgsess *);

/*
 * The holder: pgpool_holder_lock takes its mutex and returns it (NULL
 * when there is none), with the generation in *gen; every call below
 * expects that mutex held, until pgpool_holder_unlock.
 */
struct pgsess *pgpool_holder_lock(struct pgpool *, uint64_t *gen);
void pgpool_holder_unlock(struct pgpool *);

/* s, freshly opened, becomes the holder of a pool that has none:
   returns the next generation, its. */
uint64_t pgpool_holder_set(struct pgpool *, struct pgsess *s);

/*
 * The holder's session ended: its reservations are lost, the pool moves
 * to the next generation, and the holder is closed — when it is lent,
 * once its borrower gives it back.  1 when the pool has no holder now,
 * 0 while the dead one is still lent.
 */
int pgpool_holder_lost(struct pgpool *);

/*
 * The ids of the reservations whose locks the holder holds, each with
 * the ledger that made it (owner, only compared).  -1 when out of
 * memory.
 */
int pgpool_own_add(struct pgpool *, int64_t id, const void *owner);
int pgpool_own_del(struct pgpool *, int64_t id);	/* 1: it was there */
int pgpool_own_has(const struct pgpool *, int64_t id);	/* 1: it is there */

/*
 * "{id,...}" as an int8[] parameter, of every id (owner NULL) or of
 * owner's, which are then forgotten; NULL when out of memory.  The
 * caller frees it.
 */
char *pgpool_own_array(struct pgpool *, const void *owner);

#endif
