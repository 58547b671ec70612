/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * upgate-quota: the operator's tool (upgate-quota(8)).
 *
 *   upgate-quota [--config FILE] check
 *   upgate-quota [--config FILE] show USER
 *   upgate-quota [--config FILE] report [--json]
 *   upgate-quota [--config FILE] recount [USER]
 *   upgate-quota [--config FILE] migrate --to URI
 *
 * Exit status: 0 success, 1 failure (problems on standard error), 2 usage
 * error.  Only main() exits; every command returns its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "fdio.h"
#include "decide.h"
#include "ledger.h"
#include "names.h"
#include "quota.h"
#include "relpath.h"
#include "render.h"
#include "validators.h"

#define PROG		"upgate-quota"
#define EXIT_USAGE	2
#define CELL		80	/* one cell of the report table: a user name fits */

/* Everything a command works on; tool_close releases what it holds. */
struct tool {
	struct config       cfg;
	struct ledger       ledger;
	struct quota_table *table;	/* NULL: no quota_file */
	int                 upload_fd;	/* upload_dir, O_DIRECTORY */
	int                 state_fd;	/* state_dir, RELPATH_DIR_FLAGS */
	int                 root;	/* started as root: see open_state_dir */
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: %s [--config FILE] check\n"
	    "       %s [--config FILE] show USER\n"
	    "       %s [--config FILE] report [--json]\n"
	    "       %s [--config FILE] recount [USER]\n"
	    "       %s [--config FILE] migrate --to URI\n",
	    PROG, PROG, PROG, PROG, PROG);
}

struct printed {
	FILE    *f;
	unsigned n;
};

static void
print_line(void *arg, const char *line)
{
	struct printed *p = arg;

	fprintf(p->f, "%s\n", line);
	p->n++;
}

/*
 * Each problem in d on a line of its own (upgate-quota(8): FILE:LINE: message),
 * and how many more there were than d could hold.
 */
static void
print_diag(const struct diag *d)
{
	struct printed p = { stderr, 0 };

	diag_each(d, print_line, &p);
	if (d->count > p.n)
		fprintf(stderr, "%s: %u more problems not shown\n", PROG,
		    d->count - p.n);
}

/* A name from the command line, with unprintable bytes escaped. */
static void
print_bad_user(const char *user)
{
	struct buf b;

	buf_init(&b);
	buf_add_logsafe(&b, user, strlen(user));
	fprintf(stderr, "%s: not a valid user name: \"%s\"\n", PROG,
	    b.len > 0 ? b.data : "");
	buf_release(&b);
}

static int
gate_ledger_failed(const char *what, enum ledger_err e, int saved_errno)
{
	if (e == LEDGER_IO && saved_errno != 0)
		fprintf(stderr, "%s: %s: %s (%s)\n", PROG, what,
		    ledger_strerror(e), strerror(saved_errno));
	else
		fprintf(stderr, "%s: %s: %s\n", PROG, what, ledger_strerror(e));
	return 1;
}

/*
 * Run as root, the tool would create ledger files that the gate, running
 * as the web server's user, can no longer read or replace; and whoever
 * owns state_dir could make it write, as root, wherever a link they
 * planted points.  So root becomes the owner of what it opened (st):
 * that user, their primary group (or the folder's group when they have
 * no passwd entry) and their supplementary groups.  A folder of root's
 * leaves it root; the root group is never kept for another user.  Once
 * the tool is that owner, it checks that a folder it opens later is
 * still theirs.  Returns 0, or -1 with the problem in d.
 */
