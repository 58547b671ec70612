/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_int: the state of one request, shared by the gate's files and
 * private to them.  Everything in it lives for one request.
 */
#ifndef UPGATE_GATE_INT_H
#define UPGATE_GATE_INT_H

#include <stdint.h>
#include <time.h>

#include "davpath.h"
#include "davxml.h"
#include "decide.h"
#include "diag.h"
#include "gate.h"
#include "ledger.h"
#include "names.h"
#include "reply.h"
#include "store.h"
#include "validators.h"

#define BODY_BUFFER (256 * 1024)	/* the one streaming buffer */
#define SUFFIX_MAX 100000	/* "name-N" tried before giving up */
#define BUSY_RETRY_AFTER 1	/* seconds, of a 503 for want of workers or descriptors */

struct form;
struct tus_state;

struct request {
	struct gate        *g;
	const struct io    *io;
	struct timespec     start;
	struct diag         diag;	/* configuration problems */
	int                 config_tried;	/* load_config ran */
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
	struct davpath      dav;	/* a WebDAV path's target (gate_dav.c) */
	struct davxml      *xml;	/* its request body, parsed */
	struct path         dest_path;	/* COPY, MOVE: the Destination */
	struct davpath      dest;	/* what it names (gate_davcopy.c) */
	char                etag[64];	/* a stored file's validators */
	char                modified[32];
	char                rel[4352];	/* target below upload_dir */
	char                folder[4352];	/* its folder below upload_dir */
	struct store_tmp    tmp;
	struct reservation  resv;
	/* the body */
	int64_t             received;
	int                 body_done;	/* read to its end */
	struct form        *form;	/* a POST's state (gate_post.c) */
	struct tus_state   *tus;	/* a resumable upload's (gate_tus.c) */
	int                 xml_body;	/* a WebDAV request with an XML body */
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
/*
 * "USER/a/b" (or "a/b" without per_user_dirs): the first n components
 * of path below upload_dir, as the ledger names them.  -1: too long.
 */
int            gate_path_rel(const struct request *, const struct path *,
    size_t n, char *out, size_t size);
struct outcome gate_make_folders(struct request *, struct reservation *);
struct outcome gate_note_tmp(struct request *, struct reservation *,
    const struct store_tmp *);
struct outcome gate_allocate(struct request *, struct store_tmp *, int64_t len);
enum ledger_err gate_lock_file(struct request *);
void           gate_undo_folders(struct request *);
struct outcome gate_stream_body(struct request *, sink_fn);
struct outcome gate_disk_full(struct request *, int64_t required);
struct outcome gate_ledger_failed(struct request *, enum ledger_err);
struct outcome ledger_fault(struct request *);
struct outcome store_failed(struct request *, enum store_err,
    int64_t required);
struct outcome errno_failed(struct request *, const char *call,
    int64_t required);
enum ledger_err gate_lock_user(struct request *);
void           gate_unlock_user(struct request *);
struct outcome gate_hold_more(struct request *, struct reservation *,
    struct store_tmp *, int64_t quota_need, int64_t space_need);
struct outcome gate_decide_again(struct request *, int64_t own, int quota);

/* gate.c */
struct outcome gate_refresh_target(struct request *);
/* Rows 8 and 9: the target path walked, never following a link. */
int            gate_find_target(struct request *);
/*
 * 1 when a name of last bytes (at least a temporary name's) in a folder
 * of folder bytes below upload_dir stays within PATH_MAX.
 */
int            gate_fits_path_max(const struct request *, size_t folder,
    size_t last);
/* The user's figures, under the lock, dead reservations reclaimed. */
enum ledger_err gate_read_usage(struct request *, struct usage *);
/* A CGI variable of the request; NULL when unset or empty. */
const char    *request_param(const struct request *, const char *name);
/* Asks decide(); 1 when it refused and the refusal was answered. */
int            decided(struct request *);
/* The user's limit into facts.limit, once a request: 0, or -1. */
int            find_limit(struct request *);
/* Rows 10 and 11's facts: free space, and the figures u holds. */
int            find_room(struct request *, const struct usage *u);
/*
 * The user's folder into user_fd (-1 while it does not exist): 0; 1
 * when a link or a non-folder is in its place (facts.target says); -1
 * with errno.
 */
int            open_user_dir(struct request *);
/* The figures read under the lock still held, into the reply. */
void           quota_from_facts(struct request *);

/* gate_dav.c: 1 for the requests it answers (WebDAV's, GET of a path) */
int  dav_wanted(const struct request *);
/*
 * Under the user's lock, with the figures u read: answers the request
 * and returns 1, or returns 0 for a GET or HEAD of a folder, which is
 * the quota status.
 */
int  dav_locked(struct request *, const struct usage *u);

/* gate_davdelete.c: a folder DELETE that the decision let through */
void dav_delete_folder(struct request *);
/*
 * The same for the folder rel below upload_dir (what a failed COPY
 * made): 0 when it is gone whole, else -1 (what must stay stays).
 */
int  dav_remove_folder(struct request *, const char *rel);
/* 1 when the folder rel holds what a DELETE would leave. */
int  dav_folder_stays(struct request *, const char *rel);

/*
 * gate_davcopy.c: the Destination's facts, and the bytes a COPY would
 * copy (under the user's lock): 0, or -1 when answered (a 500).  Then
 * the COPY or MOVE the decision let through.
 */
int  find_copy_facts(struct request *);
void dav_copy(struct request *);

/* The validators of the file st describes, into the reply (PUT, COPY). */
void gate_reply_validators(struct request *, const struct stat *st);

/*
 * gate_davaside.c: what a COPY or MOVE replaces, set aside (renamed to
 * a temporary name beside it) until the new one is in place.  name is
 * empty when nothing is set aside.
 */
struct aside {
	char name[64];
	int  folder;
};
/*
 * Sets aside what the Destination holds (to: its rel), if anything, and
 * forgets its records; a folder only when nothing in it must stay (409).
 */
struct outcome aside_take(struct request *, const char *to, struct aside *);
/* The new one is in place: what was set aside is removed. */
void aside_drop(struct request *, struct aside *);
/* It could not be: put back as it was, records and all; errno kept. */
void aside_put_back(struct request *, const char *to, struct aside *);

/* gate_get.c: GET or HEAD of what dav_locked found: 1, or 0 (a folder) */
int  get_file(struct request *);

/* gate_put.c, gate_post.c: an upload the decision let through. */
void gate_put_store(struct request *);
/* Under the user's lock: the reservation, folders, temporary name. */
struct outcome gate_put_prepare_locked(struct request *);
void gate_post_store(struct request *);
/* gate_post.c: a form's names, "report-N.pdf" when "report.pdf" is taken */
void gate_suffixed(const char *name, unsigned n, char *out, size_t size);
int  gate_name_taken(int dir_fd, const char *name);

/*
 * gate_tus.c: resumable uploads.  gate_tus_find, at row 1: what the
 * request is to tus, with the configuration's `resumable` (its default
 * when the configuration cannot be read).  gate_tus_handle, after row
 * 3, answers a tus request whole.  gate_tus_release frees its state
 * (safe when none).
 */
void gate_tus_find(struct request *);
void gate_tus_handle(struct request *);
void gate_tus_release(struct request *);

/* gate_respond.c */
void gate_respond(struct request *, enum reason, const char *detail);
/* The same for what a step came to (its reason is not REASON_NONE). */
void gate_respond_outcome(struct request *, struct outcome);
void gate_respond_verdict(struct request *);
/* The log lines of an answer streamed without gate_respond() (a 207). */
void gate_respond_log(struct request *);
/*
 * A line before the request's for what, below upload_dir, a folder
 * DELETE could not remove, with the cause noted last (cause.h).
 */
void gate_diag_cause(struct request *, const char *what);
void gate_verdict_figures(struct request *);
void gate_fill_quota(struct request *);
int  gate_body_unread(const struct request *);

#endif
