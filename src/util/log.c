/* One-line diagnostics on stderr through the real write(), the stderr check and the
 * signal-quiet bracket every report write goes through. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

static struct {
	int known, open;
	dev_t dev;
	ino_t ino;
} err0;

void log_stderr_init(void)
{
	struct stat st;
	err0.known = 1;
	err0.open = fstat(2, &st) == 0;
	if (err0.open) {
		err0.dev = st.st_dev;
		err0.ino = st.st_ino;
	}
}

const char *log_stderr_unsafe(void)
{
	struct stat st;
	if (fstat(2, &st) != 0)
		return "stderr is closed";
	if (S_ISSOCK(st.st_mode))
		return "stderr is a socket";
	if (err0.known && (!err0.open || st.st_dev != err0.dev || st.st_ino != err0.ino))
		return "stderr is no longer what it was at start";
	return NULL;
}

static const int quiet_sigs[2] = {SIGPIPE, SIGXFSZ};

void quiet_begin(struct quiet *q)
{
	sigset_t block, pend;
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &block, &q->old);
	sigpending(&pend);
	for (int i = 0; i < 2; i++)
		q->pending_before[i] = sigismember(&pend, quiet_sigs[i]) == 1;
}

void quiet_end(struct quiet *q)
{
	sigset_t pend;
	sigpending(&pend);
	for (int i = 0; i < 2; i++) {
		if (q->pending_before[i] || sigismember(&pend, quiet_sigs[i]) != 1)
			continue;
		/* Raised by our write (a thread-directed signal): take it back. */
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, quiet_sigs[i]);
		struct timespec zero = {0, 0};
		while (sigtimedwait(&one, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}

void log_line(const char *line)
{
	int saved = errno;
	if (!log_stderr_unsafe()) {
		char buf[1024];
		size_t n = strlen(line);
		if (n > sizeof buf - 2)
			n = sizeof buf - 2;
		memcpy(buf, line, n);
		buf[n++] = '\n';
		struct quiet q;
		quiet_begin(&q);
		write_all(2, buf, n);
		quiet_end(&q);
	}
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
