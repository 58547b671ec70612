/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger_pg: the `postgresql` backend of the ledger (upgate(8), "SEVERAL
 * HOSTS"), with libpq.  Usage, records and reservations are rows; the
 * locks are session-level advisory locks, so their scopes are the files
 * backend's and a session that ends (its handler died, its host
 * vanished) drops them all at once.
 *
 * Sessions are the process's, not the ledger's (pgpool.h): a ledger
 * borrows one when a call needs it — at the first lock of a scope, or
 * for an unscoped call — and gives it back once it holds no lock, so a
 * request whose body streams holds none, and a responder of a thousand
 * slow uploads opens a few.  The lock of every live reservation of the
 * process is held by one more session, the pool's holder.
 *
 * Two advisory lock spaces, which PostgreSQL keeps apart (objsubid 1
 * and 2 in pg_locks):
 *   bigint keys     user, file and global locks (ledger_lock_*), taken
 *                   and released by the scope, in its borrowed session;
 *   int4 pairs      one per reservation, the high and low halves of its
 *                   63-bit id, held by the holder for as long as the
 *                   reservation lives.  Nobody holding it means the
 *                   process that made it is gone.
 * So ledger_unlock releases the keys it took one by one: the session
 * goes back to the pool without them, and, where it is the holder too
 * (the CGI's one session), pg_advisory_unlock_all would end the
 * reservations.
 *
 * Every change is one autocommitted statement, durable on return with
 * synchronous_commit on (sync = yes); a change that moves records and
 * usage together is one statement, so it is atomic and a crash cannot
 * leave the one without the other.
 *
 * Paths are bytea, stored exactly as given: a file name on the disk
 * (which recount may meet) need not be valid in the database's
 * encoding, and a btree entry cannot hold a path of 4095 bytes, so the
 * records are unique by sha256(rel) rather than by rel.
 */
#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ledger.h"
#include "lockwait.h"
#include "names.h"
#include "number.h"
#include "pgpool.h"
#include "relpath.h"

#define SCHEMA_VERSION	1
#define HELD_MAX	8	/* bigint locks one scope holds at most */
#define ARGS_MAX	9	/* parameters of one statement */
#define BATCH		1000	/* rows fetched at a time by the walks */
#define STR(x)		#x
#define XSTR(x)		STR(x)	/* a number macro as an SQL literal */
#define STMT_TIMEOUT_MS	5000	/* upgate(8), "Several hosts": statements are bounded too */
#define LOCK_SLACK_MS	100	/* a scope's wait may pass its bound by this */

/*
 * The lock over everything (shared by every request, exclusive for
 * recount and migrate) and the one that serialises the first creation
 * of the tables: fixed keys in the bigint space, "upgate" and a number.
 */
#define KEY_GLOBAL	INT64_C(0x7570676174650001)
#define KEY_SCHEMA	"8462097843346210818"	/* 0x7570676174650002 */

struct held {
	int64_t key;
	int     shared;
};

/*
 * A ledger's state: the session it borrowed, if any, and its scope.
 * It holds s while its scope holds a lock, or while a call runs (depth:
 * a walk's callback may call the ledger again), never longer.
 */
struct pg {
	struct pgpool *pool;
	struct pgsess *s;	/* borrowed, or NULL */
	int         depth;	/* calls running */
	int         drop;	/* s keeps locks it could not release */
	int         lost;	/* the session broke inside a lock scope */
	int         sync;
	char        state[6];	/* SQLSTATE of the last failure, or "" */
	struct held held[HELD_MAX];
	size_t      nheld;
};

/* Text parameters, numbers formatted in place, bytea ones in binary. */
struct args {
	const char *v[ARGS_MAX];
	int         len[ARGS_MAX];
	int         fmt[ARGS_MAX];
	char        num[ARGS_MAX][24];
	int         n;
	int         own;	/* 1 + the parameter of the ids whose locks
				   the session holds itself (arg_own); 0 */
};

static void
arg_text(struct args *a, const char *s)	/* NULL: SQL NULL */
{
	a->v[a->n] = s;
	a->len[a->n] = 0;
	a->fmt[a->n++] = 0;
}

/* A path as bytea: its bytes exactly, in binary format. */
static void
arg_bytes(struct args *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n] = (int)strlen(s);
	a->fmt[a->n++] = 1;
}

static void
arg_int(struct args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof a->num[a->n], "%" PRId64, x);
	arg_text(a, a->num[a->n]);
}

/*
 * An int8[] of the reservations whose locks the statement's own session
 * holds: those of the process when it runs on the holder, else none.
 * Filled in when the statement runs (exec_on), under the holder's mutex.
 */
static void
arg_own(struct args *a)
{
	a->own = a->n + 1;
	arg_text(a, "{}");
}

static void
quiet(void *arg, const char *msg)
{
	/* warnings (an unlock of a lock not held) are expected: not logs */
	(void)arg;
	(void)msg;
}

/* ---- failures ---- */

static enum ledger_err
state_err(const char *state)
{
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
	    strcmp(state, "53300") == 0)
		return LEDGER_DOWN;
	/* a lock or a statement not done in time, or a retryable clash */
	if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
	    strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return LEDGER_BUSY;
	if (strcmp(state, "53100") == 0)
		return LEDGER_NOSPACE;
	return LEDGER_IO;
}

/*
 * Maps a failed statement on session s (res may be NULL) to the layer's
 * error and writes the cause: "postgresql:what:SQLSTATE", no values,
 * no secrets.  When s is the ledger's own and broke while locks were
 * held, the scope is lost: those locks are gone, so nothing more may
 * run under it (see enter).
 */
static enum ledger_err
fail_on(struct ledger *l, const struct pgsess *s, const char *what,
    const PGresult *res)
{
	struct pg      *p = l->be;
	const char     *state = NULL;
	enum ledger_err err = LEDGER_IO;

	if (res != NULL)
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(p->state, sizeof p->state, "%s", state != NULL ? state : "");
	if (state != NULL)
		err = state_err(state);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		err = LEDGER_DOWN;
		if (s == p->s && p->nheld > 0) {
			p->nheld = 0;
			p->lost = 1;
		}
	}
	snprintf(l->cause, sizeof l->cause, "postgresql:%s:%s", what,
	    state != NULL ? state : err == LEDGER_DOWN ?
	    "connection lost" : "no result");
	return err;
}

/* "call:first line of libpq's message", for a failed connection. */
static void
conn_cause(struct ledger *l, const PGconn *conn, const char *call)
{
	const char *msg = "out of memory";
	size_t      len;

	if (conn != NULL)
		msg = PQerrorMessage(conn);
	len = strcspn(msg, "\n");
	snprintf(l->cause, sizeof l->cause, "%s:%.*s", call, (int)len, msg);
}

/*
 * Runs sql on s with a's parameters.  A holder lent as the ledger's
 * session runs it under the holder's mutex, unless the caller holds
 * that already (held); so does a statement with arg_own's parameter,
 * whose ids must not change before it ran.  NULL only when out of
 * memory.
 */
static PGresult *
exec_on(struct ledger *l, struct pgsess *s, int held, const char *sql,
    const struct args *a)
{
	struct pg  *p = l->be;
	const char *v[ARGS_MAX];
	char       *own = NULL;
	PGresult   *res = NULL;
	int         lock = s->holder && !held, n = a != NULL ? a->n : 0;
	uint64_t    gen;

	if (n > 0)
		memcpy(v, a->v, (size_t)n * sizeof v[0]);
	if (lock)
		(void)pgpool_holder_lock(p->pool, &gen);
	if (a != NULL && a->own > 0 && s->holder &&
	    (own = pgpool_own_array(p->pool, NULL)) != NULL)
		v[a->own - 1] = own;
	if (a == NULL || a->own == 0 || !s->holder || own != NULL)
		res = PQexecParams(s->conn, sql, n, NULL, n > 0 ? v : NULL,
		    a != NULL ? a->len : NULL, a != NULL ? a->fmt : NULL, 0);
	if (lock)
		pgpool_holder_unlock(p->pool);
	free(own);
	return res;
}

/*
 * Runs sql on s (see exec_on); the result when its status is want (the
 * caller PQclears it), else NULL with *err and l->cause set.
 */
static PGresult *
run_on(struct ledger *l, struct pgsess *s, int held, const char *what,
    const char *sql, const struct args *a, ExecStatusType want,
    enum ledger_err *err)
{
	PGresult *res;

	res = exec_on(l, s, held, sql, a);
	if (res != NULL && PQresultStatus(res) == want)
		return res;
	*err = fail_on(l, s, what, res);
	PQclear(res);
	return NULL;
}

/* run_on the ledger's session. */
static PGresult *
run(struct ledger *l, const char *what, const char *sql,
    const struct args *a, ExecStatusType want, enum ledger_err *err)
{
	return run_on(l, ((struct pg *)l->be)->s, 0, what, sql, a, want, err);
}

/* A statement on the ledger's session whose outcome does not matter. */
static void
run_quiet(struct ledger *l, const char *sql, const struct args *a)
{
	PQclear(exec_on(l, ((struct pg *)l->be)->s, 0, sql, a));
}

/* Runs a statement whose result only says whether it worked. */
static enum ledger_err
run_void(struct ledger *l, const char *what, const char *sql,
    const struct args *a, ExecStatusType want)
{
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;

	if ((res = run(l, what, sql, a, want, &err)) != NULL)
		PQclear(res);
	return err;
}

static enum ledger_err
run_cmd(struct ledger *l, const char *what, const char *sql,
    const struct args *a)
{
	return run_void(l, what, sql, a, PGRES_COMMAND_OK);
}

/* Rows the statement changed: PQcmdTuples, parsed strictly. */
static int64_t
changed(PGresult *res)
{
	const char *s = PQcmdTuples(res);
	int64_t     n;

	return number_parse(s, strlen(s), &n) == 0 ? n : -1;
}

/* ---- values ---- */

static int
get_int(const PGresult *res, int row, int col, int64_t *out)
{
	if (PQgetisnull(res, row, col))
		return -1;
	return number_parse(PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col), out);
}

