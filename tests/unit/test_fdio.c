/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * read_whole: a file of any size up to its limit read whole, from a
 * regular file and from a pipe (no size known ahead), one byte past the
 * limit refused with EFBIG.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_main.h"
#include "fdio.h"
#include "table.h"

/* A file of len bytes of a pattern, unlinked, opened for reading. */
static int
file_of(size_t len, char *data)
{
	const char *tmp = getenv("TMPDIR");
	char        path[256];
	size_t      i;
	int         fd;

	snprintf(path, sizeof path, "%s/upgate-fdio.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	unlink(path);
	for (i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	if (fdio_write_all(fd, data, len) == -1 || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
test_read_whole(void)
{
	static const struct {
		size_t len, max;
		int    ok;
	} rows[] = {
		{ 0, 0, 1 }, { 0, 10, 1 }, { 1, 1, 1 }, { 2, 1, 0 },
		{ 4095, 4096, 1 }, { 4096, 4096, 1 }, { 4097, 4096, 0 },
		{ 10000, 100000, 1 }, { 100000, 100000, 1 },
		{ 100001, 100000, 0 },
	};
	static char data[100001];
	char       *text;
	size_t      i, len;
	int         fd, r;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CU_ASSERT_FATAL((fd = file_of(rows[i].len, data)) != -1);
		r = read_whole(fd, rows[i].max, &text, &len);
		ROW(r == (rows[i].ok ? 0 : -1), i, "result");
		if (r == 0) {
			ROW(len == rows[i].len && text[len] == '\0' &&
			    memcmp(text, data, len) == 0, i, "text");
			free(text);
		} else
			ROW(errno == EFBIG && text == NULL, i, "EFBIG");
		close(fd);
	}
}

/* A pipe has no size to go by: the buffer grows. */
static void
test_read_whole_pipe(void)
{
	static char data[70000], *text;
	size_t      len, i;
	int         p[2], status;
	pid_t       pid;

	for (i = 0; i < sizeof data; i++)
		data[i] = (char)i;
	CU_ASSERT_FATAL(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		_exit(fdio_write_all(p[1], data, sizeof data) == 0 ? 0 : 1);
	}
	close(p[1]);
	CU_ASSERT_EQUAL(read_whole(p[0], sizeof data, &text, &len), 0);
	CU_ASSERT(len == sizeof data && memcmp(text, data, len) == 0);
	free(text);
	close(p[0]);
	CU_ASSERT(waitpid(pid, &status, 0) == pid && status == 0);
	CU_ASSERT_EQUAL(read_whole(-1, 10, &text, &len), -1);
	CU_ASSERT_EQUAL(errno, EBADF);
}

static CU_TestInfo fdio_tests[] = {
	{ "read_whole of files", test_read_whole },
	{ "read_whole of a pipe", test_read_whole_pipe },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "fdio", NULL, NULL, NULL, NULL, fdio_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)
