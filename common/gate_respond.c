/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_respond: turns a request's outcome into its reply, writes it, and
 * logs it (upgate(8), Responses, upgate(8), Logs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cause.h"
#include "gate_int.h"
#include "lockwait.h"
#include "notify.h"
#include "number.h"
#include "quota.h"
#include "render.h"

int
gate_body_unread(const struct request *rq)
{
	const char *t = rq->facts.length_text;
	int64_t     n;
	enum method m = rq->facts.method;

	if (rq->body_done)
		return 0;
	if (t != NULL && !rq->expected_only &&
	    number_parse(t, strlen(t), &n) == 0)
		return rq->received < n;
	return t != NULL || m == METHOD_PUT || m == METHOD_POST;
}

/*
 * The user's figures after the request took effect, read under the
 * user's lock: still held when the request ends with it, else taken for
 * the read alone.  A 503 busy carries none (and must not wait again).
 */
void
gate_fill_quota(struct request *rq)
{
	struct usage u;

	if (rq->user == NULL || rq->ledger == NULL || rq->reply.has_quota ||
	    rq->reply.reason == REASON_BUSY)
		return;
	if (!rq->locked && gate_lock_user(rq) != LEDGER_OK)
		return;
	if (find_limit(rq) == 0 &&
	    ledger_usage(rq->ledger, rq->user, &u) == LEDGER_OK) {
		rq->reply.has_quota = 1;
		rq->reply.quota.limit = rq->facts.limit;
		rq->reply.quota.used = u.used;
		rq->reply.quota.reserved = u.reserved;
	}
}

/* The largest files a quota refusal lists, bounded (upgate(8), Responses). */
static void
fill_largest(struct request *rq)
{
	const struct config *cfg = &rq->g->cfg;
	char   prefix[USER_NAME_MAX + 2];
	size_t max = (size_t)cfg->largest_files;

	if (max == 0)
		return;
	if (max > 100)
		max = 100;
	if ((rq->largest = calloc(max, sizeof *rq->largest)) == NULL)
		return;
	snprintf(prefix, sizeof prefix, "%s/", rq->user);
	rq->reply.largest = rq->largest;
	rq->reply.nlargest = ledger_largest(rq->ledger, rq->user,
	    cfg->per_user_dirs ? prefix : NULL, rq->largest, max);
}

static void
fill_storage_path(struct request *rq)
{
	const struct config *cfg = &rq->g->cfg;

	if (!cfg->expose_paths)
		return;
	snprintf(rq->storage_path, sizeof rq->storage_path, "%s%s%s",
	    cfg->upload_dir, rq->folder[0] != '\0' ? "/" : "", rq->folder);
	rq->reply.storage_path = rq->storage_path;
}

/* The figures of a refusal decided by decide(), into the reply. */
void
gate_verdict_figures(struct request *rq)
{
	const struct verdict *v = &rq->verdict;
	struct reply         *r = &rq->reply;

	r->condition = v->condition;
	switch (v->reason) {
	case REASON_TOO_LARGE:
		r->too_large_limit = v->limit;
		r->too_large_size = v->length;
		break;
	case REASON_DISK_FULL:
		r->required_space = v->length;
		r->available_space = v->available;
		break;
	case REASON_QUOTA_EXCEEDED:
		r->upload_size = v->length;
		r->shortage = v->shortage;
		break;
	default:
		break;
	}
}

void
gate_respond_verdict(struct request *rq)
{
	rq->reply.cause = rq->verdict.cause;
	gate_verdict_figures(rq);
	gate_respond(rq, rq->verdict.reason, NULL);
}

static void
log_figure(struct buf *b, const char *key, int64_t v, int known)
{
	if (known)
		buf_printf(b, " %s=%lld", key, (long long)v);
	else
		buf_printf(b, " %s=-", key);
}

/*
 * The method as sent when it is an RFC 9110 token (§9.1, §5.6.2) of at
 * most 32 characters, so that a PROPFIND or a LOCK is logged as one
 * (upgate(8), "Logs"); else NULL.
 */
static const char *
log_method(const struct request *rq)
{
	const char *m = rq->io->param(rq->io->ctx, "REQUEST_METHOD");
	size_t      n;

	if (m == NULL)
		return NULL;
	n = strspn(m, "!#$%&'*+-.^_`|~0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	return n > 0 && n <= 32 && m[n] == '\0' ? m : NULL;
}

/*
 * The user of the log line: the identity whenever it is a valid user
 * name, whatever row refused, even one decided before row 3 (a 405, a
 * broken configuration); anonymous_user only once the configuration is
 * read.  NULL: none.
 */
static const char *
log_user(const struct request *rq)
{
	const char *u = rq->user;

	if (u == NULL)
		u = rq->io->param(rq->io->ctx, "REMOTE_USER");
	if ((u == NULL || *u == '\0') && rq->facts.config_ok)
		u = rq->g->cfg.anonymous_user;
	return u != NULL && names_user_valid(u) ? u : NULL;
}

/*
 * " cause=CALL:ERRNO" of a 500 (upgate(8), "Logs"), or "cause=config"
 * when the configuration or the quota table is at fault (their own
 * lines say how).  A database's cause may hold spaces: they become '_'
 * so that the field stays one word.
 */
static void
log_cause(struct buf *b, const struct request *rq)
{
	char   text[96];
	size_t i;

	snprintf(text, sizeof text, "%s", cause_text());
	if (text[0] == '\0')
		snprintf(text, sizeof text, "%s", !rq->facts.config_ok ?
		    "config" : "unknown");
	for (i = 0; text[i] != '\0'; i++)
		if (text[i] == ' ')
			text[i] = '_';
	buf_puts(b, " cause=");
	buf_add_logsafe(b, text, strlen(text));
}

/*
 * What changes nothing is not logged: quota queries, OPTIONS, and the
 * successes of PROPFIND, PROPPATCH, GET and HEAD of a file (upgate(8),
 * "Logs").
 */
static int
logged(enum reason reason)
{
	switch (reason) {
	case REASON_STATUS:
	case REASON_OPTIONS:
	case REASON_MULTISTATUS:
	case REASON_SERVED:
	case REASON_PARTIAL:
	case REASON_NOT_MODIFIED:
	case REASON_UPLOAD_STATUS:
		return 0;
	default:
		return 1;
	}
}

/* The request's line: upgate(8), "Logs", fields in this order. */
static void
log_request(struct request *rq)
{
	const struct reply *r = &rq->reply;
	const char         *u = log_user(rq), *m = log_method(rq);
	int64_t             size = rq->verdict.length;
	struct buf          b;

	if (!logged(r->reason))
		return;
	if (size < 0 && rq->received > 0)
		size = rq->received;
	buf_init(&b);
	buf_printf(&b, "upgate: user=%s method=%s status=%d reason=%s",
	    u != NULL ? u : "-", m != NULL ? m : "-",
	    reason_status(r->reason), reason_name(r->reason));
	log_figure(&b, "size", size, size >= 0);
	log_figure(&b, "used", r->quota.used, r->has_quota);
	if (r->has_quota && r->quota.limit == QUOTA_UNLIMITED)
		buf_puts(&b, " limit=unlimited");
	else
		log_figure(&b, "limit", r->quota.limit, r->has_quota);
	buf_printf(&b, " ms=%ld", elapsed_ms(&rq->start));
	if (r->reason == REASON_SERVER_ERROR)
		log_cause(&b, rq);
	if (!b.failed)
		rq->io->log(rq->io->ctx, b.data);
	buf_release(&b);
}

static void
log_problem(void *arg, const char *line)
{
	const struct request *rq = arg;
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "upgate: ");
	buf_add_logsafe(&b, line, strlen(line));
	if (!b.failed)
		rq->io->log(rq->io->ctx, b.data);
	buf_release(&b);
}

static struct render_options
options_of(const struct request *rq)
{
	struct render_options o;
	const struct config  *cfg = &rq->g->cfg;

	memset(&o, 0, sizeof o);
	o.default_format = FORMAT_JSON;
	o.retry_after = 3600;
	if (!rq->facts.config_ok)
		return o;
	o.default_format = cfg->default_format;
	o.retry_after = cfg->retry_after;
	o.upgrade_url = cfg->upgrade_url;
	o.cleanup_url = cfg->cleanup_url;
	o.expose_paths = cfg->expose_paths;
	/* a WebDAV client that sent XML gets its refusals in XML by default */
	if (rq->xml_body)
		o.default_format = FORMAT_XML;
	return o;
}

/*
 * What a failure that would be a 500 is, from the errno of the call that
 * failed: out of descriptors (the process's or the system's) is a 503
 * busy, to be retried in a moment, not a fault of the server (upgate(8),
 * "FastCGI").  Every failing path keeps errno up to gate_respond().
 */
static enum reason
failure_reason(int err)
{
	return err == EMFILE || err == ENFILE ? REASON_BUSY :
	    REASON_SERVER_ERROR;
}

/*
 * notify_command for each threshold that the commit made the user's
 * usage cross (upgate(8), "Notifications"): from used as it was just
 * before the commit, read under the lock by gate_decide_again, to used after
 * it, read by gate_fill_quota.  After the answer is written: the command
 * never delays it; a failure to start it is logged before the
 * request's line.
 */
static void
notify_usage(struct request *rq)
{
	const struct reply *r = &rq->reply;

	if (!rq->facts.config_ok || rq->g->cfg.notify_command == NULL ||
	    !r->has_quota || r->quota.limit == QUOTA_UNLIMITED)
		return;
	notify_thresholds(rq->g->cfg.notify_command, rq->user,
	    rq->facts.used, r->quota.used, r->quota.limit, &rq->diag);
}

static enum verb request_verb(const struct request *);

/*
 * Writes the one response of the request; later calls do nothing, so
 * that an error path may answer without knowing whether one was sent.
 */
void
gate_respond(struct request *rq, enum reason reason, const char *detail)
{
	struct render_options o;
	struct reply         *r = &rq->reply;
	struct buf            out;

	if (r->reason != REASON_NONE)
		return;
	if (reason == REASON_SERVER_ERROR &&
	    (reason = failure_reason(errno)) == REASON_BUSY) {
		r->retry_after = BUSY_RETRY_AFTER;
		detail = "The server is out of file descriptors; please "
		    "try again in a moment.";
	}
	if (reason == REASON_SERVER_ERROR && rq->ledger != NULL &&
	    rq->ledger->cause[0] != '\0')
		diag_add(&rq->diag, rq->g->cfg.state_dir, 0, "the ledger "
		    "failed: %s", rq->ledger->cause);
	o = options_of(rq);
	r->reason = reason;
	r->detail = detail;
	r->verb = request_verb(rq);
	r->user = rq->user;
	if (reason != REASON_OPTIONS && reason != REASON_METHOD_NOT_ALLOWED)
		gate_fill_quota(rq);
	gate_unlock_user(rq);	/* nothing is scanned or written under it */
	if (reason == REASON_QUOTA_EXCEEDED)
		fill_largest(rq);
	if (reason == REASON_DISK_FULL)
		fill_storage_path(rq);
	r->connection_close = reason_refuses(reason) && gate_body_unread(rq);
	buf_init(&out);
	render_reply(r, &o, rq->io->param(rq->io->ctx, "HTTP_ACCEPT"),
	    rq->facts.method == METHOD_HEAD, &out);
	if (!out.failed)
		(void)rq->io->write(rq->io->ctx, out.data, out.len);
	buf_release(&out);
	if (reason == REASON_STORED || reason == REASON_REPLACED ||
	    reason == REASON_COPIED || reason == REASON_COPIED_OVER ||
	    reason == REASON_UPLOAD_STORED || reason == REASON_UPLOAD_DONE)
		notify_usage(rq);
	diag_each(&rq->diag, log_problem, rq);
	log_request(rq);
}

void
gate_respond_outcome(struct request *rq, struct outcome o)
{
	gate_respond(rq, o.reason, o.detail);
}

void
gate_diag_cause(struct request *rq, const char *what)
{
	char text[96];

	snprintf(text, sizeof text, "%s", cause_text());
	diag_add(&rq->diag, rq->g->cfg.upload_dir, 0, "%s could not be "
	    "removed: cause=%s", what, text[0] != '\0' ? text : "unknown");
}

void
gate_respond_log(struct request *rq)
{
	diag_each(&rq->diag, log_problem, rq);
	log_request(rq);
}

/*
 * What the request meant to do, for a refusal's message: a WebDAV path
 * that GET or HEAD names is a file to serve, a DELETE that walked one
 * a folder to delete (upgate(8), "WebDAV").
 */
static enum verb
request_verb(const struct request *rq)
{
	enum method m = rq->facts.method;
	int         dav = rq->facts.webdav && (rq->facts.known & KNOW_TARGET);

	if (dav && (m == METHOD_GET || m == METHOD_HEAD) &&
	    rq->facts.target != TARGET_FOLDER)
		return VERB_SERVE;
	if (m == METHOD_DELETE && rq->facts.dav_path)
		return VERB_DELETE_FOLDER;
	return method_verb(m);
}
