/* The raw-clone helper process. Everything here is async-signal-safe: it runs from fatal
 * signal handlers too. */
#include "helper.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/real.h"

int helper_child;

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int helper_run(int (*fn)(void *), void *arg, int wait_ms)
{
	int saved = errno;
	/* Exit signal 0: the parent gets no SIGCHLD, and only __WALL waits see the child. */
	long pid = real.syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
	if (pid == 0) {
		helper_child = 1;
		int code = fn(arg);
		real.syscall(SYS_exit_group, (long)code);
		for (;;)
			;
	}
	if (pid < 0) {
		errno = saved;
		return -1;
	}
	int status = 0, waited = 0, step = 1;
	for (;;) {
		pid_t r = waitpid((pid_t)pid, &status, __WALL | WNOHANG);
		if (r == (pid_t)pid)
			break;
		if (r < 0 && errno != EINTR) {
			/* Reaped by someone else (a __WALL wait in the program): nothing known. */
			errno = saved;
			return -1;
		}
		if (waited >= wait_ms) {
			kill((pid_t)pid, SIGKILL);
			while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR)
				;
			errno = saved;
			return -1;
		}
		nap_ms(step);
		waited += step;
		if (step < 20)
			step *= 2;
	}
	errno = saved;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