static int
become_owner(struct tool *t, const struct stat *st, const char *what,
    const char *dir, struct diag *d)
{
	struct passwd *pw;
	gid_t          gid = st->st_gid;
	int            r;

	if (!t->root || st->st_uid == geteuid())
		return 0;
	if (geteuid() != 0) {
		diag_add(d, t->cfg.path, 0, "%s %s: owned by uid %lu, not by "
		    "uid %lu, the owner of upload_dir", what, dir,
		    (unsigned long)st->st_uid, (unsigned long)geteuid());
		return -1;
	}
	if ((pw = getpwuid(st->st_uid)) != NULL)
		gid = pw->pw_gid;
	if (gid == 0) {
		diag_add(d, t->cfg.path, 0, "%s %s: uid %lu, its owner, has no "
		    "group but root's", what, dir, (unsigned long)st->st_uid);
		return -1;
	}
	if (pw != NULL)
		r = initgroups(pw->pw_name, gid);
	else
		r = setgroups(1, &gid);
	if (r == -1 || setgid(gid) == -1 || setuid(st->st_uid) == -1) {
		diag_add(d, t->cfg.path, 0, "%s %s: cannot become uid %lu, its "
		    "owner: %s", what, dir, (unsigned long)st->st_uid,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Why state_dir did not open (errno), in d; a link is named as such. */
static void
state_dir_failed(const struct tool *t, struct diag *d)
{
	struct stat st;
	int         e = errno;

	/* O_NOFOLLOW | O_DIRECTORY: ENOTDIR or ELOOP for a link */
	if ((e == ENOTDIR || e == ELOOP) &&
	    lstat(t->cfg.state_dir, &st) == 0 && S_ISLNK(st.st_mode))
		diag_add(d, t->cfg.path, 0, "state_dir %s: a symbolic link, "
		    "which is not followed", t->cfg.state_dir);
	else
		diag_add(d, t->cfg.path, 0, "state_dir %s: %s",
		    t->cfg.state_dir, strerror(e));
}

/*
 * Opens state_dir into t->state_fd without following a link at its last
 * component, and, run as root, becomes its owner before anything in it
 * is read or written (upgate-quota(8)).  While it does not exist, root becomes
 * the owner of upload_dir (opened already) and creates it as that user.
 * Every later access goes through the descriptor, so a state_dir swapped
 * for a link meanwhile is never followed.  -1 with the problem in d.
 */
static int
open_state_dir(struct tool *t, struct diag *d)
{
	const char *dir = t->cfg.state_dir;
	struct stat st;

	t->state_fd = open(dir, RELPATH_DIR_FLAGS);
	if (t->state_fd == -1 && errno == ENOENT) {
		if (t->upload_fd == -1)
			return -1;	/* open_upload_dir said why */
		if (fstat(t->upload_fd, &st) == -1)
			goto fail;
		if (become_owner(t, &st, "upload_dir", t->cfg.upload_dir,
		    d) == -1)
			return -1;
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			goto fail;
		t->state_fd = open(dir, RELPATH_DIR_FLAGS);
	}
	if (t->state_fd == -1 || fstat(t->state_fd, &st) == -1)
		goto fail;
	return become_owner(t, &st, "state_dir", dir, d);
fail:
	state_dir_failed(t, d);
	return -1;
}

/*
 * The database refused to create the tables for want of a right
 * (SQLSTATE 42501, insufficient_privilege, in the cause ledger_pg
 * writes): the operator needs to know which grant fixes it, not only
 * that it failed.  PostgreSQL 15 grants no CREATE on schema public.
 */
static int
missing_right(const char *cause)
{
	return strstr(cause, ":schema:42501") != NULL;
}

/*
 * Opens l on state_fd (state_dir) and uri (NULL: the files ledger), the
 * problem in d on failure.  Never prints the URI: it may hold a password.
 */
static int
open_ledger(struct ledger *l, const struct config *cfg, int state_fd,
    const char *uri, struct diag *d)
{
	struct ledger_config lc = { cfg->state_dir, uri, cfg->sync, 0 };
	enum ledger_err      e;

	if ((e = ledger_open_at(l, state_fd, &lc)) == LEDGER_OK)
		return 0;
	if (uri == NULL)
		diag_add(d, cfg->path, 0, "the files ledger (state_dir %s): "
		    "cannot open or create: %s (%s)", cfg->state_dir,
		    ledger_strerror(e), l->cause);
	else if (e == LEDGER_DOWN)
		diag_add(d, cfg->path, 0, "the postgresql ledger: the database "
		    "cannot be reached (%s)", l->cause);
	else if (missing_right(l->cause))
		diag_add(d, cfg->path, 0, "the postgresql ledger: cannot create "
		    "its tables (%s): the role needs the CREATE right on the "
		    "schema it uses (GRANT CREATE ON SCHEMA), or to own the "
		    "database", l->cause);
	else
		diag_add(d, cfg->path, 0, "the postgresql ledger (state_dir %s): "
		    "cannot open or create: %s (%s)", cfg->state_dir,
		    ledger_strerror(e), l->cause);
	return -1;
}

static int
open_state(struct tool *t, struct diag *d)
{
	return open_ledger(&t->ledger, &t->cfg, t->state_fd,
	    t->cfg.ledger_uri, d);
}

static int
open_upload_dir(struct tool *t, struct diag *d)
{
	t->upload_fd = open(t->cfg.upload_dir,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->upload_fd == -1) {
		diag_add(d, t->cfg.path, 0, "upload_dir %s: %s",
		    t->cfg.upload_dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
open_table(struct tool *t, struct diag *d)
{
	if (t->cfg.quota_file == NULL)
		return 0;
	return quota_table_open(&t->table, t->cfg.quota_file,
	    t->ledger.state_fd, d);
}

static void
tool_init(struct tool *t)
{
	memset(t, 0, sizeof *t);
	ledger_init(&t->ledger);
	t->upload_fd = -1;
	t->state_fd = -1;
	t->root = geteuid() == 0;
}

static void
tool_close(struct tool *t)
{
	quota_table_free(t->table);
	t->table = NULL;
	if (t->upload_fd != -1)
		close(t->upload_fd);
	t->upload_fd = -1;
	ledger_close(&t->ledger);
	if (t->state_fd != -1)
		close(t->state_fd);
	t->state_fd = -1;
	config_release(&t->cfg);
}

/* Loads the configuration (upgate.conf(5), Keys order) into t->cfg; -1 on problems. */
static int
load_config(struct tool *t, const char *option, struct diag *d)
{
	const char *path;

	path = config_path(option, getenv("UPGATE_CONFIG"));
	if (config_load(path, &t->cfg, d) == -1) {
		memset(&t->cfg, 0, sizeof t->cfg);
		return -1;
	}
	return 0;
}

/*
 * Opens what show, report and recount need.  Prints the problems and
 * returns -1 on failure; t is then ready for tool_close either way.
 */
static int
tool_open(struct tool *t, const char *option)
{
	struct diag d;

	diag_init(&d);
	if (load_config(t, option, &d) == -1 ||
	    open_upload_dir(t, &d) == -1 ||
	    open_state_dir(t, &d) == -1 ||
	    open_state(t, &d) == -1 ||
	    open_table(t, &d) == -1) {
		print_diag(&d);
		return -1;
	}
	return 0;
}

/* user's lock of l, or every lock when user is NULL. */
static int
lock_ledger(struct ledger *l, const char *user)
{
	enum ledger_err e;

	errno = 0;
	e = user != NULL ?
	    ledger_lock_user(l, user, LEDGER_LOCK_TIMEOUT_MS) :
	    ledger_lock_all(l, LEDGER_LOCK_TIMEOUT_MS);
	if (e == LEDGER_BUSY) {
		fprintf(stderr, "%s: the ledger is busy, try again\n", PROG);
		return -1;
	}
	if (e != LEDGER_OK) {
		gate_ledger_failed("the ledger lock", e, errno);
		return -1;
	}
	return 0;
}

static int
tool_lock(struct tool *t, const char *user)
{
	return lock_ledger(&t->ledger, user);
}

/* The quota file's text (freed by the caller), or NULL with d told why. */
static char *
read_file(const char *path, size_t *len, struct diag *d)
{
	struct stat st;
	char       *text = NULL;
	int         fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		diag_add(d, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		diag_add(d, path, 0, "not a regular file");
	else if (read_whole(fd, QUOTA_TABLE_MAX, &text, len) == -1)
		diag_add(d, path, 0, "cannot read: %s", strerror(errno));
	close(fd);
	return text;
}

/*
 * Without a usable state_dir there is no index to build: the table is
 * still checked, straight from its text, so that check reports every
 * problem at once.
 */
static void
check_table_text(const char *path, struct diag *d)
{
	char  *text;
	size_t len;

	if ((text = read_file(path, &len, d)) != NULL) {
		quota_table_free(quota_table_parse(text, len, path, d));
		free(text);
	}
}

/*
 * notify_command, when set, names a program that can be run: a regular
 * file with execute permission for this process (upgate.conf(5),
 * notify_command).  At run time a failure to start it is only logged, so
 * check is where an operator learns of a typing mistake.
 */
static void
check_notify(const struct config *cfg, struct diag *d)
{
	const char *cmd = cfg->notify_command;
	struct stat st;

	if (cmd == NULL)
		return;
	if (stat(cmd, &st) == -1)
		diag_add(d, cfg->path, 0, "notify_command %s: %s", cmd,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode))
		diag_add(d, cfg->path, 0, "notify_command %s: not a regular "
		    "file", cmd);
	else if (access(cmd, X_OK) == -1)
		diag_add(d, cfg->path, 0, "notify_command %s: not executable "
		    "(%s)", cmd, strerror(errno));
}

static int
cmd_check(const char *option)
{
	struct tool t;
	struct diag d;

	tool_init(&t);
	diag_init(&d);
	if (load_config(&t, option, &d) == -1)
		goto done;
	check_notify(&t.cfg, &d);
	(void)open_upload_dir(&t, &d);
	if (open_state_dir(&t, &d) == 0 && open_state(&t, &d) == 0)
		(void)open_table(&t, &d);
	else if (t.cfg.quota_file != NULL)
		check_table_text(t.cfg.quota_file, &d);
	if (d.count == 0 && tool_lock(&t, NULL) == -1) {
		tool_close(&t);
		return 1;
	}
done:
	tool_close(&t);
	print_diag(&d);
	return d.count == 0 ? 0 : 1;
}

/*
 * Removes the reservations (and temporary files) of dead handlers, of
 * user or of everyone (NULL), so that reserved counts live uploads only.
 */
static int
reclaim(struct tool *t, const char *user)
{
	enum ledger_err e;

	errno = 0;
	e = ledger_reclaim(&t->ledger, user, t->upload_fd, NULL, NULL);
	if (e != LEDGER_OK)
		return gate_ledger_failed("reclaiming reservations", e, errno);
	return 0;
}

/*
 * A quota index found damaged by a lookup (cut or rewritten by another
 * program) is compiled anew from the table, as the gate does; the
 * problem is printed.  0, or 1 when the table cannot be read either.
 */
static int
table_reread(struct tool *t, int err)
{
	struct diag d;

	diag_init(&d);
	diag_add(&d, t->cfg.state_dir, 0, "quota.idx: cannot be read (%s); "
	    "compiled again from %s", strerror(err), t->cfg.quota_file);
	if (quota_table_rebuild(&t->table, t->cfg.quota_file,
	    t->ledger.state_fd, &d) == -1) {
		print_diag(&d);
		return 1;
	}
	print_diag(&d);
	return 0;
}

/* The limit of user into *limit; 0, or 1 with the problem printed. */
static int
user_limit(struct tool *t, const char *user, int64_t *limit)
{
	struct quota_rule r = quota_lookup(t->table, user);

	if (r.error != 0 && table_reread(t, r.error) != 0)
		return 1;
	if (r.error != 0 && (r = quota_lookup(t->table, user)).error != 0)
		return 1;	/* a parsed table is never read again */
	*limit = r.limit;
	return 0;
}

/* The figures of user; the lock is held. */
static int
user_figures(struct tool *t, const char *user, struct quota_figures *q)
{
	struct usage    u;
	enum ledger_err e;

	errno = 0;
	if ((e = ledger_usage(&t->ledger, user, &u)) != LEDGER_OK)
		return gate_ledger_failed(user, e, errno);
	if (user_limit(t, user, &q->limit) != 0)
		return 1;
	q->used = u.used;
	q->reserved = u.reserved;
	return 0;
}

static int64_t
available(const struct quota_figures *q)
{
	if (q->limit == QUOTA_UNLIMITED)
		return QUOTA_UNLIMITED;
	return decide_quota_left(q->limit, q->used, q->reserved);
}

/* "10.0 MiB (10485760 bytes)", or "512 bytes" where both say the same. */
static void
show_size(const char *label, int64_t bytes)
{
	char h[CELL];

	if (bytes == QUOTA_UNLIMITED) {
		printf("%s: unlimited\n", label);
		return;
	}
	render_human_size(bytes, h, sizeof h);
	if (bytes < 1024)
		printf("%s: %s\n", label, h);
	else
		printf("%s: %s (%jd bytes)\n", label, h, (intmax_t)bytes);
}

/*
 * An unfinished resumable upload of the user's, whose lease counts in
 * reserved: a line each (upgate-quota(8), show).
 */
static int
show_upload(void *arg, const struct upload *u)
{
	char date[HTTP_DATE_SIZE];

	(void)arg;
	if (u->finished)
		return 0;
	http_date((time_t)u->expires, date, sizeof date);
	printf("upload: %s %s%s%s %jd of %jd bytes, expires %s\n", u->id,
	    u->folder, u->folder[0] != '\0' ? "/" : "", u->name,
	    (intmax_t)u->offset, (intmax_t)u->length, date);
	return 0;
}

static int
cmd_show(struct tool *t, const char *user)
{
	struct quota_figures q;
	int                  r;

	if (tool_lock(t, user) == -1)
		return 1;
	r = reclaim(t, user);
	if (r == 0)
		r = user_figures(t, user, &q);
	ledger_unlock(&t->ledger);
	if (r != 0)
		return 1;
	printf("user: %s\n", user);
	show_size("limit", q.limit);
	show_size("used", q.used);
	show_size("reserved", q.reserved);
	show_size("available", available(&q));
	if (q.limit == QUOTA_UNLIMITED)
		printf("percentage: -\n");
	else
		printf("percentage: %.1f%%\n", render_percentage_used(&q));
	return ledger_each_upload(&t->ledger, user, show_upload, NULL) ==
	    LEDGER_OK ? 0 : 1;
}

/* ---- report ---- */

struct row {
	char                *user;	/* owned */
	struct quota_figures q;
	double               pct;	/* meaningless when unlimited */
};

struct rows {
	struct row *v;
	size_t      n, cap;
	int         failed;
};

static void
rows_add(void *arg, const char *user)
{
	struct rows *rs = arg;
	struct row  *v;
	size_t       cap;

	if (rs->failed || strcmp(user, "*") == 0 || !names_user_valid(user))
		return;
	if (rs->n == rs->cap) {
		cap = rs->cap == 0 ? 64 : rs->cap * 2;
		if ((v = realloc(rs->v, cap * sizeof *v)) == NULL)
			goto fail;
		rs->v = v;
		rs->cap = cap;
	}
	memset(&rs->v[rs->n], 0, sizeof rs->v[rs->n]);
	if ((rs->v[rs->n].user = strdup(user)) == NULL)
		goto fail;
	rs->n++;
	return;
fail:
	rs->failed = 1;
}

static void
rows_free(struct rows *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i].user);
	free(rs->v);
	memset(rs, 0, sizeof *rs);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->user,
	    ((const struct row *)b)->user);
}

/* Highest percentage first, unlimited users last, ties by name (upgate-quota(8)). */
static int
by_percentage(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int               xu = x->q.limit == QUOTA_UNLIMITED;
	int               yu = y->q.limit == QUOTA_UNLIMITED;

	if (xu != yu)
		return xu - yu;
	if (!xu && x->pct != y->pct)
		return x->pct > y->pct ? -1 : 1;
	return strcmp(x->user, y->user);
}

/* Sorts by name and drops the names listed twice (table and ledger). */
static void
rows_unique(struct rows *rs)
{
	size_t i, n = 0;

	if (rs->n > 1)
		qsort(rs->v, rs->n, sizeof rs->v[0], by_name);
	for (i = 0; i < rs->n; i++) {
		if (n > 0 && strcmp(rs->v[n - 1].user, rs->v[i].user) == 0) {
			free(rs->v[i].user);
			continue;
		}
		rs->v[n++] = rs->v[i];
	}
	rs->n = n;
}

/* Every known user: named in the table, or with a usage file. */
static int
collect_users(struct tool *t, struct rows *rs)
{
	enum ledger_err e;
	const char     *name;
	size_t          i, n;

	n = quota_table_count(t->table);
	for (i = 0; i < n; i++) {
		if ((name = quota_table_user(t->table, i)) == NULL) {
			if (table_reread(t, errno) != 0)
				return 1;
			/* the names again, from the table now parsed */
			n = quota_table_count(t->table);
			i = (size_t)-1;
			continue;
		}
		rows_add(rs, name);
	}
	errno = 0;
	if ((e = ledger_each_user(&t->ledger, rows_add, rs)) != LEDGER_OK)
		return gate_ledger_failed("listing the ledger", e, errno);
	if (rs->failed) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 1;
	}
	rows_unique(rs);
	return 0;
}

/* Collects and measures every user under the lock, then sorts. */
static int
report_rows(struct tool *t, struct rows *rs)
{
	size_t i;
	int    r;

	if (tool_lock(t, NULL) == -1)
		return 1;
	r = reclaim(t, NULL);
	if (r == 0)
		r = collect_users(t, rs);
	for (i = 0; r == 0 && i < rs->n; i++)
		r = user_figures(t, rs->v[i].user, &rs->v[i].q);
	ledger_unlock(&t->ledger);
	if (r != 0)
		return 1;
	for (i = 0; i < rs->n; i++)
		if (rs->v[i].q.limit != QUOTA_UNLIMITED)
			rs->v[i].pct = render_percentage_used(&rs->v[i].q);
	if (rs->n > 1)
		qsort(rs->v, rs->n, sizeof rs->v[0], by_percentage);
	return 0;
}

/* "full" from 100 %, "90%", "80%", or NULL below 80 % and unlimited. */
static const char *
row_flag(const struct row *r)
{
	if (r->q.limit == QUOTA_UNLIMITED || r->pct < 80.0)
		return NULL;
	if (r->pct >= 100.0)
		return "full";
	return r->pct >= 90.0 ? "90%" : "80%";
}

enum column { COL_USER, COL_LIMIT, COL_USED, COL_RESERVED, COL_AVAILABLE,
	COL_PERCENT, COL_FLAG, COL__MAX };

static const char *const column_title[COL__MAX] = {
	"USER", "LIMIT", "USED", "RESERVED", "AVAILABLE", "USED%", "FLAG"
};

static void
size_cell(int64_t bytes, char *cell)
{
	if (bytes == QUOTA_UNLIMITED)
		snprintf(cell, CELL, "unlimited");
	else
		render_human_size(bytes, cell, CELL);
}

static void
row_cells(const struct row *r, char cells[COL__MAX][CELL])
{
	const char *flag = row_flag(r);

	snprintf(cells[COL_USER], CELL, "%s", r->user);
	size_cell(r->q.limit, cells[COL_LIMIT]);
	size_cell(r->q.used, cells[COL_USED]);
	size_cell(r->q.reserved, cells[COL_RESERVED]);
	size_cell(available(&r->q), cells[COL_AVAILABLE]);
	if (r->q.limit == QUOTA_UNLIMITED)
		snprintf(cells[COL_PERCENT], CELL, "-");
	else
		snprintf(cells[COL_PERCENT], CELL, "%.1f%%", r->pct);
	snprintf(cells[COL_FLAG], CELL, "%s", flag != NULL ? flag : "-");
}

/* USER is left-aligned, the figures right-aligned, FLAG last. */
static void
print_cells(const char *const cells[COL__MAX], const int width[COL__MAX])
{
	int c;

	printf("%-*s", width[COL_USER], cells[COL_USER]);
	for (c = COL_LIMIT; c < COL_FLAG; c++)
		printf("  %*s", width[c], cells[c]);
	printf("  %s\n", cells[COL_FLAG]);
}

static void
print_row(const struct row *r, const int width[COL__MAX])
{
	char        cells[COL__MAX][CELL];
	const char *p[COL__MAX];
	int         c;

	row_cells(r, cells);
	for (c = 0; c < COL__MAX; c++)
		p[c] = cells[c];
	print_cells(p, width);
}

static void
report_text(const struct rows *rs)
{
	char   cells[COL__MAX][CELL];
	int    width[COL__MAX], c, w;
	size_t i;

	for (c = 0; c < COL__MAX; c++)
		width[c] = (int)strlen(column_title[c]);
	for (i = 0; i < rs->n; i++) {
		row_cells(&rs->v[i], cells);
		for (c = 0; c < COL__MAX; c++)
			if ((w = (int)strlen(cells[c])) > width[c])
				width[c] = w;
	}
	print_cells(column_title, width);
	for (i = 0; i < rs->n; i++)
		print_row(&rs->v[i], width);
}

/* A byte figure, or null (the object takes NULL as JSON null). */
static struct json_object *
json_size(int64_t bytes)
{
	if (bytes == QUOTA_UNLIMITED)
		return NULL;
	return json_object_new_int64(bytes);
}

static struct json_object *
json_percentage(const struct row *r)
{
	char s[32];

	if (r->q.limit == QUOTA_UNLIMITED)
		return NULL;
	snprintf(s, sizeof s, "%.1f", r->pct);
	return json_object_new_double_s(r->pct, s);
}

/* Returns a new object owned by the caller (json_object_put). */
static struct json_object *
json_row(const struct row *r)
{
	struct json_object *o;
	const char         *flag = row_flag(r);

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "user", json_object_new_string(r->user));
	json_object_object_add(o, "limit", json_size(r->q.limit));
	json_object_object_add(o, "used", json_object_new_int64(r->q.used));
	json_object_object_add(o, "reserved",
	    json_object_new_int64(r->q.reserved));
	json_object_object_add(o, "available", json_size(available(&r->q)));
	json_object_object_add(o, "percentage_used", json_percentage(r));
	json_object_object_add(o, "flag",
	    flag != NULL ? json_object_new_string(flag) : NULL);
	return o;
}

static int
report_json(const struct rows *rs)
{
	struct json_object *root, *users, *row;
	size_t              i;
	int                 r = 1;

	root = json_object_new_object();
	users = json_object_new_array();
	if (root == NULL || users == NULL) {
		json_object_put(users);
		goto done;
	}
	json_object_object_add(root, "users", users);
	for (i = 0; i < rs->n; i++) {
		if ((row = json_row(&rs->v[i])) == NULL)
			goto done;
		if (json_object_array_add(users, row) == -1) {
			json_object_put(row);
			goto done;
		}
	}
	printf("%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	r = 0;
done:
	if (r != 0)
		fprintf(stderr, "%s: out of memory\n", PROG);
	json_object_put(root);
	return r;
}

static int
cmd_report(struct tool *t, int json)
{
	struct rows rs;
	int         r;

	memset(&rs, 0, sizeof rs);
	r = report_rows(t, &rs);
	if (r == 0 && json)
		r = report_json(&rs);
	else if (r == 0)
		report_text(&rs);
	rows_free(&rs);
	return r;
}

/* ---- recount ---- */

/* What recount changed for one user; several entries may name one user. */
struct change {
	char    user[USER_NAME_MAX + 1];
	int     has_used;
	int64_t old_used, new_used;
	int64_t reclaimed;	/* bytes of dead reservations */
};

struct changes {
	struct change *v;
	size_t         n, cap;
	int            failed;
};

static struct change *
changes_add(struct changes *cs, const char *user)
{
	struct change *v;
	size_t         cap;

	if (cs->failed)
		return NULL;
	if (cs->n == cs->cap) {
		cap = cs->cap == 0 ? 16 : cs->cap * 2;
		if ((v = realloc(cs->v, cap * sizeof *v)) == NULL) {
			cs->failed = 1;
			return NULL;
		}
		cs->v = v;
		cs->cap = cap;
	}
	v = &cs->v[cs->n++];
	memset(v, 0, sizeof *v);
	snprintf(v->user, sizeof v->user, "%s", user);
	return v;
}

static void
on_reclaim(void *arg, const char *user, int64_t bytes)
{
	struct change *c = changes_add(arg, user);

	if (c != NULL)
		c->reclaimed = bytes;
}

static void
on_recount(void *arg, const char *user, int64_t old_used, int64_t new_used)
{
	struct change *c = changes_add(arg, user);

	if (c != NULL) {
		c->has_used = 1;
		c->old_used = old_used;
		c->new_used = new_used;
	}
}

static int
by_user(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->user,
	    ((const struct change *)b)->user);
}

/*
 * One line per user (upgate-quota(8)), the figures that changed:
 *   alice: used 1048576 -> 524288
 *   alice: used 1048576 -> 524288, reclaimed 4096 reserved
 *   alice: reclaimed 4096 reserved
 */
static void
print_change(const struct change *m)
{
	printf("%s: ", m->user);
	if (m->has_used)
		printf("used %jd -> %jd%s", (intmax_t)m->old_used,
		    (intmax_t)m->new_used, m->reclaimed > 0 ? ", " : "");
	if (m->reclaimed > 0)
		printf("reclaimed %jd reserved", (intmax_t)m->reclaimed);
	printf("\n");
}

/* Sorts by name and merges the entries of one user, then prints. */
static void
print_changes(struct changes *cs)
{
	struct change m;
	size_t        i, j;

	if (cs->n > 1)
		qsort(cs->v, cs->n, sizeof cs->v[0], by_user);
	for (i = 0; i < cs->n; i = j) {
		m = cs->v[i];
		m.has_used = 0;
		m.reclaimed = 0;
		for (j = i; j < cs->n && by_user(&cs->v[i], &cs->v[j]) == 0;
		    j++) {
			m.reclaimed += cs->v[j].reclaimed;
			if (!cs->v[j].has_used)
				continue;
			m.has_used = 1;
			m.old_used = cs->v[j].old_used;
			m.new_used = cs->v[j].new_used;
		}
		if (m.has_used || m.reclaimed > 0)	/* a torn resv: 0 */
			print_change(&m);
	}
}

static int
cmd_recount(struct tool *t, const char *user)
{
	struct changes  cs;
	enum ledger_err e;
	int             r = 0;

	memset(&cs, 0, sizeof cs);
	if (tool_lock(t, NULL) == -1)
		return 1;
	/* reclaimed first, so that the bytes can be reported */
	errno = 0;
	e = ledger_reclaim(&t->ledger, user, t->upload_fd, on_reclaim, &cs);
	if (e != LEDGER_OK)
		r = gate_ledger_failed("reclaiming reservations", e, errno);
	errno = 0;
	if (r == 0 && (e = ledger_recount(&t->ledger, t->upload_fd,
	    t->cfg.per_user_dirs, user, on_recount, &cs)) != LEDGER_OK)
		r = gate_ledger_failed("recount", e, errno);
	ledger_unlock(&t->ledger);
	if (cs.failed) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		r = 1;
	}
	if (r == 0)
		print_changes(&cs);
	free(cs.v);
	return r;
}