static int
get_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) &&
	    strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A path the query returned as encode(rel, 'hex'), into buf as a
 * string: -1 when malformed, too long, or holding a NUL.
 */
static int
get_path(const PGresult *res, int row, int col, char *buf, size_t size)
{
	const char *hex = PQgetvalue(res, row, col);
	size_t      len = (size_t)PQgetlength(res, row, col), i;

	if (PQgetisnull(res, row, col) || len % 2 != 0 || len / 2 >= size)
		return -1;
	for (i = 0; i < len / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return -1;
		buf[i] = (char)(hi << 4 | lo);
	}
	buf[i] = '\0';
	return 0;
}

static int
get_user(const PGresult *res, int row, int col, char *buf, size_t size)
{
	const char *s = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col) || !names_user_valid(s) ||
	    strlen(s) >= size)
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/* ---- the session ---- */

/* The value of keyword in the connection's options, or NULL (freed by
   PQconninfoFree(*opts)). */
static const char *
conn_option(PQconninfoOption *opts, const char *keyword)
{
	for (; opts != NULL && opts->keyword != NULL; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts->val;
	return NULL;
}

/*
 * The tables, made once: concurrent first requests queue on a
 * transaction-level advisory lock and find them made.  One implicit
 * transaction, so a failure (no CREATE right on the schema) leaves
 * nothing behind.
 */
static const char SQL_SCHEMA[] =
    "SELECT set_config('lock_timeout', '5s', true),"
    " pg_advisory_xact_lock(" KEY_SCHEMA ");"
    "CREATE TABLE IF NOT EXISTS upgate_schema ("
    " version integer NOT NULL);"
    "CREATE TABLE IF NOT EXISTS upgate_usage ("
    " owner text COLLATE \"C\" PRIMARY KEY,"
    " used bigint NOT NULL CHECK (used >= 0));"
    "CREATE TABLE IF NOT EXISTS upgate_records ("
    " rel bytea NOT NULL,"
    " owner text COLLATE \"C\" NOT NULL,"
    " size bigint NOT NULL CHECK (size >= 0));"
    "CREATE UNIQUE INDEX IF NOT EXISTS upgate_records_rel"
    " ON upgate_records (sha256(rel));"
    "CREATE INDEX IF NOT EXISTS upgate_records_owner"
    " ON upgate_records (owner, size DESC);"
    "CREATE TABLE IF NOT EXISTS upgate_reservations ("
    " id bigint PRIMARY KEY CHECK (id > 0),"
    " owner text COLLATE \"C\" NOT NULL,"
    " bytes bigint NOT NULL CHECK (bytes >= 0),"
    " expires timestamptz);"
    "CREATE INDEX IF NOT EXISTS upgate_reservations_owner"
    " ON upgate_reservations (owner);"
    "CREATE TABLE IF NOT EXISTS upgate_reservation_paths ("
    " resv bigint NOT NULL"
    "  REFERENCES upgate_reservations ON DELETE CASCADE,"
    " kind text NOT NULL CHECK (kind IN ('t', 'd')),"
    " rel bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS upgate_reservation_paths_resv"
    " ON upgate_reservation_paths (resv);"
    "CREATE TABLE IF NOT EXISTS upgate_uploads ("
    " id text COLLATE \"C\" PRIMARY KEY,"
    " resv bigint"
    "  REFERENCES upgate_reservations ON DELETE CASCADE,"
    " owner text COLLATE \"C\" NOT NULL,"
    " folder bytea NOT NULL, name bytea NOT NULL, tmp bytea NOT NULL,"
    " length bigint NOT NULL CHECK (length >= 0),"
    " off bigint NOT NULL CHECK (off >= 0),"
    " metadata text NOT NULL,"
    " finished boolean NOT NULL DEFAULT false,"
    " expires timestamptz,"
    " CHECK ((resv IS NULL) = finished),"
    " CHECK (resv IS NOT NULL OR expires IS NOT NULL));"
    "CREATE INDEX IF NOT EXISTS upgate_uploads_resv"
    " ON upgate_uploads (resv);"
    "CREATE INDEX IF NOT EXISTS upgate_uploads_done"
    " ON upgate_uploads (owner, expires) WHERE resv IS NULL;"
    "INSERT INTO upgate_schema (version) SELECT 1"
    " WHERE NOT EXISTS (SELECT FROM upgate_schema)";

static enum ledger_err
schema_create(struct ledger *l, struct pgsess *s)
{
	enum ledger_err err;
	const char     *msg;
	PGresult       *res;

	res = PQexec(s->conn, SQL_SCHEMA);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return LEDGER_OK;
	}
	err = fail_on(l, s, "schema", res);
	/* the missing right is what the operator needs to read */
	if (res != NULL && (msg = PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY)) != NULL)
		snprintf(l->cause + strlen(l->cause),
		    sizeof l->cause - strlen(l->cause), " %s", msg);
	PQclear(res);
	return err;
}

/*
 * The session's settings, the schema's version, and a warming, in one
 * round trip.  A NULL parameter keeps the setting as it is: the URI's
 * options decide the statement timeout and the server's keepalives
 * when they name them.  sync = yes turns a synchronous_commit of off
 * back on and keeps any stronger one (remote_apply) the server was
 * given.  The server's own keepalives are what let it end the session
 * of a host that vanished, and so free its locks (upgate(8), "Several hosts"); libpq's
 * keepalives only let this side notice a server that did.
 *
 * The warming: a fresh session pays for its first look at each table,
 * index and function (measured: about 6 ms of the server's time on an
 * idle host, many more on a busy one), which its first request would
 * otherwise pay under its user's lock, while every other request of
 * that user waits.  So the tables are read here, with the statements'
 * shapes, for rows no statement names (owner '').  Its result (0) is
 * not looked at.
 */
static const char SQL_SETUP[] =
    "SELECT set_config('lock_timeout', $1, false),"
    " set_config('statement_timeout',"
    "  coalesce($2, current_setting('statement_timeout')), false),"
    " set_config('synchronous_commit', coalesce($3,"
    "  CASE current_setting('synchronous_commit') WHEN 'off' THEN 'on'"
    "  ELSE current_setting('synchronous_commit') END), false),"
    " set_config('tcp_keepalives_idle',"
    "  coalesce($4, current_setting('tcp_keepalives_idle')), false),"
    " set_config('tcp_keepalives_interval',"
    "  coalesce($5, current_setting('tcp_keepalives_interval')), false),"
    " set_config('tcp_keepalives_count',"
    "  coalesce($6, current_setting('tcp_keepalives_count')), false),"
    " (SELECT max(version) FROM upgate_schema),"
    " (SELECT count(*) FROM upgate_usage WHERE owner = '')"
    " + (SELECT count(*) FROM upgate_reservations r WHERE r.owner = ''"
    "  AND CASE WHEN r.expires > now() OR r.id = ANY('{}'::int8[])"
    "  THEN true ELSE NOT pg_try_advisory_xact_lock_shared("
    "  (r.id >> 32)::int4, ((r.id << 32) >> 32)::int4) END)"
    " + (SELECT count(*) FROM upgate_reservation_paths WHERE resv = 0)"
    " + (SELECT count(*) FROM upgate_uploads WHERE id = '')"
    " + (SELECT count(*) FROM upgate_records"
    "  WHERE sha256(rel) = sha256(''::bytea) OR owner = ''),"
    " (SELECT coalesce(max(table_schema), '') FROM information_schema.tables"
    "  WHERE table_name = 'upgate_schema'"
    "  AND table_schema = ANY(current_schemas(false)))";

static PGresult *
setup_run(struct ledger *l, struct pgsess *s, enum ledger_err *err)
{
	struct pg        *p = l->be;
	PQconninfoOption *opts;
	const char       *options, *ka;
	struct args       a = { .n = 0 };
	PGresult         *res;
	int               own_ka;

	if ((opts = PQconninfo(s->conn)) == NULL) {
		snprintf(l->cause, sizeof l->cause, "PQconninfo:ENOMEM");
		*err = LEDGER_IO;
		return NULL;
	}
	options = conn_option(opts, "options");
	if (options == NULL)
		options = "";
	ka = conn_option(opts, "keepalives");
	own_ka = strstr(options, "tcp_keepalives") == NULL &&
	    (ka == NULL || strcmp(ka, "0") != 0);
	s->stmt_ms = strstr(options, "statement_timeout") == NULL ?
	    STMT_TIMEOUT_MS : 0;
	s->lock_ms = LEDGER_LOCK_TIMEOUT_MS;
	arg_int(&a, s->lock_ms);
	if (s->stmt_ms > 0)
		arg_int(&a, s->stmt_ms);
	else
		arg_text(&a, NULL);
	arg_text(&a, p->sync ? NULL : "off");
	arg_text(&a, own_ka ? conn_option(opts, "keepalives_idle") : NULL);
	arg_text(&a, own_ka ? conn_option(opts, "keepalives_interval") : NULL);
	arg_text(&a, own_ka ? conn_option(opts, "keepalives_count") : NULL);
	res = run_on(l, s, 0, "setup", SQL_SETUP, &a, PGRES_TUPLES_OK, err);
	PQconninfoFree(opts);
	return res;
}

/* Settles a fresh session: settings, and the tables on first use. */
static enum ledger_err
session_setup(struct ledger *l, struct pgsess *s)
{
	struct pg      *p = l->be;
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;
	int64_t         version;

	if ((res = setup_run(l, s, &err)) == NULL &&
	    strcmp(p->state, "42P01") == 0) {	/* undefined_table */
		if ((err = schema_create(l, s)) != LEDGER_OK)
			return err;
		res = setup_run(l, s, &err);
	}
	if (res == NULL)
		return err;
	if (PQntuples(res) != 1 || PQnfields(res) != 9 ||
	    get_int(res, 0, 6, &version) == -1 || version != SCHEMA_VERSION) {
		snprintf(l->cause, sizeof l->cause,
		    "postgresql:schema version %s", PQntuples(res) == 1 &&
		    PQnfields(res) == 9 ? PQgetvalue(res, 0, 6) : "?");
		err = LEDGER_IO;
	} else
		s->salt = (int64_t)ledger_key_hash('s', PQgetvalue(res, 0, 8));
	PQclear(res);
	return err;
}

