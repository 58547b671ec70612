/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * config_fuzz: a libFuzzer harness for common/config.c.  The input is a
 * whole configuration file, written to a memfd and loaded through
 * /proc/self/fd/N as config_load would read any other file.  Nothing is
 * prepended: most inputs fail, the seeds (upload_dir = /tmp) pass.
 *
 * A failed load reported at least one problem and left *cfg zeroed.  A
 * successful one reported none and holds only what upgate.conf(5), Keys allows:
 * normalised absolute paths (no "//", ".", "..", control byte or trailing
 * '/'), upload_dir a folder, state_dir and quota_file out of its reach,
 * numbers within their bounds, booleans 0 or 1, a valid anonymous user,
 * links of printable ASCII.  Any difference traps.
 *
 *	clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *	    tests/fuzz/config_fuzz.c common/config.c common/names.c \
 *	    common/number.c common/format.c common/diag.c
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "names.h"

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* A normalised absolute path, as path_normalize leaves it. */
static int
path_ok(const char *p)
{
	const char *c;
	size_t      n;

	if (p == NULL || p[0] != '/')
		return 0;
	if (strcmp(p, "/") == 0)
		return 1;
	for (c = p + 1;; c += n + 1) {
		n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (c[n] == '\0')
			break;
	}
	for (c = p; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return 0;
	return 1;
}

/* 1 if a request could reach dir below up (upgate.conf(5), Keys): a second reading. */
static int
reachable(const char *up, const char *dir)
{
	size_t n = strlen(up);

	if (strcmp(up, "/") == 0)
		return dir[1] != '.';
	if (strcmp(dir, up) == 0)
		return 1;
	return strncmp(dir, up, n) == 0 && dir[n] == '/' && dir[n + 1] != '.';
}

static int
url_ok(const char *u)
{
	if (u == NULL)
		return 1;
	if (strncasecmp(u, "http://", 7) != 0 &&
	    strncasecmp(u, "https://", 8) != 0 && u[0] != '/')
		return 0;
	for (; *u != '\0'; u++)
		if (*u <= 0x20 || *u >= 0x7f || strchr("<>\"", *u) != NULL)
			return 0;
	return 1;
}

static int
bool_ok(int b)
{
	return b == 0 || b == 1;
}

static void
check_loaded(const struct config *cfg, const char *path)
{
	struct stat st;

	check(strcmp(cfg->path, path) == 0);
	check(path_ok(cfg->upload_dir) && path_ok(cfg->state_dir));
	check(stat(cfg->upload_dir, &st) == 0 && S_ISDIR(st.st_mode));
	check(!reachable(cfg->upload_dir, cfg->state_dir));
	check(cfg->quota_file == NULL || (path_ok(cfg->quota_file) &&
	    !reachable(cfg->upload_dir, cfg->quota_file)));
	check(bool_ok(cfg->per_user_dirs) && bool_ok(cfg->allow_overwrite) &&
	    bool_ok(cfg->create_parents) && bool_ok(cfg->expose_paths) &&
	    bool_ok(cfg->allow_unknown_length));
	check(cfg->max_upload_size >= 0);
	check(cfg->retry_after >= 0 && cfg->retry_after <= 604800);
	check(cfg->max_files >= 0 && cfg->max_files <= 100000);
	check(cfg->largest_files >= 0 && cfg->largest_files <= 1000);
	check((unsigned)cfg->default_format < FORMAT__MAX);
	check(cfg->anonymous_user == NULL ||
	    names_user_valid(cfg->anonymous_user));
	check(url_ok(cfg->upgrade_url) && url_ok(cfg->cleanup_url));
	if (cfg->min_free_ppm == -1)
		check(cfg->min_free_bytes >= 0 &&
		    config_min_free(cfg, INT64_MAX) == cfg->min_free_bytes);
	else
		check(cfg->min_free_ppm >= 0 && cfg->min_free_ppm <= 1000000 &&
		    cfg->min_free_bytes == 0 &&
		    config_min_free(cfg, INT64_MAX) >= 0 &&
		    config_min_free(cfg, 1000000) == cfg->min_free_ppm);
	check(!config_changed(cfg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int           fd = -1;	/* one memfd for the whole run */
	static const struct config zero;
	struct config        cfg;
	struct diag          d;
	char                 path[64];

	if (fd == -1 && (fd = memfd_create("config_fuzz", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	diag_init(&d);
	if (config_load(path, &cfg, &d) == -1) {
		check(d.count > 0 && memcmp(&cfg, &zero, sizeof cfg) == 0);
		return 0;
	}
	check(d.count == 0);
	check_loaded(&cfg, path);
	config_release(&cfg);
	config_release(&cfg);
	return 0;
}
