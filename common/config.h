/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * config: the configuration file (upgate.conf(5), Keys).  Strict: unknown, repeated,
 * empty or bad values are errors, each reported as FILE:LINE: message.
 */
#ifndef UPGATE_CONFIG_H
#define UPGATE_CONFIG_H

#include <stdint.h>
#include <sys/types.h>
#include "diag.h"
#include "format.h"

#define CONFIG_DEFAULT_PATH "/etc/upgate/upgate.conf"

struct config {
	char        *path;		/* the file read */
	char        *upload_dir;
	int          per_user_dirs;
	char        *state_dir;		/* defaults to upload_dir/.upgate */
	char        *quota_file;	/* NULL: no per-user quota */
	int64_t      max_upload_size;	/* 0: no limit */
	int64_t      min_free_bytes;	/* used when min_free_ppm < 0 */
	int64_t      min_free_ppm;	/* millionths of the total; -1: a size */
	int64_t      retry_after;
	char        *anonymous_user;	/* NULL: none */
	int          allow_overwrite;
	int          create_parents;
	int          allow_unknown_length;
	int64_t      max_files;		/* 0: no limit */
	enum format  default_format;
	int          expose_paths;
	char        *upgrade_url;	/* NULL: none */
	char        *cleanup_url;	/* NULL: none */
	int64_t      largest_files;
	int          sync;		/* fsync stores and ledger changes */
	char        *ledger_uri;	/* NULL: the files ledger */
	char        *notify_command;	/* NULL: none */
	int          webdav;		/* answer the WebDAV methods */
	int          resumable;		/* speak tus (upgate(8)) */
	int64_t      resumable_expiry;	/* seconds an unfinished upload lasts */
	/* identity of the file read, to notice a change (upgate(8), Limits) */
	dev_t        dev;
	ino_t        ino;
	off_t        size;
	int64_t      mtime_ns;
};

/*
 * Which file to read: option (may be NULL), else env (the value of
 * UPGATE_CONFIG, may be NULL or empty), else CONFIG_DEFAULT_PATH.  The
 * returned pointer is one of the arguments or a static string.
 */
const char *config_path(const char *option, const char *env);

/*
 * Reads and checks path into *cfg, which it initialises.  Returns 0, or -1
 * with every problem added to d (and *cfg released).  Checks that
 * upload_dir exists and that state_dir lies outside upload_dir or under a
 * dot-name inside it.  On success the caller owns cfg and calls
 * config_release.
 */
int  config_load(const char *path, struct config *cfg, struct diag *d);

/* Frees what cfg owns; safe to call twice and on a zeroed struct. */
void config_release(struct config *cfg);

/* 1 if the file at cfg->path is no longer the one cfg was read from. */
int  config_changed(const struct config *cfg);

/*
 * 1 when v may be the `ledger` key's database: a postgresql:// or
 * postgres:// URI (libpq's), printable, without white space.
 */
int  config_uri_valid(const char *v);

/* Bytes to keep free on a filesystem of total bytes. */
int64_t config_min_free(const struct config *cfg, int64_t total);

#endif