/* ---- migrate ---- */

/* The target database's ledger, beside the files ledger in t. */
struct migration {
	struct tool  *t;
	struct ledger dst;
	size_t        users, records;
	size_t        torn;	/* unreadable records, not copied */
	int           failed;	/* a record_put failed: dst's cause says why */
};

/* A failure of ledger l, with the cause the backend wrote. */
static int
migrate_failed(const struct ledger *l, const char *what, enum ledger_err e)
{
	fprintf(stderr, "%s: %s: %s (%s)\n", PROG, what, ledger_strerror(e),
	    l->cause[0] != '\0' ? l->cause : "no cause");
	return 1;
}

/*
 * What migrate opens: the files ledger of the configuration (and
 * upload_dir, for the reclaim), as the owner of state_dir.  The quota
 * table plays no part: a broken one must not stop a migration.
 */
static int
migrate_open(struct tool *t, const char *option)
{
	struct diag d;

	diag_init(&d);
	if (load_config(t, option, &d) == -1)
		goto fail;
	if (t->cfg.ledger_uri != NULL) {
		fprintf(stderr, "%s: %s: the ledger is already a database; "
		    "migrate copies a files ledger\n", PROG, t->cfg.path);
		return -1;
	}
	if (open_upload_dir(t, &d) == -1 ||
	    open_state_dir(t, &d) == -1 ||
	    open_state(t, &d) == -1)
		goto fail;
	return 0;
fail:
	print_diag(&d);
	return -1;
}

