/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of common/config.c: the configuration file (upgate.conf(5), Keys).  Each case
 * writes a file into a temporary folder and loads it.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cu_main.h"
#include "tmpdir.h"
#include "table.h"


#define GiB	((int64_t)1 << 30)

/* The suite's folder ($D in texts) and configuration file ($F). */
static char dir[PATH_MAX];
static char conf[PATH_MAX + 16];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_init(void)
{
	char  path[PATH_MAX + 16];
	FILE *fp;

	if (tmpdir_make(dir, sizeof dir, "config") == -1)
		return -1;
	snprintf(conf, sizeof conf, "%s/upgate.conf", dir);
	snprintf(path, sizeof path, "%s/up", dir);
	if (mkdir(path, 0755) == -1)
		return -1;
	snprintf(path, sizeof path, "%s/file", dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	return fclose(fp);
}

static int
suite_cleanup(void)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpl with $D replaced by the folder and $F by the file, into out. */
static char *
expand(const char *tmpl, char *out, size_t n)
{
	size_t len = 0;

	for (; *tmpl != '\0' && len + 1 < n; tmpl++) {
		if (tmpl[0] == '$' && (tmpl[1] == 'D' || tmpl[1] == 'F')) {
			len += (size_t)snprintf(out + len, n - len, "%s",
			    *++tmpl == 'D' ? dir : conf);
			continue;
		}
		out[len++] = *tmpl;
	}
	out[len < n ? len : n - 1] = '\0';
	return out;
}

static void
write_raw(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	CU_ASSERT_EQUAL(fwrite(data, 1, len, fp), len);
	CU_ASSERT_EQUAL(fclose(fp), 0);
}

/* Writes text ($D, $F expanded) as the configuration file and loads it. */
static int
load(const char *text, struct config *cfg, struct diag *d)
{
	static char buf[16384];

	expand(text, buf, sizeof buf);
	write_raw(conf, buf, strlen(buf));
	diag_init(d);
	return config_load(conf, cfg, d);
}

/* 1 if d holds exactly the lines of want ($D, $F expanded). */
static int
diag_is(const struct diag *d, const char *want)
{
	char buf[DIAG_SIZE];

	expand(want, buf, sizeof buf);
	if (strcmp(d->text, buf) == 0)
		return 1;
	fprintf(stderr, "\n  want: %s  got:  %s", buf, d->text);
	return 0;
}

static void
test_defaults(void)
{
	struct config cfg;
	struct diag   d;
	char          want[PATH_MAX + 16];

	CU_ASSERT_EQUAL_FATAL(load("upload_dir = $D/up\n", &cfg, &d), 0);
	CU_ASSERT_EQUAL(d.count, 0);
	CU_ASSERT_STRING_EQUAL(cfg.path, conf);
	CU_ASSERT_STRING_EQUAL(cfg.upload_dir, expand("$D/up", want,
	    sizeof want));
	CU_ASSERT_STRING_EQUAL(cfg.state_dir, expand("$D/up/.upgate", want,
	    sizeof want));
	CU_ASSERT_EQUAL(cfg.per_user_dirs, 1);
	CU_ASSERT_PTR_NULL(cfg.quota_file);
	CU_ASSERT_EQUAL(cfg.max_upload_size, 0);
	CU_ASSERT_EQUAL(cfg.min_free_ppm, -1);
	CU_ASSERT_EQUAL(cfg.min_free_bytes, 0);
	CU_ASSERT_EQUAL(cfg.retry_after, 3600);
	CU_ASSERT_EQUAL(cfg.resumable, 1);
	CU_ASSERT_EQUAL(cfg.resumable_expiry, 86400);
	CU_ASSERT_PTR_NULL(cfg.anonymous_user);
	CU_ASSERT_EQUAL(cfg.allow_overwrite, 1);
	CU_ASSERT_EQUAL(cfg.create_parents, 0);
	CU_ASSERT_EQUAL(cfg.allow_unknown_length, 0);
	CU_ASSERT_EQUAL(cfg.max_files, 100);
	CU_ASSERT_EQUAL(cfg.default_format, FORMAT_JSON);
	CU_ASSERT_EQUAL(cfg.expose_paths, 0);
	CU_ASSERT_PTR_NULL(cfg.upgrade_url);
	CU_ASSERT_PTR_NULL(cfg.cleanup_url);
	CU_ASSERT_EQUAL(cfg.largest_files, 5);
	CU_ASSERT_EQUAL(config_min_free(&cfg, 1000000), 0);
	config_release(&cfg);
}

enum vtype { V_INT, V_I64, V_STR, V_FREE };

#define FLD(f)	offsetof(struct config, f)

/* One good line after "upload_dir = $D/up", and the field it sets. */
static const struct {
	const char *line;
	enum vtype  type;
	size_t      off;
	int64_t     i;		/* V_INT, V_I64; V_FREE: min_free_ppm */
	const char *s;		/* V_STR ($D expanded); V_FREE: bytes */
} goods[] = {
	{ "per_user_dirs = no", V_INT, FLD(per_user_dirs), 0, NULL },
	{ "resumable = no", V_INT, FLD(resumable), 0, NULL },
	{ "resumable_expiry = 90", V_I64, FLD(resumable_expiry), 90, NULL },
	{ "resumable_expiry = 2s", V_I64, FLD(resumable_expiry), 2, NULL },
	{ "resumable_expiry = 30m", V_I64, FLD(resumable_expiry), 1800, NULL },
	{ "resumable_expiry = 12h", V_I64, FLD(resumable_expiry), 43200, NULL },
	{ "resumable_expiry = 7d", V_I64, FLD(resumable_expiry), 604800, NULL },
	{ "resumable_expiry = 3650d", V_I64, FLD(resumable_expiry), 315360000,
	    NULL },
	{ "per_user_dirs = yes", V_INT, FLD(per_user_dirs), 1, NULL },
	{ "state_dir = $D/state", V_STR, FLD(state_dir), 0, "$D/state" },
	{ "state_dir = $D//state//", V_STR, FLD(state_dir), 0, "$D/state" },
	{ "state_dir = $D", V_STR, FLD(state_dir), 0, "$D" },
	{ "state_dir = $D/upload", V_STR, FLD(state_dir), 0, "$D/upload" },
	{ "state_dir = $D/up/.state", V_STR, FLD(state_dir), 0,
	    "$D/up/.state" },
	{ "state_dir = $D/up/.a/b", V_STR, FLD(state_dir), 0, "$D/up/.a/b" },
	{ "state_dir = $D/up/..x", V_STR, FLD(state_dir), 0, "$D/up/..x" },
	{ "state_dir = $D/my state", V_STR, FLD(state_dir), 0,
	    "$D/my state" },
	{ "quota_file = $D/quota", V_STR, FLD(quota_file), 0, "$D/quota" },
	{ "quota_file = $D/up/.quota", V_STR, FLD(quota_file), 0,
	    "$D/up/.quota" },
	{ "max_upload_size = 10G", V_I64, FLD(max_upload_size), 10 * GiB,
	    NULL },
	{ "max_upload_size = 500MiB", V_I64, FLD(max_upload_size),
	    500 << 20, NULL },
	{ "max_upload_size = 0", V_I64, FLD(max_upload_size), 0, NULL },
	{ "max_upload_size = 9223372036854775807", V_I64,
	    FLD(max_upload_size), INT64_MAX, NULL },
	{ "min_free_space = 5%", V_FREE, 0, 50000, "0" },
	{ "min_free_space = 2.5%", V_FREE, 0, 25000, "0" },
	{ "min_free_space = 100%", V_FREE, 0, 1000000, "0" },
	{ "min_free_space = 1G", V_FREE, 0, -1, "1073741824" },
	{ "min_free_space = 0", V_FREE, 0, -1, "0" },
	{ "retry_after = 0", V_I64, FLD(retry_after), 0, NULL },
	{ "retry_after = 60", V_I64, FLD(retry_after), 60, NULL },
	{ "retry_after = 604800", V_I64, FLD(retry_after), 604800, NULL },
	{ "anonymous_user = guest", V_STR, FLD(anonymous_user), 0, "guest" },
	{ "anonymous_user = anon@example.org", V_STR, FLD(anonymous_user), 0,
	    "anon@example.org" },
	{ "allow_overwrite = no", V_INT, FLD(allow_overwrite), 0, NULL },
	{ "create_parents = yes", V_INT, FLD(create_parents), 1, NULL },
	{ "allow_unknown_length = yes", V_INT, FLD(allow_unknown_length), 1,
	    NULL },
	{ "max_files = 0", V_I64, FLD(max_files), 0, NULL },
	{ "max_files = 100000", V_I64, FLD(max_files), 100000, NULL },
	{ "max_files = 5 # five", V_I64, FLD(max_files), 5, NULL },
	{ "max_files = 5\t# five", V_I64, FLD(max_files), 5, NULL },
	{ "max_files=7", V_I64, FLD(max_files), 7, NULL },
	{ "\t max_files \t=\t 7 \t", V_I64, FLD(max_files), 7, NULL },
	{ "max_files = 7\r", V_I64, FLD(max_files), 7, NULL },
	{ "max_files = 007", V_I64, FLD(max_files), 7, NULL },
	{ "# max_files = 5", V_I64, FLD(max_files), 100, NULL },
	{ "   # max_files = 5", V_I64, FLD(max_files), 100, NULL },
	{ "#", V_I64, FLD(max_files), 100, NULL },
	{ "", V_I64, FLD(max_files), 100, NULL },
	{ " \t ", V_I64, FLD(max_files), 100, NULL },
	{ "default_format = xml", V_INT, FLD(default_format), FORMAT_XML,
	    NULL },
	{ "default_format = html", V_INT, FLD(default_format), FORMAT_HTML,
	    NULL },
	{ "default_format = text", V_INT, FLD(default_format), FORMAT_TEXT,
	    NULL },
	{ "default_format = json", V_INT, FLD(default_format), FORMAT_JSON,
	    NULL },
	{ "expose_paths = yes", V_INT, FLD(expose_paths), 1, NULL },
	{ "upgrade_url = https://x/#plans", V_STR, FLD(upgrade_url), 0,
	    "https://x/#plans" },
	{ "upgrade_url = https://x/ #plans", V_STR, FLD(upgrade_url), 0,
	    "https://x/" },
	{ "upgrade_url = http://example.com/up?plan=big&x=1", V_STR,
	    FLD(upgrade_url), 0, "http://example.com/up?plan=big&x=1" },
	{ "upgrade_url = HTTPS://Example.COM/", V_STR, FLD(upgrade_url), 0,
	    "HTTPS://Example.COM/" },
	{ "upgrade_url = /plans", V_STR, FLD(upgrade_url), 0, "/plans" },
	{ "cleanup_url = /files/manage", V_STR, FLD(cleanup_url), 0,
	    "/files/manage" },
	{ "cleanup_url = /", V_STR, FLD(cleanup_url), 0, "/" },
	{ "cleanup_url = https://x/a=b", V_STR, FLD(cleanup_url), 0,
	    "https://x/a=b" },
	{ "largest_files = 0", V_I64, FLD(largest_files), 0, NULL },
	{ "largest_files = 1000", V_I64, FLD(largest_files), 1000, NULL },
	{ "sync = no", V_INT, FLD(sync), 0, NULL },
	{ "sync = yes", V_INT, FLD(sync), 1, NULL },
	{ "# sync = no", V_INT, FLD(sync), 1, NULL },
	{ "ledger = postgresql://u@db/upgate?sslmode=require", V_STR,
	    FLD(ledger_uri), 0, "postgresql://u@db/upgate?sslmode=require" },
	{ "ledger = postgres://%2Frun%2Fpg/upgate", V_STR, FLD(ledger_uri), 0,
	    "postgres://%2Frun%2Fpg/upgate" },
};

static int
good_holds(const struct config *cfg, size_t i)
{
	const char *p = (const char *)cfg + goods[i].off;
	char        want[PATH_MAX + 64];
	const char *s;

	switch (goods[i].type) {
	case V_INT:
		return *(const int *)p == goods[i].i;
	case V_I64:
		return *(const int64_t *)p == goods[i].i;
	case V_STR:
		s = *(const char *const *)p;
		expand(goods[i].s, want, sizeof want);
		return s != NULL && strcmp(s, want) == 0;
	case V_FREE:
		return cfg->min_free_ppm == goods[i].i &&
		    cfg->min_free_bytes == strtoll(goods[i].s, NULL, 10);
	}
	return 0;
}

static void
test_good_values(void)
{
	struct config cfg;
	struct diag   d;
	char          text[512];
	size_t        i;
	int           rc;

	for (i = 0; i < sizeof goods / sizeof goods[0]; i++) {
		snprintf(text, sizeof text, "upload_dir = $D/up\n%s\n",
		    goods[i].line);
		rc = load(text, &cfg, &d);
		ROW(rc == 0 && d.count == 0, i, goods[i].line);
		if (rc == 0)
			ROW(good_holds(&cfg, i), i, goods[i].line);
		config_release(&cfg);
	}
}

#define PATH_MSG \
	"is not an absolute path without \".\", \"..\" or control characters"
#define BOOL_MSG	"is not yes or no"
#define SIZE_MSG	"is not a size (digits and an optional K, M, G, T, " \
	"KiB, MiB, GiB or TiB, at most 2^63-1)"
#define DUR_MSG "is not a duration: seconds, or a number with s, m, h " \
    "or d, from 1 second to 3650 days"
#define FREE_MSG	"is not a size or a percentage from 0% to 100%"
#define USER_MSG	"is not a valid user name (1 to 64 of A-Z a-z 0-9 " \
	". _ @ -, not starting with . or -)"
#define URL_MSG		"is not an http://, https:// or /... link of " \
	"printable ASCII without white space, <, > or \""
#define FORMAT_MSG	"is not json, xml, html or text"
#define REACH_MSG	"is inside upload_dir, where requests could reach " \
	"it: use a place outside it or under a name there starting with \".\""

/* One bad line after "upload_dir = $D/up", and the whole diagnosis. */
static const struct {
	const char *line;
	const char *diag;
} bads[] = {
	{ "per_user_dirs = Yes",
	    "$F:2: per_user_dirs: \"Yes\" " BOOL_MSG "\n" },
	{ "per_user_dirs = true",
	    "$F:2: per_user_dirs: \"true\" " BOOL_MSG "\n" },
	{ "allow_overwrite = 1",
	    "$F:2: allow_overwrite: \"1\" " BOOL_MSG "\n" },
	{ "create_parents = y",
	    "$F:2: create_parents: \"y\" " BOOL_MSG "\n" },
	{ "allow_unknown_length = yes please",
	    "$F:2: allow_unknown_length: \"yes please\" " BOOL_MSG "\n" },
	{ "expose_paths = on", "$F:2: expose_paths: \"on\" " BOOL_MSG "\n" },
	{ "state_dir = state", "$F:2: state_dir: \"state\" " PATH_MSG "\n" },
	{ "state_dir = ./state",
	    "$F:2: state_dir: \"./state\" " PATH_MSG "\n" },
	{ "state_dir = ~/state",
	    "$F:2: state_dir: \"~/state\" " PATH_MSG "\n" },
	{ "state_dir = $D/up/../state",
	    "$F:2: state_dir: \"$D/up/../state\" " PATH_MSG "\n" },
	{ "state_dir = $D/./state",
	    "$F:2: state_dir: \"$D/./state\" " PATH_MSG "\n" },
	{ "state_dir = $D/up/.",
	    "$F:2: state_dir: \"$D/up/.\" " PATH_MSG "\n" },
	{ "state_dir = $D/a\x01",
	    "$F:2: state_dir: \"$D/a\\x01\" " PATH_MSG "\n" },
	{ "quota_file = quota.txt",
	    "$F:2: quota_file: \"quota.txt\" " PATH_MSG "\n" },
	{ "quota_file = $D/../quota",
	    "$F:2: quota_file: \"$D/../quota\" " PATH_MSG "\n" },
	{ "max_upload_size = 1KB",
	    "$F:2: max_upload_size: \"1KB\" " SIZE_MSG "\n" },
	{ "max_upload_size = 1 K",
	    "$F:2: max_upload_size: \"1 K\" " SIZE_MSG "\n" },
	{ "max_upload_size = 8E",
	    "$F:2: max_upload_size: \"8E\" " SIZE_MSG "\n" },
	{ "max_upload_size = 8589934592G",
	    "$F:2: max_upload_size: \"8589934592G\" " SIZE_MSG "\n" },
	{ "max_upload_size = 9223372036854775808",
	    "$F:2: max_upload_size: \"9223372036854775808\" " SIZE_MSG "\n" },
	{ "max_upload_size = -1",
	    "$F:2: max_upload_size: \"-1\" " SIZE_MSG "\n" },
	{ "max_upload_size = 10%",
	    "$F:2: max_upload_size: \"10%\" " SIZE_MSG "\n" },
	{ "max_upload_size = unlimited",
	    "$F:2: max_upload_size: \"unlimited\" " SIZE_MSG "\n" },
	{ "min_free_space = 100.1%",
	    "$F:2: min_free_space: \"100.1%\" " FREE_MSG "\n" },
	{ "min_free_space = 5 %",
	    "$F:2: min_free_space: \"5 %\" " FREE_MSG "\n" },
	{ "min_free_space = -5%",
	    "$F:2: min_free_space: \"-5%\" " FREE_MSG "\n" },
	{ "min_free_space = %", "$F:2: min_free_space: \"%\" " FREE_MSG "\n" },
	{ "min_free_space = 5%%",
	    "$F:2: min_free_space: \"5%%\" " FREE_MSG "\n" },
	{ "min_free_space = 1KB",
	    "$F:2: min_free_space: \"1KB\" " FREE_MSG "\n" },
	{ "min_free_space = lots",
	    "$F:2: min_free_space: \"lots\" " FREE_MSG "\n" },
	{ "resumable_expiry = 0", "$F:2: resumable_expiry: \"0\" " DUR_MSG "\n" },
	{ "resumable_expiry = 3651d",
	    "$F:2: resumable_expiry: \"3651d\" " DUR_MSG "\n" },
	{ "resumable_expiry = 1w", "$F:2: resumable_expiry: \"1w\" " DUR_MSG "\n" },
	{ "resumable_expiry = h", "$F:2: resumable_expiry: \"h\" " DUR_MSG "\n" },
	{ "resumable_expiry = 1H", "$F:2: resumable_expiry: \"1H\" " DUR_MSG "\n" },
	{ "resumable_expiry = 1 h",
	    "$F:2: resumable_expiry: \"1 h\" " DUR_MSG "\n" },
	{ "retry_after = -1",
	    "$F:2: retry_after: \"-1\" is not a number from 0 to 604800\n" },
	{ "retry_after = 604801", "$F:2: retry_after: \"604801\" "
	    "is not a number from 0 to 604800\n" },
	{ "retry_after = 1h",
	    "$F:2: retry_after: \"1h\" is not a number from 0 to 604800\n" },
	{ "retry_after = 0x10",
	    "$F:2: retry_after: \"0x10\" is not a number from 0 to 604800\n" },
	{ "retry_after = 99999999999999999999",
	    "$F:2: retry_after: \"99999999999999999999\" is not a number "
	    "from 0 to 604800\n" },
	{ "max_files = 100001",
	    "$F:2: max_files: \"100001\" is not a number from 0 to 100000\n" },
	{ "max_files = 5#five",
	    "$F:2: max_files: \"5#five\" is not a number from 0 to 100000\n" },
	{ "max_files = five",
	    "$F:2: max_files: \"five\" is not a number from 0 to 100000\n" },
	{ "max_files = 1K",
	    "$F:2: max_files: \"1K\" is not a number from 0 to 100000\n" },
	{ "largest_files = 1001",
	    "$F:2: largest_files: \"1001\" is not a number from 0 to 1000\n" },
	{ "sync = maybe", "$F:2: sync: \"maybe\" is not yes or no\n" },
	{ "ledger = mysql://db/x", "$F:2: ledger: \"mysql://db/x\" is not "
	    "files, or a postgresql:// or postgres:// URI without white space\n" },
	{ "anonymous_user = .guest",
	    "$F:2: anonymous_user: \".guest\" " USER_MSG "\n" },
	{ "anonymous_user = -guest",
	    "$F:2: anonymous_user: \"-guest\" " USER_MSG "\n" },
	{ "anonymous_user = a guest",
	    "$F:2: anonymous_user: \"a guest\" " USER_MSG "\n" },
	{ "anonymous_user = r\xc3\xa9my",
	    "$F:2: anonymous_user: \"r\\xc3\\xa9my\" " USER_MSG "\n" },
	{ "anonymous_user = "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "$F:2: anonymous_user: "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaa\" "
	    USER_MSG "\n" },
	{ "default_format = JSON",
	    "$F:2: default_format: \"JSON\" " FORMAT_MSG "\n" },
	{ "default_format = yaml",
	    "$F:2: default_format: \"yaml\" " FORMAT_MSG "\n" },
	{ "default_format = application/json",
	    "$F:2: default_format: \"application/json\" " FORMAT_MSG "\n" },
	{ "upgrade_url = ftp://x/",
	    "$F:2: upgrade_url: \"ftp://x/\" " URL_MSG "\n" },
	{ "upgrade_url = x/plans",
	    "$F:2: upgrade_url: \"x/plans\" " URL_MSG "\n" },
	{ "upgrade_url = javascript:alert(1)",
	    "$F:2: upgrade_url: \"javascript:alert(1)\" " URL_MSG "\n" },
	{ "upgrade_url = http://",
	    "$F:2: upgrade_url: \"http://\" " URL_MSG "\n" },
	{ "upgrade_url = https://",
	    "$F:2: upgrade_url: \"https://\" " URL_MSG "\n" },
	{ "upgrade_url = https://x/a b",
	    "$F:2: upgrade_url: \"https://x/a b\" " URL_MSG "\n" },
	{ "upgrade_url = https://x/a\tb",
	    "$F:2: upgrade_url: \"https://x/a\\x09b\" " URL_MSG "\n" },
	{ "upgrade_url = https://x/<a>",
	    "$F:2: upgrade_url: \"https://x/<a>\" " URL_MSG "\n" },
	{ "upgrade_url = https://x/>",
	    "$F:2: upgrade_url: \"https://x/>\" " URL_MSG "\n" },
	{ "upgrade_url = https://x/\"q\"",
	    "$F:2: upgrade_url: \"https://x/\\x22q\\x22\" " URL_MSG "\n" },
	{ "cleanup_url = /caf\xc3\xa9",
	    "$F:2: cleanup_url: \"/caf\\xc3\\xa9\" " URL_MSG "\n" },
	{ "cleanup_url = /a\x7f",
	    "$F:2: cleanup_url: \"/a\\x7f\" " URL_MSG "\n" },
	{ "max_files", "$F:2: expected \"key = value\"\n" },
	{ "upload_dir $D/up", "$F:2: expected \"key = value\"\n" },
	{ "= 5", "$F:2: unknown key \"\"\n" },
	{ "max_file = 5", "$F:2: unknown key \"max_file\"\n" },
	{ "Max_Files = 5", "$F:2: unknown key \"Max_Files\"\n" },
	{ "max files = 5", "$F:2: unknown key \"max files\"\n" },
	{ "max_files: 5", "$F:2: expected \"key = value\"\n" },
	{ "k\x1b[1m = 5", "$F:2: unknown key \"k\\x1b[1m\"\n" },
	{ "max_files =", "$F:2: max_files: empty value\n" },
	{ "max_files =   ", "$F:2: max_files: empty value\n" },
	{ "max_files = # none", "$F:2: max_files: empty value\n" },
	{ "upgrade_url = #plans", "$F:2: upgrade_url: empty value\n" },
	{ "upload_dir = $D/up",
	    "$F:2: upload_dir repeated (first set on line 1)\n" },
	{ "state_dir = $D/up/state", "$F:2: state_dir \"$D/up/state\" "
	    REACH_MSG "\n" },
	{ "state_dir = $D/up/alice/.upgate",
	    "$F:2: state_dir \"$D/up/alice/.upgate\" " REACH_MSG "\n" },
	{ "state_dir = $D/up", "$F:2: state_dir \"$D/up\" " REACH_MSG "\n" },
	{ "state_dir = $D/up/", "$F:2: state_dir \"$D/up\" " REACH_MSG "\n" },
	{ "state_dir = $D//up", "$F:2: state_dir \"$D/up\" " REACH_MSG "\n" },
	{ "quota_file = $D/up/alice/quota",
	    "$F:2: quota_file \"$D/up/alice/quota\" " REACH_MSG "\n" },
	{ "quota_file = $D/up/quota",
	    "$F:2: quota_file \"$D/up/quota\" " REACH_MSG "\n" },
};

static void
test_bad_values(void)
{
	struct config cfg;
	struct diag   d;
	char          text[512];
	size_t        i;
	int           rc;

	for (i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		snprintf(text, sizeof text, "upload_dir = $D/up\n%s\n",
		    bads[i].line);
		rc = load(text, &cfg, &d);
		ROW(rc == -1 && d.count == 1 && diag_is(&d, bads[i].diag), i,
		    bads[i].line);
		/* a failed load leaves nothing to free */
		ROW(cfg.path == NULL && cfg.upload_dir == NULL &&
		    cfg.state_dir == NULL, i, bads[i].line);
	}
}

/* Problems of the upload_dir itself, and of the file as a whole. */
static const struct {
	const char *text;
	const char *diag;
} wholes[] = {
	{ "", "$F: upload_dir is required\n" },
	{ "# nothing\n\n", "$F: upload_dir is required\n" },
	{ "max_files = 5\n", "$F: upload_dir is required\n" },
	{ "upload_dir =\n", "$F:1: upload_dir: empty value\n" },
	{ "upload_dir = up\n",
	    "$F:1: upload_dir: \"up\" " PATH_MSG "\n" },
	{ "\n\nupload_dir = $D/nope\n",
	    "$F:3: upload_dir \"$D/nope\": No such file or directory\n" },
	{ "upload_dir = $D/file\n",
	    "$F:1: upload_dir \"$D/file\" is not a folder\n" },
	{ "upload_dir = $D/file/x\n",
	    "$F:1: upload_dir \"$D/file/x\": Not a directory\n" },
	/* state_dir's line is blamed, wherever upload_dir is */
	{ "state_dir = $D/up/s\nupload_dir = $D/up\n",
	    "$F:1: state_dir \"$D/up/s\" " REACH_MSG "\n" },
	/* without upload_dir, nothing to check state_dir against */
	{ "state_dir = $D/up/s\n", "$F: upload_dir is required\n" },
	/* all problems in one pass, in order, each on its own line */
	{ "# comment\n"
	  "max_files = lots\n"
	  "\n"
	  "per_user_dirs = maybe\n"
	  "bogus = 1\n"
	  "max_files = 6\n"
	  "   # indented comment\n"
	  "upgrade_url = https://x/#plans  # the plans\n"
	  "cleanup_url = <x>\n",
	  "$F:2: max_files: \"lots\" is not a number from 0 to 100000\n"
	  "$F:4: per_user_dirs: \"maybe\" " BOOL_MSG "\n"
	  "$F:5: unknown key \"bogus\"\n"
	  "$F:6: max_files repeated (first set on line 2)\n"
	  "$F:9: cleanup_url: \"<x>\" " URL_MSG "\n"
	  "$F: upload_dir is required\n" },
	{ "upload_dir = $D/up\n"
	  "state_dir = $D/up/state\n"
	  "retry_after = soon\n"
	  "quota_file = $D/up/q\n"
	  "anonymous_user = -\n",
	  "$F:3: retry_after: \"soon\" is not a number from 0 to 604800\n"
	  "$F:5: anonymous_user: \"-\" " USER_MSG "\n"
	  "$F:2: state_dir \"$D/up/state\" " REACH_MSG "\n"
	  "$F:4: quota_file \"$D/up/q\" " REACH_MSG "\n" },
};

static void
test_whole_file(void)
{
	struct config cfg;
	struct diag   d;
	size_t        i;
	unsigned      lines;
	const char   *p;
	int           rc;

	for (i = 0; i < sizeof wholes / sizeof wholes[0]; i++) {
		rc = load(wholes[i].text, &cfg, &d);
		for (lines = 0, p = wholes[i].diag; *p != '\0'; p++)
			lines += *p == '\n';
		ROW(rc == -1 && d.count == lines &&
		    diag_is(&d, wholes[i].diag), i, wholes[i].text);
	}
}

static void
test_open_errors(void)
{
	struct config cfg;
	struct diag   d;
	char          path[PATH_MAX + 16], want[2 * PATH_MAX];

	diag_init(&d);
	snprintf(path, sizeof path, "%s/none.conf", dir);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &d), -1);
	snprintf(want, sizeof want,
	    "%s: cannot open: No such file or directory\n", path);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	CU_ASSERT_PTR_NULL(cfg.path);

	diag_init(&d);
	snprintf(path, sizeof path, "%s/up", dir);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &d), -1);
	snprintf(want, sizeof want, "%s: cannot read: not a regular file\n",
	    path);
	CU_ASSERT_STRING_EQUAL(d.text, want);

	/* a FIFO must neither hang nor pass */
	diag_init(&d);
	snprintf(path, sizeof path, "%s/fifo", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	CU_ASSERT_EQUAL(config_load(path, &cfg, &d), -1);
	snprintf(want, sizeof want, "%s: cannot read: not a regular file\n",
	    path);
	CU_ASSERT_STRING_EQUAL(d.text, want);
	unlink(path);
}

