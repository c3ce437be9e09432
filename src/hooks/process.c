/* Process lifecycle hooks: fork (the model is locked across it so a child never inherits a
 * half-made change), vfork (the child shares our memory and must not touch it), the exec
 * family (the report is written before the image is replaced, and taken back if exec
 * fails), _exit and _Exit (no atexit handlers run, so we write the report here). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "../report/report.h"
#include "../track/agent.h"
#include "../track/model.h"
#include "../util/threads.h"
#include "hook.h"

/* Set while our fork hook runs, so the atfork handlers below leave the work to it. */
static __thread int in_fork_hook __attribute__((tls_model("initial-exec")));

HOOK pid_t fork(void)
{
	if (!hook_active())
		return REAL(fork)();
	hook_busy++;
	in_fork_hook = 1;
	model_fork_prepare();
	pid_t p = REAL(fork)();
	int saved = errno;
	in_fork_hook = 0;
	if (p == 0) {
		hook_after_fork_child();
		model_fork_child();
		agent_after_fork_child();
	} else {
		model_fork_parent(p);
	}
	hook_leave();
	errno = saved;
	return p;
}

/* Forks made inside libc (daemon() calls __fork, which no symbol of ours catches) still
 * run the atfork handlers: the same work, without the child's pid. */
static __thread int atfork_locked __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void)
{
	atfork_locked = !in_fork_hook && hook_active();
	if (atfork_locked) {
		hook_busy++;
		model_fork_prepare();
	}
}

static void atfork_parent(void)
{
	if (atfork_locked) {
		atfork_locked = 0;
		model_fork_parent(0);
		hook_leave();
	}
}

static void atfork_child(void)
{
	if (atfork_locked) {
		atfork_locked = 0;
		hook_after_fork_child();
		model_fork_child();
		agent_after_fork_child();
		hook_leave();
	} else if (!in_fork_hook && hook_enabled && hook_busy) {
		/* Forked from a handler that interrupted connleak: the locks may be held by a
		 * call that will never finish in this child. Stay out of the model. */
		hook_enabled = 0;
	}
}

void hook_register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Must end in a tail call: the child returns straight to our caller, and a frame of ours
 * left on the shared stack would be clobbered before the parent resumes. The flag, set in
 * the calling thread, makes hooks check the pid until the parent is back. */
HOOK TAIL_FN pid_t vfork(void)
{
	pid_t (*fn)(void) = REAL(vfork);
	hook_vfork = 1;
	TAIL_RETURN fn();
}

/* clone(CLONE_VM) without CLONE_THREAD: a child process in our memory, with its own pid and
 * (without CLONE_FILES) its own descriptors. It is treated like a vfork child: hooks in it
 * leave the shared model alone (hook_in_vfork_child compares pids). With CLONE_VFORK the
 * parent resumes only once the child exec'd or exited, as for vfork; without it the two
 * run together, so the parent keeps checking its pid on this thread (a getpid per hook;
 * such programs are rare). The three optional arguments are passed on as glibc reads them. */
HOOK int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if ((flags & CLONE_VM) && !(flags & CLONE_THREAD))
		hook_vfork = (flags & CLONE_VFORK) ? 1 : HOOK_VFORK_STICKY;
	else if (flags & CLONE_THREAD)
		threads_cloned = 1; /* a thread glibc does not count (util/threads.h) */
	return REAL(clone)(fn, stack, flags, arg, ptid, tls, ctid);
}

#define EXEC(path, call)                     \
	do {                                 \
		hook_before_exec(path);      \
		int r_ = call;               \
		hook_exec_failed();          \
		return r_;                   \
	} while (0)

HOOK int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC(path, REAL(execve)(path, argv, envp));
}

HOOK int execv(const char *path, char *const argv[])
{
	EXEC(path, REAL(execv)(path, argv));
}

HOOK int execvp(const char *file, char *const argv[])
{
	EXEC(file, REAL(execvp)(file, argv));
}

HOOK int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC(file, REAL(execvpe)(file, argv, envp));
}

HOOK int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC("(fexecve)", REAL(fexecve)(fd, argv, envp));
}

HOOK int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		  int flags)
{
	EXEC(path, REAL(execveat)(dirfd, path, argv, envp, flags));
}

/* The list forms collect their arguments into an array on the stack, as glibc does. */
#define COLLECT_ARGS(first, argv, ap, envp_out)                            \
	size_t n_ = 1;                                                     \
	va_start(ap, first);                                               \
	while (va_arg(ap, char *))                                         \
		n_++;                                                      \
	va_end(ap);                                                        \
	char *argv[n_ + 1];                                                \
	argv[0] = (char *)first;                                           \
	va_start(ap, first);                                               \
	for (size_t i_ = 1; i_ <= n_; i_++)                                \
		argv[i_] = va_arg(ap, char *);                             \
	envp_out;                                                          \
	va_end(ap)

HOOK int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, argv, ap, (void)0);
	EXEC(path, REAL(execv)(path, argv));
}

HOOK int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, argv, ap, (void)0);
	EXEC(file, REAL(execvp)(file, argv));
}

HOOK int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp;
	COLLECT_ARGS(arg, argv, ap, envp = va_arg(ap, char **));
	EXEC(path, REAL(execve)(path, argv, envp));
}

/* exit() from several threads at once: glibc 2.36 runs the exit handlers in all of them
 * and the first to finish ends the process, possibly while another writes our report.
 * Later callers wait (bounded) for the report, as newer glibc makes them wait anyway;
 * the first caller's own nested exit() does not. */
static atomic_int exit_tid;

HOOK void exit(int status)
{
	if (hook_enabled && !hook_in_vfork_child()) {
		int self = (int)REAL(syscall)(SYS_gettid), expect = 0;
		if (!atomic_compare_exchange_strong(&exit_tid, &expect, self) && expect != self)
			hook_wait_report(10000);
	}
	REAL(exit)(status);
}

HOOK void _exit(int status)
{
	hook_finish_exit(END__EXIT, status);
	REAL(_exit)(hook_forced_status(status));
}

HOOK void _Exit(int status)
{
	hook_finish_exit(END__EXIT, status);
	REAL(_Exit)(hook_forced_status(status));
}