/*
 * Opens a session, settled: never lent unsettled, where lock waits
 * would have no bound.  The URI decides what it names; the defaults
 * come before it in the arrays, since libpq lets a later keyword
 * override an earlier one.
 */
static enum ledger_err
sess_open(struct ledger *l, struct pgsess **out)
{
	static const char *const kw[] = {
		"connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count",
		"fallback_application_name", "dbname", NULL
	};
	const char     *val[] = { "5", "1", "30", "10", "3", "upgate",
	    pgpool_uri(((struct pg *)l->be)->pool), NULL };
	enum ledger_err err = LEDGER_DOWN;
	struct pgsess  *s;

	*out = NULL;
	if ((s = calloc(1, sizeof *s)) == NULL) {
		ledger_cause(l, "calloc");
		return LEDGER_IO;
	}
	s->lock_ms = -1;
	if ((s->conn = PQconnectdbParams(kw, val, 1)) == NULL) {
		conn_cause(l, NULL, "PQconnectdb");
		err = LEDGER_IO;
	} else if (PQstatus(s->conn) != CONNECTION_OK)
		conn_cause(l, s->conn, "PQconnectdb");
	else {
		PQsetNoticeProcessor(s->conn, quiet, NULL);
		err = session_setup(l, s);
	}
	if (err != LEDGER_OK) {
		pgpool_sess_free(s);
		return err;
	}
	*out = s;
	return LEDGER_OK;
}

/*
 * Borrows a session, waiting at most ms for one: LEDGER_BUSY when every
 * one the pool may have stays lent that long.  A server that refuses
 * one more connection (max_connections) while sessions of this process
 * are lent is waited for the same way: one of them comes back soon.
 */
static enum ledger_err
borrow(struct ledger *l, int ms)
{
	struct pg      *p = l->be;
	struct timespec deadline;
	struct pgsess  *s;
	enum ledger_err err;

	pgpool_deadline(&deadline, ms);
	for (;;) {
		switch (pgpool_take(p->pool, &deadline, &s)) {
		case PGPOOL_GOT:
			p->s = s;
			return LEDGER_OK;
		case PGPOOL_TIMEOUT:
			snprintf(l->cause, sizeof l->cause,
			    "postgresql:no session free in time");
			return LEDGER_BUSY;
		case PGPOOL_OPEN:
			break;
		}
		err = sess_open(l, &s);
		pgpool_opened(p->pool, s);
		if (err == LEDGER_OK) {
			p->s = s;
			return LEDGER_OK;
		}
		if (err != LEDGER_DOWN || pgpool_wait(p->pool, &deadline) == -1)
			return err;
	}
}

/*
 * Starts a call: the ledger's session, borrowed (waiting at most ms)
 * when it holds none.  A call inside a lock scope whose session broke
 * (scoped) fails until ledger_unlock ends that scope: the locks it
 * relies on are gone, and another session would not have them.  Every
 * enter that succeeded is ended by leave.
 */
static enum ledger_err
enter_ms(struct ledger *l, int scoped, int ms)
{
	struct pg      *p = l->be;
	enum ledger_err err;

	if (p == NULL)
		return LEDGER_IO;
	if (p->s != NULL && p->nheld > 0 &&
	    PQstatus(p->s->conn) != CONNECTION_OK) {
		p->nheld = 0;
		p->lost = 1;
	}
	if (scoped && p->lost) {
		snprintf(l->cause, sizeof l->cause,
		    "postgresql:session lost under a lock");
		return LEDGER_DOWN;
	}
	if (p->s == NULL && (err = borrow(l, ms)) != LEDGER_OK)
		return err;
	p->depth++;
	return LEDGER_OK;
}

static enum ledger_err
enter(struct ledger *l, int scoped)
{
	return enter_ms(l, scoped, LEDGER_LOCK_TIMEOUT_MS);
}

/* Ends a call: the session goes back unless a lock scope holds it. */
static void
leave(struct ledger *l)
{
	struct pg *p = l->be;

	if (--p->depth > 0 || p->nheld > 0 || p->s == NULL)
		return;
	pgpool_give(p->pool, p->s, p->drop);
	p->s = NULL;
	p->drop = 0;
}

static void pg_unlock(struct ledger *);
static void unhold_all(struct ledger *);

/*
 * Joins the process's pool of sessions for the URI, and makes sure one
 * session works (a database that cannot be reached: LEDGER_DOWN), with
 * the tables made on first use.  A pool so busy that no session comes
 * back in time works: the calls will wait for theirs.
 */
static enum ledger_err
pg_open(struct ledger *l, const struct ledger_config *cfg)
{
	enum ledger_err err;
	struct pg      *p;

	if ((p = calloc(1, sizeof *p)) == NULL) {
		ledger_cause(l, "calloc");
		return LEDGER_IO;
	}
	l->be = p;
	p->sync = cfg->sync;
	if ((p->pool = pgpool_attach(cfg->uri, cfg->sync, cfg->shared)) ==
	    NULL) {
		ledger_cause(l, "pgpool_attach");
		return LEDGER_IO;
	}
	if ((err = enter(l, 0)) == LEDGER_OK)
		leave(l);
	return err == LEDGER_BUSY ? LEDGER_OK : err;
}

/*
 * The locks of the scope and of the reservations made here are
 * released first, so that once this returns a user waiting for them
 * gets them and those reservations are dead (the server would end a
 * closed session's locks only a moment later); the last ledger of the
 * pool closes its sessions.
 */
static void
pg_close(struct ledger *l)
{
	struct pg *p = l->be;

	if (p == NULL)
		return;
	if (p->s != NULL) {
		p->depth = 0;
		pg_unlock(l);
	}
	if (p->pool != NULL) {
		unhold_all(l);
		pgpool_detach(p->pool);
	}
	free(p);
	l->be = NULL;
}

/* ---- locks ---- */

/*
 * What is left of a wait of ms begun at start, 0 for a try: all of it
 * while the waits so far (a session, a first lock) took less than
 * LOCK_SLACK_MS — a round trip's worth less would change lock_timeout,
 * and cost two more, in every request.
 */
static int
wait_left(int ms, const struct timespec *start)
{
	long left = ms - elapsed_ms(start);

	if (ms - left < LOCK_SLACK_MS)
		left = ms;
	return ms <= 0 || left <= 0 ? 0 : (int)left;
}

/*
 * The session's lock_timeout becomes ms.  The statement timeout, armed
 * when a statement starts, would otherwise cut a longer wait short: it
 * is raised to ms too (either ends a lock wait as LEDGER_BUSY).
 */
static enum ledger_err
set_lock_timeout(struct ledger *l, int ms)
{
	struct pg      *p = l->be;
	struct args     a = { .n = 0 };
	enum ledger_err err;

	arg_int(&a, ms);
	if (p->s->stmt_ms > 0)
		arg_int(&a, ms > STMT_TIMEOUT_MS ? ms : STMT_TIMEOUT_MS);
	else
		arg_text(&a, NULL);
	p->s->lock_ms = -1;	/* unknown until it succeeds */
	err = run_void(l, "lock_timeout", "SELECT set_config('lock_timeout',"
	    " $1, false), set_config('statement_timeout', coalesce($2,"
	    " current_setting('statement_timeout')), false)", &a,
	    PGRES_TUPLES_OK);
	if (err == LEDGER_OK)
		p->s->lock_ms = ms;
	return err;
}

static int
holds(const struct pg *p, int64_t key, int shared)
{
	size_t i;

	for (i = 0; i < p->nheld; i++)
		if (p->held[i].key == key && p->held[i].shared == shared)
			return 1;
	return 0;
}

/*
 * Takes the bigint lock key, waiting at most ms (0 or less: not at
 * all), and remembers it for ledger_unlock.
 */
static enum ledger_err
lock_key(struct ledger *l, int64_t key, int shared, int ms)
{
	static const char *const sql[2][2] = {
		{ "SELECT pg_advisory_lock($1::int8)",
		  "SELECT pg_advisory_lock_shared($1::int8)" },
		{ "SELECT pg_try_advisory_lock($1::int8)",
		  "SELECT pg_try_advisory_lock_shared($1::int8)" },
	};
	struct pg      *p = l->be;
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;
	int             try = ms <= 0, got;

	if (p->nheld == HELD_MAX) {
		snprintf(l->cause, sizeof l->cause, "postgresql:too many locks");
		return LEDGER_IO;
	}
	if (!try && p->s->lock_ms != ms &&
	    (err = set_lock_timeout(l, ms)) != LEDGER_OK)
		return err;
	arg_int(&a, key);
	res = run(l, "lock", sql[try][shared], &a, PGRES_TUPLES_OK, &err);
	if (res == NULL)
		return err;
	got = !try || get_bool(res, 0, 0);
	PQclear(res);
	if (!got) {
		snprintf(l->cause, sizeof l->cause, "postgresql:lock:55P03");
		return LEDGER_BUSY;
	}
	p->held[p->nheld].key = key;
	p->held[p->nheld++].shared = shared;
	return LEDGER_OK;
}

/* Releases the last lock taken: a scope's step failed after it. */
static void
unlock_last(struct ledger *l)
{
	struct pg  *p = l->be;
	struct args a = { .n = 0 };

	if (p->nheld == 0)
		return;
	p->nheld--;
	arg_int(&a, p->held[p->nheld].key);
	run_quiet(l, p->held[p->nheld].shared ?
	    "SELECT pg_advisory_unlock_shared($1::int8)" :
	    "SELECT pg_advisory_unlock($1::int8)", &a);
}

/* The global lock shared, then key, all within timeout_ms of start. */
static enum ledger_err
lock_scoped_once(struct ledger *l, int64_t key, int timeout_ms,
    const struct timespec *start)
{
	struct pg      *p = l->be;
	enum ledger_err err;
	int             took = 0;

	if (!holds(p, KEY_GLOBAL ^ p->s->salt, 1) &&
	    !holds(p, KEY_GLOBAL ^ p->s->salt, 0)) {
		if ((err = lock_key(l, KEY_GLOBAL ^ p->s->salt, 1,
		    wait_left(timeout_ms, start))) != LEDGER_OK)
			return err;
		took = 1;
	}
	err = lock_key(l, key, 0, wait_left(timeout_ms, start));
	if (err != LEDGER_OK && took && PQstatus(p->s->conn) == CONNECTION_OK)
		unlock_last(l);
	return err;
}

