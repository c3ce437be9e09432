/* The model's locks (modellock.h): one mutex for model_lock, and a small futex lock per
 * shard of descriptor numbers for the per-descriptor sections. */
#include "modellock.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/threads.h"
#include "model.h"
#include "sock.h"
#include "timeline.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Raised by model_lock's holder from before it waits for the sections until it unlocks. */
static _Atomic int excl;
/* Sections entered and not yet left (those giving way included). */
static _Atomic int active;
/* 0 free, 1 held, 2 held with a sleeper (the usual three-state futex lock). One cache
 * line each: sections on different shards share no line. */
static struct shard_lock {
	_Atomic int word;
} __attribute__((aligned(64))) shards[SOCK_SHARDS];

/* How long a thread that finds a lock taken waits awake before it sleeps in futex: what
 * the locks guard is short (no stack walk, no system call on the connection path), so its
 * holder is usually done within a few hundred cycles, and a sleep costs two system calls
 * (the sleeper's and the holder's wake-up). Bounded: a holder that was preempted is
 * waited for asleep. The spin only reads the lock word (glibc's, as its adaptive mutexes
 * do, whose unlock costs ~10 instructions more on every call). */
#define LOCK_SPINS 100
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static void futex(_Atomic int *w, int op, int val)
{
	syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static __attribute__((noinline)) void shard_wait(_Atomic int *w)
{
	for (int i = 0; i < LOCK_SPINS; i++) {
		int z = 0;
		if (!atomic_load_explicit(w, memory_order_relaxed) &&
		    atomic_compare_exchange_strong(w, &z, 1))
			return;
		CPU_RELAX();
	}
	while (atomic_exchange(w, 2) != 0)
		futex(w, FUTEX_WAIT_PRIVATE, 2);
}

static inline void shard_lock(_Atomic int *w)
{
	int z = 0;
	if (__builtin_expect(!atomic_compare_exchange_strong(w, &z, 1), 0))
		shard_wait(w);
}

static inline void shard_unlock(_Atomic int *w)
{
	if (__builtin_expect(atomic_exchange_explicit(w, 0, memory_order_release) == 2, 0))
		futex(w, FUTEX_WAKE_PRIVATE, 1);
}

/* The timeline's samples due since the last model event (timeline.h), and the time
 * hook_leave() compares with the snapshot's: one clock read and a compare. Whether a
 * sample is due (only model_lock's holder takes it). */
static inline int clock_tick(uint64_t *now)
{
	*now = clock_coarse_ms();
	__atomic_store_n(&model_clock_ms, *now, __ATOMIC_RELAXED);
	return model_opt && model_opt->sample_ms && *now >= timeline_due_ms;
}

/* A section of the one thread (util/threads.h): nothing to exclude, so no lock and no
 * locked instruction. It is still counted, with plain stores the compiler keeps in place:
 * a fatal signal's report (model_lock_timed) must know the model is half changed. */
#define SECTION_ALONE 0x10000

int model_section_enter(int fd)
{
	int i = sock_shard_of(fd);
	if (!threads_many()) {
		atomic_store_explicit(&active, atomic_load_explicit(&active, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
		return i | SECTION_ALONE;
	}
	shard_lock(&shards[i].word);
	atomic_fetch_add(&active, 1);
	/* Sequentially consistent, as model_lock's raise and its read of `active`: either it
	 * sees this section counted, or this sees the flag. */
	if (__builtin_expect(!atomic_load(&excl), 1))
		return i;
	model_section_leave(i);
	return -1;
}

void model_section_leave(int shard)
{
	if (shard & SECTION_ALONE) {
		atomic_signal_fence(memory_order_seq_cst);
		/* Alone no longer: the lease thread starts from inside a connect's section
		 * (agent_ensure) and may already wait in model_lock for this one to end. */
		if (threads_many()) {
			if (atomic_fetch_sub(&active, 1) == 1 && atomic_load(&excl))
				futex(&active, FUTEX_WAKE_PRIVATE, 1);
			return;
		}
		atomic_store_explicit(&active, atomic_load_explicit(&active, memory_order_relaxed) - 1,
				      memory_order_relaxed);
		return;
	}
	/* The last section out wakes a model_lock waiting for them (rare: only while one is
	 * raised). */
	if (__builtin_expect(atomic_fetch_sub(&active, 1) == 1, 1) &&
	    __builtin_expect(atomic_load(&excl), 0))
		futex(&active, FUTEX_WAKE_PRIVATE, 1);
	shard_unlock(&shards[shard].word);
}

/* With the mutex held: no section runs from here on. Reading `active` at 0 acquires what
 * every section that ended before did (each one's decrement releases). A section still
 * running is waited for: awake a moment, then asleep. */
static void quiesce(void)
{
	atomic_store(&excl, 1);
	int n, spins = 0;
	while (__builtin_expect((n = atomic_load(&active)) != 0, 0)) {
		if (spins++ < LOCK_SPINS)
			CPU_RELAX();
		else
			futex(&active, FUTEX_WAIT_PRIVATE, n);
	}
}

void model_lock(void)
{
#ifdef __GLIBC__
	for (int i = 0; i < LOCK_SPINS && __atomic_load_n(&lock.__data.__lock, __ATOMIC_RELAXED);
	     i++)
		CPU_RELAX();
#endif
	pthread_mutex_lock(&lock);
	quiesce();
	uint64_t now;
	if (clock_tick(&now))
		timeline_catch_up(now, model_opt->sample_ms);
}

void model_unlock(void)
{
	atomic_store(&excl, 0);
	pthread_mutex_unlock(&lock);
}

int model_lock_timed(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&lock, &ts) != 0)
		return -1;
	/* A section this thread itself was interrupted in (a fatal signal) never ends: the
	 * sections are waited for within the same bound, awake. */
	atomic_store(&excl, 1);
	while (atomic_load(&active)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > ts.tv_sec || (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec)) {
			model_unlock();
			return -1;
		}
		sched_yield();
	}
	return 0;
}

int model_locks_reset(void)
{
	int was_free = pthread_mutex_trylock(&lock) == 0 && !atomic_load(&excl) &&
		       !atomic_load(&active);
	for (int i = 0; i < SOCK_SHARDS; i++)
		atomic_store(&shards[i].word, 0);
	pthread_mutex_init(&lock, NULL);
	atomic_store(&excl, 0);
	atomic_store(&active, 0);
	return was_free;
}
