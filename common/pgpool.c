/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * pgpool: the sessions of one process's `postgresql` ledgers (see
 * pgpool.h).  A registry of pools, one per URI and sync; each pool a
 * list of idle sessions, counts, a condition for the borrowers that
 * wait, and its holder.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpool.h"

struct own {
	int64_t     id;
	const void *owner;
};

struct pgpool {
	char           *uri;
	int             sync;
	int             shared;		/* opened as shared by someone */
	struct pgpool  *next;		/* in the registry */

	pthread_mutex_t mu;		/* what follows, to the holder's */
	pthread_cond_t  back;		/* a session came back or a slot
					   freed */
	unsigned        refs;		/* ledgers attached */
	struct pgsess  *idle;
	size_t          nidle;
	size_t          nopen;		/* idle, lent or opening; not the
					   holder */
	size_t          nlent;		/* lent or opening */
	int             holder_lent;
	int             holder_doomed;	/* lost while lent: closed when
					   given back */

	pthread_mutex_t hmu;		/* the holder's session, gen, own */
	struct pgsess  *holder;		/* changed under hmu and mu */
	uint64_t        gen;
	struct own     *own;
	size_t          nown, ownmax;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pgpool  *registry;

void
pgpool_sess_free(struct pgsess *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	free(s);
}

/*
 * A session the server ended (pg_terminate_backend, a restart) sent
 * its last message and then closed: the first read takes the message,
 * the second meets the end and marks the connection bad.  A live idle
 * session has nothing to read: two recv() that find nothing.
 */
int
pgpool_alive(PGconn *conn)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return 0;
	(void)PQconsumeInput(conn);
	(void)PQconsumeInput(conn);
	return PQstatus(conn) == CONNECTION_OK;
}

void
pgpool_deadline(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	if (ms < 0)
		ms = 0;
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* ---- the registry ---- */

static struct pgpool *
pool_new(const char *uri, int sync)
{
	pthread_condattr_t ca;
	struct pgpool     *pl;

	if ((pl = calloc(1, sizeof *pl)) == NULL)
		return NULL;
	if ((pl->uri = strdup(uri)) == NULL) {
		free(pl);
		return NULL;
	}
	pl->sync = sync;
	pl->gen = 1;
	pthread_mutex_init(&pl->mu, NULL);
	pthread_mutex_init(&pl->hmu, NULL);
	/* deadlines are on the monotonic clock: a clock set back or
	   forward changes no wait */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pl->back, &ca);
	pthread_condattr_destroy(&ca);
	return pl;
}

static void
pool_free(struct pgpool *pl)
{
	struct pgsess *s;

	while ((s = pl->idle) != NULL) {
		pl->idle = s->next;
		pgpool_sess_free(s);
	}
	pgpool_sess_free(pl->holder);
	pthread_cond_destroy(&pl->back);
	pthread_mutex_destroy(&pl->mu);
	pthread_mutex_destroy(&pl->hmu);
	free(pl->own);
	free(pl->uri);
	free(pl);
}

struct pgpool *
pgpool_attach(const char *uri, int sync, int shared)
{
	struct pgpool *pl;

	pthread_mutex_lock(&registry_mu);
	for (pl = registry; pl != NULL; pl = pl->next)
		if (pl->sync == sync && strcmp(pl->uri, uri) == 0)
			break;
	if (pl == NULL && (pl = pool_new(uri, sync)) != NULL) {
		pl->next = registry;
		registry = pl;
	}
	if (pl != NULL) {
		pthread_mutex_lock(&pl->mu);
		pl->refs++;
		pl->shared |= shared;
		pthread_mutex_unlock(&pl->mu);
	}
	pthread_mutex_unlock(&registry_mu);
	return pl;
}

