/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"

int
fdio_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t     n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
fdio_write_line(int fd, const char *line)
{
	char   buf[8192];
	size_t n = strlen(line);

	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	memcpy(buf, line, n);
	buf[n] = '\n';
	(void)fdio_write_all(fd, buf, n + 1);
}

/* Room for n bytes more and the NUL in *buf of *cap, at most limit. */
static int
room(char **buf, size_t *cap, size_t n, size_t limit)
{
	size_t want;
	char  *p;

	if (n + 1 < *cap)
		return 0;
	if (*cap >= limit) {
		errno = EFBIG;
		return -1;
	}
	want = *cap > limit / 2 ? limit : *cap * 2;
	if ((p = realloc(*buf, want)) == NULL)
		return -1;
	*buf = p;
	*cap = want;
	return 0;
}

int
read_whole(int fd, size_t max, char **text, size_t *len)
{
	struct stat st;
	/* max bytes, one more to see the file pass it, and the NUL */
	size_t      limit = max + 2, cap = 4096, n = 0;
	ssize_t     r;
	char       *buf;

	*text = NULL;
	*len = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
	    (uint64_t)st.st_size < limit - 2)
		cap = (size_t)st.st_size + 2;
	if (cap > limit)
		cap = limit;
	if ((buf = malloc(cap)) == NULL)
		return -1;
	for (;;) {
		if (room(&buf, &cap, n, limit) == -1)
			goto fail;
		if ((r = read(fd, buf + n, cap - 1 - n)) == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		if ((n += (size_t)r) > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	return -1;
}
