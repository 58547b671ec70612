#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"

int
write_all(int fd, const void *data, size_t len)
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
write_line(int fd, const char *line)
{
	char   buf[8192];
	size_t n = strlen(line);

	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	memcpy(buf, line, n);
	buf[n] = '\n';
	(void)write_all(fd, buf, n + 1);
}
