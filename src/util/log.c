/* One-line diagnostics on stderr through the real write(). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "real.h"

int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = real.write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void log_line(const char *line)
{
	int saved = errno;
	char buf[1024];
	size_t n = strlen(line);
	if (n > sizeof buf - 2)
		n = sizeof buf - 2;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	write_all(2, buf, n);
	errno = saved;
}

void log_linef(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_line(buf);
}
