/* Buffered descriptor writer for the report files. */
#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../util/log.h"

void out_init(struct out *o, int fd)
{
	o->fd = fd;
	o->failed = 0;
	o->n = 0;
}

int out_flush(struct out *o)
{
	if (o->n && !o->failed && write_all(o->fd, o->buf, o->n) != 0)
		o->failed = 1;
	o->n = 0;
	return o->failed ? -1 : 0;
}

void out_write(struct out *o, const char *s, size_t len)
{
	while (len) {
		if (o->n == sizeof o->buf)
			out_flush(o);
		size_t room = sizeof o->buf - o->n, k = len < room ? len : room;
		memcpy(o->buf + o->n, s, k);
		o->n += k;
		s += k;
		len -= k;
	}
}

void out_puts(struct out *o, const char *s)
{
	out_write(o, s, strlen(s));
}

void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_write(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
