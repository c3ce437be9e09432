/* The program's signal handlers never run inside connleak. Every asynchronous handler the
 * program installs (sigaction, signal, sysv_signal, sigset, bsd_signal) is installed behind
 * a wrapper; when a signal arrives while this thread is inside connleak (hook_busy: the
 * model lock may be held, a record half made), the wrapper does not run the handler: it
 * queues the same signal again to this thread (same siginfo where the kernel allows it),
 * and blocks it in the interrupted context, so it stays pending until connleak's call ends
 * and unblocks it (hook_leave). The handler then runs where the program was, outside any
 * lock of ours: it may call socket() and close(), siglongjmp out, or _exit, and nothing of
 * ours is left held or half done. The cost on the hot path is nothing: hook_busy is the
 * flag connleak already keeps. Synchronous signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGTRAP, SIGSYS, SIGABRT) are not wrapped: they cannot wait. An SA_RESETHAND handler is
 * wrapped too: a deferred delivery puts the wrapper back, so the reset to the default
 * happens when the program's handler runs.
 * What the program reads back (old actions, signal()'s return) is its own handler and
 * flags, never the wrapper. Handlers installed with a raw rt_sigaction system call are not
 * wrapped; their socket calls go through the deferred-event queue (deferred.c). */
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "hook.h"

#define NSIGS _NSIG

/* The program's handler for one signal. Two records per signal, the current one named by
 * `cur`: an update writes the other record, then flips, so a handler running at that
 * moment reads a whole record. */
struct prog_handler {
	void *fn;
	int siginfo;
	/* The action installed for it (the wrapper), kept to install it again after an
	 * SA_RESETHAND delivery that had to be deferred. */
	int flags;
	sigset_t mask;
};

static struct prog_handler prog[NSIGS][2];
static _Atomic int cur[NSIGS];

__thread unsigned long long hook_deferred_sigs __attribute__((tls_model("initial-exec")));

/* The program's handlers running on this thread, innermost last, so that connleak can
 * tell it runs inside one (the report of an _exit called by a handler must not malloc). A
 * handler left by siglongjmp never pops its record. A record is live only while its frame
 * is above the current one and its signal frame still holds the interrupted context it was
 * entered with (once abandoned, the stack there is reused); the check reads that memory
 * with process_vm_readv, which cannot fault. */
#define HANDLER_DEPTH 8
struct handler_rec {
	uintptr_t sp;           /* the wrapper's frame */
	const ucontext_t *uc;   /* the signal frame's context */
	gregset_t seen;         /* the interrupted registers it held on entry */
};
static __thread struct handler_rec handlers[HANDLER_DEPTH]
	__attribute__((tls_model("initial-exec")));
static __thread int handler_depth __attribute__((tls_model("initial-exec")));

static int still_there(const struct handler_rec *h)
{
	if (!h->uc)
		return 1;
	mcontext_t now;
	struct iovec local = {&now, sizeof now},
		     remote = {(void *)&h->uc->uc_mcontext, sizeof now};
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof now)
		return 0;
	return !memcmp(now.gregs, h->seen, sizeof h->seen);
}

/* A jump out of a handler (the watchdog pattern) leaves its record behind: forget them all.
 * The target is not known (glibc mangles it), and a jump that stays inside a handler is
 * rare; forgetting only costs a report written there its safety margin. */
static inline void jumped(void)
{
	handler_depth = 0;
}

HOOK void longjmp(struct __jmp_buf_tag env[1], int val)
{
	jumped();
	REAL(longjmp)(env, val);
}

HOOK void _longjmp(struct __jmp_buf_tag env[1], int val)
{
	jumped();
	REAL(longjmp)(env, val);
}

HOOK void siglongjmp(struct __jmp_buf_tag env[1], int val)
{
	jumped();
	REAL(longjmp)(env, val);
}

void __longjmp_chk(struct __jmp_buf_tag env[1], int val) __attribute__((noreturn));
HOOK void __longjmp_chk(struct __jmp_buf_tag env[1], int val)
{
	jumped();
	REAL(longjmp_chk)(env, val);
}

int hook_in_signal_handler(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	for (int i = handler_depth; i-- > 0;)
		if (handlers[i].sp > sp && still_there(&handlers[i]))
			return 1;
	return 0;
}

static int wrappable(int sig)
{
	switch (sig) {
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGTRAP:
	case SIGSYS:
	case SIGABRT:
	case SIGKILL:
	case SIGSTOP:
		return 0;
	default:
		return sig > 0 && sig < NSIGS;
	}
}

static void wrapper(int sig, siginfo_t *info, void *uc);

