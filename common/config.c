/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "names.h"
#include "number.h"

#define LINE_MAX_BYTES	4096	/* a longer line is an error */
#define SHOW_MAX	200	/* bytes of a value quoted in a message */

enum kind {
	K_PATH,
	K_BOOL,
	K_SIZE,
	K_FREE,
	K_NUMBER,
	K_USER,
	K_URL,
	K_FORMAT,
	K_LEDGER,
	K_DURATION,
	K__MAX
};

#define FIELD(f)	offsetof(struct config, f)

/* upgate.conf(5), Keys, in its order.  The bounds of numbers keep values sensible. */
static const struct key {
	const char *name;
	enum kind   kind;
	size_t      off;	/* of the field in struct config */
	int64_t     max;	/* K_NUMBER: the largest value accepted */
} keys[] = {
	{ "upload_dir",           K_PATH,   FIELD(upload_dir),           0 },
	{ "per_user_dirs",        K_BOOL,   FIELD(per_user_dirs),        0 },
	{ "state_dir",            K_PATH,   FIELD(state_dir),            0 },
	{ "quota_file",           K_PATH,   FIELD(quota_file),           0 },
	{ "max_upload_size",      K_SIZE,   FIELD(max_upload_size),      0 },
	{ "min_free_space",       K_FREE,   0,                           0 },
	{ "retry_after",          K_NUMBER, FIELD(retry_after),     604800 },
	{ "anonymous_user",       K_USER,   FIELD(anonymous_user),       0 },
	{ "notify_command",       K_PATH,   FIELD(notify_command),       0 },
	{ "allow_overwrite",      K_BOOL,   FIELD(allow_overwrite),      0 },
	{ "create_parents",       K_BOOL,   FIELD(create_parents),       0 },
	{ "allow_unknown_length", K_BOOL,   FIELD(allow_unknown_length), 0 },
	{ "max_files",            K_NUMBER, FIELD(max_files),       100000 },
	{ "default_format",       K_FORMAT, FIELD(default_format),       0 },
	{ "expose_paths",         K_BOOL,   FIELD(expose_paths),         0 },
	{ "upgrade_url",          K_URL,    FIELD(upgrade_url),          0 },
	{ "cleanup_url",          K_URL,    FIELD(cleanup_url),          0 },
	{ "largest_files",        K_NUMBER, FIELD(largest_files),     1000 },
	{ "sync",                 K_BOOL,   FIELD(sync),                 0 },
	{ "ledger",               K_LEDGER, FIELD(ledger_uri),           0 },
	{ "webdav",               K_BOOL,   FIELD(webdav),               0 },
	{ "resumable",            K_BOOL,   FIELD(resumable),            0 },
	{ "resumable_expiry",     K_DURATION, FIELD(resumable_expiry),
	    INT64_C(3650) * 86400 },
};
#define NKEYS	(sizeof keys / sizeof keys[0])

/* What config_load carries from line to line. */
struct loader {
	const char    *file;
	unsigned       line;
	struct config *cfg;
	struct diag   *d;
	unsigned       seen[NKEYS];	/* line that set each key, 0: none */
};

/* Setters return 0, -1 for a bad value, -2 when out of memory. */
typedef int (*setter)(struct config *, const struct key *, const char *);

static void *
field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

/* s for a message, escaped and cut to fit SHOW_MAX (buf.h). */
static const char *
show(char *out, const char *s)
{
	return logsafe_copy(out, SHOW_MAX, s, strlen(s), SHOW_MAX - 4);
}

