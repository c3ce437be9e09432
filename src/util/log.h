/* Diagnostics from connleak itself (bad options, unwritable report directory): one line
 * each on stderr, written with the real write() so no hook sees it. stderr is used only
 * while it is what it was when connleak started and not a socket: a daemon whose fd 2 is
 * now a client connection must not send our lines to its peer. */
#ifndef CONNLEAK_LOG_H
#define CONNLEAK_LOG_H

#include <signal.h>
#include <stddef.h>

void log_line(const char *line);
void log_linef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all of buf to fd with the real write(), retrying on EINTR and short writes. */
int write_all(int fd, const char *buf, size_t len);

/* Remembers what fd 2 is now (called from the constructor and after exec). */
void log_stderr_init(void);
/* NULL when fd 2 may carry our text, else why not ("stderr is a socket", ...). */
const char *log_stderr_unsafe(void);

/* Our writes must never raise SIGPIPE (a pipe without reader) or SIGXFSZ (ulimit -f) in
 * the program: between quiet_begin and quiet_end both are blocked in this thread, and a
 * SIGPIPE/SIGXFSZ our writes raised is taken back (one that was already pending stays).
 * Async-signal-safe. */
struct quiet {
	sigset_t old;
	int pending_before[2];
};
void quiet_begin(struct quiet *q);
void quiet_end(struct quiet *q);

#endif
