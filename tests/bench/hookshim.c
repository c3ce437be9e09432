/* tests/bench/hookshim.c — a timing shim for tests/bench/hookcycles.py.
 *
 * Preloaded twice around connleak (LD_PRELOAD="outer.so libconnleak.so inner.so"): the
 * outer copy times each of the program's socket, connect, write, read and close calls,
 * connleak's hook included; the inner copy is what connleak's real-function lookups
 * (dlsym RTLD_NEXT) find, so it times the real calls alone. Outer minus inner is what the
 * hooks themselves spent, measured on the real workload, where the kernel and the peer run
 * between the program's calls and leave the hooks' code and data cold, which instruction
 * counts cannot show. Cycles are the time-stamp counter's. At exit each copy appends
 * "name calls cycles" lines to the file named by HOOKSHIM_OUT (outer) or HOOKSHIM_OUT_INNER
 * (inner, built with -DHOOKSHIM_INNER).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <x86intrin.h>

#ifdef HOOKSHIM_INNER
#define OUT_VAR "HOOKSHIM_OUT_INNER"
#else
#define OUT_VAR "HOOKSHIM_OUT"
#endif

enum { SOCKET, CONNECT, WRITE, READ, CLOSE, NCALLS };
static const char *const names[NCALLS] = {"socket", "connect", "write", "read", "close"};
static uint64_t cycles[NCALLS], calls[NCALLS];

#define TIMED(i, ret, name, params, args)                           \
	ret name params                                             \
	{                                                           \
		static ret(*next) params;                           \
		if (!next)                                          \
			next = (ret(*) params)dlsym(RTLD_NEXT, #name); \
		uint64_t t0 = __rdtsc();                            \
		ret r = next args;                                  \
		cycles[i] += __rdtsc() - t0;                        \
		calls[i]++;                                         \
		return r;                                           \
	}

TIMED(SOCKET, int, socket, (int d, int t, int p), (d, t, p))
TIMED(CONNECT, int, connect, (int fd, const struct sockaddr *sa, socklen_t n), (fd, sa, n))
TIMED(WRITE, ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
TIMED(READ, ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
TIMED(CLOSE, int, close, (int fd), (fd))

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv(OUT_VAR);
	FILE *f = path ? fopen(path, "a") : NULL;
	if (!f)
		return;
	for (int i = 0; i < NCALLS; i++)
		fprintf(f, "%s %llu %llu\n", names[i], (unsigned long long)calls[i],
			(unsigned long long)cycles[i]);
	fclose(f);
}
