/*
 * gate_int: the state of one request, shared by the gate's files and
 * private to them.  Everything in it lives for one request.
 */
#ifndef UPGATE_GATE_INT_H
#define UPGATE_GATE_INT_H

#include <stdint.h>
#include <time.h>

#include "decide.h"
#include "diag.h"
#include "gate.h"
#include "ledger.h"
#include "names.h"
#include "reply.h"
#include "store.h"

#define BODY_BUFFER (256 * 1024)	/* the one streaming buffer */
#define BUSY_RETRY_AFTER 1	/* seconds, of a 503 for want of workers or descriptors */

struct form;

struct request {
	struct gate        *g;
	const struct io    *io;
	struct timespec     start;
	struct diag         diag;	/* configuration problems */
	const char         *user;	/* REMOTE_USER or anonymous_user */
	const char         *length_header;	/* its name, for messages */
	int                 expected_only;	/* length from X-Expected-... */
	struct facts        facts;
	int                 limit_found;	/* facts.limit: 1 read, -1 failed */
	struct policy       policy;
	struct verdict      verdict;
	struct reply        reply;
	/* files and accounting */
	struct ledger      *ledger;	/* the gate's, when open */
	int                 locked;	/* the user's lock is held */
	int                 upload_fd;
	int                 user_fd;	/* -1: no folder yet */
	int                 made_user_dir;
	struct path         path;
	enum path_kind      kind;	/* PATH_FILE, or PATH_FOLDER for POST */
	struct store_target target;
	char                rel[4352];	/* target below upload_dir */
	char                folder[4352];	/* its folder below upload_dir */
	struct store_tmp    tmp;
	struct reservation  resv;
	/* the body */
	int64_t             received;
	int                 body_done;	/* read to its end */
	struct form        *form;	/* a POST's state (gate_post.c) */
	/* what the reply points to */
	char                detail[512];	/* a sentence made for this request */
	struct stored_file  stored;
	struct file_size   *largest;
	char                location[4096];
	char                storage_path[8704];
};

/* What a step after the decision came to: REASON_NONE to go on. */
struct outcome {
	enum reason reason;
	const char *detail;	/* a sentence for the message, or NULL */
};

static inline struct outcome
outcome(enum reason reason, const char *detail)
{
	struct outcome o;

	o.reason = reason;
	o.detail = detail;
	return o;
}

/* Stores n body bytes; anything but REASON_NONE stops the body. */
typedef struct outcome (*sink_fn)(struct request *, const char *, size_t);

/* gate_body.c */
struct outcome make_folders(struct request *, struct reservation *);
struct outcome note_tmp(struct request *, struct reservation *,
    const struct store_tmp *);
struct outcome allocate(struct request *, struct store_tmp *, int64_t len);
enum ledger_err lock_file(struct request *);
void           undo_folders(struct request *);
struct outcome stream_body(struct request *, sink_fn);
struct outcome disk_full(struct request *, int64_t required);
struct outcome ledger_failed(struct request *, enum ledger_err);
enum ledger_err lock_user(struct request *);
void           unlock_user(struct request *);
struct outcome hold_more(struct request *, struct reservation *,
    struct store_tmp *, int64_t quota_need, int64_t space_need);
struct outcome decide_again(struct request *, int64_t own, int quota);

/* gate.c */
int            refresh_target(struct request *);
int            find_limit(struct request *);

/* gate_put.c, gate_post.c: an upload the decision let through. */
void put_store(struct request *);
void post_store(struct request *);

/* gate_respond.c */
void respond(struct request *, enum reason, const char *detail);
void respond_verdict(struct request *);
void verdict_figures(struct request *);
void fill_quota(struct request *);
int  body_unread(const struct request *);

#endif
