/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * gate_fake: the whole handler inside CUnit (the `struct io` of io.h
 * filled by the test).  A request is a table of CGI variables, a body
 * handed out chunk bytes at a time, a response caught in a buffer; it
 * runs against a fresh upload_dir of its own, whose disk and ledger are
 * then read back.  Header-only, included after cu_main.h.
 */
#ifndef UPGATE_GATE_FAKE_H
#define UPGATE_GATE_FAKE_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "gate.h"
#include "io.h"
#include "ledger.h"
#include "store.h"

struct fake {
	const char *const *vars;	/* "NAME=value", NULL-terminated */
	const char *body;
	size_t      body_len;
	size_t      pos;
	size_t      chunk;		/* bytes per read at most */
	unsigned    reads;		/* read calls that returned bytes */
	struct buf  out;		/* the response */
	struct buf  log;		/* its log lines, one per line */
	int         cut;		/* at the body's end: -1 (a client gone) */
};

static inline const char *
fake_param(void *ctx, const char *name)
{
	const struct fake *f = ctx;
	size_t n = strlen(name), i;

	for (i = 0; f->vars[i] != NULL; i++)
		if (strncmp(f->vars[i], name, n) == 0 && f->vars[i][n] == '=')
			return f->vars[i] + n + 1;
	return NULL;
}

static inline ssize_t
fake_read(void *ctx, void *buf, size_t len)
{
	struct fake *f = ctx;
	size_t n = f->body_len - f->pos;

	if (n > len)
		n = len;
	if (n > f->chunk)
		n = f->chunk;
	if (n == 0 && f->cut)
		return -1;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	f->reads += n > 0;
	return (ssize_t)n;
}

static inline int
fake_write(void *ctx, const void *buf, size_t len)
{
	struct fake *f = ctx;

	buf_add(&f->out, buf, len);
	return 0;
}

static inline void
fake_log(void *ctx, const char *line)
{
	struct fake *f = ctx;

	buf_puts(&f->log, line);
	buf_puts(&f->log, "\n");
}

static inline void
fake_release(struct fake *f)
{
	buf_release(&f->out);
	buf_release(&f->log);
}

/* The response's status, from its "Status: NNN" line; 0 if none. */
static inline int
fake_status(const struct fake *f)
{
	int status = 0;

	if (f->out.data == NULL ||
	    sscanf(f->out.data, "Status: %d ", &status) != 1)
		return 0;
	return status;
}

static inline int
fake_has(const struct fake *f, const char *s)
{
	return f->out.data != NULL && strstr(f->out.data, s) != NULL;
}

/*
 * The folder of a test program's trees, below $TMPDIR (default /tmp):
 * as root a small tmpfs mounted there, so that hundreds of trees cost
 * memory rather than journal writes; else a plain folder.  Set up and
 * taken down as a CUnit suite's init and cleanup.
 */
static char tree_base[256];
static int  tree_mounted;

static inline int
tree_suite_init(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tree_base, sizeof tree_base, "%s/upgate-gate.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tree_base) == NULL)
		return -1;
	tree_mounted = mount("tmpfs", tree_base, "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=64m,mode=0755") == 0;
	return 0;
}

static inline int
tree_suite_clean(void)
{
	if (tree_mounted && umount2(tree_base, MNT_DETACH) == -1)
		return -1;
	tree_mounted = 0;
	return rmdir(tree_base);
}

/*
 * A fresh folder below tree_base holding upgate.conf, a quota table and
 * upload_dir (up/, its state_dir up/.upgate by default).
 */
struct tree {
	char dir[300];
	char conf[320];
	char up[320];
	char state[340];
};

static inline int
tree_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

/*
 * Makes the tree; conf holds lines added to upgate.conf (NULL: none),
 * which sets only upload_dir, quota_file and, unless conf sets it,
 * sync = no.  The quota table: alice 1000 bytes, bob 0, carol
 * unlimited, everyone else 100.
 */