static void
test_line_rules(void)
{
	static char   text[8192];
	struct config cfg;
	struct diag   d;

	/* a line of 4096 bytes is read, one of 4097 is refused */
	memset(text, 'x', sizeof text);
	memcpy(text, "upload_dir = $D/up\n#", 20);
	text[19 + 4096] = '\n';
	text[19 + 4096 + 1] = '\0';
	CU_ASSERT_EQUAL(load(text, &cfg, &d), 0);
	config_release(&cfg);
	memset(text, 'x', sizeof text);
	memcpy(text, "upload_dir = $D/up\n#", 20);
	text[19 + 4097] = '\0';		/* no final newline either */
	CU_ASSERT_EQUAL(load(text, &cfg, &d), -1);
	CU_ASSERT(diag_is(&d, "$F:2: line too long (over 4096 bytes)\n"));

	/* CRLF endings, no final newline */
	CU_ASSERT_EQUAL(load("upload_dir = $D/up\r\nmax_files = 3", &cfg, &d),
	    0);
	CU_ASSERT_EQUAL(cfg.max_files, 3);
	config_release(&cfg);

	/* a NUL byte inside a line */
	expand("upload_dir = $D/up\nmax_files = 5", text, sizeof text);
	memcpy(text + strlen(text), "\0junk\nretry_after = 1\n", 22);
	write_raw(conf, text, strlen(text) + 22);
	diag_init(&d);
	CU_ASSERT_EQUAL(config_load(conf, &cfg, &d), -1);
	CU_ASSERT(diag_is(&d, "$F:2: NUL byte in line\n"));
}