/* A "." or ".." component, or a control byte, in n bytes at s. */
static int
bad_component(const char *s, size_t n)
{
	size_t i;

	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 1;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/*
 * Copies the absolute path s into *out (malloc'd, the caller frees) with
 * repeated '/' collapsed and a trailing '/' dropped, so that the state_dir
 * check (upgate.conf(5), Keys) can be lexical.  -1 for a relative path or a bad
 * component, -2 when out of memory.
 */
static int
path_normalize(const char *s, char **out)
{
	size_t i, n = 0, clen;
	char  *p;

	if (s[0] != '/')
		return -1;
	if ((p = malloc(strlen(s) + 1)) == NULL)
		return -2;
	for (i = 0; s[i] != '\0'; i += clen) {
		while (s[i] == '/')
			i++;
		if ((clen = strcspn(s + i, "/")) == 0)
			break;
		if (bad_component(s + i, clen)) {
			free(p);
			return -1;
		}
		p[n++] = '/';
		memcpy(p + n, s + i, clen);
		n += clen;
	}
	if (n == 0)
		p[n++] = '/';
	p[n] = '\0';
	*out = p;
	return 0;
}

/*
 * upgate.conf(5), Keys: a link is http(s)://... or /...; it also goes into a Link
 * header (RFC 8288), so only printable ASCII, none of <, > or ".
 */
static int
url_valid(const char *v)
{
	size_t i;

	if (strncasecmp(v, "http://", 7) == 0)
		i = 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		i = 8;
	else if (v[0] == '/')
		i = 1;
	else
		return 0;
	if (i > 1 && v[i] == '\0')
		return 0;
	for (; v[i] != '\0'; i++) {
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return 0;
		if (v[i] == '<' || v[i] == '>' || v[i] == '"')
			return 0;
	}
	return 1;
}

static int
set_path(struct config *cfg, const struct key *k, const char *v)
{
	return path_normalize(v, field(cfg, k));
}

static int
set_bool(struct config *cfg, const struct key *k, const char *v)
{
	int *b = field(cfg, k);

	if (strcmp(v, "yes") == 0)
		*b = 1;
	else if (strcmp(v, "no") == 0)
		*b = 0;
	else
		return -1;
	return 0;
}

static int
set_size(struct config *cfg, const struct key *k, const char *v)
{
	return number_size_parse(v, field(cfg, k));
}

/* min_free_space: a size, or a percentage of the filesystem (upgate.conf(5), Keys). */
static int
set_free(struct config *cfg, const struct key *k, const char *v)
{
	(void)k;
	if (strchr(v, '%') != NULL) {
		cfg->min_free_bytes = 0;
		return number_percent_parse(v, &cfg->min_free_ppm);
	}
	cfg->min_free_ppm = -1;
	return number_size_parse(v, &cfg->min_free_bytes);
}

static int
set_number(struct config *cfg, const struct key *k, const char *v)
{
	int64_t n;

	if (number_parse(v, strlen(v), &n) == -1 || n > k->max)
		return -1;
	*(int64_t *)field(cfg, k) = n;
	return 0;
}

/*
 * Seconds, or a number with s, m, h or d (upgate.conf(5)), from 1 to
 * k->max seconds.
 */
static int
set_duration(struct config *cfg, const struct key *k, const char *v)
{
	static const struct { char unit; int64_t secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	size_t  len = strlen(v), i;
	int64_t n, mult = 1;

	for (i = 0; len > 0 && i < sizeof units / sizeof units[0]; i++)
		if (v[len - 1] == units[i].unit) {
			mult = units[i].secs;
			len--;
			break;
		}
	if (number_parse(v, len, &n) == -1 || n == 0 || n > k->max / mult)
		return -1;
	*(int64_t *)field(cfg, k) = n * mult;
	return 0;
}

/* A copy of v in the char * field, if v passes valid. */
static int
set_string(struct config *cfg, const struct key *k, const char *v,
    int (*valid)(const char *))
{
	char *s;

	if (!valid(v))
		return -1;
	if ((s = strdup(v)) == NULL)
		return -2;
	*(char **)field(cfg, k) = s;
	return 0;
}

static int
set_user(struct config *cfg, const struct key *k, const char *v)
{
	return set_string(cfg, k, v, names_user_valid);
}

static int
set_url(struct config *cfg, const struct key *k, const char *v)
{
	return set_string(cfg, k, v, url_valid);
}

static int
set_format(struct config *cfg, const struct key *k, const char *v)
{
	return format_parse(v, field(cfg, k));
}

int
config_uri_valid(const char *v)
{
	size_t i;

	if (strncmp(v, "postgresql://", 13) != 0 &&
	    strncmp(v, "postgres://", 11) != 0)
		return 0;
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

/* `files` (NULL: the default) or a database's URI. */
static int
set_ledger(struct config *cfg, const struct key *k, const char *v)
{
	if (strcmp(v, "files") == 0)
		return 0;
	return set_string(cfg, k, v, config_uri_valid);
}

/* For each kind, its setter and what a good value is, for messages. */
static const struct {
	setter      set;
	const char *expect;
} kinds[K__MAX] = {
	[K_PATH] = { set_path, "an absolute path without \".\", \"..\" or "
	    "control characters" },
	[K_BOOL] = { set_bool, "yes or no" },
	[K_SIZE] = { set_size, "a size (digits and an optional K, M, G, T, "
	    "KiB, MiB, GiB or TiB, at most 2^63-1)" },
	[K_FREE] = { set_free, "a size or a percentage from 0% to 100%" },
	[K_NUMBER] = { set_number, "a number" },
	[K_USER] = { set_user, "a valid user name (1 to 64 of A-Z a-z 0-9 "
	    ". _ @ -, not starting with . or -)" },
	[K_URL] = { set_url, "an http://, https:// or /... link of printable "
	    "ASCII without white space, <, > or \"" },
	[K_FORMAT] = { set_format, "json, xml, html or text" },
	[K_LEDGER] = { set_ledger, "files, or a postgresql:// or postgres:// "
	    "URI without white space" },
	[K_DURATION] = { set_duration, "a duration: seconds, or a number "
	    "with s, m, h or d, from 1 second to 3650 days" },
};

static int
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
set_value(struct loader *ld, const struct key *k, const char *v)
{
	char shown[SHOW_MAX];
	int  rc;

	if ((rc = kinds[k->kind].set(ld->cfg, k, v)) == 0)
		return;
	if (rc == -2)
		diag_add(ld->d, ld->file, ld->line, "%s: out of memory",
		    k->name);
	else if (k->kind == K_NUMBER)
		diag_add(ld->d, ld->file, ld->line,
		    "%s: \"%s\" is not a number from 0 to %lld", k->name,
		    show(shown, v), (long long)k->max);
	else
		diag_add(ld->d, ld->file, ld->line, "%s: \"%s\" is not %s",
		    k->name, show(shown, v), kinds[k->kind].expect);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

static char *
trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	s[n] = '\0';
	return s;
}

/* upgate.conf(5), Keys: '#' starts a comment at the start of a line or after a space. */
static void
strip_comment(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '#' && (i == 0 || is_space(s[i - 1]))) {
			s[i] = '\0';
			return;
		}
	}
}

static void
parse_line(struct loader *ld, char *s)
{
	char  shown[SHOW_MAX];
	char *eq, *key, *value;
	int   i;

	strip_comment(s);
	if (*(s = trim(s)) == '\0')
		return;
	if ((eq = strchr(s, '=')) == NULL) {
		diag_add(ld->d, ld->file, ld->line, "expected \"key = value\"");
		return;
	}
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if ((i = find_key(key)) == -1) {
		diag_add(ld->d, ld->file, ld->line, "unknown key \"%s\"",
		    show(shown, key));
		return;
	}
	if (ld->seen[i] != 0) {
		diag_add(ld->d, ld->file, ld->line,
		    "%s repeated (first set on line %u)", key, ld->seen[i]);
		return;
	}
	ld->seen[i] = ld->line;
	if (*value == '\0')
		diag_add(ld->d, ld->file, ld->line, "%s: empty value", key);
	else
		set_value(ld, &keys[i], value);
}

static void
read_lines(struct loader *ld, FILE *fp)
{
	char   *line = NULL;
	size_t  cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, fp)) != -1) {
		ld->line++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > LINE_MAX_BYTES)
			diag_add(ld->d, ld->file, ld->line,
			    "line too long (over %d bytes)", LINE_MAX_BYTES);
		else if (strlen(line) != (size_t)n)
			diag_add(ld->d, ld->file, ld->line, "NUL byte in line");
		else
			parse_line(ld, line);
	}
	if (ferror(fp))
		diag_add(ld->d, ld->file, 0, "cannot read: %s",
		    strerror(errno));
	free(line);
}