static int is_function(void *fn)
{
	return fn != (void *)SIG_DFL && fn != (void *)SIG_IGN && fn != (void *)SIG_ERR &&
	       fn != (void *)wrapper && !fatal_is_handler(fn);
}

static void *handler_of(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ? (void *)a->sa_sigaction : (void *)a->sa_handler;
}

/* Runs `sig` again once connleak's call on this thread is over. */
static void defer(int sig, siginfo_t *info, ucontext_t *uc)
{
	hook_deferred_sigs |= 1ull << (sig - 1);
	/* SA_RESETHAND: the kernel has just reset the action to the default, which must
	 * happen when the program's handler runs, not now: the wrapper goes back in place
	 * for the requeued signal (and the kernel resets it again then). */
	const struct prog_handler *h = &prog[sig][atomic_load_explicit(&cur[sig],
								       memory_order_acquire)];
	if (h->flags & SA_RESETHAND) {
		struct sigaction again;
		memset(&again, 0, sizeof again);
		again.sa_sigaction = wrapper;
		again.sa_flags = h->flags;
		again.sa_mask = h->mask;
		REAL(sigaction)(sig, &again, NULL);
	}
	/* Blocked when the interrupted code resumes (sigreturn restores this mask). */
	sigaddset(&uc->uc_sigmask, sig);
	pid_t pid = (pid_t)REAL(syscall)(SYS_getpid), tid = (pid_t)REAL(syscall)(SYS_gettid);
	/* The kernel takes the original siginfo back for the main thread or a user code;
	 * otherwise the signal comes back as from tgkill (si_code SI_TKILL). */
	if (!info || REAL(syscall)(SYS_rt_tgsigqueueinfo, pid, tid, sig, info) != 0)
		REAL(syscall)(SYS_tgkill, pid, tid, sig);
}

static void wrapper(int sig, siginfo_t *info, void *uc)
{
	if (__builtin_expect(hook_busy, 0) && !hook_own_thread && uc) {
		int saved = errno;
		defer(sig, info, uc);
		errno = saved;
		return;
	}
	const struct prog_handler *h = &prog[sig][atomic_load_explicit(&cur[sig],
								       memory_order_acquire)];
	void *fn = h->fn;
	if (fn == (void *)SIG_IGN || !fn)
		return;
	if (fn == (void *)SIG_DFL) {
		/* The program set the default while this signal was on its way: act as the
		 * default would, by delivering it again without us. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		REAL(sigaction)(sig, &dfl, NULL);
		REAL(syscall)(SYS_tgkill, (pid_t)REAL(syscall)(SYS_getpid), (pid_t)REAL(syscall)(SYS_gettid), sig);
		return;
	}
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	while (handler_depth > 0 && handlers[handler_depth - 1].sp <= sp)
		handler_depth--; /* left by siglongjmp */
	int depth = handler_depth;
	if (depth < HANDLER_DEPTH) {
		struct handler_rec *r = &handlers[handler_depth++];
		r->sp = sp;
		r->uc = uc;
		if (uc)
			memcpy(r->seen, ((ucontext_t *)uc)->uc_mcontext.gregs, sizeof r->seen);
	}
	if (h->siginfo)
		((void (*)(int, siginfo_t *, void *))fn)(sig, info, uc);
	else
		((void (*)(int))fn)(sig);
	handler_depth = depth;
}

void hook_release_signals(void)
{
	unsigned long long d = hook_deferred_sigs;
	hook_deferred_sigs = 0;
	sigset_t set;
	sigemptyset(&set);
	for (int sig = 1; sig < NSIGS && d; sig++, d >>= 1)
		if (d & 1)
			sigaddset(&set, sig);
	int saved = errno;
	/* The pending signals are delivered as this returns, to the program's handlers. */
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	errno = saved;
}

static void remember(int sig, void *fn, int siginfo, const struct sigaction *installed)
{
	int next = !atomic_load_explicit(&cur[sig], memory_order_relaxed);
	prog[sig][next].fn = fn;
	prog[sig][next].siginfo = siginfo;
	prog[sig][next].flags = installed->sa_flags | SA_SIGINFO;
	prog[sig][next].mask = installed->sa_mask;
	atomic_store_explicit(&cur[sig], next, memory_order_release);
}

/* An action the program installed without the wrapper: nothing of ours to show or undo. */
static void forget(int sig, const struct sigaction *a)
{
	int next = !atomic_load_explicit(&cur[sig], memory_order_relaxed);
	prog[sig][next].fn = handler_of(a);
	prog[sig][next].siginfo = !!(a->sa_flags & SA_SIGINFO);
	prog[sig][next].flags = 0;
	sigemptyset(&prog[sig][next].mask);
	atomic_store_explicit(&cur[sig], next, memory_order_release);
}

/* The action the program asked for, as it will read it back. */
static void as_program_sees(int sig, struct sigaction *a)
{
	const struct prog_handler *was = &prog[sig][atomic_load(&cur[sig])];
	/* A wrapped SA_RESETHAND handler ran: the kernel put the default back and kept the
	 * flags, ours (SA_SIGINFO) included. */
	if (a->sa_handler == SIG_DFL && (a->sa_flags & SA_SIGINFO) &&
	    (was->flags & SA_RESETHAND) && !was->siginfo) {
		a->sa_flags &= ~SA_SIGINFO;
		return;
	}
	if ((a->sa_flags & SA_SIGINFO) && a->sa_sigaction == wrapper) {
		const struct prog_handler *h = &prog[sig][atomic_load(&cur[sig])];
		if (h->siginfo) {
			a->sa_sigaction = (void (*)(int, siginfo_t *, void *))h->fn;
		} else {
			a->sa_flags &= ~SA_SIGINFO;
			a->sa_handler = (__sighandler_t)h->fn;
		}
	}
}

static int want_wrap(int sig, const struct sigaction *a)
{
	return hook_enabled && wrappable(sig) && is_function(handler_of(a)) &&
	       !hook_in_vfork_child();
}

HOOK int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig <= 0 || sig >= NSIGS)
		return REAL(sigaction)(sig, act, old);
	struct sigaction mine, prev, bare;
	const struct sigaction *use = act;
	/* Our fatal-signal report handler (fatal.c) holds the signal: the program reads back
	 * the default it would see bare; asking for the default again keeps the report; any
	 * other action is the program's from now on. */
	int fatal = fatal_owns(sig);
	if (fatal) {
		fatal_shown(sig, &bare);
		if (!act || (handler_of(act) == (void *)SIG_DFL && !(act->sa_flags & SA_SIGINFO))) {
			if (act)
				fatal_set_shown(sig, act);
			if (old)
				*old = bare;
			return 0;
		}
		fatal_give_up(sig);
	}
	if (act && want_wrap(sig, act)) {
		mine = *act;
		remember(sig, handler_of(act), !!(act->sa_flags & SA_SIGINFO), act);
		mine.sa_sigaction = wrapper;
		mine.sa_flags |= SA_SIGINFO;
		use = &mine;
	} else if (act && wrappable(sig) && !hook_in_vfork_child()) {
		forget(sig, act);
	}
	int r = REAL(sigaction)(sig, use, &prev);
	if (r == 0 && old) {
		as_program_sees(sig, &prev);
		*old = fatal ? bare : prev;
	}
	return r;
}