static void
count_user(void *arg, const char *user)
{
	(void)user;
	(*(size_t *)arg)++;
}

static int
any_record(void *arg, const char *rel, const struct record *rec)
{
	(void)rel;
	(void)rec;
	*(size_t *)arg = 1;
	return 1;	/* one is enough */
}

/*
 * A database that already holds usage or records is a ledger in use
 * (or a migration done before): merging into it would count files
 * twice.  Checked under the target's lock_all, so that two migrations
 * into one database cannot both find it empty.
 */
static int
target_empty(struct ledger *dst)
{
	enum ledger_err e;
	size_t          users = 0, records = 0;

	if ((e = ledger_each_user(dst, count_user, &users)) != LEDGER_OK ||
	    (e = ledger_each_record(dst, NULL, any_record, &records)) !=
	    LEDGER_OK)
		return migrate_failed(dst, "reading the database", e);
	if (users > 0 || records > 0) {
		fprintf(stderr, "%s: the database already holds a ledger "
		    "(usage or file records): nothing copied\n", PROG);
		return 1;
	}
	return 0;
}

/* Each user's used, as the files ledger has it after the reclaim. */
static int
copy_usage(struct migration *m)
{
	struct rows     rs;
	struct usage    u;
	enum ledger_err e = LEDGER_OK;
	size_t          i;
	int             r = 0;

	memset(&rs, 0, sizeof rs);
	errno = 0;
	if ((e = ledger_each_user(&m->t->ledger, rows_add, &rs)) != LEDGER_OK)
		r = gate_ledger_failed("listing the ledger", e, errno);
	else if (rs.failed) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		r = 1;
	}
	for (i = 0; r == 0 && i < rs.n; i++) {
		errno = 0;
		if ((e = ledger_usage(&m->t->ledger, rs.v[i].user, &u)) !=
		    LEDGER_OK)
			r = gate_ledger_failed(rs.v[i].user, e, errno);
		else if ((e = ledger_set_used(&m->dst, rs.v[i].user, u.used)) !=
		    LEDGER_OK)
			r = migrate_failed(&m->dst, "writing usage", e);
		else
			m->users++;
	}
	rows_free(&rs);
	return r;
}

