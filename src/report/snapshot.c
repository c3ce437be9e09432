/* The snapshot thread. What it changes in a program, once the program has lived
 * snapshot_ms: the process has one more thread (CPython 3.12's fork() warning counts it,
 * unshare(CLONE_NEWUSER) fails with EINVAL in it), with every signal blocked so the
 * program's signals still go to the program's threads; each snapshot is a short-lived
 * helper process (a raw clone, invisible to the program's waitpid). Being there anyway, it
 * also re-resolves live connections' hostnames when dns_check_ms has passed: a pool that
 * never resolves again (a .NET or Java singleton client) still gets its stale-dns finding
 * in a long run without a lease's thread. */
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "../track/agent.h"
#include "../track/findings.h"
#include "../track/model.h"
#include "../util/clock.h"
#include "report.h"

int snapshot_waiting;
uint64_t snapshot_due_ms = UINT64_MAX;

static const struct options *opt;
static void (*init_fn)(void);
static int (*in_handler_fn)(void);
static atomic_int running, stop;
static pthread_t thread;
static uint64_t start_ms;
static atomic_ulong seq;

void snapshot_setup(const struct options *o, void (*thread_init)(void), int (*in_handler)(void))
{
	opt = o;
	init_fn = thread_init;
	in_handler_fn = in_handler;
	start_ms = clock_coarse_ms();
	snapshot_due_ms = start_ms + o->snapshot_ms;
	snapshot_waiting = o->snapshot_ms && o->report_dir[0];
}

/* What the snapshot shows changes with these; bytes moving on a kept connection alone do
 * not make a new snapshot. */
static uint64_t fingerprint(void)
{
	const struct model_stats *st = &model_state.stats;
	return st->created + st->accepted + st->received + st->connects + 3 * st->closes +
	       5 * findings_total() + 7 * st->tls_sessions + 11 * st->leases_enforced +
	       13 * (uint64_t)model_state.nevents;
}

static void *snap_main(void *arg)
{
	(void)arg;
	if (init_fn)
		init_fn();
	uint64_t last = 0;
	int written = 0;
	while (!atomic_load(&stop) && !report_final_started()) {
		uint64_t fp = fingerprint();
		if (!written || fp != last) {
			if (report_snapshot(opt, atomic_fetch_add(&seq, 1) + 1, 10000) == 0) {
				written = 1;
				last = fp;
			}
		}
		agent_dns_due();
		uint64_t ms = opt->snapshot_ms;
		struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
		/* Woken early only to stop (sandbox): a 50 ms granularity is enough. */
		while (!atomic_load(&stop) && (ts.tv_sec || ts.tv_nsec)) {
			struct timespec step = {0, 50000000L};
			if (ts.tv_sec == 0 && ts.tv_nsec < step.tv_nsec)
				step = ts;
			nanosleep(&step, NULL);
			ts.tv_nsec -= step.tv_nsec;
			if (ts.tv_nsec < 0) {
				ts.tv_sec--;
				ts.tv_nsec += 1000000000L;
			}
		}
	}
	return NULL;
}

void snapshot_maybe_start(void)
{
	if (!snapshot_waiting || clock_coarse_ms() - start_ms < opt->snapshot_ms)
		return;
	/* pthread_create allocates: not from a program's signal handler (it may have
	 * interrupted malloc); the next call outside one starts the thread. */
	if (in_handler_fn && in_handler_fn())
		return;
	if (atomic_exchange(&running, 1))
		return;
	snapshot_waiting = 0;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&thread, &attr, snap_main, NULL) != 0)
		atomic_store(&running, 0);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void snapshot_stop(void)
{
	snapshot_waiting = 0;
	if (!atomic_load(&running))
		return;
	atomic_store(&stop, 1);
	pthread_join(thread, NULL);
	atomic_store(&running, 0);
}

void snapshot_after_fork_child(void)
{
	atomic_store(&running, 0);
	atomic_store(&stop, 0);
	atomic_store(&seq, 0);
	if (opt)
		snapshot_setup(opt, init_fn, in_handler_fn);
}

void snapshot_now(void)
{
	if (opt)
		report_snapshot(opt, atomic_fetch_add(&seq, 1) + 1, 10000);
}
