/* What every hook shares: the export attribute, the on/off switch, the per-thread guard
 * that keeps connleak's own calls (symbolizer, report writer) out of the model, and the
 * vfork-child check. A hook saves errno, calls the real function, tells track/ in one
 * call, restores errno and returns. */
#ifndef CONNLEAK_HOOK_H
#define CONNLEAK_HOOK_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "../track/stacks.h"
#include "../util/real.h"

#define HOOK __attribute__((visibility("default")))

/* Hooks that must leave no frame of theirs behind (dlsym: glibc takes the caller from the
 * return address, which RTLD_NEXT depends on; vfork: the child returns on the shared
 * stack) end in `TAIL_RETURN f(args)`, f with the hook's own signature. clang guarantees
 * the tail call with musttail at every optimization level and under the sanitizers; GCC
 * (before musttail) gets sibling-call optimization forced on for the function. */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(musttail)
#define TAIL_RETURN __attribute__((musttail)) return
#define TAIL_FN
#endif
#endif
#ifndef TAIL_RETURN
#define TAIL_RETURN return
#define TAIL_FN __attribute__((optimize("O2", "optimize-sibling-calls")))
#endif

/* Code a sanitizer runtime may call before it has set itself up (its interceptors look
 * real functions up with dlsym during its own initialization): left uninstrumented, so a
 * sanitizer build of connleak can run at all. */
#define SANITIZER_EARLY __attribute__((no_sanitize("address", "undefined", "thread")))

/* The real function, resolved on first use: hooks can run before our constructor. */
#define REAL(fn) (__builtin_expect(real.fn != NULL, 1) ? real.fn : (real_init(), real.fn))

extern int hook_enabled;
extern pid_t hook_pid;
extern __thread int hook_busy __attribute__((tls_model("initial-exec")));
extern __thread int hook_vfork __attribute__((tls_model("initial-exec")));

int hook_in_vfork_child(void);
/* hook_vfork after clone(CLONE_VM) without CLONE_VFORK: never cleared (init.c). */
#define HOOK_VFORK_STICKY 2

/* Whether this call should reach the model: on, not our own call, not a vfork child
 * (which shares the parent's memory and must leave it alone). */
static inline int hook_active(void)
{
	if (!__builtin_expect(hook_enabled, 0) || hook_busy)
		return 0;
	if (__builtin_expect(hook_vfork, 0) && hook_in_vfork_child())
		return 0;
	return 1;
}

/* A TLS session in a library call on this thread that is not bound to a socket yet (its
 * transport is a custom BIO or push/pull functions, as in curl): the first socket that
 * carries bytes during the call is its socket. */
extern __thread void *hook_tls_unbound __attribute__((tls_model("initial-exec")));
void hook_bind_unbound(int fd);
/* Set during a TLS call already found stale: its descriptor I/O is not a second finding. */
extern __thread int hook_tls_stale __attribute__((tls_model("initial-exec")));

/* Events from a signal handler that interrupted connleak on this thread (which may hold
 * the model lock): kept per thread and applied when connleak's own call ends. */
extern __thread int hook_pending __attribute__((tls_model("initial-exec")));
void hook_drain(void);

/* A socket call made while connleak is busy on this thread: connleak itself makes none,
 * so it comes from a signal handler that interrupted us. */
extern __thread int hook_own_thread __attribute__((tls_model("initial-exec")));

static inline int hook_interrupted(void)
{
	return __builtin_expect(hook_busy, 0) && hook_enabled && !hook_own_thread &&
	       !hook_in_vfork_child();
}
void hook_defer_new(int fd, int family, int type, int origin);
void hook_defer_close(int fd);

/* Program signals that arrived while connleak was busy on this thread (signals.c): they
 * are pending and blocked until hook_leave() unblocks them. */
extern __thread unsigned long long hook_deferred_sigs __attribute__((tls_model("initial-exec")));
void hook_release_signals(void);
void hook_wrap_signals(void);
extern int snapshot_waiting;
/* When the snapshot thread is due (clock_coarse_ms): the I/O path compares the time it
 * has already read against it instead of reading the clock again. */
extern uint64_t snapshot_due_ms;
void snapshot_maybe_start(void);
/* The coarse clock as the last model_lock() read it (track/model.c): hook_leave() compares
 * it instead of reading the clock once more for every call. */
extern uint64_t model_clock_ms;
/* Whether this thread runs one of the program's (wrapped) signal handlers now. */
int hook_in_signal_handler(void);

static inline void hook_leave(void)
{
	if (--hook_busy == 0) {
		if (__builtin_expect(hook_pending, 0))
			hook_drain();
		if (__builtin_expect(hook_deferred_sigs != 0, 0))
			hook_release_signals();
		/* Until the snapshot thread runs (report/snapshot.h), once it is due. */
		if (__builtin_expect(snapshot_waiting, 0) &&
		    __atomic_load_n(&model_clock_ms, __ATOMIC_RELAXED) >= snapshot_due_ms)
			snapshot_maybe_start();
	}
}

/* Points the hooks with a fast path (io.c, close.c) at the real functions (connleak off
 * for the whole process, CONNLEAK unset) or at their hot-byte check (on). Until then they
 * run their full hooks. */
void io_entry_init(int on);
void close_entry_init(int on);
/* The same for the TLS data-call hooks (tlsreal.h), whose real functions are found later:
 * connleak is off for the whole process. */
void tls_entry_off(void);

/* Runs the model update with errno preserved and re-entry blocked. */
#define TRACK(stmt)                                  \
	do {                                         \
		int saved_errno_ = errno;            \
		hook_busy++;                         \
		stmt;                                \
		hook_leave();                        \
		errno = saved_errno_;                \
	} while (0)

/* TRACK for a hook the program calls directly whose model call captures the program's
 * stack: says where the program called (stacks.h), so a capture from a place seen before
 * can reuse its walk. Must expand in the hook itself (always_inline helpers only). */
#define TRACK_SITE(stmt)                                                   \
	TRACK(stacks_site_ra = (uintptr_t)__builtin_return_address(0);     \
	      stacks_site_fp = (uintptr_t)__builtin_frame_address(0); stmt; \
	      stacks_site_ra = 0)

/* Re-resolves live connections' names when dns_check_ms has passed and no thread of ours
 * does it (dns.c). */
void hook_dns_recheck(void);

/* The end of the process as seen from a hook (report written, exit status forced). */
void hook_finish_exit(int how, int status);
int hook_forced_status(int status);
void hook_before_exec(const char *path);
void hook_exec_failed(void);
void hook_after_fork_child(void);
/* Catches forks made inside libc; registered once from the constructor. */
void hook_register_atfork(void);
/* Fatal-signal handlers (signals.c), installed from the constructor; released (back to
 * the default action) before a sandbox. */
struct options;
void signals_init(const struct options *o);
void signals_release(void);
/* For the sigaction/signal hooks (signals.c): whether our fatal handler holds `sig` (the
 * program has not set one), what the program would read back bare, and giving it up. */
struct sigaction;
int fatal_owns(int sig);
int fatal_is_handler(void *fn);
void fatal_shown(int sig, struct sigaction *a);
void fatal_set_shown(int sig, const struct sigaction *a);
void fatal_give_up(int sig);
/* Waits (at most ms) until a final report started by another thread is written. */
void hook_wait_report(int ms);
/* A seccomp filter is about to be installed (sandbox.c): report, then switch off. */
void hook_before_sandbox(void);
void hook_sandbox_report(void);
/* halt_on_error: the report is written, then the process aborts. */
void hook_halt(void) __attribute__((noreturn));

#endif