/*
 * Every request holds the global lock shared, under the lock it asks
 * for, so that the operator's ledger_lock_all excludes them all while
 * they never exclude each other.  The whole wait — for a session, then
 * for the locks — is bounded by timeout_ms.
 *
 * A lock that fails leaves the scope as it found it: when it was to
 * open one, nothing was lost, whatever happened to the session, and
 * the session goes back.  And a session found dead at once (the server
 * restarted since it was last used) goes back, closed, and the lock is
 * asked again in another.
 */
static enum ledger_err
lock_scoped(struct ledger *l, char domain, const char *name, int timeout_ms)
{
	struct pg      *p = l->be;
	enum ledger_err err;
	struct timespec start, asked;
	size_t          before;
	int64_t         key;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((err = enter_ms(l, 1, timeout_ms)) != LEDGER_OK)
		return err;
	key = (int64_t)ledger_key_hash(domain, name) ^ p->s->salt;
	before = p->nheld;
	clock_gettime(CLOCK_MONOTONIC, &asked);
	err = lock_scoped_once(l, key, timeout_ms, &start);
	if (err != LEDGER_OK && before == 0) {
		p->lost = 0;
		if (err == LEDGER_DOWN &&
		    PQstatus(p->s->conn) != CONNECTION_OK &&
		    elapsed_ms(&asked) < LOCK_SLACK_MS) {
			leave(l);
			if ((err = enter_ms(l, 1, wait_left(timeout_ms,
			    &start))) != LEDGER_OK)
				return err;
			if ((err = lock_scoped_once(l, key, timeout_ms,
			    &start)) != LEDGER_OK)
				p->lost = 0;
		}
	}
	leave(l);
	return err;
}

static enum ledger_err
pg_lock_user(struct ledger *l, const char *user, int timeout_ms)
{
	return lock_scoped(l, 'u', user, timeout_ms);
}

static enum ledger_err
pg_lock_file(struct ledger *l, const char *rel, int timeout_ms)
{
	return lock_scoped(l, 'f', rel, timeout_ms);
}

static enum ledger_err
pg_lock_all(struct ledger *l, int timeout_ms)
{
	struct pg      *p = l->be;
	enum ledger_err err;
	struct timespec start;
	size_t          before;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((err = enter_ms(l, 1, timeout_ms)) != LEDGER_OK)
		return err;
	before = p->nheld;
	if ((err = lock_key(l, KEY_GLOBAL ^ p->s->salt, 0,
	    wait_left(timeout_ms, &start))) != LEDGER_OK && before == 0)
		p->lost = 0;	/* as lock_scoped: no scope was opened */
	leave(l);
	return err;
}

/* "{k1,k2}": the held locks that are shared, or those that are not. */
static void
key_array(const struct pg *p, int shared, char *buf, size_t size)
{
	size_t i, len;

	len = (size_t)snprintf(buf, size, "{");
	for (i = 0; i < p->nheld && len < size; i++)
		if (p->held[i].shared == shared)
			len += (size_t)snprintf(buf + len, size - len,
			    "%s%" PRId64, len > 1 ? "," : "", p->held[i].key);
	if (len < size)
		snprintf(buf + len, size - len, "}");
}

/*
 * Releases the scope's locks in one statement, and gives the session
 * back.  Should that statement fail on a live session, the session is
 * closed instead: locks left held would block the users they name for
 * as long as it lives.
 */
static void
pg_unlock(struct ledger *l)
{
	struct pg  *p = l->be;
	char        excl[HELD_MAX * 22 + 3], shared[HELD_MAX * 22 + 3];
	struct args a = { .n = 0 };

	if (p == NULL)
		return;
	p->lost = 0;
	if (p->s != NULL && p->nheld > 0 &&
	    PQstatus(p->s->conn) == CONNECTION_OK) {
		key_array(p, 0, excl, sizeof excl);
		key_array(p, 1, shared, sizeof shared);
		arg_text(&a, excl);
		arg_text(&a, shared);
		p->nheld = 0;
		if (run_void(l, "unlock", "SELECT count(pg_advisory_unlock(k))"
		    " FROM unnest($1::int8[]) k UNION ALL"
		    " SELECT count(pg_advisory_unlock_shared(k))"
		    " FROM unnest($2::int8[]) k", &a, PGRES_TUPLES_OK) !=
		    LEDGER_OK && PQstatus(p->s->conn) == CONNECTION_OK)
			p->drop = 1;
	}
	p->nheld = 0;
	if (p->s != NULL && p->depth == 0) {
		pgpool_give(p->pool, p->s, p->drop);
		p->s = NULL;
		p->drop = 0;
	}
}

/* ---- usage and records ---- */

/*
 * Whether a reservation lives: while its lease (expires) runs, or while
 * its owner's session holds the int4-pair lock of its id.
 *
 * For the reservations of one user (usage, and the reclaim of the next
 * request) each is asked on its own, never through pg_locks: reading
 * pg_locks copies every lock of the cluster under all the lock
 * partitions' locks, so its cost grows with the sessions (a worker of
 * upgate.fcgi each) and the locks they hold, and every request would
 * pay it.  A try of the lock, transaction-scoped (released when the
 * autocommitted statement ends) and shared, succeeds exactly when no
 * other session holds it exclusively: an owner, or a reclaim that
 * claimed it (then the reservation counts as live a moment longer, the
 * safe side).  Two such tries never conflict, and they never wait, so
 * neither lock_timeout nor any lock order is involved.  The locks of
 * this process's reservations are the holder's, so in any other session
 * the try fails for them; in the holder itself (the CGI's one session)
 * they would pass it (locks are re-entrant): they are live by their ids
 * then, given as $2 (arg_own; empty in any other session).  The CASE
 * makes the try come last, and the MATERIALIZED CTE keeps it to the
 * user's rows: a lock tried on another user's reservation would make
 * that user's reclaim skip it.
 *
 * For the operator's reclaim of every user (recount, under ledger_
 * lock_all), pg_locks is read once: the granted int4-pair locks of this
 * database, as the ids they stand for.  It holds the holder's locks
 * too.
 */
#define SQL_MINE(cols)							\
    "mine AS MATERIALIZED (SELECT " cols " FROM upgate_reservations"	\
    " WHERE owner = $1)"
#define SQL_LIVE_MINE							\
    "(CASE WHEN coalesce(r.expires > now(), false)"			\
    " OR r.id = ANY($2::int8[]) THEN true"				\
    " ELSE NOT pg_try_advisory_xact_lock_shared((r.id >> 32)::int4,"	\
    " ((r.id << 32) >> 32)::int4) END)"
#define SQL_HELD							\
    "held AS MATERIALIZED (SELECT (classid::int8 << 32) | objid::int8"	\
    " AS id FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"	\
    " AND granted AND database = (SELECT oid FROM pg_database"		\
    " WHERE datname = current_database()))"
#define SQL_LIVE_HELD							\
    "(coalesce(r.expires > now(), false) OR r.id IN (SELECT id FROM held))"

/* user and the ids of the session's own reservations, as $1 and $2. */
static void
args_mine(struct args *a, const char *user)
{
	arg_text(a, user);
	arg_own(a);
}

static enum ledger_err
usage_run(struct ledger *l, const char *user, struct usage *out)
{
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;

	args_mine(&a, user);
	res = run(l, "usage", "WITH " SQL_MINE("id, bytes, expires")
	    " SELECT coalesce((SELECT used FROM upgate_usage WHERE owner = $1),"
	    " 0), (SELECT least(coalesce(sum(r.bytes), 0),"
	    " 9223372036854775807)::int8 FROM mine r WHERE " SQL_LIVE_MINE "),"
	    " (SELECT count(*) FROM mine r WHERE NOT " SQL_LIVE_MINE ")",
	    &a, PGRES_TUPLES_OK, &err);
	if (res == NULL)
		return err;
	if (PQntuples(res) != 1 || get_int(res, 0, 0, &out->used) == -1 ||
	    get_int(res, 0, 1, &out->reserved) == -1 ||
	    get_int(res, 0, 2, &out->dead) == -1) {
		snprintf(l->cause, sizeof l->cause, "postgresql:usage:bad row");
		out->used = out->reserved = out->dead = 0;
		err = LEDGER_IO;
	}
	PQclear(res);
	return err;
}

static enum ledger_err
pg_usage(struct ledger *l, const char *user, struct usage *out)
{
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	err = usage_run(l, user, out);
	leave(l);
	return err;
}

static enum ledger_err
pg_set_used(struct ledger *l, const char *user, int64_t used)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_text(&a, user);
	arg_int(&a, used);
	err = run_cmd(l, "set_used", "INSERT INTO upgate_usage (owner, used)"
	    " VALUES ($1, $2) ON CONFLICT (owner) DO UPDATE"
	    " SET used = excluded.used", &a);
	leave(l);
	return err;
}

static int
record_get_run(struct ledger *l, const char *rel, struct record *out)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;
	PGresult       *res;
	int             rc;

	arg_bytes(&a, rel);
	res = run(l, "record_get", "SELECT owner, size FROM upgate_records"
	    " WHERE sha256(rel) = sha256($1)", &a, PGRES_TUPLES_OK, &err);
	if (res == NULL) {
		l->failed = err;
		return -1;
	}
	if ((rc = PQntuples(res)) == 1) {
		rc = get_user(res, 0, 0, out->owner, sizeof out->owner) == 0 &&
		    get_int(res, 0, 1, &out->size) == 0 ? 0 : -1;
		if (rc == -1)
			snprintf(l->cause, sizeof l->cause,
			    "postgresql:record_get:bad row");
	} else
		rc = 1;
	PQclear(res);
	return rc;
}

static int
pg_record_get(struct ledger *l, const char *rel, struct record *out)
{
	enum ledger_err err;
	int             rc;

	if ((err = enter(l, 1)) != LEDGER_OK) {
		l->failed = err;
		return -1;
	}
	rc = record_get_run(l, rel, out);
	leave(l);
	return rc;
}

