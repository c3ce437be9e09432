/* A small buffered writer over a file descriptor, flushed with the real write(): report
 * writers must not go through stdio (whose fclose we hook) or through our own hooks. */
#ifndef CONNLEAK_OUT_H
#define CONNLEAK_OUT_H

#include <stddef.h>

struct out {
	int fd;
	int failed;
	size_t n;
	char buf[16384];
};

void out_init(struct out *o, int fd);
void out_write(struct out *o, const char *s, size_t len);
void out_puts(struct out *o, const char *s);
void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns 0 when everything reached the descriptor. */
int out_flush(struct out *o);

#endif