/*
 * A torn record (no owner) cannot be stored as it is; the usage that
 * counts its file is copied all the same, so leaving it out can only
 * over-count a replacement, and recount on the database mends it.
 */
static int
copy_record(void *arg, const char *rel, const struct record *rec)
{
	struct migration *m = arg;

	if (rec->owner[0] == '\0' || rec->size < 0) {
		m->torn++;
		return 0;
	}
	if (ledger_record_put(&m->dst, rel, rec) != LEDGER_OK) {
		m->failed = 1;
		return -1;
	}
	m->records++;
	return 0;
}

static int
copy_records(struct migration *m)
{
	enum ledger_err e;

	errno = 0;
	e = ledger_each_record(&m->t->ledger, NULL, copy_record, m);
	if (m->failed)
		return migrate_failed(&m->dst, "writing a record",
		    e != LEDGER_OK ? e : LEDGER_IO);
	if (e != LEDGER_OK)
		return gate_ledger_failed("reading the records", e, errno);
	if (m->torn > 0)
		fprintf(stderr, "%s: %zu unreadable records not copied; run "
		    "recount once the configuration names the database\n",
		    PROG, m->torn);
	return 0;
}

/*
 * The copy proper, both ledgers locked: dead reservations go first (so
 * that their temporary files do not outlive the ledger that names
 * them); live ones are left behind, their uploads finish on the files
 * ledger.
 */