/*
 * Opens path for reading and records which file it is, for
 * config_changed.  O_NONBLOCK: a FIFO in its place must not hang us.
 */
static FILE *
config_open(const char *path, struct config *cfg, struct diag *d)
{
	struct stat st;
	FILE       *fp;
	int         fd, flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

	if ((fd = open(path, flags)) == -1) {
		diag_add(d, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		diag_add(d, path, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(d, path, 0, "cannot read: not a regular file");
		goto fail;
	}
	cfg->dev = st.st_dev;
	cfg->ino = st.st_ino;
	cfg->size = st.st_size;
	cfg->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec;
	if ((fp = fdopen(fd, "r")) == NULL) {
		diag_add(d, path, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	return fp;
fail:
	close(fd);
	return NULL;
}

/*
 * 1 if a request could reach dir: it is upload_dir or lies below it under
 * a first name that does not start with '.' (upgate.conf(5), Keys, upgate(8), Requests).  Both paths
 * are normalised.
 */
static int
exposed(const char *upload_dir, const char *dir)
{
	size_t n = strcmp(upload_dir, "/") == 0 ? 0 : strlen(upload_dir);

	if (strncmp(dir, upload_dir, n) != 0)
		return 0;
	if (dir[n] == '\0')
		return 1;
	return dir[n] == '/' && dir[n + 1] != '.';
}

/* The line of a key, for messages; 0 if the file did not set it. */
static unsigned
line_of(const struct loader *ld, const char *name)
{
	return ld->seen[find_key(name)];
}

static void
check_upload_dir(struct loader *ld)
{
	const char *dir = ld->cfg->upload_dir;
	char        shown[SHOW_MAX];
	struct stat st;

	if (stat(dir, &st) == -1)
		diag_add(ld->d, ld->file, line_of(ld, "upload_dir"),
		    "upload_dir \"%s\": %s", show(shown, dir), strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		diag_add(ld->d, ld->file, line_of(ld, "upload_dir"),
		    "upload_dir \"%s\" is not a folder", show(shown, dir));
}

/*
 * state_dir and quota_file must be out of reach of requests: a user could
 * otherwise overwrite the ledger or the quota table with a PUT.
 */
static void
check_reach(struct loader *ld, const char *name, const char *dir)
{
	char shown[SHOW_MAX];

	if (dir == NULL || !exposed(ld->cfg->upload_dir, dir))
		return;
	diag_add(ld->d, ld->file, line_of(ld, name), "%s \"%s\" is inside "
	    "upload_dir, where requests could reach it: use a place outside "
	    "it or under a name there starting with \".\"", name,
	    show(shown, dir));
}

static int
default_state_dir(struct config *cfg)
{
	const char *up = cfg->upload_dir;

	if (asprintf(&cfg->state_dir, "%s/.upgate",
	    strcmp(up, "/") == 0 ? "" : up) == -1) {
		cfg->state_dir = NULL;
		return -1;
	}
	return 0;
}

/* The checks that need the whole file: upgate.conf(5), Keys's required and folder rules. */
static void
check_dirs(struct loader *ld)
{
	struct config *cfg = ld->cfg;

	if (cfg->upload_dir == NULL) {
		if (line_of(ld, "upload_dir") == 0)
			diag_add(ld->d, ld->file, 0, "upload_dir is required");
		return;
	}
	check_upload_dir(ld);
	if (cfg->state_dir == NULL && line_of(ld, "state_dir") == 0 &&
	    default_state_dir(cfg) == -1)
		diag_add(ld->d, ld->file, 0, "out of memory");
	check_reach(ld, "state_dir", cfg->state_dir);
	check_reach(ld, "quota_file", cfg->quota_file);
}

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->per_user_dirs = 1;
	cfg->min_free_ppm = -1;
	cfg->retry_after = 3600;
	cfg->allow_overwrite = 1;
	cfg->max_files = 100;
	cfg->default_format = FORMAT_JSON;
	cfg->largest_files = 5;
	cfg->sync = 1;
	cfg->webdav = 1;
	cfg->resumable = 1;
	cfg->resumable_expiry = 24 * 3600;
}

const char *
config_path(const char *option, const char *env)
{
	if (option != NULL)
		return option;
	if (env != NULL && env[0] != '\0')
		return env;
	return CONFIG_DEFAULT_PATH;
}

int
config_load(const char *path, struct config *cfg, struct diag *d)
{
	struct loader ld;
	unsigned      before = d->count;
	FILE         *fp;

	config_defaults(cfg);
	memset(&ld, 0, sizeof ld);
	ld.file = path;
	ld.cfg = cfg;
	ld.d = d;
	if ((cfg->path = strdup(path)) == NULL) {
		diag_add(d, path, 0, "out of memory");
		goto fail;
	}
	if ((fp = config_open(path, cfg, d)) == NULL)
		goto fail;
	read_lines(&ld, fp);
	fclose(fp);
	check_dirs(&ld);
	if (d->count != before)
		goto fail;
	return 0;
fail:
	config_release(cfg);
	return -1;
}

void
config_release(struct config *cfg)
{
	free(cfg->path);
	free(cfg->upload_dir);
	free(cfg->state_dir);
	free(cfg->quota_file);
	free(cfg->anonymous_user);
	free(cfg->notify_command);
	free(cfg->upgrade_url);
	free(cfg->cleanup_url);
	free(cfg->ledger_uri);
	memset(cfg, 0, sizeof *cfg);
}

int
config_changed(const struct config *cfg)
{
	struct stat st;

	if (cfg->path == NULL || stat(cfg->path, &st) == -1)
		return 1;
	return st.st_dev != cfg->dev || st.st_ino != cfg->ino ||
	    st.st_size != cfg->size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
	    cfg->mtime_ns;
}

int64_t
config_min_free(const struct config *cfg, int64_t total)
{
	if (cfg->min_free_ppm < 0)
		return cfg->min_free_bytes;
	return total > 0 ? number_muldiv64(total, cfg->min_free_ppm, 1000000) : 0;
}
