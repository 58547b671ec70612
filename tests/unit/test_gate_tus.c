/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Resumable uploads under the whole handler with storage failing
 * (upgate(8), "Resumable uploads"): a creation, then the PATCH that
 * completes it with each of its storage calls failing in turn (through
 * store_fault), with EIO and with ENOSPC.  Each failing PATCH is
 * answered 500 or 507 — or 204 where the file was in place when the
 * call failed (the folder's fsync after the rename) — and never leaves a
 * partial file under the final name nor an offset that the disk does
 * not hold; the upload stays resumable: a PATCH from HEAD's offset then
 * completes it, the file whole and the ledger exact.  The same for the
 * creation's own calls: a failed creation leaves nothing.
 */
#include <errno.h>

#include "cu_main.h"
#include "gate_fake.h"

#define OPS_MAX 128
#define BODY "0123456789abcdefghij"	/* the upload's 20 bytes */

static struct {
	unsigned n, fail;
	int      err;
	char     ops[OPS_MAX][24];
} calls;

static int
hook(const char *op)
{
	if (calls.n < OPS_MAX)
		snprintf(calls.ops[calls.n], sizeof calls.ops[0], "%s", op);
	return ++calls.n == calls.fail ? calls.err : 0;
}

/* One request; its status, and its Location's id into id when asked. */
static int
request(const struct tree *t, const char **vars, const char *body,
    unsigned fail, int err, char *id)
{
	struct fake f;
	const char *loc;
	int         status;

	memset(&f, 0, sizeof f);
	f.vars = vars;
	f.body = body;
	f.body_len = strlen(body);
	f.chunk = 7;
	calls.n = 0;
	calls.fail = fail;
	calls.err = err;
	store_fault = hook;
	tree_run(t, &f);
	store_fault = NULL;
	status = fake_status(&f);
	if (id != NULL && f.out.data != NULL &&
	    (loc = strstr(f.out.data, "/.resumable/")) != NULL)
		snprintf(id, 33, "%.32s", loc + 12);
	fake_release(&f);
	return status;
}

static int
create(const struct tree *t, unsigned fail, int err, char *id)
{
	const char *vars[] = { "REQUEST_METHOD=POST", "REMOTE_USER=alice",
	    "SCRIPT_NAME=/upload", "CONTENT_LENGTH=0",
	    "HTTP_TUS_RESUMABLE=1.0.0", "HTTP_UPLOAD_LENGTH=20",
	    "HTTP_UPLOAD_METADATA=filename Zi50eHQ=", NULL };	/* f.txt */

	return request(t, vars, "", fail, err, id);
}

static int
patch(const struct tree *t, const char *id, int64_t offset, unsigned fail,
    int err)
{
	char        path[64], off[40], len[40];
	const char *vars[] = { "REQUEST_METHOD=PATCH", "REMOTE_USER=alice",
	    "HTTP_TUS_RESUMABLE=1.0.0",
	    "CONTENT_TYPE=application/offset+octet-stream", path, off, len,
	    NULL };

	snprintf(path, sizeof path, "PATH_INFO=/.resumable/%s", id);
	snprintf(off, sizeof off, "HTTP_UPLOAD_OFFSET=%lld", (long long)offset);
	snprintf(len, sizeof len, "CONTENT_LENGTH=%zu",
	    strlen(BODY) - (size_t)offset);
	return request(t, vars, BODY + offset, fail, err, NULL);
}

/* The upload's durable offset, as the ledger says; -1: none. */
static int64_t
offset_of(const struct tree *t, const char *id)
{
	struct ledger_config lc = { t->state, NULL, 0, 0 };
	struct ledger        l;
	struct upload       *u = malloc(sizeof *u);
	int64_t              off = -1;

	ledger_init(&l);
	if (u != NULL && ledger_open(&l, &lc) == LEDGER_OK &&
	    ledger_upload_get(&l, "alice", id, u) == 0)
		off = u->finished ? u->length : u->offset;
	ledger_close(&l);
	free(u);
	return off;
}

/* The temporary file's first n bytes are the body's. */
static int
tmp_holds(const struct tree *t, int64_t n)
{
	char           dir[400], path[700], got[32];
	struct dirent *de;
	DIR           *d;
	int            fd, ok = 0;

	snprintf(dir, sizeof dir, "%s/alice", t->up);
	if ((d = opendir(dir)) == NULL)
		return n == 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, STORE_TMP_PREFIX,
		    strlen(STORE_TMP_PREFIX)) == 0) {
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			ok = fd != -1 && read(fd, got, (size_t)n) == n &&
			    memcmp(got, BODY, (size_t)n) == 0;
			if (fd != -1)
				close(fd);
		}
	closedir(d);
	return ok;
}