static void
test_state_dir_root(void)
{
	struct config cfg;
	struct diag   d;

	/* upload_dir "/" (odd, but lexically fine): state under "/.upgate" */
	CU_ASSERT_EQUAL_FATAL(load("upload_dir = /\n", &cfg, &d), 0);
	CU_ASSERT_STRING_EQUAL(cfg.upload_dir, "/");
	CU_ASSERT_STRING_EQUAL(cfg.state_dir, "/.upgate");
	config_release(&cfg);
	CU_ASSERT_EQUAL(load("upload_dir = ///\nstate_dir = /var/x\n", &cfg,
	    &d), -1);
	CU_ASSERT(diag_is(&d, "$F:2: state_dir \"/var/x\" " REACH_MSG "\n"));
	CU_ASSERT_EQUAL(load("upload_dir = /\nstate_dir = /\n", &cfg, &d),
	    -1);
	CU_ASSERT_EQUAL(load("upload_dir = $D/up//\n", &cfg, &d), 0);
	CU_ASSERT(strstr(cfg.state_dir, "/up/.upgate") != NULL);
	CU_ASSERT(strstr(cfg.upload_dir, "//") == NULL);
	config_release(&cfg);
}

/* Replaces the file through a rename, as operators do. */
static void
replace_file(const char *text)
{
	char tmp[PATH_MAX + 16], buf[1024];

	snprintf(tmp, sizeof tmp, "%s/new.conf", dir);
	expand(text, buf, sizeof buf);
	write_raw(tmp, buf, strlen(buf));
	CU_ASSERT_EQUAL(rename(tmp, conf), 0);
}

