/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Forms (multipart/form-data POSTs, RFC 7578) through the whole handler,
 * a table of requests run with reads of 1 byte, 7 bytes and the whole
 * body: files stored all or nothing under free names, text fields read
 * and dropped, every refusal with nothing left behind and the ledger
 * exact (upgate(8), "REQUESTS").
 */
#include "cu_main.h"
#include "gate_fake.h"
#include "table.h"

#define CT "CONTENT_TYPE=multipart/form-data; boundary=b"
/* alice's form, its length that of the row's body. */
#define POST_ "REQUEST_METHOD=POST", "REMOTE_USER=alice", CT, \
	"CONTENT_LENGTH=*"
#define AS(user) "REQUEST_METHOD=POST", "REMOTE_USER=" user, CT, \
	"CONTENT_LENGTH=*"
/* A file part and a text part; END closes the form. */
#define FILE_(field, name, data) "--b\r\nContent-Disposition: form-data; " \
	"name=\"" field "\"; filename=\"" name "\"\r\n" \
	"Content-Type: application/octet-stream\r\n\r\n" data "\r\n"
#define TEXT_(field, data) "--b\r\nContent-Disposition: form-data; " \
	"name=\"" field "\"\r\n\r\n" data "\r\n"
#define END "--b--\r\n"

static const struct row form_rows[] = {
	{ .what = "one file", .vars = { POST_ },
	  .body = FILE_("f", "a.txt", "hello") END,
	  .status = 201, .reason = "stored",
	  .has = "\"stored_as\":\"a.txt\"", .disk = "alice/ alice/a.txt=hello",
	  .used = 5 },
	{ .what = "two files and a text field", .vars = { POST_ },
	  .body = TEXT_("note", "a note") FILE_("f", "a.txt", "hello")
	  FILE_("g", "b.bin", "\r\n--") END,
	  .status = 201, .reason = "stored",
	  .disk = "alice/ alice/a.txt=hello alice/b.bin=\r\n--", .used = 9 },
	{ .what = "a name taken gets a suffix", .before = "put alice /a.txt abc",
	  .vars = { POST_ }, .body = FILE_("f", "a.txt", "hello") END,
	  .status = 201, .reason = "stored", .has = "\"stored_as\":\"a-1.txt\"",
	  .disk = "alice/ alice/a-1.txt=hello alice/a.txt=abc", .used = 8 },
	{ .what = "two parts of one name", .vars = { POST_ },
	  .body = FILE_("f", "a.tar.gz", "1") FILE_("f", "a.tar.gz", "2") END,
	  .status = 201, .reason = "stored",
	  .disk = "alice/ alice/a.tar-1.gz=2 alice/a.tar.gz=1", .used = 2 },
	{ .what = "a Windows path reduced to its name", .vars = { POST_ },
	  .body = FILE_("f", "C:\\dir\\x.txt", "x") END,
	  .status = 201, .reason = "stored", .disk = "alice/ alice/x.txt=x",
	  .used = 1 },
	{ .what = "filename* wins", .vars = { POST_ },
	  .body = "--b\r\nContent-Disposition: form-data; name=\"f\"; "
	  "filename=\"e.txt\"; filename*=UTF-8''%C3%A9.txt\r\n\r\nx\r\n" END,
	  .status = 201, .reason = "stored", .disk = "alice/ alice/\xc3\xa9.txt=x",
	  .used = 1 },
	{ .what = "an empty file field is skipped", .vars = { POST_ },
	  .body = FILE_("e", "", "") FILE_("f", "a", "a") END,
	  .status = 201, .reason = "stored", .disk = "alice/ alice/a=a",
	  .used = 1 },
	{ .what = "into a folder", .before = "mkdir up/alice;mkdir up/alice/d",
	  .vars = { POST_, "PATH_INFO=/d/" }, .body = FILE_("f", "a", "a") END,
	  .status = 201, .reason = "stored", .has = "\"stored_as\":\"d/a\"",
	  .disk = "alice/ alice/d/ alice/d/a=a", .used = 1 },
	{ .what = "into folders made with create_parents",
	  .conf = "create_parents = yes\n", .vars = { POST_, "PATH_INFO=/d/e" },
	  .body = FILE_("f", "a", "a") END, .status = 201, .reason = "stored",
	  .disk = "alice/ alice/d/ alice/d/e/ alice/d/e/a=a", .used = 1 },
	{ .what = "an unlimited user", .vars = { AS("carol") },
	  .body = FILE_("f", "a", "abc") END, .status = 201, .reason = "stored",
	  .disk = "carol/ carol/a=abc", .used = 3, .user = "carol" },
	{ .what = "unknown length, allowed",
	  .conf = "allow_unknown_length = yes\n",
	  .vars = { "REQUEST_METHOD=POST", "REMOTE_USER=alice", CT },
	  .body = FILE_("f", "a", "abc") FILE_("f", "b", "de") END,
	  .status = 201, .reason = "stored", .disk = "alice/ alice/a=abc "
	  "alice/b=de", .used = 5 },
	{ .what = "per_user_dirs = no", .conf = "per_user_dirs = no\n",
	  .before = "put carol /a abc", .vars = { POST_ },
	  .body = FILE_("f", "a", "1") FILE_("f", "b", "2") END,
	  .status = 201, .reason = "stored", .disk = "a=abc a-1=1 b=2",
	  .used = 2 },
	{ .what = "per_user_dirs = no, unknown length",
	  .conf = "per_user_dirs = no\nallow_unknown_length = yes\n",
	  .vars = { "REQUEST_METHOD=POST", "REMOTE_USER=alice", CT },
	  .body = FILE_("f", "a", "1") FILE_("f", "b", "2") END,
	  .status = 201, .reason = "stored", .disk = "a=1 b=2", .used = 2 },
	{ .what = "HTML", .vars = { POST_, "HTTP_ACCEPT=text/html" },
	  .body = FILE_("f", "a<b", "1") END, .status = 201, .reason = "stored",
	  .has = "a&lt;b", .disk = "alice/ alice/a<b=1", .used = 1 },
	{ NULL }
};