void
pgpool_detach(struct pgpool *pl)
{
	struct pgpool **pp;
	unsigned        refs;

	if (pl == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	pthread_mutex_lock(&pl->mu);
	refs = --pl->refs;
	pthread_mutex_unlock(&pl->mu);
	if (refs == 0)
		for (pp = &registry; *pp != NULL; pp = &(*pp)->next)
			if (*pp == pl) {
				*pp = pl->next;
				break;
			}
	pthread_mutex_unlock(&registry_mu);
	if (refs == 0)
		pool_free(pl);
}

const char *
pgpool_uri(const struct pgpool *pl)
{
	return pl->uri;
}

/* ---- borrowing ---- */

/* mu held: whether the holder is to be lent now. */
static int
lends_holder(const struct pgpool *pl)
{
	return pl->refs == 1 && !pl->shared && !pl->holder_lent;
}

/* hmu and mu held: the holder goes; the caller closes it. */
static struct pgsess *
holder_unset(struct pgpool *pl)
{
	struct pgsess *s = pl->holder;

	pl->holder = NULL;
	pl->holder_lent = 0;
	pl->holder_doomed = 0;
	pl->nown = 0;
	pl->gen++;
	return s;
}

/*
 * Lends the holder (lent already marked, mu released): probed under its
 * mutex, since a statement may be running on it.  NULL when it was dead
 * (then it is closed, and the pool has none).
 */
static struct pgsess *
lend_holder(struct pgpool *pl, struct pgsess *s)
{
	struct pgsess *dead = NULL;

	pthread_mutex_lock(&pl->hmu);
	if (!pgpool_alive(s->conn)) {
		pthread_mutex_lock(&pl->mu);
		dead = holder_unset(pl);
		pthread_mutex_unlock(&pl->mu);
	}
	pthread_mutex_unlock(&pl->hmu);
	pgpool_sess_free(dead);
	return dead == NULL ? s : NULL;
}

enum pgpool_take
pgpool_take(struct pgpool *pl, const struct timespec *deadline,
    struct pgsess **out)
{
	struct pgsess *s;

	*out = NULL;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		if (lends_holder(pl) && (s = pl->holder) != NULL) {
			pl->holder_lent = 1;
			pthread_mutex_unlock(&pl->mu);
			if ((*out = lend_holder(pl, s)) != NULL)
				return PGPOOL_GOT;
			pthread_mutex_lock(&pl->mu);
			continue;
		}
		if ((s = pl->idle) != NULL) {
			pl->idle = s->next;
			pl->nidle--;
			pl->nlent++;
			pthread_mutex_unlock(&pl->mu);
			if (pgpool_alive(s->conn)) {
				*out = s;
				return PGPOOL_GOT;
			}
			pgpool_sess_free(s);
			pthread_mutex_lock(&pl->mu);
			pl->nlent--;
			pl->nopen--;
			continue;
		}
		if (pl->nopen < PGPOOL_MAX) {
			pl->nopen++;
			pl->nlent++;
			pthread_mutex_unlock(&pl->mu);
			return PGPOOL_OPEN;
		}
		if (pthread_cond_timedwait(&pl->back, &pl->mu, deadline) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&pl->mu);
			return PGPOOL_TIMEOUT;
		}
	}
}

void
pgpool_opened(struct pgpool *pl, struct pgsess *s)
{
	if (s == NULL) {
		pthread_mutex_lock(&pl->mu);
		pl->nopen--;
		pl->nlent--;
		pthread_cond_broadcast(&pl->back);
		pthread_mutex_unlock(&pl->mu);
		return;
	}
	s->holder = 0;
	pthread_mutex_lock(&pl->hmu);
	pthread_mutex_lock(&pl->mu);
	if (lends_holder(pl) && pl->holder == NULL) {
		/* the CGI's one session is its holder too */
		pl->holder = s;
		pl->holder_lent = 1;
		pl->gen++;
		s->holder = 1;
		pl->nopen--;
		pl->nlent--;
		pthread_cond_broadcast(&pl->back);
	}
	pthread_mutex_unlock(&pl->mu);
	pthread_mutex_unlock(&pl->hmu);
}

int
pgpool_wait(struct pgpool *pl, const struct timespec *deadline)
{
	int rc = -1;

	pthread_mutex_lock(&pl->mu);
	if (pl->nlent > 0 && pthread_cond_timedwait(&pl->back, &pl->mu,
	    deadline) != ETIMEDOUT)
		rc = 0;
	pthread_mutex_unlock(&pl->mu);
	return rc;
}

