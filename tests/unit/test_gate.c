/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * The whole handler inside CUnit, a table of requests: PUT, DELETE, GET,
 * HEAD, OPTIONS and the refusals of upgate(8)'s decision table, each run
 * with reads of 1 byte, 7 bytes and the whole body, then the status,
 * the log line, the disk and the ledger checked.  Forms are in
 * test_gate_form.c, failing storage in test_gate_fault.c.  Above all: a
 * request refused before its body reads no body byte.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "cu_main.h"
#include "gate_fake.h"

/* alice's PUT of PATH with CONTENT_LENGTH LEN. */
#define PUT_(path, len) "REQUEST_METHOD=PUT", "REMOTE_USER=alice", \
	"CONTENT_LENGTH=" len, "PATH_INFO=" path
#define AS(user, method) "REQUEST_METHOD=" method, "REMOTE_USER=" user

static const struct row put_rows[] = {
	{ .what = "a new file", .vars = { PUT_("/hello.txt", "11"),
	    "SCRIPT_NAME=/upload" }, .body = "hello world",
	  .status = 201, .reason = "stored",
	  .has = "Location: /upload/hello.txt\r\n",
	  .disk = "alice/ alice/hello.txt=hello world", .used = 11 },
	{ .what = "Location is REQUEST_URI without its query",
	  .vars = { PUT_("/a.txt", "2"), "SCRIPT_NAME=/upload",
	    "REQUEST_URI=/upload/a.txt?x=1" }, .body = "hi",
	  .status = 201, .reason = "stored", .has = "Location: /upload/a.txt\r\n",
	  .disk = "alice/ alice/a.txt=hi", .used = 2 },
	{ .what = "an empty file", .vars = { PUT_("/e", "0") },
	  .status = 201, .reason = "stored", .disk = "alice/ alice/e=" },
	{ .what = "a replacement, larger", .before = "put alice /a.txt abc",
	  .vars = { PUT_("/a.txt", "5") }, .body = "hello",
	  .status = 204, .reason = "replaced",
	  .disk = "alice/ alice/a.txt=hello", .used = 5 },
	{ .what = "a replacement, smaller", .before = "put alice /a.txt #900",
	  .vars = { PUT_("/a.txt", "2") }, .body = "hi",
	  .status = 204, .reason = "replaced",
	  .disk = "alice/ alice/a.txt=hi", .used = 2 },
	{ .what = "a replacement charged the difference",
	  .before = "put alice /a #900", .vars = { PUT_("/a", "950") },
	  .body = NULL, .status = 400, .reason = "incomplete_body",
	  .disk = "alice/ alice/a=#900", .used = 900 },
	{ .what = "with sync = yes", .conf = "sync = yes\n",
	  .vars = { PUT_("/s", "3") }, .body = "abc",
	  .status = 201, .reason = "stored", .disk = "alice/ alice/s=abc",
	  .used = 3 },
	{ .what = "folders made with create_parents",
	  .conf = "create_parents = yes\n",
	  .vars = { PUT_("/a/b/c.txt", "3") }, .body = "xyz",
	  .status = 201, .reason = "stored",
	  .disk = "alice/ alice/a/ alice/a/b/ alice/a/b/c.txt=xyz", .used = 3 },
	{ .what = "folders made below one that exists",
	  .conf = "create_parents = yes\n", .before = "mkdir up/alice;"
	  "mkdir up/alice/a", .vars = { PUT_("/a/b/c", "1") }, .body = "z",
	  .status = 201, .reason = "stored",
	  .disk = "alice/ alice/a/ alice/a/b/ alice/a/b/c=z", .used = 1 },
	{ .what = "into a folder that exists", .before = "mkdir up/alice;"
	  "mkdir up/alice/d", .vars = { PUT_("/d/f", "1") }, .body = "z",
	  .status = 201, .reason = "stored",
	  .disk = "alice/ alice/d/ alice/d/f=z", .used = 1 },
	{ .what = "If-None-Match: * on a new file",
	  .vars = { PUT_("/n", "1"), "HTTP_IF_NONE_MATCH= * " }, .body = "n",
	  .status = 201, .reason = "stored", .disk = "alice/ alice/n=n",
	  .used = 1 },
	{ .what = "X-Expected-Entity-Length", .vars = { AS("alice", "PUT"),
	    "HTTP_X_EXPECTED_ENTITY_LENGTH=5", "PATH_INFO=/x" },
	  .body = "hello", .status = 201, .reason = "stored",
	  .disk = "alice/ alice/x=hello", .used = 5 },
	{ .what = "unknown length, allowed", .conf = "allow_unknown_length = "
	  "yes\n", .vars = { AS("alice", "PUT"), "PATH_INFO=/u" },
	  .body = "hello", .status = 201, .reason = "stored",
	  .disk = "alice/ alice/u=hello", .used = 5 },
	{ .what = "unknown length, unlimited", .conf = "allow_unknown_length = "
	  "yes\n", .vars = { AS("carol", "PUT"), "PATH_INFO=/u" },
	  .body = "hello", .status = 201, .reason = "stored",
	  .disk = "carol/ carol/u=hello", .used = 5, .user = "carol" },
	{ .what = "anonymous_user", .conf = "anonymous_user = dave\n",
	  .vars = { "REQUEST_METHOD=PUT", "CONTENT_LENGTH=1",
	    "PATH_INFO=/a" }, .body = "a", .status = 201, .reason = "stored",
	  .disk = "dave/ dave/a=a", .used = 1, .user = "dave" },
	{ .what = "per_user_dirs = no", .conf = "per_user_dirs = no\n",
	  .vars = { PUT_("/a.txt", "5") }, .body = "hello",
	  .status = 201, .reason = "stored", .disk = "a.txt=hello", .used = 5 },
	{ .what = "per_user_dirs = no, one's own file replaced",
	  .conf = "per_user_dirs = no\n", .before = "put alice /a.txt abc",
	  .vars = { PUT_("/a.txt", "5") }, .body = "hello",
	  .status = 204, .reason = "replaced", .disk = "a.txt=hello",
	  .used = 5 },
	{ NULL }
};