static const struct row refusal_rows[] = {
	{ .what = "row 7: not a form", .vars = { "REQUEST_METHOD=POST",
	    "REMOTE_USER=alice", "CONTENT_TYPE=text/plain",
	    "CONTENT_LENGTH=*" }, .body = "hello",
	  .status = 415, .reason = "unsupported_media_type", .early = 1 },
	{ .what = "row 7: no boundary", .vars = { "REQUEST_METHOD=POST",
	    "REMOTE_USER=alice", "CONTENT_TYPE=multipart/form-data",
	    "CONTENT_LENGTH=*" }, .body = "hello",
	  .status = 415, .reason = "unsupported_media_type", .early = 1 },
	{ .what = "row 8: a path that climbs",
	  .vars = { POST_, "PATH_INFO=/../d/" }, .body = FILE_("f", "a", "a")
	  END, .status = 400, .reason = "bad_request", .early = 1 },
	{ .what = "row 8: a link on the path", .before = "mkdir up/alice;"
	  "ln /tmp up/alice/l", .vars = { POST_, "PATH_INFO=/l/" },
	  .body = FILE_("f", "a", "a") END, .status = 403,
	  .reason = "forbidden", .early = 1, .disk = "alice/ alice/l@" },
	{ .what = "row 9: a missing folder", .vars = { POST_,
	    "PATH_INFO=/d/" }, .body = FILE_("f", "a", "a") END,
	  .status = 409, .reason = "conflict", .early = 1 },
	{ .what = "row 10: no space left for the file bytes",
	  .conf = "min_free_space = 100%\n", .vars = { POST_ },
	  .body = FILE_("f", "a", "a") END, .status = 507,
	  .reason = "disk_full" },
	{ .what = "row 11: the quota passed by the file bytes",
	  .vars = { AS("dave") }, .body = FILE_("f", "a", "0123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789") END, .status = 507,
	  .reason = "quota_exceeded", .user = "dave" },
	{ .what = "row 11: a quota of 0", .vars = { AS("bob") },
	  .body = FILE_("f", "a", "a") END, .status = 507,
	  .reason = "quota_exceeded", .user = "bob" },
	{ .what = "row 12: the form ends early", .vars = {
	    "REQUEST_METHOD=POST", "REMOTE_USER=alice", CT,
	    "CONTENT_LENGTH=500" }, .body = FILE_("f", "a", "a"),
	  .status = 400, .reason = "incomplete_body" },
	{ .what = "row 13: malformed, no closing delimiter",
	  .vars = { POST_ }, .body = FILE_("f", "a", "hello"),
	  .status = 400, .reason = "bad_request", .has = "malformed" },
	{ .what = "row 13: malformed, part headers never end",
	  .vars = { POST_ }, .body = "--b\r\nContent-Disposition: form-data",
	  .status = 400, .reason = "bad_request", .has = "malformed" },
	{ .what = "row 13: malformed, a part without Content-Disposition",
	  .vars = { POST_ }, .body = FILE_("f", "a", "a")
	  "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" END,
	  .status = 400, .reason = "bad_request", .has = "malformed" },
	{ .what = "row 13: a bad file name stores nothing", .vars = { POST_ },
	  .body = FILE_("f", "a", "a") FILE_("f", ".htaccess", "x") END,
	  .status = 400, .reason = "bad_request", .has = "not allowed" },
	{ .what = "row 13: a named file part with an empty name",
	  .vars = { POST_ }, .body = FILE_("f", "", "data") END,
	  .status = 400, .reason = "bad_request", .has = "empty name" },
	{ .what = "row 13: only a text field", .vars = { POST_ },
	  .body = TEXT_("t", "text") END, .status = 400,
	  .reason = "bad_request", .has = "holds no file" },
	{ .what = "row 13: more files than max_files",
	  .conf = "max_files = 1\n", .vars = { POST_ },
	  .body = FILE_("f", "a", "a") FILE_("f", "b", "b") END,
	  .status = 413, .reason = "too_large", .has = "more than 1 files" },
	{ .what = "row 14: unknown length past the quota",
	  .conf = "allow_unknown_length = yes\n",
	  .vars = { "REQUEST_METHOD=POST", "REMOTE_USER=dave", CT },
	  .body = FILE_("f", "a", "0123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789") END, .status = 507,
	  .reason = "quota_exceeded", .user = "dave" },
	{ NULL }
};