static void
test_changed(void)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000000000, 5 } };
	struct config   cfg;
	struct diag     d;
	char            buf[1024];

	CU_ASSERT_EQUAL_FATAL(load("upload_dir = $D/up\n", &cfg, &d), 0);
	CU_ASSERT_EQUAL(config_changed(&cfg), 0);
	CU_ASSERT_EQUAL(config_changed(&cfg), 0);
	/* rewritten in place, another size */
	expand("upload_dir = $D/up\nmax_files = 5\n", buf, sizeof buf);
	write_raw(conf, buf, strlen(buf));
	CU_ASSERT_EQUAL(config_changed(&cfg), 1);
	config_release(&cfg);
	CU_ASSERT_EQUAL_FATAL(config_load(conf, &cfg, &d), 0);
	CU_ASSERT_EQUAL(config_changed(&cfg), 0);
	/* the same bytes under a new inode */
	replace_file("upload_dir = $D/up\nmax_files = 5\n");
	CU_ASSERT_EQUAL(config_changed(&cfg), 1);
	config_release(&cfg);
	CU_ASSERT_EQUAL_FATAL(config_load(conf, &cfg, &d), 0);
	/* only the modification time */
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, conf, ts, 0), 0);
	CU_ASSERT_EQUAL(config_changed(&cfg), 1);
	config_release(&cfg);
	CU_ASSERT_EQUAL_FATAL(config_load(conf, &cfg, &d), 0);
	/* gone */
	CU_ASSERT_EQUAL(unlink(conf), 0);
	CU_ASSERT_EQUAL(config_changed(&cfg), 1);
	config_release(&cfg);
	/* a released config has no file: always changed */
	CU_ASSERT_EQUAL(config_changed(&cfg), 1);
}

