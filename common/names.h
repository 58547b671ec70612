/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * names: validation of user names, file names and request paths
 * (upgate.conf(5), "The quota table", upgate(8), Requests).  Pure functions, no I/O.
 */
#ifndef UPGATE_NAMES_H
#define UPGATE_NAMES_H

#include <stddef.h>

#define USER_NAME_MAX 64
#define FILE_NAME_MAX 255
#define PATH_DEPTH_MAX 32	/* components of a PATH_INFO */

/* 1 if s is 1-64 bytes of A-Z a-z 0-9 . _ @ -, not starting with . or -. */
int names_user_valid(const char *s);

/*
 * 1 if (s, len) is a valid stored name: valid UTF-8 (no overlong forms,
 * no surrogates), 1-255 bytes, no C0, DEL or C1 control character nor
 * Unicode bidirectional control (U+061C, U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069), no '/' and does not start with '.'.  The backslash is
 * refused too (upgate(8), "Requests": no '\' in a PATH_INFO; a multipart
 * name has had it removed as a separator).
 */
int names_file_valid(const char *s, size_t len);

enum path_kind {
	PATH_FILE,	/* PUT, DELETE: no trailing '/' */
	PATH_FOLDER	/* POST: may end in '/', may be empty or "/" */
};

/*
 * A PATH_INFO split into components.  The components point into buf, a
 * NUL-separated copy made by names_path_parse; the struct owns nothing else.
 */
struct path {
	char        buf[4096];
	const char *comp[PATH_DEPTH_MAX];
	size_t      ncomp;
};

/*
 * Parses a PATH_INFO ("/a/b/c.txt").  Returns 0 on success, -1 when it is
 * not a valid path of that kind (empty component, "." or "..", a
 * backslash, a bad file name, too deep or too long, or for PATH_FILE no
 * component or a trailing '/').  A NULL or empty PATH_INFO is a valid
 * empty folder path for PATH_FOLDER and invalid for PATH_FILE.
 */
int names_path_parse(const char *path_info, enum path_kind, struct path *out);

/*
 * Reduces a multipart filename to its last component: both '/' and '\'
 * separate (upgate(8), Requests).  Returns a pointer into s and sets *len.
 */
const char *names_file_basename(const char *s, size_t slen, size_t *len);

#endif