static inline int
tree_make(struct tree *t, const char *conf)
{
	char quota[340], text[2048];

	snprintf(t->dir, sizeof t->dir, "%s/tree.XXXXXX", tree_base);
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->conf, sizeof t->conf, "%s/upgate.conf", t->dir);
	snprintf(t->up, sizeof t->up, "%s/up", t->dir);
	snprintf(t->state, sizeof t->state, "%s/.upgate", t->up);
	snprintf(quota, sizeof quota, "%s/quota", t->dir);
	if (mkdir(t->up, 0755) == -1 ||
	    tree_write(quota, "alice 1000\nbob 0\ncarol unlimited\n* 100\n") ==
	    -1)
		return -1;
	snprintf(text, sizeof text, "upload_dir = %s\nquota_file = %s\n%s%s",
	    t->up, quota, conf != NULL && strstr(conf, "sync =") != NULL ?
	    "" : "sync = no\n", conf != NULL ? conf : "");
	return tree_write(t->conf, text);
}

static inline int
tree_rm_entry(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) == -1 ? -1 : 0;
}

static inline int
tree_remove(struct tree *t)
{
	return nftw(t->dir, tree_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs one request through a gate of its own; gate_handle's result. */
static inline int
tree_run(const struct tree *t, struct fake *f)
{
	struct io   io = { fake_param, fake_read, fake_write, fake_log, f };
	struct gate g;
	int         unread;

	buf_init(&f->out);
	buf_init(&f->log);
	gate_init(&g, t->conf);
	unread = gate_handle(&g, &io);
	gate_release(&g);
	return unread;
}

static inline int
tree_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Appends what folder fd holds to out, sorted, each entry as " rel/"
 * (a folder, then what it holds), " rel=content" (a file of at most 40
 * bytes; larger: " rel=#SIZE"), " rel@" (a link) or " rel?"; a
 * temporary file ".upgate-tmp-..." is " .../TMP".  Takes fd over.
 */
static inline void
tree_list_fd(int fd, const char *rel, int top, struct buf *out)
{
	DIR           *d = fdopendir(fd);
	struct dirent *e;
	char          *names[256], path[1024], content[41];
	size_t         n = 0, i;
	struct stat    st;
	int            sub;
	ssize_t        got;

	if (d == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL && n < 256)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    !(top && strcmp(e->d_name, ".upgate") == 0))
			names[n++] = strdup(e->d_name);
	qsort(names, n, sizeof *names, tree_cmp);
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], STORE_TMP_PREFIX,
		    strlen(STORE_TMP_PREFIX)) == 0)
			snprintf(path, sizeof path, "%s%sTMP", rel,
			    *rel ? "/" : "");
		else
			snprintf(path, sizeof path, "%s%s%s", rel,
			    *rel ? "/" : "", names[i]);
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			buf_printf(out, " %s?", path);
		else if (S_ISLNK(st.st_mode))
			buf_printf(out, " %s@", path);
		else if (S_ISDIR(st.st_mode)) {
			buf_printf(out, " %s/", path);
			sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub != -1)
				tree_list_fd(sub, path, 0, out);
		} else if (S_ISREG(st.st_mode) && st.st_size <= 40 &&
		    (sub = openat(dirfd(d), names[i], O_RDONLY | O_CLOEXEC)) !=
		    -1) {
			got = read(sub, content, sizeof content - 1);
			content[got > 0 ? got : 0] = '\0';
			close(sub);
			buf_printf(out, " %s=%s", path, content);
		} else
			buf_printf(out, " %s=#%lld", path, (long long)st.st_size);
		free(names[i]);
	}
	closedir(d);
}

/*
 * The listing of upload_dir but state_dir, without its first space
 * (out->data NULL when empty); the caller releases out.
 */
