/* Whether connleak's code can run on two threads at once, and counters that pay for
 * atomicity only then. A locked instruction costs ~19 cycles here, and a connection made
 * ~30 of them (its model sections' locks and counts, the model's, the socket's and the
 * endpoint's counters): a quarter of the cycles the hooks spent on it. A process is
 * single-threaded until its first pthread_create (glibc's __libc_single_threaded, which
 * its own stdio and malloc look at for the same reason; glibc never counts threads back
 * down) or a clone(CLONE_THREAD) made through our hook; connleak's own threads count too.
 * A thread can only come from one of those (a raw clone system call breaks glibc first):
 * no other thread runs while the one thread is in our code.
 *
 * The single-threaded update is one add instruction, not a load and a store: a program's
 * signal handler that interrupts it on this thread (the read/write path runs without the
 * busy mark, so a handler's own I/O can count too) sees the counter before or after, and
 * its own update is never lost. */
#ifndef CONNLEAK_THREADS_H
#define CONNLEAK_THREADS_H

#include <stdatomic.h>

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>) && (defined(__x86_64__) || defined(__i386__))
#include <sys/single_threaded.h>
#define THREADS_KNOWN 1
#endif
#endif

/* Set (for good) by the clone hook for a thread glibc does not know about. */
extern int threads_cloned;

static inline int threads_many(void)
{
#ifdef THREADS_KNOWN
	return !__libc_single_threaded || threads_cloned;
#else
	return 1;
#endif
}

#ifdef THREADS_KNOWN
#define THREADS_ONE_ADD(p, v) __asm__ __volatile__("add %1, %0" : "+m"(*(p)) : "r"(v))

/* *p += v, relaxed: for a plain integer updated with __atomic builtins elsewhere... */
#define COUNT_ADD(p, v)                                                  \
	do {                                                             \
		__typeof__(*(p)) v_ = (__typeof__(*(p)))(v);             \
		if (threads_many())                                      \
			__atomic_fetch_add((p), v_, __ATOMIC_RELAXED);   \
		else                                                     \
			THREADS_ONE_ADD(p, v_);                          \
	} while (0)

/* ...and for an _Atomic one. */
#define ATOMIC_COUNT_ADD(p, v)                                                        \
	do {                                                                          \
		__typeof__(atomic_load_explicit((p), memory_order_relaxed)) v_ =      \
			(__typeof__(atomic_load_explicit((p), memory_order_relaxed)))(v); \
		if (threads_many())                                                   \
			atomic_fetch_add_explicit((p), v_, memory_order_relaxed);     \
		else                                                                  \
			THREADS_ONE_ADD(p, v_);                                       \
	} while (0)
#else
#define COUNT_ADD(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#define ATOMIC_COUNT_ADD(p, v) ((void)atomic_fetch_add_explicit((p), (v), memory_order_relaxed))
#endif

#endif