static enum ledger_err
pg_record_put(struct ledger *l, const char *rel, const struct record *rec)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_bytes(&a, rel);
	arg_text(&a, rec->owner);
	arg_int(&a, rec->size);
	err = run_cmd(l, "record_put", "INSERT INTO upgate_records"
	    " (rel, owner, size) VALUES ($1, $2, $3)"
	    " ON CONFLICT ((sha256(rel))) DO UPDATE"
	    " SET owner = excluded.owner, size = excluded.size", &a);
	leave(l);
	return err;
}

static enum ledger_err
pg_record_drop(struct ledger *l, const char *rel)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_bytes(&a, rel);
	err = run_cmd(l, "record_drop", "DELETE FROM upgate_records"
	    " WHERE sha256(rel) = sha256($1)", &a);
	leave(l);
	return err;
}

/*
 * The record and the usage of both owners in one statement: the new
 * owner is charged size, the old record's owner (the same one, or
 * another) credited its size, netted per owner, usage kept within
 * 0 .. 2^63-1.  FOR UPDATE: a commit of the same rel that raced this
 * one (without the file lock) is waited for and its record used.
 */
static enum ledger_err
pg_commit(struct ledger *l, const char *user, const char *rel, int64_t size)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_bytes(&a, rel);
	arg_text(&a, user);
	arg_int(&a, size);
	err = run_cmd(l, "commit",
	    "WITH old AS (SELECT owner, size FROM upgate_records"
	    "  WHERE sha256(rel) = sha256($1) FOR UPDATE),"
	    " rec AS (INSERT INTO upgate_records (rel, owner, size)"
	    "  VALUES ($1, $2, $3) ON CONFLICT ((sha256(rel))) DO UPDATE"
	    "  SET owner = excluded.owner, size = excluded.size),"
	    " delta AS (SELECT owner, sum(d) AS d FROM"
	    "  (SELECT $2::text AS owner, $3::numeric AS d"
	    "   UNION ALL SELECT owner, -size FROM old) s"
	    "  GROUP BY owner HAVING sum(d) <> 0)"
	    " INSERT INTO upgate_usage AS u (owner, used)"
	    " SELECT owner, least(greatest(d, 0), 9223372036854775807)::int8"
	    "  FROM delta"
	    " ON CONFLICT (owner) DO UPDATE SET used = least(greatest(u.used +"
	    "  (SELECT d FROM delta WHERE delta.owner = u.owner), 0),"
	    "  9223372036854775807)::int8", &a);
	leave(l);
	return err;
}

static enum ledger_err
pg_forget(struct ledger *l, const char *rel)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_bytes(&a, rel);
	err = run_cmd(l, "forget",
	    "WITH d AS (DELETE FROM upgate_records"
	    "  WHERE sha256(rel) = sha256($1) RETURNING owner, size)"
	    " UPDATE upgate_usage u SET used = greatest(u.used - d.size, 0)"
	    " FROM d WHERE u.owner = d.owner", &a);
	leave(l);
	return err;
}

/*
 * Every record at from or below it (a '/' after from) now names the
 * same place below to; stale records there are dropped first, their
 * owners' usage left as it was (an over-count, never an under-count).
 */
static enum ledger_err
pg_move(struct ledger *l, const char *from, const char *to)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_bytes(&a, from);
	arg_bytes(&a, to);
	/* two statements: one statement's parts share one snapshot */
	err = run_cmd(l, "move", "DELETE FROM upgate_records"
	    " WHERE ($1 = $1) AND (sha256(rel) = sha256($2) OR"
	    " substring(rel from 1 for length($2) + 1) ="
	    " $2 || decode('2f', 'hex'))", &a);
	if (err == LEDGER_OK)
		err = run_cmd(l, "move", "UPDATE upgate_records"
		    " SET rel = $2 || substring(rel from length($1) + 1)"
		    " WHERE sha256(rel) = sha256($1) OR substring(rel from 1"
		    " for length($1) + 1) = $1 || decode('2f', 'hex')", &a);
	leave(l);
	return err;
}

/* ---- reservations ---- */

/* The int4 pair that stands for a reservation's id in the locks. */
static void
arg_resv(struct args *a, uint64_t id)
{
	arg_int(a, (int32_t)(uint32_t)(id >> 32));
	arg_int(a, (int32_t)(uint32_t)id);
}

/*
 * The holder, its mutex held (until pgpool_holder_unlock), and its
 * generation in *gen: a holder found dead is replaced by a new session,
 * opened under that mutex (whoever else needs the holder meanwhile
 * could not use a dead one).  NULL, the mutex released, on failure —
 * LEDGER_DOWN too while a dead holder is still lent to a ledger as its
 * session (pgpool.h).
 */
static struct pgsess *
holder_get(struct ledger *l, uint64_t *gen, enum ledger_err *err)
{
	struct pg     *p = l->be;
	struct pgsess *h;

	h = pgpool_holder_lock(p->pool, gen);
	if (h != NULL && pgpool_alive(h->conn))
		return h;
	if (h != NULL && !pgpool_holder_lost(p->pool)) {
		pgpool_holder_unlock(p->pool);
		snprintf(l->cause, sizeof l->cause, "postgresql:holder lost");
		*err = LEDGER_DOWN;
		return NULL;
	}
	if ((*err = sess_open(l, &h)) != LEDGER_OK) {
		pgpool_holder_unlock(p->pool);
		return NULL;
	}
	*gen = pgpool_holder_set(p->pool, h);
	return h;
}

/* Releases id's lock in the holder h (its mutex held). */
static void
holder_unlock_id(struct ledger *l, struct pgsess *h, uint64_t id)
{
	struct args a = { .n = 0 };

	arg_resv(&a, id);
	if (PQstatus(h->conn) == CONNECTION_OK)
		PQclear(exec_on(l, h, 1, "SELECT pg_advisory_unlock($1::int4,"
		    " $2::int4)", &a));
}

/*
 * id's lock in the holder h (its mutex held), and the row with it when
 * h is the call's own session (the CGI's): in one statement then, the
 * lock first.  1 when taken, 0 when the id is taken (its lock is
 * someone's), -1 on failure.
 */
static int
resv_lock(struct ledger *l, struct pgsess *h, const char *user,
    int64_t bytes, uint64_t id, enum ledger_err *err)
{
	struct pg  *p = l->be;
	struct args a = { .n = 0 };
	PGresult   *res;
	int         rc;

	if (h != p->s) {
		arg_resv(&a, id);
		res = run_on(l, h, 1, "reserve", "SELECT pg_try_advisory_lock("
		    "$1::int4, $2::int4)", &a, PGRES_TUPLES_OK, err);
		if (res == NULL && PQstatus(h->conn) != CONNECTION_OK)
			pgpool_holder_lost(p->pool);
		rc = res == NULL ? -1 : get_bool(res, 0, 0);
		PQclear(res);
		return rc;
	}
	arg_int(&a, (int64_t)id);
	arg_text(&a, user);
	arg_int(&a, bytes);
	arg_resv(&a, id);
	res = run_on(l, h, 1, "reserve", "INSERT INTO upgate_reservations"
	    " (id, owner, bytes) SELECT $1, $2, $3"
	    " WHERE pg_try_advisory_lock($4::int4, $5::int4)", &a,
	    PGRES_COMMAND_OK, err);
	if (res == NULL) {
		/* the lock may have been taken before the row failed */
		holder_unlock_id(l, h, id);
		return -1;
	}
	rc = changed(res) == 1;
	PQclear(res);
	return rc;
}

/*
 * Ends id's lock in the holder, when it is still the holder of gen and
 * holds it for this process.
 */
static void
unhold(struct ledger *l, uint64_t id, uint64_t gen)
{
	struct pg     *p = l->be;
	struct pgsess *h;
	uint64_t       now;

	h = pgpool_holder_lock(p->pool, &now);
	if (h != NULL && now == gen && pgpool_own_del(p->pool, (int64_t)id))
		holder_unlock_id(l, h, id);
	pgpool_holder_unlock(p->pool);
}

/*
 * A reservation of id: its lock in the holder, then (in the call's
 * session, unless that is the holder) its row — whoever sees the row,
 * once committed, sees it held.  1 when made, with the holder's
 * generation in *gen; 0 when the id is taken; -1 on failure.
 */
static int
resv_make(struct ledger *l, const char *user, int64_t bytes, uint64_t id,
    uint64_t *gen, enum ledger_err *err)
{
	struct pg     *p = l->be;
	struct args    a = { .n = 0 };
	struct pgsess *h;
	PGresult      *res;
	int            rc, with_row;

	if ((h = holder_get(l, gen, err)) == NULL)
		return -1;
	with_row = h == p->s;
	if ((rc = resv_lock(l, h, user, bytes, id, err)) == 1 &&
	    pgpool_own_add(p->pool, (int64_t)id, p) == -1) {
		ledger_cause(l, "realloc");
		*err = LEDGER_IO;
		holder_unlock_id(l, h, id);
		rc = -1;
	}
	pgpool_holder_unlock(p->pool);
	if (rc != 1 || with_row)
		return rc;
	arg_int(&a, (int64_t)id);
	arg_text(&a, user);
	arg_int(&a, bytes);
	if ((res = run(l, "reserve", "INSERT INTO upgate_reservations"
	    " (id, owner, bytes) VALUES ($1, $2, $3)", &a, PGRES_COMMAND_OK,
	    err)) == NULL) {
		unhold(l, id, *gen);
		return -1;
	}
	PQclear(res);
	return 1;
}

static enum ledger_err
reserve_run(struct ledger *l, const char *user, int64_t bytes,
    struct reservation *r)
{
	enum ledger_err err = LEDGER_OK;
	uint64_t        id, gen = 0;
	int             tries, rc = 0;