static inline void
tree_list(const struct tree *t, struct buf *out)
{
	int fd = open(t->up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	buf_init(out);
	if (fd != -1)
		tree_list_fd(fd, "", 1, out);
	if (out->len > 0)
		memmove(out->data, out->data + 1, out->len--);
}

/* user's figures in the tree's ledger; -1 when it cannot be read. */
static inline int
tree_usage(const struct tree *t, const char *user, struct usage *u)
{
	struct ledger_config lc = { t->state, NULL, 0, 0 };
	struct ledger        l;
	struct stat          st;
	int                  rc = -1;

	memset(u, 0, sizeof *u);
	ledger_init(&l);
	if (lstat(t->state, &st) == -1 || !S_ISDIR(st.st_mode))
		return 0;	/* never made: nothing used */
	if (ledger_open(&l, &lc) != LEDGER_OK)
		return -1;
	if (ledger_lock_user(&l, user, 0) == LEDGER_OK &&
	    ledger_usage(&l, user, u) == LEDGER_OK)
		rc = 0;
	ledger_unlock(&l);
	ledger_close(&l);
	return rc;
}

/* A PUT of text ("#N": N bytes of 'x') that must succeed; 0, or -1. */
static inline int
tree_put(const struct tree *t, const char *user, const char *path,
    const char *text)
{
	char        u[100], p[600], len[40];
	const char *vars[] = { "REQUEST_METHOD=PUT", u, p, len, NULL };
	size_t      blen = text[0] == '#' ? strtoul(text + 1, NULL, 10) :
	    strlen(text);
	char       *body = malloc(blen + 1);
	struct fake f;
	int         status;

	if (body == NULL)
		return -1;
	if (text[0] == '#')
		memset(body, 'x', blen);
	else
		memcpy(body, text, blen);
	snprintf(u, sizeof u, "REMOTE_USER=%s", user);
	snprintf(p, sizeof p, "PATH_INFO=%s", path);
	snprintf(len, sizeof len, "CONTENT_LENGTH=%zu", blen);
	memset(&f, 0, sizeof f);
	f.vars = vars;
	f.body = body;
	f.body_len = f.chunk = blen;
	tree_run(t, &f);
	status = fake_status(&f);
	fake_release(&f);
	free(body);
	return status == 201 || status == 204 ? 0 : -1;
}

/*
 * Sets a tree up with commands separated by ';', paths relative to the
 * tree's folder: "mkdir up/alice", "file up/alice/f TEXT", "ln TARGET
 * up/alice/l", "rm quota", and "put USER /PATH TEXT", a PUT through the
 * gate that must succeed (TEXT "#N": N bytes of 'x').  0, or -1.
 */
static inline int
tree_prepare(const struct tree *t, const char *cmds)
{
	char  *copy, *cmd, *save = NULL, *w[4], *sp, path[600];
	size_t n;
	int    rc = 0;

	if (cmds == NULL)
		return 0;
	if ((copy = strdup(cmds)) == NULL)
		return -1;
	for (cmd = strtok_r(copy, ";", &save); cmd != NULL && rc == 0;
	    cmd = strtok_r(NULL, ";", &save)) {
		memset(w, 0, sizeof w);
		for (n = 0, sp = NULL; n < 4; n++)
			if ((w[n] = strtok_r(n == 0 ? cmd : NULL,
			    n < 3 ? " " : "", &sp)) == NULL)
				break;
		snprintf(path, sizeof path, "%s/%s", t->dir,
		    w[1] != NULL ? w[1] : "");
		if (w[0] == NULL)
			rc = -1;
		else if (strcmp(w[0], "mkdir") == 0)
			rc = mkdir(path, 0755);
		else if (strcmp(w[0], "rm") == 0)
			rc = unlink(path);
		else if (strcmp(w[0], "file") == 0 && w[2] != NULL)
			rc = tree_write(path, w[2]);
		else if (strcmp(w[0], "ln") == 0 && w[2] != NULL) {
			snprintf(path, sizeof path, "%s/%s", t->dir, w[2]);
			rc = symlink(w[1], path);
		} else if (strcmp(w[0], "put") == 0 && w[3] != NULL)
			rc = tree_put(t, w[1], w[2], w[3]);
		else
			rc = -1;
	}
	free(copy);
	return rc;
}

/*
 * One row of a table of requests: the tree, the request, and what must
 * come of it — the response, its log line, the disk and the ledger.
 */
struct row {
	const char *what;
	const char *conf;		/* upgate.conf lines (tree_make) */
	const char *before;		/* tree_prepare commands */
	const char *vars[12];		/* CGI variables; "CONTENT_LENGTH=*":
				   the body's length */
	const char *body;		/* NULL: empty */
	int         status;
	const char *reason;		/* the log line's; NULL: not logged */
	const char *has;		/* in the response, or NULL */
	const char *disk;		/* tree_list afterwards */
	int64_t     used;		/* the user's figure afterwards */
	int         early;		/* refused before any body byte */
	const char *user;		/* whose figures: NULL for alice */
	int         cut;		/* the body's read fails at its end */
};

/* Says what differs, with the row and the read size, on stderr. */
static inline int
row_check(int ok, const struct row *r, size_t chunk, const char *what,
    const char *got)
{
	CU_ASSERT(ok);
	if (!ok)
		fprintf(stderr, "\n  %s, reads of %zu: %s: %s\n", r->what,
		    chunk, what, got != NULL ? got : "(none)");
	return ok;
}

/* r's variables, "CONTENT_LENGTH=*" standing for the body's length. */
static inline const char *const *
row_vars(const struct row *r, size_t body_len, const char **vars,
    char *length)
{
	size_t i, n = sizeof r->vars / sizeof r->vars[0];

	snprintf(length, 40, "CONTENT_LENGTH=%zu", body_len);
	for (i = 0; i < n && r->vars[i] != NULL; i++)
		vars[i] = strcmp(r->vars[i], "CONTENT_LENGTH=*") == 0 ?
		    length : r->vars[i];
	vars[i] = NULL;
	return vars;
}

/*
 * Runs r in a fresh tree with reads of at most chunk bytes and checks
 * everything it expects; also that no reservation is left.
 */
static inline void
row_run_chunk(const struct row *r, size_t chunk)
{
	struct tree  t;
	struct fake  f;
	struct buf   disk;
	struct usage u;
	char         want[64], got[64], length[40];
	const char  *vars[sizeof r->vars / sizeof r->vars[0] + 1];
	int          unread, status;
	const char  *user = r->user != NULL ? r->user : "alice";

	if (!row_check(tree_make(&t, r->conf) == 0 &&
	    tree_prepare(&t, r->before) == 0, r, chunk, "setup", r->before))
		goto done;
	memset(&f, 0, sizeof f);
	f.body = r->body != NULL ? r->body : "";
	f.body_len = strlen(f.body);
	f.vars = row_vars(r, f.body_len, vars, length);
	f.cut = r->cut;
	f.chunk = chunk;
	unread = tree_run(&t, &f);
	status = fake_status(&f);
	snprintf(got, sizeof got, "%d", status);
	row_check(status == r->status, r, chunk, "status", got);
	if (r->reason != NULL) {
		snprintf(want, sizeof want, "status=%d reason=%s ", r->status,
		    r->reason);
		row_check(f.log.data != NULL && strstr(f.log.data, want) != NULL,
		    r, chunk, "log", f.log.data);
	} else
		row_check(f.log.len == 0, r, chunk, "log", f.log.data);
	if (r->has != NULL)
		row_check(fake_has(&f, r->has), r, chunk, r->has, f.out.data);
	if (r->early) {
		row_check(f.reads == 0 && unread == 1, r, chunk,
		    "body read", "");
		row_check(fake_has(&f, "Connection: close\r\n"), r, chunk,
		    "Connection: close", f.out.data);
	} else if (status < 300)
		row_check(unread == 0 && f.pos == f.body_len, r, chunk,
		    "body left", "");
	tree_list(&t, &disk);
	row_check(strcmp(disk.data != NULL ? disk.data : "",
	    r->disk != NULL ? r->disk : "") == 0, r, chunk, "disk", disk.data);
	buf_release(&disk);
	if (row_check(tree_usage(&t, user, &u) == 0, r, chunk, "ledger", "")) {
		snprintf(got, sizeof got, "used %lld reserved %lld dead %lld",
		    (long long)u.used, (long long)u.reserved, (long long)u.dead);
		row_check(u.used == r->used && u.reserved == 0 && u.dead == 0,
		    r, chunk, "ledger", got);
	}
	fake_release(&f);
done:
	row_check(tree_remove(&t) == 0, r, chunk, "cleanup", t.dir);
}

/* r with reads of 1 byte, 7 bytes and the whole body at once. */
static inline void
row_run(const struct row *r)
{
	size_t whole = r->body != NULL ? strlen(r->body) : 0;

	row_run_chunk(r, 1);
	row_run_chunk(r, 7);
	row_run_chunk(r, whole > 0 ? whole : 1);
}

#endif
