/* Fatal signals: for every signal whose action is still the default and whose default
 * ends the process, our handler writes the report (through a helper process, see
 * report/helper.c) and ends the process by the same signal with the default action, so
 * the exit status (143 for SIGTERM, a core for SIGSEGV) is unchanged. The sigaction and
 * signal hooks (signals.c) keep the program in full control through fatal_*(): the
 * program reads back the action it would see bare (SIG_DFL, not our handler), and a
 * handler the program installs replaces ours. Also report_signal (a snapshot on demand)
 * and the alternate stack for crashes. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../report/helper.h"
#include "../report/report.h"
#include "../report/snapshot.h"
#include "hook.h"

static const int fatal_sigs[] = {SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGPIPE, SIGUSR1,
				 SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ, SIGSEGV, SIGBUS,
				 SIGFPE,  SIGILL,  SIGABRT, SIGTRAP, SIGSYS};

/* Per signal: ours[sig] while our handler is installed and the program has not set one;
 * shown[sig], what the program would see bare (the default, with its flags). */
static volatile sig_atomic_t ours[_NSIG];
static struct sigaction shown[_NSIG];
static const struct options *opt;
static int report_sig;

#define real_sigaction REAL(sigaction)

static int sync_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS;
}

static void to_default(int sig)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	real_sigaction(sig, &dfl, NULL);
	ours[sig] = 0;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int saved = errno;
	int live = hook_enabled && !helper_child && !hook_in_vfork_child();
	if (sig == report_sig && ours[sig]) {
		if (live)
			snapshot_now();
		errno = saved;
		return;
	}
	if (live) {
		struct report_end end = {.how = END_SIGNAL, .signo = sig};
		report_final_from_signal(opt, &end);
	}
	to_default(sig);
	/* A fault the kernel raised repeats when the handler returns, now with the default
	 * action: the core shows the faulting instruction. Anything else is raised again. */
	if (sync_signal(sig) && si && si->si_code > 0) {
		errno = saved;
		return;
	}
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	real.syscall(SYS_tgkill, (long)getpid(), (long)real.syscall(SYS_gettid), (long)sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	errno = saved;
}

/* The alternate stack for crashes on the main thread (a stack overflow): only when the
 * program has none. Other threads use theirs, or their own stack. */
static stack_t alt;

static void alt_stack_init(void)
{
	stack_t cur;
	if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
		return;
	size_t size = 256 * 1024;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return;
	stack_t ss = {.ss_sp = p, .ss_size = size, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) == 0)
		alt = ss;
	else
		munmap(p, size);
}

void signals_init(const struct options *o)
{
	opt = o;
	report_sig = o->report_signal;
	alt_stack_init();
	sigset_t mask;
	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof fatal_sigs / sizeof fatal_sigs[0]; i++)
		sigaddset(&mask, fatal_sigs[i]);
	if (report_sig)
		sigaddset(&mask, report_sig);
	for (int sig = 1; sig < _NSIG; sig++) {
		if (!sigismember(&mask, sig))
			continue;
		struct sigaction cur;
		if (real_sigaction(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL ||
		    (cur.sa_flags & SA_SIGINFO))
			continue;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_signal;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		/* Another fatal signal while we write waits for this one to end the process. */
		sa.sa_mask = mask;
		shown[sig] = cur;
		ours[sig] = 1;
		if (real_sigaction(sig, &sa, NULL) != 0)
			ours[sig] = 0;
	}
}

void signals_release(void)
{
	for (int sig = 1; sig < _NSIG; sig++)
		if (ours[sig])
			to_default(sig);
}

int fatal_owns(int sig)
{
	return sig > 0 && sig < _NSIG && ours[sig];
}

int fatal_is_handler(void *fn)
{
	return fn == (void *)on_signal;
}

void fatal_shown(int sig, struct sigaction *a)
{
	*a = shown[sig];
}

void fatal_set_shown(int sig, const struct sigaction *a)
{
	shown[sig] = *a;
}

void fatal_give_up(int sig)
{
	ours[sig] = 0;
}

HOOK int sigaltstack(const stack_t *ss, stack_t *old)
{
	int r = REAL(sigaltstack)(ss, old);
	/* Ours is invisible: the program sees no alternate stack, as bare. */
	if (r == 0 && old && alt.ss_sp && old->ss_sp == alt.ss_sp) {
		old->ss_sp = NULL;
		old->ss_size = 0;
		old->ss_flags = (old->ss_flags & SS_ONSTACK) | SS_DISABLE;
	}
	return r;
}