	for (tries = 0; tries < 4 && rc == 0; tries++) {
		if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
			ledger_cause(l, "getrandom");
			return LEDGER_IO;
		}
		if ((id &= INT64_MAX) != 0 &&
		    (rc = resv_make(l, user, bytes, id, &gen, &err)) == -1)
			return err;
	}
	if (rc == 0) {
		snprintf(l->cause, sizeof l->cause, "postgresql:reserve:ids");
		return LEDGER_IO;
	}
	r->id = id;
	r->fd = -1;
	snprintf(r->user, sizeof r->user, "%s", user);
	r->bytes = bytes;
	r->end = (int64_t)gen;	/* the holder that holds its lock */
	return LEDGER_OK;
}

static enum ledger_err
pg_reserve(struct ledger *l, const char *user, int64_t bytes,
    struct reservation *r)
{
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	err = reserve_run(l, user, bytes, r);
	leave(l);
	return err;
}

/*
 * r's lock lives in the holder that took it: once that holder's session
 * ended (found dead here without a round trip, or by a statement), the
 * pool moved to another generation and r is lost — the calls on it
 * fail, as a reclaim may have taken it already.
 */
static enum ledger_err
resv_ready(struct ledger *l, const struct reservation *r)
{
	struct pg     *p = l->be;
	struct pgsess *h;
	uint64_t       gen;
	int            ok;

	h = pgpool_holder_lock(p->pool, &gen);
	ok = h != NULL && (uint64_t)r->end == gen;
	if (ok && !pgpool_alive(h->conn)) {
		pgpool_holder_lost(p->pool);
		ok = 0;
	}
	pgpool_holder_unlock(p->pool);
	if (!ok) {
		snprintf(l->cause, sizeof l->cause,
		    "postgresql:reservation's session lost");
		return LEDGER_DOWN;
	}
	return LEDGER_OK;
}

/*
 * A change to r's rows, sql; or, where the statement's session is not
 * the holder, checked, which asks the server too whether r's lock is
 * still held by another session (its shared try fails then; its last
 * two parameters are r's pair), so that a holder whose session ended
 * unseen from here (keepalives, an operator) fails the call as well.
 * Either changes one row, or r is lost.
 */
static enum ledger_err
resv_change(struct ledger *l, const char *what, const char *sql,
    const char *checked, struct args *a, const struct reservation *r)
{
	struct pg      *p = l->be;
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;

	if (!p->s->holder)
		arg_resv(a, r->id);
	res = run(l, what, p->s->holder ? sql : checked, a, PGRES_COMMAND_OK,
	    &err);
	if (res == NULL)
		return err;
	if (changed(res) != 1) {
		snprintf(l->cause, sizeof l->cause,
		    "postgresql:%s:reservation lost", what);
		err = LEDGER_DOWN;
	}
	PQclear(res);
	return err;
}

static enum ledger_err
pg_reservation_set(struct ledger *l, struct reservation *r, int64_t bytes)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = resv_ready(l, r)) != LEDGER_OK ||
	    (err = enter(l, 1)) != LEDGER_OK)
		return err;
	arg_int(&a, (int64_t)r->id);
	arg_int(&a, bytes);
	err = resv_change(l, "reservation_set", "UPDATE upgate_reservations"
	    " SET bytes = $2 WHERE id = $1", "UPDATE upgate_reservations"
	    " SET bytes = $2 WHERE id = $1 AND NOT"
	    " pg_try_advisory_xact_lock_shared($3::int4, $4::int4)", &a, r);
	if (err == LEDGER_OK)
		r->bytes = bytes;
	leave(l);
	return err;
}

static enum ledger_err
pg_reservation_add(struct ledger *l, struct reservation *r,
    enum resv_path kind, const char *rel)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = resv_ready(l, r)) != LEDGER_OK ||
	    (err = enter(l, 0)) != LEDGER_OK)
		return err;
	arg_int(&a, (int64_t)r->id);
	arg_text(&a, kind == RESV_TMP ? "t" : "d");
	arg_bytes(&a, rel);
	err = resv_change(l, "reservation_add", "INSERT INTO"
	    " upgate_reservation_paths (resv, kind, rel) VALUES ($1, $2, $3)",
	    "INSERT INTO upgate_reservation_paths (resv, kind, rel)"
	    " SELECT $1, $2, $3 WHERE NOT"
	    " pg_try_advisory_xact_lock_shared($4::int4, $5::int4)", &a, r);
	leave(l);
	return err;
}

/*
 * The row goes first and its lock after: unlocked while still visible,
 * it would look dead to a reclaim, which would report its bytes.  A row
 * that could not be deleted (no session to be had, a failure) is
 * unlocked all the same: dead, the next reclaim removes it; left
 * locked, it would hold its bytes for as long as the process lives.
 */
static void
pg_release(struct ledger *l, struct reservation *r)
{
	struct args a = { .n = 0 };

	if (enter(l, 0) == LEDGER_OK) {
		arg_int(&a, (int64_t)r->id);
		run_quiet(l, "DELETE FROM upgate_reservations WHERE id = $1",
		    &a);
		leave(l);
	}
	unhold(l, r->id, (uint64_t)r->end);
}

/* Releases the locks of every reservation made through l (pg_close). */
static void
unhold_all(struct ledger *l)
{
	struct pg     *p = l->be;
	struct args    a = { .n = 0 };
	struct pgsess *h;
	uint64_t       gen;
	char          *ids;

	h = pgpool_holder_lock(p->pool, &gen);
	ids = pgpool_own_array(p->pool, p);
	if (h != NULL && ids != NULL && strcmp(ids, "{}") != 0 &&
	    PQstatus(h->conn) == CONNECTION_OK) {
		arg_text(&a, ids);
		PQclear(exec_on(l, h, 1, "SELECT count(pg_advisory_unlock("
		    "(k >> 32)::int4, ((k << 32) >> 32)::int4))"
		    " FROM unnest($1::int8[]) k", &a));
	}
	pgpool_holder_unlock(p->pool);
	free(ids);
}

/* ---- reclaim ---- */

/*
 * Row i of a reclaim's result (kind in column 2, the path in 3) as a
 * path of kind: 0 and rel filled, or -1 (another kind, or not a path
 * upgate names).  *depth counts its folders.
 */
static int
path_at(const PGresult *res, int i, enum resv_path kind, char *rel,
    size_t size, size_t *depth)
{
	const char *s;

	if (PQgetisnull(res, i, 2) ||
	    PQgetvalue(res, i, 2)[0] != (char)kind ||
	    get_path(res, i, 3, rel, size) == -1 ||
	    !relpath_valid(rel, kind == RESV_TMP))
		return -1;
	for (*depth = 0, s = rel; *s != '\0'; s++)
		*depth += *s == '/';
	return 0;
}

/*
 * Calls fn for each path of a dead reservation: temporary files first,
 * then folders, deepest first, so that each folder is as empty as it
 * will get when its turn comes.
 */
static void
reclaim_paths(const PGresult *res,
    void (*fn)(void *, enum resv_path, const char *), void *arg)
{
	char   rel[4096];
	size_t d, maxd = 0, want;
	int    i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		if (path_at(res, i, RESV_TMP, rel, sizeof rel, &d) == 0)
			fn(arg, RESV_TMP, rel);
		else if (path_at(res, i, RESV_DIR, rel, sizeof rel, &d) == 0 &&
		    d > maxd)
			maxd = d;
	}
	for (want = maxd + 1; want-- > 0;)
		for (i = 0; i < n; i++)
			if (path_at(res, i, RESV_DIR, rel, sizeof rel, &d) ==
			    0 && d == want)
				fn(arg, RESV_DIR, rel);
}

/*
 * Reclaims one dead reservation: its lock first, so that two reclaims
 * never handle it together (and a lease renewed meanwhile is left
 * alone), then its paths, then the row, then the lock again.
 */
static enum ledger_err
reclaim_one(struct ledger *l, uint64_t id,
    void (*fn)(void *, enum resv_path, const char *),
    void (*done)(void *, const char *, int64_t), void *arg)
{
	struct pg      *p = l->be;
	struct args     a = { .n = 0 }, lk = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;
	char            owner[USER_NAME_MAX + 1];
	int64_t         bytes;
	int             got;

	arg_resv(&lk, id);
	if ((res = run(l, "reclaim", "SELECT pg_try_advisory_lock($1::int4,"
	    " $2::int4)", &lk, PGRES_TUPLES_OK, &err)) == NULL)
		return err;
	got = get_bool(res, 0, 0);
	PQclear(res);
	if (!got)
		return LEDGER_OK;	/* someone else is at it */
	arg_int(&a, (int64_t)id);
	res = run(l, "reclaim", "SELECT r.owner, r.bytes, p.kind,"
	    " encode(p.rel, 'hex') FROM upgate_reservations r"
	    " LEFT JOIN upgate_reservation_paths p ON p.resv = r.id"
	    " WHERE r.id = $1 AND NOT coalesce(r.expires > now(), false)",
	    &a, PGRES_TUPLES_OK, &err);
	if (res != NULL && PQntuples(res) > 0 &&
	    get_user(res, 0, 0, owner, sizeof owner) == 0 &&
	    get_int(res, 0, 1, &bytes) == 0) {
		reclaim_paths(res, fn, arg);
		PQclear(res);
		res = run(l, "reclaim", "DELETE FROM upgate_reservations"
		    " WHERE id = $1", &a, PGRES_COMMAND_OK, &err);
		if (res != NULL && changed(res) == 1 && done != NULL)
			done(arg, owner, bytes);
	}
	PQclear(res);
	if (PQstatus(p->s->conn) == CONNECTION_OK)
		run_quiet(l, "SELECT pg_advisory_unlock($1::int4, $2::int4)",
		    &lk);
	return err;
}