/* After signal() and its relatives installed a handler their own way (glibc keeps
 * siginterrupt() state we cannot see): put the wrapper in front of it. */
static void wrap_installed(int sig)
{
	struct sigaction a;
	if (sig <= 0 || sig >= NSIGS || REAL(sigaction)(sig, NULL, &a) != 0 || !want_wrap(sig, &a))
		return;
	remember(sig, handler_of(&a), !!(a.sa_flags & SA_SIGINFO), &a);
	a.sa_sigaction = wrapper;
	a.sa_flags |= SA_SIGINFO;
	REAL(sigaction)(sig, &a, NULL);
}

static __sighandler_t program_view(int sig, __sighandler_t h)
{
	if (fatal_is_handler((void *)h))
		return SIG_DFL;
	if ((void *)h == (void *)wrapper)
		return (__sighandler_t)prog[sig][atomic_load(&cur[sig])].fn;
	return h;
}

#define SIGNAL_HOOK(name)                                              \
	HOOK __sighandler_t name(int sig, __sighandler_t handler)      \
	{                                                              \
		int saved = errno;                                     \
		if (fatal_owns(sig)) {                                 \
			if (handler == SIG_DFL)                        \
				return SIG_DFL; /* keeps the report */ \
			fatal_give_up(sig);                            \
		}                                                      \
		__sighandler_t r = REAL(name)(sig, handler);           \
		if (r == SIG_ERR)                                      \
			return r;                                      \
		saved = errno;                                         \
		wrap_installed(sig);                                   \
		errno = saved;                                         \
		return program_view(sig, r);                           \
	}

SIGNAL_HOOK(signal)
SIGNAL_HOOK(sysv_signal)
SIGNAL_HOOK(sigset)

HOOK __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
	return signal(sig, handler);
}

HOOK __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
	return sysv_signal(sig, handler);
}

/* Handlers installed before connleak switched on (by another library's constructor). */
void hook_wrap_signals(void)
{
	for (int sig = 1; sig < NSIGS; sig++)
		if (wrappable(sig))
			wrap_installed(sig);
}