static const struct row refusal_rows[] = {
	{ .what = "row 1: an unknown method", .vars = { AS("alice", "BREW") },
	  .status = 405, .reason = "method_not_allowed",
	  .has = "Allow: GET, HEAD, PUT, POST, DELETE, OPTIONS, PROPFIND, "
	      "PROPPATCH, MKCOL, COPY, MOVE\r\n" },
	{ .what = "row 1: methods are case-sensitive",
	  .vars = { AS("alice", "put"), "CONTENT_LENGTH=1" }, .body = "a",
	  .status = 405, .reason = "method_not_allowed", .early = 1 },
	{ .what = "row 2: a broken configuration", .conf = "bogus = 1\n",
	  .vars = { PUT_("/a", "1") }, .body = "a",
	  .status = 500, .reason = "server_error", .early = 1 },
	{ .what = "row 2: state_dir unusable", .before = "file up/.upgate x",
	  .vars = { PUT_("/a", "1") }, .body = "a",
	  .status = 500, .reason = "server_error", .early = 1 },
	{ .what = "row 2: the quota table gone", .before = "rm quota",
	  .vars = { PUT_("/a", "1") }, .body = "a",
	  .status = 500, .reason = "server_error", .early = 1 },
	{ .what = "row 3: no identity", .vars = { "REQUEST_METHOD=PUT",
	    "CONTENT_LENGTH=5", "PATH_INFO=/a" }, .body = "hello",
	  .status = 403, .reason = "forbidden", .early = 1 },
	{ .what = "row 3: an invalid user name", .vars = { AS(".x", "PUT"),
	    "CONTENT_LENGTH=5", "PATH_INFO=/a" }, .body = "hello",
	  .status = 403, .reason = "forbidden", .early = 1 },
	{ .what = "row 4: no length", .vars = { AS("alice", "PUT"),
	    "PATH_INFO=/a" }, .body = "hello",
	  .status = 411, .reason = "length_required", .early = 1 },
	{ .what = "row 5: a length that is no number",
	  .vars = { PUT_("/a", "12a") }, .body = "hello",
	  .status = 400, .reason = "bad_request", .early = 1 },
	{ .what = "row 5: a negative length",
	  .vars = { PUT_("/a", "-1") }, .body = "hello",
	  .status = 400, .reason = "bad_request", .early = 1 },
	{ .what = "row 6: over max_upload_size",
	  .conf = "max_upload_size = 10\n", .vars = { PUT_("/a", "11") },
	  .body = "hello world", .status = 413, .reason = "too_large",
	  .early = 1 },
	{ .what = "row 8: a path that climbs", .vars = { PUT_("/../a", "5") },
	  .body = "hello", .status = 400, .reason = "bad_request",
	  .early = 1 },
	{ .what = "row 8: a dot name", .vars = { PUT_("/.htaccess", "5") },
	  .body = "hello", .status = 400, .reason = "bad_request",
	  .early = 1 },
	{ .what = "row 8: a folder path for PUT", .vars = { PUT_("/a/", "5") },
	  .body = "hello", .status = 400, .reason = "bad_request",
	  .early = 1 },
	{ .what = "row 8: no path for PUT", .vars = { AS("alice", "PUT"),
	    "CONTENT_LENGTH=5" }, .body = "hello", .status = 400,
	  .reason = "bad_request", .early = 1 },
	{ .what = "row 8: a link as the target", .before = "mkdir up/alice;"
	  "ln /tmp up/alice/l", .vars = { PUT_("/l", "5") }, .body = "hello",
	  .status = 403, .reason = "forbidden", .early = 1,
	  .disk = "alice/ alice/l@" },
	{ .what = "row 8: a link on the path", .before = "mkdir up/alice;"
	  "ln /etc up/alice/etc", .vars = { PUT_("/etc/passwd", "5") },
	  .body = "hello", .status = 403, .reason = "forbidden", .early = 1,
	  .disk = "alice/ alice/etc@" },
	{ .what = "row 8: the user's folder a link", .before = "ln /tmp up/alice",
	  .vars = { PUT_("/a", "5") }, .body = "hello", .status = 403,
	  .reason = "forbidden", .early = 1, .disk = "alice@" },
	{ .what = "row 8: If-None-Match: * on a file",
	  .before = "put alice /a abc",
	  .vars = { PUT_("/a", "5"), "HTTP_IF_NONE_MATCH=*" }, .body = "hello",
	  .status = 412, .reason = "precondition_failed", .early = 1,
	  .disk = "alice/ alice/a=abc", .used = 3 },
	{ .what = "row 8: another user's file, per_user_dirs = no",
	  .conf = "per_user_dirs = no\n", .before = "put carol /c.txt hi",
	  .vars = { PUT_("/c.txt", "5") }, .body = "hello", .status = 403,
	  .reason = "forbidden", .early = 1, .disk = "c.txt=hi" },
	{ .what = "row 8: nobody's file, per_user_dirs = no",
	  .conf = "per_user_dirs = no\n", .before = "file up/n.txt x",
	  .vars = { PUT_("/n.txt", "5") }, .body = "hello", .status = 403,
	  .reason = "forbidden", .early = 1, .disk = "n.txt=x" },
	{ .what = "row 9: a missing folder", .vars = { PUT_("/d/a", "5") },
	  .body = "hello", .status = 409, .reason = "conflict", .early = 1 },
	{ .what = "row 9: a missing folder, the user's there",
	  .before = "mkdir up/alice", .vars = { PUT_("/d/a", "5") },
	  .body = "hello", .status = 409, .reason = "conflict", .early = 1,
	  .disk = "alice/" },
	{ .what = "row 9: a file where a folder is needed",
	  .before = "mkdir up/alice;file up/alice/f x",
	  .vars = { PUT_("/f/a", "5") }, .body = "hello", .status = 409,
	  .reason = "conflict", .early = 1, .disk = "alice/ alice/f=x" },
	{ .what = "row 9: the user's folder a file", .before = "file up/alice x",
	  .vars = { PUT_("/a", "5") }, .body = "hello", .status = 409,
	  .reason = "conflict", .early = 1, .disk = "alice=x" },
	{ .what = "row 9: a folder as the target",
	  .before = "mkdir up/alice;mkdir up/alice/d",
	  .vars = { PUT_("/d", "5") }, .body = "hello", .status = 409,
	  .reason = "conflict", .early = 1, .disk = "alice/ alice/d/" },
	{ .what = "row 9: allow_overwrite = no", .conf = "allow_overwrite = no\n",
	  .before = "put alice /a abc", .vars = { PUT_("/a", "5") },
	  .body = "hello", .status = 409, .reason = "conflict", .early = 1,
	  .disk = "alice/ alice/a=abc", .used = 3 },
	{ .what = "row 10: no space above min_free_space",
	  .conf = "min_free_space = 100%\n", .vars = { PUT_("/a", "5") },
	  .body = "hello", .status = 507, .reason = "disk_full", .early = 1,
	  .has = "Retry-After: 3600\r\n" },
	{ .what = "row 10: the folder shown with expose_paths",
	  .conf = "min_free_space = 100%\nexpose_paths = yes\n",
	  .vars = { PUT_("/a", "5") }, .body = "hello", .status = 507,
	  .reason = "disk_full", .early = 1, .has = "storage_path" },
	{ .what = "row 11: a quota of 0", .vars = { AS("bob", "PUT"),
	    "CONTENT_LENGTH=5", "PATH_INFO=/a" }, .body = "hello",
	  .status = 507, .reason = "quota_exceeded", .early = 1,
	  .has = "X-Quota-Limit: 0\r\n", .user = "bob" },
	{ .what = "row 11: the quota passed",
	  .before = "put alice /a #900;put alice /b #50",
	  .vars = { PUT_("/c", "51") }, .body = "x", .status = 507,
	  .reason = "quota_exceeded", .early = 1,
	  .has = "X-Quota-Used: 950\r\n", .disk = "alice/ alice/a=#900 alice/b=#50",
	  .used = 950 },
	{ .what = "row 11: no largest files listed",
	  .conf = "largest_files = 0\n", .before = "put alice /a #900",
	  .vars = { PUT_("/c", "101") }, .body = "x", .status = 507,
	  .reason = "quota_exceeded", .early = 1, .has = "\"largest_files\":[]",
	  .disk = "alice/ alice/a=#900", .used = 900 },
	{ .what = "row 11: at most 100 largest files listed",
	  .conf = "largest_files = 1000\n", .before = "put alice /a #900",
	  .vars = { PUT_("/c", "101") }, .body = "x", .status = 507,
	  .reason = "quota_exceeded", .early = 1, .has = "\"name\":\"a\"",
	  .disk = "alice/ alice/a=#900", .used = 900 },
	{ .what = "row 11: an empty file fits any quota",
	  .vars = { AS("bob", "PUT"), "CONTENT_LENGTH=0", "PATH_INFO=/e" },
	  .status = 201, .reason = "stored", .disk = "bob/ bob/e=",
	  .user = "bob" },
	{ .what = "row 12: the body ends early",
	  .vars = { PUT_("/short", "100") }, .body = "only this",
	  .status = 400, .reason = "incomplete_body", },
	{ .what = "row 12: the client gone mid-body",
	  .vars = { PUT_("/short", "100") }, .body = "only this", .cut = 1,
	  .status = 400, .reason = "incomplete_body",
	  .has = "could not be read" },
	{ .what = "row 12: shorter than X-Expected-Entity-Length",
	  .vars = { AS("alice", "PUT"), "HTTP_X_EXPECTED_ENTITY_LENGTH=5",
	    "PATH_INFO=/x" }, .body = "abc", .status = 400,
	  .reason = "incomplete_body", },
	{ .what = "row 13: longer than X-Expected-Entity-Length",
	  .vars = { AS("alice", "PUT"), "HTTP_X_EXPECTED_ENTITY_LENGTH=5",
	    "PATH_INFO=/x" }, .body = "hello, world", .status = 400,
	  .reason = "bad_request", .has = "X-Expected-Entity-Length",
	  },
	{ .what = "row 13: unknown length past max_upload_size",
	  .conf = "allow_unknown_length = yes\nmax_upload_size = 10\n",
	  .vars = { AS("alice", "PUT"), "PATH_INFO=/u" },
	  .body = "hello, world", .status = 413, .reason = "too_large",
	  },
	{ .what = "row 14: unknown length past the quota",
	  .conf = "allow_unknown_length = yes\n",
	  .vars = { AS("dave", "PUT"), "PATH_INFO=/u" },
	  .body = "0123456789012345678901234567890123456789012345678901234567"
	  "8901234567890123456789012345678901234567890123456789",
	  .status = 507, .reason = "quota_exceeded", .user = "dave" },
	{ NULL }
};