static void
test_forms(void)
{
	size_t i;

	for (i = 0; form_rows[i].what != NULL; i++)
		row_run(&form_rows[i]);
}

static void
test_refusals(void)
{
	size_t i;

	for (i = 0; refusal_rows[i].what != NULL; i++)
		row_run(&refusal_rows[i]);
}

/* A form of n parts made by part(i, buf); whole reads (it is large). */
static void
run_big(const char *what, const char *conf, size_t n,
    void (*part)(size_t, struct buf *), int status, const char *reason)
{
	struct buf b;
	struct row r;
	size_t     i;

	buf_init(&b);
	for (i = 0; i < n; i++)
		part(i, &b);
	buf_puts(&b, END);
	CU_ASSERT_FATAL(!b.failed);
	memset(&r, 0, sizeof r);
	r.what = what;
	r.conf = conf;
	r.vars[0] = "REQUEST_METHOD=POST";
	r.vars[1] = "REMOTE_USER=carol";
	r.user = "carol";
	r.vars[2] = CT;
	r.vars[3] = "CONTENT_LENGTH=*";
	r.body = b.data;
	r.status = status;
	r.reason = reason;
	row_run_chunk(&r, b.len);
	buf_release(&b);
}

static void
long_field(size_t i, struct buf *b)
{
	char line[1024];

	(void)i;
	memset(line, 't', sizeof line);
	buf_puts(b, TEXT_("t", ""));
	b->len -= 2;	/* the text goes before the CRLF */
	for (i = 0; i < 65; i++)
		buf_add(b, line, sizeof line);
	buf_puts(b, "\r\n");
}

static void
small_file(size_t i, struct buf *b)
{
	buf_printf(b, "--b\r\nContent-Disposition: form-data; name=\"f\"; "
	    "filename=\"f%zu\"\r\n\r\n\r\n", i);
}

/* A name of 255 bytes: its suffix shortens the stem, never mid-UTF-8. */
static void
test_long_names(void)
{
	static const struct {
		const char *stem, *ext;
		size_t      n;		/* copies of stem */
		const char *want;	/* the suffix and what follows it */
		size_t      len;	/* the second file's name's length */
	} rows[] = {
		{ "a", ".txt", 251, "-1.txt", 255 },
		{ "\xc3\xa9", ".txt", 125, "-1.txt", 254 },
		{ "a", "", 255, "-1", 255 },
		/* "xx." and 252 bytes: no room for a stem before so long
		   an extension, so the suffix goes at the end */
		{ "a", "", 252, NULL, 0 },
		{ "a", ".", 254, "-1.", 255 },
	};
	static const char *vars[] = { "REQUEST_METHOD=POST",
	    "REMOTE_USER=carol", CT, NULL, NULL };
	char        name[300], body[1200], length[40], path[600];
	struct tree t;
	struct fake f;
	struct stat st;
	size_t      i, k;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		snprintf(name, sizeof name, "%s", rows[i].want == NULL ?
		    "xx." : "");
		for (k = 0; k < rows[i].n; k++)
			strcat(name, rows[i].stem);
		strcat(name, rows[i].ext);
		snprintf(body, sizeof body, FILE_("f", "%s", "x")
		    FILE_("f", "%s", "y") END, name, name);
		snprintf(length, sizeof length, "CONTENT_LENGTH=%zu",
		    strlen(body));
		vars[3] = length;
		memset(&f, 0, sizeof f);
		f.vars = vars;
		f.body = body;
		f.body_len = f.chunk = strlen(body);
		CU_ASSERT_FATAL(tree_make(&t, NULL) == 0);
		tree_run(&t, &f);
		ROW(fake_status(&f) == 201, i, f.out.data);
		/* the suffixed name: the stem cut so that it fits in 255 */
		if (rows[i].want != NULL) {
			snprintf(path, sizeof path, "%s/carol/%.*s%s", t.up,
			    (int)(rows[i].len - strlen(rows[i].want)), name,
			    rows[i].want);
		} else
			snprintf(path, sizeof path, "%s/carol/%.253s-1", t.up,
			    name);
		ROW(stat(path, &st) == 0 && st.st_size == 1, i, path);
		fake_release(&f);
		CU_ASSERT_EQUAL(tree_remove(&t), 0);
	}
}

/* Row 13's 413s: a text field over 64 KiB; over the 1,000 files a form may hold. */
static void
test_form_limits(void)
{
	run_big("a text field over 64 KiB", NULL, 1, long_field, 413,
	    "too_large");
	run_big("1,001 files", "max_files = 0\n", 1001, small_file, 413,
	    "too_large");
}

static CU_TestInfo form_tests[] = {
	{ "forms stored", test_forms },
	{ "forms refused", test_refusals },
	{ "a form's limits", test_form_limits },
	{ "suffixes on names of 255 bytes", test_long_names },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "gate forms", tree_suite_init, tree_suite_clean, NULL, NULL,
	  form_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