static void
test_path_precedence(void)
{
	CU_ASSERT_STRING_EQUAL(config_path("/opt.conf", "/env.conf"),
	    "/opt.conf");
	CU_ASSERT_STRING_EQUAL(config_path("/opt.conf", NULL), "/opt.conf");
	CU_ASSERT_STRING_EQUAL(config_path(NULL, "/env.conf"), "/env.conf");
	CU_ASSERT_STRING_EQUAL(config_path(NULL, ""), CONFIG_DEFAULT_PATH);
	CU_ASSERT_STRING_EQUAL(config_path(NULL, NULL), CONFIG_DEFAULT_PATH);
	CU_ASSERT_STRING_EQUAL(CONFIG_DEFAULT_PATH, "/etc/upgate/upgate.conf");
	/* an empty --config is the operator's choice: it fails loudly */
	CU_ASSERT_STRING_EQUAL(config_path("", "/env.conf"), "");
}

static void
test_release(void)
{
	struct config cfg;
	struct diag   d;

	memset(&cfg, 0, sizeof cfg);
	config_release(&cfg);
	config_release(&cfg);
	CU_ASSERT_EQUAL_FATAL(load("upload_dir = $D/up\nquota_file = $D/q\n"
	    "anonymous_user = guest\nupgrade_url = /u\ncleanup_url = /c\n",
	    &cfg, &d), 0);
	config_release(&cfg);
	CU_ASSERT_PTR_NULL(cfg.path);
	CU_ASSERT_PTR_NULL(cfg.upload_dir);
	CU_ASSERT_PTR_NULL(cfg.quota_file);
	config_release(&cfg);
	/* after a failed load */
	CU_ASSERT_EQUAL(load("upload_dir = $D/up\nbogus = 1\n", &cfg, &d), -1);
	config_release(&cfg);
	config_release(&cfg);
}