static enum ledger_err
reclaim_run(struct ledger *l, const char *user,
    void (*fn)(void *, enum resv_path, const char *),
    void (*done)(void *, const char *, int64_t), void *arg)
{
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;
	int64_t         id;
	int             i;

	if (user == NULL) {
		res = run(l, "reclaim", "DELETE FROM upgate_uploads"
		    " WHERE resv IS NULL AND expires <= now()", NULL,
		    PGRES_COMMAND_OK, &err);
		if (res == NULL)
			return err;
		PQclear(res);
		res = run(l, "reclaim", "WITH " SQL_HELD
		    " SELECT r.id FROM upgate_reservations r"
		    " WHERE NOT " SQL_LIVE_HELD " ORDER BY r.id", NULL,
		    PGRES_TUPLES_OK, &err);
	} else {
		args_mine(&a, user);
		res = run(l, "reclaim", "WITH " SQL_MINE("id, expires")
		    " SELECT r.id FROM mine r WHERE NOT " SQL_LIVE_MINE
		    " ORDER BY r.id", &a, PGRES_TUPLES_OK, &err);
	}
	if (res == NULL)
		return err;
	for (i = 0; i < PQntuples(res) && err == LEDGER_OK; i++)
		if (get_int(res, i, 0, &id) == 0)
			err = reclaim_one(l, (uint64_t)id, fn, done, arg);
	PQclear(res);
	return err;
}

static enum ledger_err
pg_reclaim(struct ledger *l, const char *user,
    void (*fn)(void *, enum resv_path, const char *),
    void (*done)(void *, const char *, int64_t), void *arg)
{
	enum ledger_err err;

	if ((err = enter(l, 1)) != LEDGER_OK)
		return err;
	err = reclaim_run(l, user, fn, done, arg);
	leave(l);
	return err;
}

/* ---- walks ---- */

/*
 * The user's largest records: the LEDGER_SCAN_MAX largest are looked
 * at (an index scan on (owner, size DESC) that stops there), those
 * below prefix kept.
 */
static size_t
largest_run(struct ledger *l, const char *user, const char *prefix,
    struct file_size *out, size_t max)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;
	PGresult       *res;
	char            folder[4098], rel[4096];
	size_t          len, n = 0;
	int             i;

	/* "alice", "alice/" and "alice//" name one folder */
	snprintf(folder, sizeof folder - 1, "%s", prefix != NULL ? prefix : "");
	len = strlen(folder);
	while (len > 0 && folder[len - 1] == '/')
		len--;
	if (len > 0)
		folder[len++] = '/';
	folder[len] = '\0';
	arg_text(&a, user);
	arg_bytes(&a, folder);
	arg_int(&a, max > INT32_MAX ? INT32_MAX : (int64_t)max);
	res = run(l, "largest", "SELECT encode(rel, 'hex'), size FROM"
	    " (SELECT rel, size FROM upgate_records WHERE owner = $1"
	    "  ORDER BY size DESC LIMIT " XSTR(LEDGER_SCAN_MAX) ") s"
	    " WHERE substr(rel, 1, length($2::bytea)) = $2::bytea"
	    " ORDER BY size DESC, rel LIMIT $3", &a, PGRES_TUPLES_OK, &err);
	if (res == NULL)
		return 0;
	for (i = 0; i < PQntuples(res) && n < max; i++) {
		if (get_path(res, i, 0, rel, sizeof rel) == -1 ||
		    strlen(rel) <= len ||
		    get_int(res, i, 1, &out[n].size) == -1)
			continue;
		snprintf(out[n].name, sizeof out[n].name, "%s", rel + len);
		n++;
	}
	PQclear(res);
	return n;
}

static size_t
pg_largest(struct ledger *l, const char *user, const char *prefix,
    struct file_size *out, size_t max)
{
	size_t n;

	if (enter(l, 0) != LEDGER_OK)
		return 0;
	n = largest_run(l, user, prefix, out, max);
	leave(l);
	return n;
}

/*
 * Walks in batches, by key, so that fn may call the ledger (the
 * connection is free between batches) and no result grows with the
 * table.
 */
static enum ledger_err
each_user_run(struct ledger *l, void (*fn)(void *, const char *), void *arg)
{
	enum ledger_err err;
	char            last[USER_NAME_MAX + 1] = "", user[USER_NAME_MAX + 1];
	int             i, n;

	do {
		struct args a = { .n = 0 };
		PGresult   *res;

		arg_text(&a, last);
		res = run(l, "each_user", "SELECT owner FROM upgate_usage"
		    " WHERE owner > $1 ORDER BY owner LIMIT " XSTR(BATCH), &a,
		    PGRES_TUPLES_OK, &err);
		if (res == NULL)
			return err;
		n = PQntuples(res);
		for (i = 0; i < n; i++)
			if (get_user(res, i, 0, user, sizeof user) == 0)
				fn(arg, user);
		/* the next batch starts after the last row, valid or not */
		if (n > 0 && PQgetlength(res, n - 1, 0) >= (int)sizeof last)
			n = 0;
		else if (n > 0)
			memcpy(last, PQgetvalue(res, n - 1, 0),
			    (size_t)PQgetlength(res, n - 1, 0) + 1);
		PQclear(res);
	} while (n == BATCH);
	return LEDGER_OK;
}

static enum ledger_err
pg_each_user(struct ledger *l, void (*fn)(void *, const char *), void *arg)
{
	enum ledger_err err;

	if ((err = enter(l, 0)) != LEDGER_OK)
		return err;
	err = each_user_run(l, fn, arg);
	leave(l);
	return err;
}

/* One batch of each_record: 0 to go on, 1 when done, -1 on failure. */
static int
each_record_batch(struct ledger *l, const char *owner, char *last,
    size_t lastsize, int (*fn)(void *, const char *, const struct record *),
    void *arg, enum ledger_err *err)
{
	struct args   a = { .n = 0 };
	struct record rec;
	PGresult     *res;
	char          rel[4096];
	int           i, n, rc = 0;

	arg_text(&a, last);
	arg_text(&a, owner);
	res = run(l, "each_record", "SELECT encode(sha256(rel), 'hex'),"
	    " encode(rel, 'hex'), owner, size FROM upgate_records"
	    " WHERE sha256(rel) > decode($1, 'hex')"
	    " AND ($2::text IS NULL OR owner = $2)"
	    " ORDER BY sha256(rel) LIMIT " XSTR(BATCH), &a, PGRES_TUPLES_OK, err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n && rc == 0; i++) {
		if (get_path(res, i, 1, rel, sizeof rel) == -1 ||
		    get_user(res, i, 2, rec.owner, sizeof rec.owner) == -1 ||
		    get_int(res, i, 3, &rec.size) == -1)
			continue;
		rc = fn(arg, rel, &rec);
	}
	if (n > 0)
		snprintf(last, lastsize, "%s", PQgetvalue(res, n - 1, 0));
	PQclear(res);
	if (rc == -1) {
		snprintf(l->cause, sizeof l->cause, "each_record:callback");
		*err = LEDGER_IO;
	}
	return rc != 0 ? rc : n < BATCH;
}

static enum ledger_err
pg_each_record(struct ledger *l, const char *owner,
    int (*fn)(void *, const char *, const struct record *), void *arg)
{
	enum ledger_err err;
	char            last[65] = "";
	int             rc;

	if ((err = enter(l, 0)) != LEDGER_OK)
		return err;
	while ((rc = each_record_batch(l, owner, last, sizeof last, fn, arg,
	    &err)) == 0)
		;
	leave(l);
	return rc == -1 ? err : LEDGER_OK;
}

/*
 * With sync = yes every change was durable when it returned.  With
 * sync = no, one transaction that writes a commit record and waits for
 * it (synchronous_commit on, for it alone) flushes the log up to there,
 * and with it every earlier asynchronous commit.
 */
static enum ledger_err
pg_flush(struct ledger *l)
{
	struct pg      *p = l->be;
	enum ledger_err err;
	PGresult       *res;

	if (p->sync || (err = enter(l, 0)) != LEDGER_OK)
		return p->sync ? LEDGER_OK : err;
	res = run(l, "flush", "SELECT set_config('synchronous_commit', 'on',"
	    " true), pg_current_xact_id()", NULL, PGRES_TUPLES_OK, &err);
	PQclear(res);
	leave(l);
	return err;
}

/* ---- leases: upgate_uploads ---- */

/*
 * A resumable upload's lease is a row of upgate_reservations whose
 * expires is set: live while it runs (SQL_LIVE_MINE), or while the
 * int4-pair lock of its id is held — by a request on the upload, in
 * the holder, so that a PATCH that outlasts the expiry is not reclaimed
 * under it.  Its state is a row of upgate_uploads that goes with the
 * lease (ON DELETE CASCADE), so a reclaim removes both.
 *
 * A finished upload holds nothing: its lease goes, and its row keeps
 * its own expires (resv NULL), so that the reservations every request
 * of its user reads are those of the uploads in progress, however many
 * finished within resumable_expiry.  The user's expired finished rows
 * go when another of their uploads finishes (through the partial index
 * upgate_uploads_done: only those), and every user's with recount.
 */
static enum ledger_err
lease_row(struct ledger *l, const struct reservation *r,
    const struct upload *u)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	arg_int(&a, (int64_t)r->id);
	arg_int(&a, u->expires);
	err = resv_change(l, "lease_begin", "UPDATE upgate_reservations"
	    " SET expires = to_timestamp($2) WHERE id = $1",
	    "UPDATE upgate_reservations SET expires = to_timestamp($2)"
	    " WHERE id = $1 AND NOT"
	    " pg_try_advisory_xact_lock_shared($3::int4, $4::int4)", &a, r);
	if (err != LEDGER_OK)
		return err;
	a.n = 0;
	arg_text(&a, u->id);
	arg_int(&a, (int64_t)r->id);
	arg_text(&a, u->owner);
	arg_bytes(&a, u->folder);
	arg_bytes(&a, u->name);
	arg_bytes(&a, u->tmp);
	arg_int(&a, u->length);
	arg_int(&a, u->offset);
	arg_text(&a, u->metadata);
	return run_cmd(l, "lease_begin", "INSERT INTO upgate_uploads (id,"
	    " resv, owner, folder, name, tmp, length, off, metadata)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", &a);
}

/* The row lives by its expiry now: its lock goes. */
static enum ledger_err
pg_lease_begin(struct ledger *l, struct reservation *r, struct upload *u)
{
	enum ledger_err err;

	if ((err = resv_ready(l, r)) != LEDGER_OK ||
	    (err = enter(l, 1)) != LEDGER_OK)
		return err;
	err = lease_row(l, r, u);
	leave(l);
	if (err != LEDGER_OK)
		return err;
	unhold(l, r->id, (uint64_t)r->end);
	u->lease = r->id;
	return LEDGER_OK;
}