static int
migrate_copy(struct migration *m)
{
	enum ledger_err e;
	int             r;

	if ((r = target_empty(&m->dst)) != 0 ||
	    (r = reclaim(m->t, NULL)) != 0 ||
	    (r = copy_usage(m)) != 0 ||
	    (r = copy_records(m)) != 0)
		return r;
	if ((e = ledger_flush(&m->dst)) != LEDGER_OK)
		return migrate_failed(&m->dst, "flushing the database", e);
	return 0;
}

/*
 * The files ledger's lock over everything first, so that no upload
 * changes it while it is copied; then the database's, so that no gate
 * already pointed at the database writes into it meanwhile.
 */
static int
cmd_migrate(const char *option, const char *uri)
{
	struct tool      t;
	struct migration m;
	struct diag      d;
	int              r = 1;

	tool_init(&t);
	memset(&m, 0, sizeof m);
	m.t = &t;
	ledger_init(&m.dst);
	diag_init(&d);
	if (migrate_open(&t, option) == -1)
		goto done;
	if (open_ledger(&m.dst, &t.cfg, t.state_fd, uri, &d) == -1) {
		print_diag(&d);
		goto done;
	}
	if (lock_ledger(&t.ledger, NULL) == -1)
		goto done;
	if (lock_ledger(&m.dst, NULL) == 0) {
		r = migrate_copy(&m);
		ledger_unlock(&m.dst);
	}
	ledger_unlock(&t.ledger);
	if (r == 0)
		printf("copied %zu users and %zu records into the database\n",
		    m.users, m.records);
done:
	ledger_close(&m.dst);
	tool_close(&t);
	return r;
}