void
pgpool_give(struct pgpool *pl, struct pgsess *s, int drop)
{
	struct pgsess *close = NULL;

	if (s->holder) {
		pthread_mutex_lock(&pl->hmu);
		pthread_mutex_lock(&pl->mu);
		pl->holder_lent = 0;
		if (drop || pl->holder_doomed ||
		    PQstatus(s->conn) != CONNECTION_OK)
			close = holder_unset(pl);
		pthread_mutex_unlock(&pl->mu);
		pthread_mutex_unlock(&pl->hmu);
		pgpool_sess_free(close);
		return;
	}
	pthread_mutex_lock(&pl->mu);
	pl->nlent--;
	if (!drop && PQstatus(s->conn) == CONNECTION_OK &&
	    pl->nidle < PGPOOL_IDLE) {
		s->next = pl->idle;
		pl->idle = s;
		pl->nidle++;
	} else {
		pl->nopen--;
		close = s;
	}
	pthread_cond_broadcast(&pl->back);
	pthread_mutex_unlock(&pl->mu);
	pgpool_sess_free(close);
}

/* ---- the holder (hmu held from lock to unlock) ---- */

struct pgsess *
pgpool_holder_lock(struct pgpool *pl, uint64_t *gen)
{
	pthread_mutex_lock(&pl->hmu);
	*gen = pl->gen;
	return pl->holder;
}

void
pgpool_holder_unlock(struct pgpool *pl)
{
	pthread_mutex_unlock(&pl->hmu);
}

uint64_t
pgpool_holder_set(struct pgpool *pl, struct pgsess *s)
{
	uint64_t gen;

	pthread_mutex_lock(&pl->mu);
	pl->holder = s;
	pl->holder_lent = 0;
	gen = ++pl->gen;
	s->holder = 1;
	pthread_mutex_unlock(&pl->mu);
	return gen;
}

int
pgpool_holder_lost(struct pgpool *pl)
{
	struct pgsess *close = NULL;
	int            gone;

	pthread_mutex_lock(&pl->mu);
	if (pl->holder != NULL && !pl->holder_lent)
		close = holder_unset(pl);
	else if (pl->holder != NULL) {
		/* its borrower gives it back: closed then */
		pl->holder_doomed = 1;
		pl->nown = 0;
		pl->gen++;
	}
	gone = pl->holder == NULL;
	pthread_mutex_unlock(&pl->mu);
	pgpool_sess_free(close);
	return gone;
}

int
pgpool_own_add(struct pgpool *pl, int64_t id, const void *owner)
{
	struct own *own;
	size_t      max;

	if (pl->nown == pl->ownmax) {
		max = pl->ownmax > 0 ? 2 * pl->ownmax : 16;
		if ((own = realloc(pl->own, max * sizeof *own)) == NULL)
			return -1;
		pl->own = own;
		pl->ownmax = max;
	}
	pl->own[pl->nown].id = id;
	pl->own[pl->nown++].owner = owner;
	return 0;
}

int
pgpool_own_del(struct pgpool *pl, int64_t id)
{
	size_t i;

	for (i = 0; i < pl->nown; i++)
		if (pl->own[i].id == id) {
			pl->own[i] = pl->own[--pl->nown];
			return 1;
		}
	return 0;
}

int
pgpool_own_has(const struct pgpool *pl, int64_t id)
{
	size_t i;

	for (i = 0; i < pl->nown; i++)
		if (pl->own[i].id == id)
			return 1;
	return 0;
}

char *
pgpool_own_array(struct pgpool *pl, const void *owner)
{
	size_t size = pl->nown * 21 + 3, len, i;
	char  *buf;

	if ((buf = malloc(size)) == NULL)
		return NULL;
	len = (size_t)snprintf(buf, size, "{");
	for (i = 0; i < pl->nown;) {
		if (owner != NULL && pl->own[i].owner != owner) {
			i++;
			continue;
		}
		len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64,
		    len > 1 ? "," : "", pl->own[i].id);
		if (owner != NULL)
			pl->own[i] = pl->own[--pl->nown];
		else
			i++;
	}
	snprintf(buf + len, size - len, "}");
	return buf;
}
