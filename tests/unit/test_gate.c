/*
 * The whole handler inside CUnit: a table of CGI variables, a body handed
 * out a few bytes at a time, the response caught in a buffer.  Above all:
 * a refused request reads no body byte.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cu_main.h"
#include "tmpdir.h"
#include "gate.h"
#include "io.h"

struct fake {
	const char *const *vars;	/* "NAME=value", NULL-terminated */
	const char *body;
	size_t      body_len;
	size_t      pos;
	size_t      chunk;		/* bytes per read */
	unsigned    reads;		/* read calls that returned bytes */
	struct buf  out;
	struct buf  log;
};

static const char *
fake_param(void *ctx, const char *name)
{
	const struct fake *f = ctx;
	size_t n = strlen(name), i;

	for (i = 0; f->vars[i] != NULL; i++)
		if (strncmp(f->vars[i], name, n) == 0 && f->vars[i][n] == '=')
			return f->vars[i] + n + 1;
	return NULL;
}

static ssize_t
fake_read(void *ctx, void *buf, size_t len)
{
	struct fake *f = ctx;
	size_t n = f->body_len - f->pos;

	if (n > len)
		n = len;
	if (n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	f->reads += n > 0;
	return (ssize_t)n;
}

static int
fake_write(void *ctx, const void *buf, size_t len)
{
	struct fake *f = ctx;

	buf_add(&f->out, buf, len);
	return 0;
}

static void
fake_log(void *ctx, const char *line)
{
	struct fake *f = ctx;

	buf_puts(&f->log, line);
	buf_puts(&f->log, "\n");
}

static char dir[128], conf[160], quota[160], updir[160];

static int
setup(void)
{
	FILE *fp;

	if (tmpdir_make(dir, sizeof dir, "gate") == -1)
		return -1;
	snprintf(conf, sizeof conf, "%s/upgate.conf", dir);
	snprintf(quota, sizeof quota, "%s/quota", dir);
	snprintf(updir, sizeof updir, "%s/up", dir);
	if (mkdir(updir, 0755) == -1 || (fp = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(fp, "upload_dir = %s\nquota_file = %s\nmax_upload_size = 1M\n",
	    updir, quota);
	fclose(fp);
	if ((fp = fopen(quota, "w")) == NULL)
		return -1;
	fputs("alice 1000\nbob 0\n", fp);
	fclose(fp);
	return 0;
}

static int
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs one request; the caller releases f->out and f->log. */
static int
run(struct fake *f)
{
	struct io   io = { fake_param, fake_read, fake_write, fake_log, f };
	struct gate g;
	int         unread;

	buf_init(&f->out);
	buf_init(&f->log);
	gate_init(&g, conf);
	unread = gate_handle(&g, &io);
	gate_release(&g);
	return unread;
}

static int
starts(const struct fake *f, const char *status)
{
	return f->out.data != NULL &&
	    strncmp(f->out.data, status, strlen(status)) == 0;
}

static void
release(struct fake *f)
{
	buf_release(&f->out);
	buf_release(&f->log);
}

static void
test_put_one_byte_reads(void)
{
	static const char *vars[] = { "REQUEST_METHOD=PUT", "REMOTE_USER=alice",
	    "CONTENT_LENGTH=11", "PATH_INFO=/hello.txt", NULL };
	struct fake f = { vars, "hello world", 11, 0, 1, 0, { 0 }, { 0 } };
	char   path[256], got[32] = "";
	int    fd;

	CU_ASSERT_EQUAL(run(&f), 0);
	CU_ASSERT(starts(&f, "Status: 201 Created\r\n"));
	CU_ASSERT_EQUAL(f.reads, 11);
	snprintf(path, sizeof path, "%s/alice/hello.txt", updir);
	fd = open(path, O_RDONLY);
	CU_ASSERT(fd != -1);
	if (fd != -1) {
		CU_ASSERT_EQUAL(read(fd, got, sizeof got), 11);
		CU_ASSERT(memcmp(got, "hello world", 11) == 0);
		close(fd);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(f.log.data,
	    "upgate: user=alice method=PUT status=201 reason=stored size=11 "
	    "used=11 limit=1000 ms="));
	release(&f);
}

/* Each refusal before the body: the status, and not one read. */
static void
test_refusals_read_nothing(void)
{
	static const char *over_quota[] = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=bob", "CONTENT_LENGTH=5", "PATH_INFO=/a", NULL };
	static const char *too_large[] = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=alice", "CONTENT_LENGTH=1048577", "PATH_INFO=/a", NULL };
	static const char *no_length[] = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=alice", "PATH_INFO=/a", NULL };
	static const char *no_user[] = { "REQUEST_METHOD=PUT",
	    "CONTENT_LENGTH=5", "PATH_INFO=/a", NULL };
	static const char *bad_path[] = { "REQUEST_METHOD=PUT",
	    "REMOTE_USER=alice", "CONTENT_LENGTH=5", "PATH_INFO=/../a", NULL };
	static const struct {
		const char *const *vars;
		const char *status;
	} cases[] = {
		{ over_quota, "Status: 507 Insufficient Storage\r\n" },
		{ too_large, "Status: 413 Content Too Large\r\n" },
		{ no_length, "Status: 411 Length Required\r\n" },
		{ no_user, "Status: 403 Forbidden\r\n" },
		{ bad_path, "Status: 400 Bad Request\r\n" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = { cases[i].vars, "hello", 5, 0, 5, 0,
		    { 0 }, { 0 } };

		CU_ASSERT_EQUAL(run(&f), 1);
		CU_ASSERT(starts(&f, cases[i].status));
		CU_ASSERT_EQUAL(f.reads, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(f.out.data, "Connection: close\r\n"));
		release(&f);
	}
}

static void
test_short_body(void)
{
	static const char *vars[] = { "REQUEST_METHOD=PUT", "REMOTE_USER=alice",
	    "CONTENT_LENGTH=100", "PATH_INFO=/short", NULL };
	struct fake f = { vars, "only this", 9, 0, 4, 0, { 0 }, { 0 } };
	char path[256];

	CU_ASSERT_EQUAL(run(&f), 0);
	CU_ASSERT(starts(&f, "Status: 400 Bad Request\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.out.data, "incomplete_body"));
	CU_ASSERT_PTR_NULL(strstr(f.out.data, "Connection: close"));
	snprintf(path, sizeof path, "%s/alice/short", updir);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	release(&f);
}

static void
test_options_without_config(void)
{
	static const char *vars[] = { "REQUEST_METHOD=OPTIONS", NULL };
	struct fake f = { vars, "", 0, 0, 1, 0, { 0 }, { 0 } };
	struct io   io = { fake_param, fake_read, fake_write, fake_log, &f };
	struct gate g;

	buf_init(&f.out);
	buf_init(&f.log);
	gate_init(&g, "/nonexistent/upgate.conf");
	CU_ASSERT_EQUAL(gate_handle(&g, &io), 0);
	gate_release(&g);
	CU_ASSERT(starts(&f, "Status: 204 No Content\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.out.data,
	    "Allow: GET, HEAD, PUT, POST, DELETE, OPTIONS, PROPFIND, "
	    "PROPPATCH, MKCOL\r\nDAV: 1\r\n"));
	CU_ASSERT_EQUAL(f.log.len, 0);
	release(&f);
}

static CU_TestInfo gate_tests[] = {
	{ "PUT read one byte at a time", test_put_one_byte_reads },
	{ "refusals read no body byte", test_refusals_read_nothing },
	{ "short body", test_short_body },
	{ "OPTIONS needs no configuration", test_options_without_config },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "gate", setup, teardown, NULL, NULL, gate_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