/* ---- main ---- */

enum command { CMD_CHECK, CMD_SHOW, CMD_REPORT, CMD_RECOUNT, CMD_MIGRATE,
	CMD__MAX };

/* A command line, checked before anything is opened. */
struct args {
	const char  *config;	/* --config, or NULL */
	enum command cmd;
	const char  *user;	/* show, recount; NULL: none */
	int          json;	/* report --json */
	const char  *to;	/* migrate --to URI */
	int          help;
};

static const struct {
	const char *name;
	int         min, max;	/* operands after the command */
} commands[CMD__MAX] = {
	[CMD_CHECK] = { "check", 0, 0 },
	[CMD_SHOW] = { "show", 1, 1 },
	[CMD_REPORT] = { "report", 0, 1 },
	[CMD_RECOUNT] = { "recount", 0, 1 },
	[CMD_MIGRATE] = { "migrate", 1, 2 },	/* --to URI, --to=URI */
};

/* Options before the command; returns the index of the command or -1. */
static int
parse_options(int argc, char *argv[], struct args *a)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			a->help = 1;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			a->config = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			a->config = argv[++i];
		else
			return -1;
	}
	if (a->config != NULL && a->config[0] == '\0')
		return -1;
	return i;
}

/* migrate's operands: "--to URI" or "--to=URI", a database's URI. */
static int
parse_migrate(int n, char *argv[], struct args *a)
{
	if (n == 2 && strcmp(argv[0], "--to") == 0)
		a->to = argv[1];
	else if (n == 1 && strncmp(argv[0], "--to=", 5) == 0)
		a->to = argv[0] + 5;
	else
		return -1;
	if (!config_uri_valid(a->to)) {
		fprintf(stderr, "%s: migrate --to: not a postgresql:// or "
		    "postgres:// URI\n", PROG);
		return -1;
	}
	return 0;
}