static const struct {
	const char *value;
	int64_t     total;
	int64_t     want;
} frees[] = {
	{ "0", 1000000000000, 0 },
	{ "1G", 1000000000000, GiB },
	{ "1G", 0, GiB },
	{ "5%", 1000000000000, 50000000000 },
	{ "2.5%", 1000000, 25000 },
	{ "100%", 1000000, 1000000 },
	{ "100%", INT64_MAX, INT64_MAX },
	{ "0%", 1000000, 0 },
	{ "5%", 0, 0 },
	{ "5%", -1, 0 },
	{ "33.3333%", 3, 0 },		/* rounds down */
};

static void
test_min_free(void)
{
	struct config cfg;
	struct diag   d;
	char          text[256];
	size_t        i;

	for (i = 0; i < sizeof frees / sizeof frees[0]; i++) {
		snprintf(text, sizeof text, "upload_dir = $D/up\n"
		    "min_free_space = %s\n", frees[i].value);
		CU_ASSERT_EQUAL_FATAL(load(text, &cfg, &d), 0);
		ROW(config_min_free(&cfg, frees[i].total) == frees[i].want, i,
		    frees[i].value);
		config_release(&cfg);
	}
}

static CU_TestInfo load_tests[] = {
	{ "defaults", test_defaults },
	{ "each key, good values", test_good_values },
	{ "each key, bad values", test_bad_values },
	{ "whole files, several problems", test_whole_file },
	{ "unreadable files", test_open_errors },
	{ "line length, CRLF, NUL", test_line_rules },
	{ "upload_dir /", test_state_dir_root },
	CU_TEST_INFO_NULL
};

static CU_TestInfo use_tests[] = {
	{ "config_changed", test_changed },
	{ "config_path precedence", test_path_precedence },
	{ "config_release", test_release },
	{ "config_min_free", test_min_free },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "config_load", suite_init, suite_cleanup, NULL, NULL, load_tests },
	{ "config use", suite_init, suite_cleanup, NULL, NULL, use_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
