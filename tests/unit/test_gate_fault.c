/*
 * Storage failing under the whole handler: each scenario runs once to
 * record the storage calls it makes, then once per call with that call
 * failing (through store_fault, as in test_store.c), with EIO and with
 * ENOSPC.  Each must be answered — 500 (upgate(8), row 16), or 507 for
 * ENOSPC while writing (row 14) — with nothing left behind (no
 * temporary file, no folder it made, no file stored) and the ledger
 * exact; or, where the file was already in place when the call failed
 * (the folder's fsync after the rename), as a success with the file
 * whole.
 */
#include <errno.h>

#include "cu_main.h"
#include "gate_fake.h"

#define OPS_MAX 256

static struct {
	unsigned n;			/* calls seen */
	unsigned fail;			/* the call to fail, from 1; 0: none */
	int      err;
	char     ops[OPS_MAX][24];	/* the calls of the fault-free run */
} calls;

static int
hook(const char *op)
{
	if (calls.n < OPS_MAX)
		snprintf(calls.ops[calls.n], sizeof calls.ops[0], "%s", op);
	return ++calls.n == calls.fail ? calls.err : 0;
}

#define CT "CONTENT_TYPE=multipart/form-data; boundary=b"
#define FILE_(name, data) "--b\r\nContent-Disposition: form-data; " \
	"name=\"f\"; filename=\"" name "\"\r\n\r\n" data "\r\n"

/*
 * Calls that make or open a name rather than write: their ENOSPC is
 * answered as any other failure, 500 (upgate(8) promises 507 for ENOSPC
 * while writing).
 */
static int
names_op(const char *op)
{
	static const char *const ops[] = { "open", "mkdir", "fsync_dir",
	    "rename", "link", "unlink" };
	size_t i;

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

/* The status of a request refused for call op failing with err. */
static int
status_ok(int status, const char *op, int err)
{
	if (err == ENOSPC && status == 507)
		return 1;
	return status == 500 && (err != ENOSPC || names_op(op));
}

static const struct row scenarios[] = {
	{ .what = "PUT making the user's folder and two more",
	  .conf = "sync = yes\ncreate_parents = yes\n",
	  .vars = { "REQUEST_METHOD=PUT", "REMOTE_USER=alice",
	    "CONTENT_LENGTH=*", "PATH_INFO=/a/b/f" }, .body = "hello world",
	  .status = 201 },
	{ .what = "PUT replacing a file", .conf = "sync = yes\n",
	  .before = "put alice /f abc", .vars = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=alice", "CONTENT_LENGTH=*", "PATH_INFO=/f" },
	  .body = "hello", .status = 204 },
	{ .what = "PUT of unknown length",
	  .conf = "sync = yes\nallow_unknown_length = yes\n",
	  .before = "mkdir up/alice", .vars = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=alice", "PATH_INFO=/f" }, .body = "hello",
	  .status = 201 },
	{ .what = "POST of two files into a folder it makes",
	  .conf = "sync = yes\ncreate_parents = yes\n",
	  .before = "put alice /a.txt abc", .vars = { "REQUEST_METHOD=POST",
	    "REMOTE_USER=alice", CT, "CONTENT_LENGTH=*", "PATH_INFO=/d/" },
	  .body = FILE_("a.txt", "hello") FILE_("b.txt", "world") "--b--\r\n",
	  .status = 201 },
	{ .what = "POST of two files, one name taken",
	  .conf = "sync = yes\n", .before = "put alice /a.txt abc",
	  .vars = { "REQUEST_METHOD=POST", "REMOTE_USER=alice", CT,
	    "CONTENT_LENGTH=*" },
	  .body = FILE_("a.txt", "hello") FILE_("b.txt", "world") "--b--\r\n",
	  .status = 201 },
	{ NULL }
};

/* What a run left: the listing and the user's used figure. */
struct after {
	struct buf disk;
	int64_t    used;
	int        status;
};

/* Runs r in a fresh tree with call fail failing with err (0: none). */
static void
run_once(const struct row *r, unsigned fail, int err, struct after *before,
    struct after *after)
{
	const char  *vars[sizeof r->vars / sizeof r->vars[0] + 1];
	char         length[40];
	struct tree  t;
	struct fake  f;
	struct usage u;

	CU_ASSERT_FATAL(tree_make(&t, r->conf) == 0 &&
	    tree_prepare(&t, r->before) == 0);
	tree_list(&t, &before->disk);
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	before->used = u.used;
	memset(&f, 0, sizeof f);
	f.body = r->body;
	f.body_len = f.chunk = strlen(r->body);
	f.vars = row_vars(r, f.body_len, vars, length);
	calls.n = 0;
	calls.fail = fail;
	calls.err = err;
	store_fault = hook;
	tree_run(&t, &f);
	store_fault = NULL;
	after->status = fake_status(&f);
	tree_list(&t, &after->disk);
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	CU_ASSERT(u.reserved == 0 && u.dead == 0);
	after->used = u.used;
	fake_release(&f);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

static const char *
str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static void
release(struct after *a, struct after *b)
{
	buf_release(&a->disk);
	buf_release(&b->disk);
}

static void
run_scenario(const struct row *r)
{
	struct after before, done, b, a;
	unsigned     n, i, e;
	static const int errs[] = { EIO, ENOSPC };
	int          ok, failed;

	run_once(r, 0, 0, &before, &done);
	n = calls.n;
	CU_ASSERT_EQUAL(done.status, r->status);
	CU_ASSERT(n > 0 && n < OPS_MAX);
	for (i = 1; i <= n && n < OPS_MAX; i++)
		for (e = 0; e < sizeof errs / sizeof errs[0]; e++) {
			run_once(r, i, errs[e], &b, &a);
			failed = a.status != r->status;
			ok = failed ? status_ok(a.status, calls.ops[i - 1],
			    errs[e]) &&
			    strcmp(str(&a.disk), str(&b.disk)) == 0 &&
			    a.used == b.used :
			    strcmp(str(&a.disk), str(&done.disk)) == 0 &&
			    a.used == done.used;
			CU_ASSERT(ok);
			if (!ok)
				fprintf(stderr, "\n  %s, %s %u failing with %s: "
				    "%d, used %lld, disk %s\n", r->what,
				    calls.ops[i - 1], i, strerror(errs[e]),
				    a.status, (long long)a.used, str(&a.disk));
			release(&b, &a);
		}
	release(&before, &done);
}

static void
test_faults(void)
{
	size_t i;

	for (i = 0; scenarios[i].what != NULL; i++)
		run_scenario(&scenarios[i]);
}

static CU_TestInfo fault_tests[] = {
	{ "each storage call failing in turn", test_faults },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "gate faults", tree_suite_init, tree_suite_clean, NULL, NULL,
	  fault_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