/* alice/f.txt holds the whole body (1), is absent (0), or else (-1). */
static int
stored(const struct tree *t)
{
	char path[400], got[64];
	int  fd;
	ssize_t n;

	snprintf(path, sizeof path, "%s/alice/f.txt", t->up);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, got, sizeof got);
	close(fd);
	return n == (ssize_t)strlen(BODY) && memcmp(got, BODY, (size_t)n) == 0 ?
	    1 : -1;
}

static void
report(const char *what, const char *op, unsigned i, int err, int status)
{
	fprintf(stderr, "\n  %s, %s %u failing with %s: %d", what, op, i,
	    strerror(err), status);
}

/* The completing PATCH with call i failing with err. */
static void
patch_failing(unsigned i, const char *op, int err)
{
	struct tree  t;
	struct usage u;
	char         id[33] = "";
	int64_t      off;
	int          status, ok;

	CU_ASSERT_FATAL(tree_make(&t, "sync = yes\n") == 0);
	CU_ASSERT_EQUAL_FATAL(create(&t, 0, 0, id), 201);
	status = patch(&t, id, 0, i, err);
	off = offset_of(&t, id);
	ok = status == 204 ? stored(&t) == 1 && off == 20 :
	    (status == 500 || status == 507 || status == 503) &&
	    stored(&t) != -1 && off >= 0 && off <= 20 &&
	    (stored(&t) == 1 || tmp_holds(&t, off));
	if (!ok)
		report("completing PATCH", op, i, err, status);
	CU_ASSERT(ok);
	/* resumable: the rest from the offset completes it */
	if (status != 204 && off >= 0 && stored(&t) == 0)
		CU_ASSERT_EQUAL(patch(&t, id, off, 0, 0), 204);
	CU_ASSERT_EQUAL(stored(&t), 1);
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	CU_ASSERT(u.used == 20 && u.reserved == 0);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

/* A creation with call i failing: refused, and nothing left. */
static void
create_failing(unsigned i, const char *op, int err)
{
	struct tree  t;
	struct usage u;
	struct buf   disk;
	int          status, ok;

	CU_ASSERT_FATAL(tree_make(&t, "sync = yes\n") == 0);
	status = create(&t, i, err, NULL);
	tree_list(&t, &disk);
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	ok = (status == 500 || status == 507 || status == 503) &&
	    u.reserved == 0 && u.used == 0 &&
	    (disk.data == NULL || strstr(disk.data, STORE_TMP_PREFIX) == NULL);
	if (!ok)
		report("creation", op, i, err, status);
	CU_ASSERT(ok);
	buf_release(&disk);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

/* The calls of a fault-free run of the step (0: creation, 1: PATCH). */
static unsigned
record(int step, char (*ops)[24])
{
	struct tree t;
	char        id[33] = "";
	unsigned    n;

	CU_ASSERT_FATAL(tree_make(&t, "sync = yes\n") == 0);
	CU_ASSERT_EQUAL(create(&t, 0, 0, id), 201);
	n = calls.n;
	if (step == 1) {
		CU_ASSERT_EQUAL(patch(&t, id, 0, 0, 0), 204);
		n = calls.n;
	}
	memcpy(ops, calls.ops, sizeof calls.ops);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
	return n;
}

static void
test_faults(void)
{
	static const int errs[] = { EIO, ENOSPC };
	char     (*ops)[24] = malloc(sizeof calls.ops);
	unsigned n, i, step;
	size_t   e;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
	for (step = 0; step < 2; step++) {
		n = record((int)step, ops);
		CU_ASSERT(n > 0 && n < OPS_MAX);
		for (i = 1; i <= n && n < OPS_MAX; i++)
			for (e = 0; e < sizeof errs / sizeof errs[0]; e++) {
				if (step == 0)
					create_failing(i, ops[i - 1], errs[e]);
				else
					patch_failing(i, ops[i - 1], errs[e]);
			}
	}
	free(ops);
}

static CU_TestInfo tests[] = {
	{ "each storage call of a creation and of the completing PATCH "
	  "failing in turn", test_faults },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "resumable uploads under faults", tree_suite_init, tree_suite_clean,
	  NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

CU_MAIN(suites)
