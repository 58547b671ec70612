/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate: one request, in the order of upgate(8), Decisions.  The facts are gathered
 * row by row and decide() is asked after each step, so that a request
 * refused early costs nothing more: no body byte read, no path walked, no
 * lock taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "gate_int.h"
#include "multipart.h"
#include "quota.h"

void
gate_init(struct gate *g, const char *config_path)
{
	memset(g, 0, sizeof *g);
	g->config_path = config_path;
	ledger_init(&g->ledger);
}

void
gate_release(struct gate *g)
{
	ledger_close(&g->ledger);
	if (g->have_cfg)
		config_release(&g->cfg);
	g->have_cfg = 0;
	quota_table_free(g->quota);
	g->quota = NULL;
}

const char *
request_param(const struct request *rq, const char *name)
{
	const char *v = rq->io->param(rq->io->ctx, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Row 2: (re)reads the configuration when its file changed. */
static int
load_config(struct request *rq)
{
	struct gate *g = rq->g;

	if (rq->config_tried)	/* row 1 read it already */
		return g->have_cfg ? 0 : -1;
	rq->config_tried = 1;

	if (g->have_cfg && !config_changed(&g->cfg))
		return 0;
	ledger_close(&g->ledger);	/* it may name another one now */
	if (g->have_cfg)
		config_release(&g->cfg);
	g->have_cfg = 0;
	if (config_load(g->config_path, &g->cfg, &rq->diag) == -1)
		return -1;
	g->have_cfg = 1;
	return 0;
}

/*
 * Row 2 goes on: the ledger (kept open by the gate) and the quota table.
 * A database that cannot be reached is row 15's, not row 2's: *down.
 */
static int
open_state(struct request *rq, int *down)
{
	const struct config *cfg = &rq->g->cfg;
	struct ledger_config lc = { cfg->state_dir, cfg->ledger_uri, cfg->sync,
	    rq->g->shared };
	enum ledger_err      e;

	*down = 0;
	store_set_sync(cfg->sync);
	if (rq->g->ledger.ops == NULL &&
	    (e = ledger_open(&rq->g->ledger, &lc)) != LEDGER_OK) {
		if ((*down = e == LEDGER_DOWN))
			return -1;
		cause_copy(rq->g->ledger.cause);
		diag_add(&rq->diag, cfg->state_dir, 0,
		    "cannot open the ledger: %s (%s)", ledger_strerror(e),
		    rq->g->ledger.cause);
		return -1;
	}
	rq->ledger = &rq->g->ledger;
	rq->ledger->cause[0] = '\0';	/* this request's, for its log */
	if (cfg->quota_file == NULL)
		return 0;
	return quota_table_open(&rq->g->quota, cfg->quota_file,
	    rq->ledger->state_fd, &rq->diag);
}

static void
copy_policy(struct request *rq)
{
	const struct config *cfg = &rq->g->cfg;

	rq->policy.max_upload_size = cfg->max_upload_size;
	rq->policy.allow_unknown_length = cfg->allow_unknown_length;
	rq->policy.allow_overwrite = cfg->allow_overwrite;
	rq->policy.create_parents = cfg->create_parents;
}

/* Row 3: REMOTE_USER, else anonymous_user; never a client header. */
static void
find_identity(struct request *rq)
{
	const char *user = request_param(rq, "REMOTE_USER");

	if (user == NULL)
		user = rq->g->cfg.anonymous_user;
	rq->facts.known |= KNOW_IDENTITY;
	rq->facts.identity_given = user != NULL;
	rq->facts.identity_ok = user != NULL && names_user_valid(user);
	if (rq->facts.identity_ok)
		rq->user = user;
}

/* Row 7: multipart/form-data with a boundary the parser can use. */
static int
is_form(const char *content_type)
{
	struct mp *probe = malloc(sizeof *probe);	/* 17 KiB: not the stack */
	int        ok;

	ok = probe != NULL && mp_init(probe, content_type) == MP_OK;
	free(probe);
	return ok;
}

/*
 * Rows 4 to 7: CONTENT_LENGTH, or X-Expected-Entity-Length where it is
 * absent (macOS Finder sends it with chunked PUTs); the media type.
 */
static void
find_length(struct request *rq)
{
	rq->length_header = "Content-Length";
	rq->facts.length_text = request_param(rq, "CONTENT_LENGTH");
	if (rq->facts.length_text == NULL) {
		rq->facts.length_text = request_param(rq, "HTTP_X_EXPECTED_ENTITY_LENGTH");
		rq->expected_only = rq->facts.length_text != NULL;
		if (rq->expected_only)
			rq->length_header = "X-Expected-Entity-Length";
	}
	if (rq->facts.method == METHOD_POST)
		rq->facts.multipart_ok = is_form(request_param(rq, "CONTENT_TYPE"));
	/* a WebDAV client that sent XML reads its refusals in XML */
	rq->xml_body = (rq->facts.method == METHOD_PROPFIND ||
	    rq->facts.method == METHOD_PROPPATCH) &&
	    rq->facts.length_text != NULL &&
	    strcmp(rq->facts.length_text, "0") != 0;
}

/* Appends "/comp" to out ("comp" when out is empty); -1 if it won't fit. */
static int
append(char *out, size_t size, const char *comp)
{
	size_t len = strlen(out);
	int    w = snprintf(out + len, size - len, "%s%s", len > 0 ? "/" : "",
	    comp);

	return w < 0 || (size_t)w >= size - len ? -1 : 0;
}

/* The target's folder and (for a file) its path below upload_dir. */
static int
join_rel(struct request *rq)
{
	size_t i, n = rq->path.ncomp, folders = n - (rq->kind == PATH_FILE);

	rq->folder[0] = '\0';
	if (rq->g->cfg.per_user_dirs &&
	    append(rq->folder, sizeof rq->folder, rq->user) == -1)
		return -1;
	for (i = 0; i < folders; i++)
		if (append(rq->folder, sizeof rq->folder, rq->path.comp[i]) == -1)
			return -1;
	if (rq->kind == PATH_FOLDER)
		return 0;
	memcpy(rq->rel, rq->folder, sizeof rq->folder);
	return append(rq->rel, sizeof rq->rel, rq->path.comp[n - 1]);
}

/*
 * upgate(8), "Limits": the whole path of what a request stores (the
 * file and the temporary name it streams under; for a form, and for a
 * folder WebDAV makes, the folder with room for a name of FILE_NAME_MAX
 * bytes) fits in PATH_MAX, so that any program can open it by its name:
 * the web server that serves upload_dir, a backup, the operator's shell.
 * The gate itself would cope, walking one folder at a time.  folder is
 * the length of the folder below upload_dir, last the name's in it.
 */
int
gate_fits_path_max(const struct request *rq, size_t folder, size_t last)
{
	if (last < STORE_TMP_NAME_LEN)
		last = STORE_TMP_NAME_LEN;
	return strlen(rq->g->cfg.upload_dir) + 1 + folder + (folder > 0) +
	    last < PATH_MAX;
}

static int
within_path_max(const struct request *rq)
{
	return gate_fits_path_max(rq, strlen(rq->folder),
	    rq->kind == PATH_FILE ? strlen(rq->path.comp[rq->path.ncomp - 1]) :
	    FILE_NAME_MAX);
}

/*
 * With per_user_dirs, the user's folder; it is made on the first upload,
 * so a missing one means "every folder on the path is missing".
 */
int
open_user_dir(struct request *rq)
{
	if (!rq->g->cfg.per_user_dirs) {
		rq->user_fd = fcntl(rq->upload_fd, F_DUPFD_CLOEXEC, 0);
		if (rq->user_fd == -1)
			cause_note("fcntl");
		return rq->user_fd == -1 ? -1 : 0;
	}
	rq->user_fd = store_open_user_dir(rq->upload_fd, rq->user, 0);
	if (rq->user_fd != -1 || errno == ENOENT)
		return 0;
	if (errno == ELOOP || errno == ENOTDIR) {
		rq->facts.target = errno == ELOOP ?
		    TARGET_SYMLINK : TARGET_NOT_FOLDER;
		return 1;
	}
	cause_note("openat");
	return -1;
}

/* Who stored the target, for per_user_dirs = no and for the charge. */
static enum ledger_err
check_record(struct request *rq)
{
	struct record rec;
	int           r;

	if (rq->facts.target != TARGET_EXISTS)
		return LEDGER_OK;
	r = ledger_record_get(rq->ledger, rq->rel, &rec);
	if (r == -1)
		return rq->ledger->failed;
	if (r == 0 && strcmp(rec.owner, rq->user) == 0)
		rq->facts.recorded = rec.size;
	else if (!rq->g->cfg.per_user_dirs)
		rq->facts.target = TARGET_FOREIGN;	/* someone's, or nobody's */
	return LEDGER_OK;
}

/*
 * Rows 8 and 9 once more, for the file a PUT is about to publish: what
 * is at its name now, and who stored it.  Under the user's lock (and
 * the file's).
 */
struct outcome
gate_refresh_target(struct request *rq)
{
	const char     *name = rq->path.comp[rq->path.ncomp - 1];
	struct stat     st;
	enum ledger_err le;

	rq->facts.recorded = 0;
	if (fstatat(rq->target.dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return errno_failed(rq, "fstatat", 0);
		rq->facts.target = TARGET_NEW;
		return outcome(REASON_NONE, NULL);
	}
	rq->facts.target = S_ISLNK(st.st_mode) ? TARGET_SYMLINK :
	    S_ISREG(st.st_mode) ? TARGET_EXISTS : TARGET_NOT_REGULAR;
	rq->facts.target_folder = S_ISDIR(st.st_mode);
	if ((le = check_record(rq)) != LEDGER_OK)
		return gate_ledger_failed(rq, le);
	return outcome(REASON_NONE, NULL);
}

/* "If-None-Match: *" (RFC 9110 §13.1.2), white space around it allowed. */
static int
if_none_match_star(const char *v)
{
	if (v == NULL)
		return 0;
	v += strspn(v, " \t");
	return *v == '*' && v[1 + strspn(v + 1, " \t")] == '\0';
}

/*
 * If-Match (RFC 9110 §13.1.1) against the file the path names: another
 * ETag, or no file, is row 8's 412 (davfs2 sends it when replacing).
 */
static void
find_if_match(struct request *rq)
{
	const char *v = request_param(rq, "HTTP_IF_MATCH");
	char        etag[ETAG_SIZE];

	if (v == NULL)
		return;
	rq->facts.if_match = IF_MATCH_FAILED;
	if (rq->facts.target != TARGET_EXISTS)
		return;
	etag_of(&rq->target.st, etag, sizeof etag);
	if (etag_list_match(v, etag))
		rq->facts.if_match = IF_MATCH_OK;
}

/* Rows 8 and 9: walk the path, never following a link. */
int
gate_find_target(struct request *rq)
{
	int r;

	rq->facts.known |= KNOW_TARGET;
	rq->facts.if_none_match_star = if_none_match_star(
	    request_param(rq, "HTTP_IF_NONE_MATCH"));
	rq->kind = rq->facts.method == METHOD_POST ? PATH_FOLDER : PATH_FILE;
	if (names_path_parse(request_param(rq, "PATH_INFO"), rq->kind, &rq->path) == -1 ||
	    join_rel(rq) == -1) {
		rq->facts.target = TARGET_BAD_NAME;
		return 0;
	}
	if (!within_path_max(rq)) {
		rq->facts.target = TARGET_TOO_LONG;
		return 0;
	}
	if ((r = open_user_dir(rq)) != 0)
		return r == 1 ? 0 : -1;
	if (rq->user_fd == -1) {
		/* the user's folder itself is made on the first upload */
		rq->facts.target = rq->path.ncomp == (rq->kind == PATH_FILE) ?
		    TARGET_NEW : TARGET_PARENT_MISSING;
		rq->target.found = 0;
		find_if_match(rq);
		return 0;
	}
	if (store_resolve(rq->user_fd, &rq->path, rq->kind, &rq->target) !=
	    STORE_OK)
		return -1;
	rq->facts.target = rq->target.state;
	rq->facts.target_folder = rq->target.state == TARGET_NOT_REGULAR &&
	    S_ISDIR(rq->target.st.st_mode);
	find_if_match(rq);
	return 0;
}

/*
 * The user's figures, under the lock; the reservations of dead handlers
 * are reclaimed first, when the figures show some (one read of the
 * ledger when there are none).
 */
enum ledger_err
gate_read_usage(struct request *rq, struct usage *u)
{
	enum ledger_err e;

	if ((e = ledger_usage(rq->ledger, rq->user, u)) == LEDGER_OK &&
	    u->dead > 0 && (e = ledger_reclaim(rq->ledger, rq->user,
	    rq->upload_fd, NULL, NULL)) == LEDGER_OK)
		e = ledger_usage(rq->ledger, rq->user, u);
	return e;
}

/*
 * The user's limit into facts.limit, looked up once a request.  An index
 * that cannot be read (cut or rewritten under the process: another
 * program's doing) is compiled anew from the table, as a stale one is,
 * and the problem logged; only when that fails too is it row 2's 500
 * (upgate.conf(5), "The quota table").  0, or -1 with the cause in
 * rq->diag.
 */
int
find_limit(struct request *rq)
{
	const struct config *cfg = &rq->g->cfg;
	struct quota_rule    rule;

	if (rq->limit_found != 0)
		return rq->limit_found == 1 ? 0 : -1;
	rq->limit_found = -1;
	rule = quota_lookup(rq->g->quota, rq->user);
	if (rule.error != 0) {
		diag_add(&rq->diag, cfg->state_dir, 0, "quota.idx: cannot be "
		    "read (%s); compiled again from %s", strerror(rule.error),
		    cfg->quota_file);
		if (quota_table_rebuild(&rq->g->quota, cfg->quota_file,
		    rq->ledger->state_fd, &rq->diag) == -1)
			return -1;
		rule = quota_lookup(rq->g->quota, rq->user);
		if (rule.error != 0)
			return -1;	/* a parsed table is never read again */
	}
	rq->facts.limit = rule.limit;
	rq->limit_found = 1;
	return 0;
}

/* Rows 10 and 11: free space and the figures read_usage found. */
int
find_room(struct request *rq, const struct usage *u)
{
	int64_t total;

	if (find_limit(rq) == -1)
		return -1;
	if (store_space(rq->upload_fd, &rq->facts.free_space, &total) == -1)
		return -1;
	rq->facts.min_free = config_min_free(&rq->g->cfg, total);
	rq->facts.used = u->used;
	rq->facts.reserved = u->reserved;
	rq->facts.known |= KNOW_SPACE | KNOW_QUOTA;
	return 0;
}

/*
 * Asks decide(); a refusal is answered at once, with the figures just
 * read under the lock when there are some (respond drops the lock before
 * it writes anything).
 */
/* The figures read under the lock that is still held, for the reply. */
void
quota_from_facts(struct request *rq)
{
	const struct facts *f = &rq->facts;

	if (!rq->locked || !(f->known & KNOW_QUOTA))
		return;
	rq->reply.has_quota = 1;
	rq->reply.quota.limit = f->limit;
	rq->reply.quota.used = f->used;
	rq->reply.quota.reserved = f->reserved;
}

int
decided(struct request *rq)
{
	rq->verdict = decide(&rq->facts, &rq->policy);
	if (rq->verdict.reason == REASON_NONE)
		return 0;
	quota_from_facts(rq);
	gate_respond_verdict(rq);
	return 1;
}

/*
 * Under the user's lock (and the file's): the unlink and the ledger;
 * gate_respond() reads the figures under it, then drops it.
 */
static void
do_delete(struct request *rq)
{
	const char *name = rq->path.comp[rq->path.ncomp - 1];
	enum ledger_err e;

	if (store_unlink(rq->target.dir_fd, name) != STORE_OK) {
		gate_respond(rq, REASON_SERVER_ERROR, "The file could not be removed.");
		return;
	}
	if ((e = ledger_forget(rq->ledger, rq->rel)) != LEDGER_OK) {
		cause_copy(rq->ledger->cause);
		gate_respond(rq, REASON_SERVER_ERROR,
		    "The file was removed, but its bytes could not be freed.");
		return;
	}
	gate_respond(rq, REASON_DELETED, NULL);
}

/*
 * With per_user_dirs = no, users share folders: a PUT or DELETE also
 * takes the lock of its target, so that two users never act on one file
 * at once (upgate(8), "Locks").
 */
static int
lock_target(struct request *rq)
{
	enum ledger_err e;

	if (rq->g->cfg.per_user_dirs || rq->kind != PATH_FILE ||
	    rq->facts.target == TARGET_BAD_NAME ||
	    rq->facts.target == TARGET_TOO_LONG)
		return 0;
	if ((e = gate_lock_file(rq)) == LEDGER_OK)
		return 0;
	gate_respond(rq, gate_ledger_failed(rq, e).reason, NULL);
	return -1;
}

/*
 * Everything under the user's lock: reclaims what dead handlers of the
 * user left, gathers rows 8 to 11, then acts.  Every path out drops the
 * lock before it answers.
 */
static void
locked_part(struct request *rq)
{
	enum method  m = rq->facts.method;
	int          files = m != METHOD_GET && m != METHOD_HEAD;
	struct usage u;
	enum ledger_err e;

	/* a database gone is 503, as for a lock or a write */
	if ((e = gate_read_usage(rq, &u)) != LEDGER_OK) {
		gate_respond_outcome(rq, gate_ledger_failed(rq, e));
		return;
	}
	/* WebDAV's methods, and GET or HEAD of a path (gate_dav.c) */
	if (dav_wanted(rq) && dav_locked(rq, &u))
		return;
	if (files && gate_find_target(rq) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	if (files && lock_target(rq) == -1)
		return;
	if (files && (e = check_record(rq)) != LEDGER_OK) {
		gate_respond_outcome(rq, gate_ledger_failed(rq, e));
		return;
	}
	if (files && decided(rq))
		return;
	if (find_room(rq, &u) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, NULL);
		return;
	}
	if (decided(rq))
		return;
	if (m == METHOD_PUT)
		gate_put_store(rq);
	else if (m == METHOD_POST)
		gate_post_store(rq);
	else if (m == METHOD_DELETE)
		do_delete(rq);
	else {
		quota_from_facts(rq);
		gate_respond(rq, REASON_STATUS, NULL);
	}
}

static int
open_upload_dir(struct request *rq)
{
	/* the configured root may be a link the operator made: followed */
	rq->upload_fd = open(rq->g->cfg.upload_dir,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rq->upload_fd == -1)
		cause_note("open");
	return rq->upload_fd == -1 ? -1 : 0;
}

/* Rows 2 to 7, then the user's lock (row 15) and the rest. */
static void
handle(struct request *rq)
{
	enum ledger_err e;
	int             down = 0;

	rq->facts.known |= KNOW_CONFIG;
	rq->facts.config_ok = load_config(rq) == 0 && open_state(rq, &down) == 0;
	if (down) {
		rq->reply.retry_after = 5;
		gate_respond(rq, REASON_BUSY, "The usage ledger cannot be reached.");
		return;
	}
	if (rq->facts.config_ok) {
		copy_policy(rq);
		rq->facts.webdav = rq->reply.webdav = rq->g->cfg.webdav;
	}
	if (decided(rq))
		return;
	find_identity(rq);
	if (decided(rq))
		return;
	if (open_upload_dir(rq) == -1) {
		gate_respond(rq, REASON_SERVER_ERROR, "The upload folder cannot be opened.");
		return;
	}
	if (rq->facts.tus != TUS_NONE) {
		gate_tus_handle(rq);
		return;
	}
	if ((e = gate_lock_user(rq)) != LEDGER_OK) {
		gate_respond(rq, gate_ledger_failed(rq, e).reason, NULL);
		return;
	}
	locked_part(rq);
	gate_unlock_user(rq);
}

static void
request_init(struct request *rq, struct gate *g, const struct io *io)
{
	memset(rq, 0, sizeof *rq);
	rq->g = g;
	rq->io = io;
	clock_gettime(CLOCK_MONOTONIC, &rq->start);
	diag_init(&rq->diag);
	rq->upload_fd = rq->user_fd = -1;
	rq->target.dir_fd = rq->target.anchor_fd = -1;
	rq->dav.dir_fd = -1;
	rq->dest.dir_fd = -1;
	rq->tmp.fd = -1;
	rq->resv.fd = -1;
	rq->verdict.length = -1;
	rq->facts.limit = QUOTA_UNLIMITED;
}

static void
request_release(struct request *rq)
{
	store_tmp_abort(&rq->tmp);
	ledger_release_reservation(rq->ledger, &rq->resv);
	gate_unlock_user(rq);
	store_target_release(&rq->target);
	davpath_release(&rq->dav);
	davpath_release(&rq->dest);
	davxml_free(rq->xml);
	gate_tus_release(rq);
	if (rq->user_fd != -1)
		close(rq->user_fd);
	if (rq->upload_fd != -1)
		close(rq->upload_fd);
	free(rq->largest);
}

/*
 * One request, on the heap (about 30 KiB of paths: not a worker
 * thread's stack), through fn; 1 when its body was left unread.
 */
static int
run_request(struct gate *g, const struct io *io,
    void (*fn)(struct request *))
{
	struct request *rq;
	int             unread;

	if ((rq = malloc(sizeof *rq)) == NULL)
		return 0;
	cause_clear();
	request_init(rq, g, io);
	rq->facts.method = decide_method_parse(request_param(rq, "REQUEST_METHOD"));
	find_length(rq);
	fn(rq);
	unread = gate_body_unread(rq);
	request_release(rq);
	free(rq);
	return unread;
}

static void
refuse_busy(struct request *rq)
{
	/* the format and the user of the reply; a stat when unchanged */
	rq->facts.config_ok = load_config(rq) == 0;
	if (rq->facts.config_ok)
		find_identity(rq);
	rq->reply.retry_after = BUSY_RETRY_AFTER;
	gate_respond(rq, REASON_BUSY, "The server is busy: every worker is "
	    "taken; please try again in a moment.");
}

/*
 * Row 1 reads `webdav` and `resumable` for OPTIONS, for the WebDAV
 * methods, for PATCH and an upload's URL, and for the Allow of a 405:
 * their defaults when the configuration cannot be read.  OPTIONS and a
 * 405 are answered at row 1, so the problems of a broken configuration
 * are not theirs to log (upgate(8), "DECISIONS").
 */
static void
find_row1_settings(struct request *rq)
{
	enum method m = rq->facts.method;
	const char *info = request_param(rq, "PATH_INFO");
	int         tus = m == METHOD_PATCH ||
	    (info != NULL && strncmp(info, TUS_URL_PREFIX,
	    strlen(TUS_URL_PREFIX)) == 0) ||
	    (m == METHOD_POST && request_param(rq, "HTTP_TUS_RESUMABLE") !=
	    NULL);

	rq->facts.webdav = rq->facts.resumable = 1;
	if (m == METHOD_OPTIONS || m == METHOD_OTHER || method_dav(m) || tus) {
		if (load_config(rq) == 0) {
			rq->facts.webdav = rq->g->cfg.webdav;
			rq->facts.resumable = rq->g->cfg.resumable;
		} else if (!method_dav(m) && !tus)
			diag_init(&rq->diag);
	}
	rq->reply.webdav = rq->facts.webdav;
	gate_tus_find(rq);
}

static void
decide_and_handle(struct request *rq)
{
	find_row1_settings(rq);
	if (!decided(rq))
		handle(rq);
}

int
gate_refuse_busy(struct gate *g, const struct io *io)
{
	return run_request(g, io, refuse_busy);
}

int
gate_handle(struct gate *g, const struct io *io)
{
	return run_request(g, io, decide_and_handle);
}
