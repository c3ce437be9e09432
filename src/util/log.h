/* Diagnostics from connleak itself (bad options, unwritable report directory): one line
 * each on stderr, written with the real write() so no hook sees it. */
#ifndef CONNLEAK_LOG_H
#define CONNLEAK_LOG_H

#include <stddef.h>

void log_line(const char *line);
void log_linef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all of buf to fd with the real write(), retrying on EINTR and short writes. */
int write_all(int fd, const char *buf, size_t len);

#endif