/* Row i of an upload's query (see pg_upload_get) into u: 0, or -1. */
static int
upload_row(const PGresult *res, int i, struct upload *u)
{
	int64_t resv;

	if (get_int(res, i, 0, &resv) == -1 ||
	    (PQgetlength(res, i, 1) > 0 &&
	    get_path(res, i, 1, u->folder, sizeof u->folder) == -1) ||
	    get_path(res, i, 2, u->name, sizeof u->name) == -1 ||
	    get_path(res, i, 3, u->tmp, sizeof u->tmp) == -1 ||
	    get_int(res, i, 4, &u->length) == -1 ||
	    get_int(res, i, 5, &u->offset) == -1 ||
	    (size_t)PQgetlength(res, i, 6) >= sizeof u->metadata ||
	    get_int(res, i, 8, &u->expires) == -1)
		return -1;
	u->lease = (uint64_t)resv;
	memcpy(u->metadata, PQgetvalue(res, i, 6),
	    (size_t)PQgetlength(res, i, 6) + 1);
	u->finished = get_bool(res, i, 7);
	return 0;
}

#define SQL_UPLOAD_COLS							\
    "coalesce(u.resv, 0), encode(u.folder, 'hex'), encode(u.name, 'hex'),"	\
    " encode(u.tmp, 'hex'), u.length, u.off, u.metadata, u.finished,"	\
    " coalesce(floor(extract(epoch FROM coalesce(r.expires, u.expires)))"	\
    "::int8, 0)"

static int
pg_upload_get(struct ledger *l, const char *user, const char *id,
    struct upload *out)
{
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;
	int             rc = -1;

	if (enter(l, 0) != LEDGER_OK)
		return -1;
	arg_text(&a, id);
	arg_text(&a, user);
	res = run(l, "upload_get", "SELECT " SQL_UPLOAD_COLS
	    " FROM upgate_uploads u LEFT JOIN upgate_reservations r"
	    " ON r.id = u.resv WHERE u.id = $1 AND u.owner = $2", &a,
	    PGRES_TUPLES_OK, &err);
	if (res != NULL && PQntuples(res) == 0)
		rc = 1;
	else if (res != NULL && upload_row(res, 0, out) == 0) {
		snprintf(out->id, sizeof out->id, "%s", id);
		snprintf(out->owner, sizeof out->owner, "%s", user);
		rc = 0;
	} else if (res != NULL)
		snprintf(l->cause, sizeof l->cause,
		    "postgresql:upload_get:bad row");
	PQclear(res);
	leave(l);
	return rc;
}

/*
 * The lease's int4-pair lock, in the holder.  A session's advisory
 * locks are re-entrant, and the responder's threads share one holder:
 * the process's own list of held ids excludes them from each other.
 */
static enum ledger_err
pg_upload_lock(struct ledger *l, struct upload *u)
{
	struct pg      *p = l->be;
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_BUSY;
	struct pgsess  *h;
	PGresult       *res = NULL;
	uint64_t        gen;
	int             got = 0;

	if ((h = holder_get(l, &gen, &err)) == NULL)
		return err;
	err = LEDGER_BUSY;
	if (!pgpool_own_has(p->pool, (int64_t)u->lease)) {
		arg_resv(&a, u->lease);
		res = run_on(l, h, 1, "upload_lock", "SELECT"
		    " pg_try_advisory_lock($1::int4, $2::int4)", &a,
		    PGRES_TUPLES_OK, &err);
		if (res == NULL && PQstatus(h->conn) != CONNECTION_OK)
			pgpool_holder_lost(p->pool);
		got = res != NULL && get_bool(res, 0, 0);
		PQclear(res);
	}
	if (got && pgpool_own_add(p->pool, (int64_t)u->lease, p) == -1) {
		ledger_cause(l, "realloc");
		err = LEDGER_IO;
		holder_unlock_id(l, h, u->lease);
		got = 0;
	}
	pgpool_holder_unlock(p->pool);
	if (!got)
		return err;
	u->held = gen + 1;	/* never 0: held */
	return LEDGER_OK;
}

static void
pg_upload_unlock(struct ledger *l, struct upload *u)
{
	unhold(l, u->lease, u->held - 1);
}

/*
 * One statement over the upload's rows: $1 its id, $2 its lease, $3 its
 * offset, $4 its expiry, and $5 its owner when owner is set.
 */
static enum ledger_err
upload_change(struct ledger *l, const char *what, const char *sql,
    const struct upload *u, int owner)
{
	struct args     a = { .n = 0 };
	enum ledger_err err;

	if ((err = enter(l, 0)) != LEDGER_OK)
		return err;
	arg_text(&a, u->id);
	arg_int(&a, (int64_t)u->lease);
	arg_int(&a, u->offset);
	arg_int(&a, u->expires);
	if (owner)
		arg_text(&a, u->owner);
	err = run_cmd(l, what, sql, &a);
	leave(l);
	return err;
}

static enum ledger_err
pg_upload_put(struct ledger *l, const struct upload *u)
{
	return upload_change(l, "upload_put", "WITH e AS (UPDATE"
	    " upgate_reservations SET expires = to_timestamp($4)"
	    " WHERE id = $2) UPDATE upgate_uploads SET off = $3"
	    " WHERE id = $1", u, 0);
}

/*
 * The row is out of its lease before the lease goes (the cascade, run
 * at the statement's end, finds it no longer the lease's); the lease's
 * paths go with it: the folders it made hold the file now, as a PUT's
 * do.  The user's finished rows whose expiry passed go too.
 */
static enum ledger_err
pg_upload_finish(struct ledger *l, struct upload *u)
{
	return upload_change(l, "upload_finish", "WITH f AS (UPDATE"
	    " upgate_uploads SET off = $3, finished = true, resv = NULL,"
	    " expires = to_timestamp($4) WHERE id = $1 AND resv = $2),"
	    " x AS (DELETE FROM upgate_uploads WHERE owner = $5"
	    " AND resv IS NULL AND expires <= now() AND id <> $1)"
	    " DELETE FROM upgate_reservations WHERE id = $2", u, 1);
}

/*
 * Its lease's paths, then the lease and its row; a finished upload has
 * only the row.  A crash in between leaves the lease, which its expiry
 * reclaims.
 */
static enum ledger_err
pg_upload_end(struct ledger *l, struct upload *u,
    void (*fn)(void *, enum resv_path, const char *), void *arg)
{
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	PGresult       *res;

	if ((err = enter(l, 0)) != LEDGER_OK)
		return err;
	arg_int(&a, (int64_t)u->lease);
	/* the columns of reclaim_one's query, for reclaim_paths */
	res = run(l, "upload_end", "SELECT NULL, NULL, kind,"
	    " encode(rel, 'hex') FROM upgate_reservation_paths"
	    " WHERE resv = $1", &a, PGRES_TUPLES_OK, &err);
	if (res != NULL) {
		reclaim_paths(res, fn, arg);
		PQclear(res);
		arg_text(&a, u->id);
		err = run_cmd(l, "upload_end", "WITH u AS (DELETE FROM"
		    " upgate_uploads WHERE id = $2) DELETE FROM"
		    " upgate_reservations WHERE id = $1", &a);
	}
	leave(l);
	return err;
}

static enum ledger_err
each_upload_run(struct ledger *l, const char *user,
    int (*fn)(void *, const struct upload *), void *arg)
{
	struct args     a = { .n = 0 };
	enum ledger_err err = LEDGER_OK;
	struct upload  *u;
	PGresult       *res;
	int             i;

	arg_text(&a, user);
	res = run(l, "each_upload", "SELECT " SQL_UPLOAD_COLS ", u.id,"
	    " u.owner FROM upgate_uploads u JOIN upgate_reservations r"
	    " ON r.id = u.resv WHERE $1::text IS NULL OR u.owner = $1"
	    " ORDER BY u.owner, u.id", &a, PGRES_TUPLES_OK, &err);
	if (res == NULL)
		return err;
	if ((u = malloc(sizeof *u)) == NULL) {
		PQclear(res);
		ledger_cause(l, "malloc");
		return LEDGER_IO;
	}
	for (i = 0; i < PQntuples(res); i++) {
		memset(u, 0, sizeof *u);
		if (upload_row(res, i, u) == -1 ||
		    get_user(res, i, 10, u->owner, sizeof u->owner) == -1 ||
		    PQgetlength(res, i, 9) != UPLOAD_ID_LEN)
			continue;
		memcpy(u->id, PQgetvalue(res, i, 9), UPLOAD_ID_LEN + 1);
		if (fn(arg, u) != 0)
			break;
	}
	free(u);
	PQclear(res);
	return LEDGER_OK;
}

static enum ledger_err
pg_each_upload(struct ledger *l, const char *user,
    int (*fn)(void *, const struct upload *), void *arg)
{
	enum ledger_err err;

	if ((err = enter(l, 0)) != LEDGER_OK)
		return err;
	err = each_upload_run(l, user, fn, arg);
	leave(l);
	return err;
}

const struct ledger_ops ledger_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.lock_user = pg_lock_user,
	.lock_file = pg_lock_file,
	.lock_all = pg_lock_all,
	.unlock = pg_unlock,
	.usage = pg_usage,
	.set_used = pg_set_used,
	.record_get = pg_record_get,
	.record_put = pg_record_put,
	.record_drop = pg_record_drop,
	.commit = pg_commit,
	.forget = pg_forget,
	.move = pg_move,
	.reserve = pg_reserve,
	.reservation_set = pg_reservation_set,
	.reservation_add = pg_reservation_add,
	.release = pg_release,
	.reclaim = pg_reclaim,
	.largest = pg_largest,
	.each_user = pg_each_user,
	.each_record = pg_each_record,
	.flush = pg_flush,
	.lease_begin = pg_lease_begin,
	.upload_get = pg_upload_get,
	.upload_lock = pg_upload_lock,
	.upload_unlock = pg_upload_unlock,
	.upload_put = pg_upload_put,
	.upload_finish = pg_upload_finish,
	.upload_end = pg_upload_end,
	.each_upload = pg_each_upload,
};