static const struct row other_rows[] = {
	{ .what = "GET: the quota status", .before = "put alice /a abc",
	  .vars = { AS("alice", "GET") }, .status = 200,
	  .has = "X-Quota-Used: 3\r\n", .disk = "alice/ alice/a=abc",
	  .used = 3 },
	{ .what = "GET in XML", .vars = { AS("alice", "GET"),
	    "HTTP_ACCEPT=application/xml" }, .status = 200,
	  .has = "Content-Type: application/xml" },
	{ .what = "GET of an unlimited user", .vars = { AS("carol", "GET") },
	  .status = 200, .has = "\"limit\":null", .user = "carol" },
	{ .what = "HEAD: the status without a body",
	  .vars = { AS("alice", "HEAD") }, .status = 200 },
	{ .what = "GET without identity", .vars = { "REQUEST_METHOD=GET" },
	  .status = 403, .reason = "forbidden" },
	{ .what = "GET with a broken configuration", .conf = "bogus = 1\n",
	  .vars = { AS("alice", "GET") }, .status = 500,
	  .reason = "server_error" },
	{ .what = "OPTIONS", .vars = { "REQUEST_METHOD=OPTIONS" },
	  .status = 204,
	  .has = "Allow: GET, HEAD, PUT, POST, DELETE, OPTIONS, PROPFIND, "
	      "PROPPATCH, MKCOL, COPY, MOVE\r\n" },
	{ .what = "DELETE of a file", .before = "put alice /a abc;"
	  "put alice /b hello", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/a" }, .status = 204, .reason = "deleted",
	  .disk = "alice/ alice/b=hello", .used = 5 },
	{ .what = "DELETE, per_user_dirs = no", .conf = "per_user_dirs = no\n",
	  .before = "put alice /a abc", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/a" }, .status = 204, .reason = "deleted" },
	{ .what = "DELETE of another user's file, per_user_dirs = no",
	  .conf = "per_user_dirs = no\n", .before = "put carol /a abc",
	  .vars = { AS("alice", "DELETE"), "PATH_INFO=/a" }, .status = 403,
	  .reason = "forbidden", .disk = "a=abc" },
	{ .what = "DELETE of a missing file", .before = "mkdir up/alice",
	  .vars = { AS("alice", "DELETE"), "PATH_INFO=/a" }, .status = 404,
	  .reason = "not_found", .disk = "alice/" },
	{ .what = "DELETE before the user's folder exists",
	  .vars = { AS("alice", "DELETE"), "PATH_INFO=/a" }, .status = 404,
	  .reason = "not_found" },
	{ .what = "DELETE in a missing folder",
	  .vars = { AS("alice", "DELETE"), "PATH_INFO=/d/a" }, .status = 404,
	  .reason = "not_found" },
	{ .what = "DELETE of a folder (WebDAV)", .before = "mkdir up/alice;"
	  "mkdir up/alice/d", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/d" }, .status = 204, .reason = "deleted",
	  .disk = "alice/" },
	{ .what = "DELETE of a folder holding a dot name (WebDAV)",
	  .before = "put alice /d/a abc;file up/alice/d/.keep k",
	  .conf = "create_parents = yes\n",
	  .vars = { AS("alice", "DELETE"), "PATH_INFO=/d/" }, .status = 207,
	  .reason = "deleted", .has = "<D:href>/d/</D:href>\n<D:status>"
	      "HTTP/1.1 409 Conflict</D:status>",
	  .disk = "alice/ alice/d/ alice/d/.keep=k" },
	{ .what = "DELETE of the user's folder (WebDAV)",
	  .before = "put alice /a abc", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/" }, .status = 403, .reason = "forbidden",
	  .has = "The folder cannot be deleted: that is your own folder",
	  .disk = "alice/ alice/a=abc", .used = 3 },
	{ .what = "COPY of a file", .before = "put alice /a abc",
	  .vars = { AS("alice", "COPY"), "PATH_INFO=/a",
	    "HTTP_DESTINATION=/b" }, .status = 201, .reason = "copied",
	  .has = "ETag: \"", .disk = "alice/ alice/a=abc alice/b=abc",
	  .used = 6 },
	{ .what = "COPY over quota", .before = "put alice /a #600",
	  .vars = { AS("alice", "COPY"), "PATH_INFO=/a",
	    "HTTP_DESTINATION=/b" }, .status = 507, .reason = "quota_exceeded",
	  .has = "The copy of 600 bytes would exceed your quota",
	  .disk = "alice/ alice/a=#600", .used = 600 },
	{ .what = "MOVE of a folder", .before = "put alice /d/a abc",
	  .conf = "create_parents = yes\n",
	  .vars = { AS("alice", "MOVE"), "PATH_INFO=/d",
	    "HTTP_DESTINATION=http://h/e/", "HTTP_HOST=h" }, .status = 201,
	  .reason = "moved", .disk = "alice/ alice/e/ alice/e/a=abc",
	  .used = 3 },
	{ .what = "MOVE to another host", .before = "put alice /a abc",
	  .vars = { AS("alice", "MOVE"), "PATH_INFO=/a",
	    "HTTP_DESTINATION=http://elsewhere/b", "HTTP_HOST=h" },
	  .status = 403, .reason = "forbidden",
	  .has = "The move cannot be made: the Destination lies on another "
	      "host", .disk = "alice/ alice/a=abc", .used = 3 },
	{ .what = "DELETE through a link", .before = "mkdir up/alice;"
	  "ln /etc up/alice/etc", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/etc/passwd" }, .status = 403, .reason = "forbidden",
	  .disk = "alice/ alice/etc@" },
	{ .what = "DELETE of a bad path", .vars = { AS("alice", "DELETE"),
	    "PATH_INFO=/../a" }, .status = 400, .reason = "bad_request" },
	{ NULL }
};

static void
run_rows(const struct row *rows)
{
	size_t i;

	for (i = 0; rows[i].what != NULL; i++)
		row_run(&rows[i]);
}

static void
test_put(void)
{
	run_rows(put_rows);
}

static void
test_refusals(void)
{
	run_rows(refusal_rows);
}

static void
test_other_methods(void)
{
	run_rows(other_rows);
}

/* The log line of upgate(8), "LOGS", field by field. */
static void
test_log_line(void)
{
	static const char *vars[] = { PUT_("/hello.txt", "11"), NULL };
	struct tree t;
	struct fake f = { vars, "hello world", 11, 0, 1, 0, { 0 }, { 0 }, 0 };

	CU_ASSERT_EQUAL_FATAL(tree_make(&t, NULL), 0);
	CU_ASSERT_EQUAL(tree_run(&t, &f), 0);
	CU_ASSERT_EQUAL(f.reads, 11);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.log.data,
	    "upgate: user=alice method=PUT status=201 reason=stored size=11 "
	    "used=11 limit=1000 ms="));
	fake_release(&f);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