static int
parse_command(int argc, char *argv[], int i, struct args *a)
{
	int c, n;

	if (i >= argc)
		return -1;
	for (c = 0; c < CMD__MAX; c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			break;
	if (c == CMD__MAX)
		return -1;
	a->cmd = (enum command)c;
	n = argc - i - 1;
	if (n < commands[c].min || n > commands[c].max)
		return -1;
	if (a->cmd == CMD_MIGRATE)
		return parse_migrate(n, argv + i + 1, a);
	if (a->cmd == CMD_REPORT && n == 1) {
		if (strcmp(argv[i + 1], "--json") != 0)
			return -1;
		a->json = 1;
	} else if (n == 1) {
		if (argv[i + 1][0] == '-')	/* an option: no name starts so */
			return -1;
		a->user = argv[i + 1];
	}
	return 0;
}

static int
run(const struct args *a)
{
	struct tool t;
	int         r = 1;

	if (a->cmd == CMD_CHECK)
		return cmd_check(a->config);
	if (a->cmd == CMD_MIGRATE)
		return cmd_migrate(a->config, a->to);
	if (a->user != NULL && !names_user_valid(a->user)) {
		print_bad_user(a->user);
		return 1;
	}
	tool_init(&t);
	if (tool_open(&t, a->config) == 0) {
		if (a->cmd == CMD_SHOW)
			r = cmd_show(&t, a->user);
		else if (a->cmd == CMD_REPORT)
			r = cmd_report(&t, a->json);
		else
			r = cmd_recount(&t, a->user);
	}
	tool_close(&t);
	return r;
}

int
main(int argc, char *argv[])
{
	struct args a;
	int         i;

	memset(&a, 0, sizeof a);
	i = parse_options(argc, argv, &a);
	if (a.help) {
		usage(stdout);
		return 0;
	}
	if (i == -1 || parse_command(argc, argv, i, &a) == -1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (run(&a) != 0)
		return 1;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: standard output: %s\n", PROG,
		    strerror(errno));
		return 1;
	}
	return 0;
}