static void
test_options_without_config(void)
{
	static const char *vars[] = { "REQUEST_METHOD=OPTIONS", NULL };
	struct fake f = { vars, "", 0, 0, 1, 0, { 0 }, { 0 }, 0 };
	struct tree t;

	snprintf(t.conf, sizeof t.conf, "/nonexistent/upgate.conf");
	CU_ASSERT_EQUAL(tree_run(&t, &f), 0);
	CU_ASSERT_EQUAL(fake_status(&f), 204);
	CU_ASSERT(fake_has(&f, "Allow: GET, HEAD, PUT, POST, DELETE, "
	    "OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE\r\nDAV: 1\r\n"));
	CU_ASSERT_EQUAL(f.log.len, 0);
	fake_release(&f);
}

/*
 * One gate for several requests, as in the responder: the configuration
 * is read again only when its file changed (upgate(8), "FastCGI").
 */
static void
test_config_reread(void)
{
	static const char *vars[] = { PUT_("/a", "1"), NULL };
	struct fake f = { vars, "a", 1, 0, 1, 0, { 0 }, { 0 }, 0 };
	struct io   io = { fake_param, fake_read, fake_write, fake_log, &f };
	struct gate g;
	struct tree t;
	char        text[1024], tmp[400];
	int         i;

	CU_ASSERT_EQUAL_FATAL(tree_make(&t, NULL), 0);
	gate_init(&g, t.conf);
	for (i = 0; i < 3; i++) {
		if (i == 2) {
			/* replaced by rename, as operators do */
			snprintf(text, sizeof text, "upload_dir = %s\n"
			    "max_upload_size = 0\nallow_overwrite = no\n", t.up);
			snprintf(tmp, sizeof tmp, "%s.new", t.conf);
			CU_ASSERT(tree_write(tmp, text) == 0 &&
			    rename(tmp, t.conf) == 0);
		}
		buf_init(&f.out);
		buf_init(&f.log);
		f.pos = 0;
		gate_handle(&g, &io);
		CU_ASSERT_EQUAL(fake_status(&f), i == 0 ? 201 : i == 1 ? 204 :
		    409);
		fake_release(&f);
	}
	gate_release(&g);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

/* A front end with no worker to spare (upgate(8), "FastCGI"). */
static void
test_refuse_busy(void)
{
	static const char *vars[] = { PUT_("/a", "5"), NULL };
	struct fake f = { vars, "hello", 5, 0, 5, 0, { 0 }, { 0 }, 0 };
	struct io   io = { fake_param, fake_read, fake_write, fake_log, &f };
	struct gate g;
	struct tree t;

	CU_ASSERT_EQUAL_FATAL(tree_make(&t, NULL), 0);
	buf_init(&f.out);
	buf_init(&f.log);
	gate_init(&g, t.conf);
	CU_ASSERT_EQUAL(gate_refuse_busy(&g, &io), 1);
	gate_release(&g);
	CU_ASSERT_EQUAL(fake_status(&f), 503);
	CU_ASSERT(fake_has(&f, "Retry-After: 1\r\n"));
	CU_ASSERT_EQUAL(f.reads, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.log.data,
	    "user=alice method=PUT status=503 reason=busy"));
	fake_release(&f);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

/*
 * A handler killed with its reservation and temporary file: the user's
 * next request reclaims both (upgate(8), "USAGE ACCOUNTING").
 */
static void
test_reclaim_dead(void)
{
	static const char *vars[] = { PUT_("/b", "1"), NULL };
	struct fake f = { vars, "b", 1, 0, 1, 0, { 0 }, { 0 }, 0 };
	struct tree t;
	struct buf  disk;
	struct usage u;
	pid_t       pid;
	int         status = -1;

	CU_ASSERT_EQUAL_FATAL(tree_make(&t, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tree_prepare(&t, "put alice /a abc;"
	    "file up/alice/.upgate-tmp-0123456789abcdef partial"), 0);
	if ((pid = fork()) == 0) {
		struct ledger_config lc = { t.state, NULL, 0, 0 };
		struct ledger        l;
		struct reservation   r;

		ledger_init(&l);
		ledger_reservation_init(&r);
		if (ledger_open(&l, &lc) != LEDGER_OK ||
		    ledger_lock_user(&l, "alice", 0) != LEDGER_OK ||
		    ledger_reserve(&l, "alice", 500,
		    "alice/.upgate-tmp-0123456789abcdef", &r) != LEDGER_OK)
			_exit(1);
		ledger_unlock(&l);
		kill(getpid(), SIGKILL);	/* nothing released */
	}
	CU_ASSERT_FATAL(pid != -1);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFSIGNALED(status));
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	CU_ASSERT(u.dead > 0);
	CU_ASSERT_EQUAL(tree_run(&t, &f), 0);
	CU_ASSERT_EQUAL(fake_status(&f), 201);
	tree_list(&t, &disk);
	CU_ASSERT_STRING_EQUAL(disk.data, "alice/ alice/a=abc alice/b=b");
	buf_release(&disk);
	CU_ASSERT_EQUAL(tree_usage(&t, "alice", &u), 0);
	CU_ASSERT(u.used == 4 && u.reserved == 0 && u.dead == 0);
	fake_release(&f);
	CU_ASSERT_EQUAL(tree_remove(&t), 0);
}

static CU_TestInfo gate_tests[] = {
	{ "PUT", test_put },
	{ "refusals, row by row", test_refusals },
	{ "GET, HEAD, OPTIONS, DELETE", test_other_methods },
	{ "the log line", test_log_line },
	{ "OPTIONS needs no configuration", test_options_without_config },
	{ "a busy refusal", test_refuse_busy },
	{ "the configuration read again", test_config_reread },
	{ "a dead handler's reservation reclaimed", test_reclaim_dead },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "gate", tree_suite_init, tree_suite_clean, NULL, NULL, gate_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
