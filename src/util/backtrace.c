/* Stack capture for creation/close stacks. libunwind's unw_backtrace walks with cached
 * unwind tables and needs no allocation per call: about 1,100 instructions a stack here,
 * where glibc's backtrace() (libgcc) takes 19,000. libunwind validates memory through a
 * pipe of its own, by descriptor number; hooks/unwinder.c answers those calls without any
 * descriptor, so libunwind never holds or touches one of the program's. Our own frames
 * (hook, track/) are cut by address range so stacks start in the program.
 *
 * unw_backtrace's speed comes from a cache each thread builds on its first walk: 256 KB
 * mapped and filled (~82,000 instructions, 266 KB of RSS a thread). A thread that captures
 * a stack or two (a worker that closes its connection, a thread per request) would pay that
 * for nothing, so a thread's first walks (records included) go frame by frame through
 * unw_step instead (nothing per thread), and only a thread that has walked FAST_AFTER
 * times gets the fast walk and its cache. Most threads never walk that often: a busy
 * thread's captures reuse an earlier walk, and a new thread takes the records other
 * threads made of a place (track/stacks.c).
 *
 * libunwind's cache of parsed unwind rules is one for the process, behind one mutex taken on
 * every unw_step (Debian builds it without the per-thread variant): threads that walk at the
 * same time queued on it, 330 futex calls where the program alone makes 17 (16 threads
 * churning, tests/bench/mtchurn.py). Without it a step parses the rule again: ~3,500
 * instructions a frame instead of ~650, paid once a place (a record), while unw_backtrace
 * keeps its own per-thread cache. */
#include "backtrace.h"

#include <pthread.h>
#include <ucontext.h>

#include "self.h"
#include "unwind_api.h"
#include "unwind_steps.h"

static uintptr_t self_lo, self_hi;

#define FAST_AFTER 16
/* Walks this thread has made; FAST_AFTER or more: it has unw_backtrace's cache. */
static __thread unsigned walks __attribute__((tls_model("initial-exec")));

uintptr_t unwinder_lo, unwinder_hi;

/* libunwind could not be loaded: no stack is captured. */
static int no_unwinder;

static void init_once(void)
{
	self_range(&self_lo, &self_hi);
	if (unwind_api_load() != 0) {
		no_unwinder = 1;
		return;
	}
	module_range((const void *)unwind_api.backtrace, &unwinder_lo, &unwinder_hi);
	unwind_steps_init();
	/* The stepping walk through Python trampolines walks on every capture: it keeps the
	 * cache. */
	if (!unwind_steps_enabled)
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
	/* libunwind sets itself up at its first walk: here, before any hook runs, rather
	 * than inside a program's call. Not unw_backtrace: its cache would be this thread's
	 * 256 KB (64 page faults) for a process that may never walk 16 times. */
	unw_context_t uc;
	unw_cursor_t c;
	if (unw_getcontext(&uc) == 0)
		unw_init_local(&c, &uc);
}

/* unw_backtrace's walk without its per-thread cache. */
static int step_walk(void **out, int max)
{
	unw_context_t uc;
	unw_cursor_t c;
	if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
		return 0;
	int n = 0;
	while (n < max) {
		unw_word_t ip;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) || !ip)
			break;
		out[n++] = (void *)ip;
		if (unw_step(&c) <= 0)
			break;
	}
	return n;
}

void backtrace_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, init_once);
}

int backtrace_capture(uintptr_t *pcs, int max)
{
	backtrace_init();
	if (max <= 0 || no_unwinder)
		return 0;
	enum { SLACK = 8, CAP = 64 + SLACK };
	void *raw[CAP];
	int want = max + SLACK < CAP ? max + SLACK : CAP;
	int n;
	if (unwind_steps_enabled)
		n = unwind_with_steps(raw, want);
	else if (walks >= FAST_AFTER)
		n = unw_backtrace(raw, want);
	else {
		walks++;
		n = step_walk(raw, want);
	}
	int i = 0, out = 0;
	while (i < n && self_contains((uintptr_t)raw[i], self_lo, self_hi))
		i++;
	for (; i < n && out < max; i++)
		pcs[out++] = (uintptr_t)raw[i];
	return out;
}

int backtrace_fast(void)
{
	return walks >= FAST_AFTER;
}

int backtrace_record(uintptr_t ra, uintptr_t fp, uintptr_t *pcs, int max, struct bt_words *w)
{
	backtrace_init();
	if (unwind_steps_enabled || max <= 0 || no_unwinder)
		return -1;
	if (walks < FAST_AFTER)
		walks++; /* a walk too: a thread that records again and again gets the fast one */
	/* The walk starts at the hook's caller, not in connleak's own frames (half the steps
	 * of a short stack, each ~3,500 instructions without libunwind's cache): its return
	 * address is the word above the hook's saved frame pointer, its stack pointer the
	 * word above that, its frame pointer the saved one. The other registers keep
	 * connleak's values; no unwind rule a walk follows reads them (a frame that needed
	 * one would make the fast walk disagree, and a thread on it checks). */
	unw_context_t uc;
	unw_cursor_t c;
	if (((const uintptr_t *)fp)[1] != ra || unw_getcontext(&uc) != 0)
		return -1;
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)ra;
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(fp + 2 * sizeof(void *));
	uc.uc_mcontext.gregs[REG_RBP] = (greg_t) * (const uintptr_t *)fp;
	if (unw_init_local(&c, &uc) != 0)
		return -1;
	int out = 0, nc = 0;
	w->fp_words = 0;
	w->signal = 0;
	for (int steps = 0; steps < 64; steps++) {
		unw_word_t ip, bp;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) || !ip || unw_get_reg(&c, UNW_X86_64_RBP, &bp))
			return -1;
		if (out > 0) {
			unw_save_loc_t l;
			if (unw_get_save_loc(&c, UNW_REG_IP, &l) || l.type != UNW_SLT_MEMORY ||
			    nc == BT_WORDS)
				return -1;
			w->chk[nc++] = (struct bt_check){l.u.addr, ip};
		}
		if (unw_is_signal_frame(&c) > 0)
			w->signal = 1;
		pcs[out++] = ip;
		if (out == max)
			break;
		/* The first frame's frame pointer is the one the hook saved at `fp`. */
		unw_save_loc_t bl = {.type = UNW_SLT_MEMORY, .u.addr = fp};
		if (out > 1 && unw_get_save_loc(&c, UNW_X86_64_RBP, &bl))
			return -1;
		int r = unw_step(&c);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		unw_word_t cfa;
		if (unw_get_reg(&c, UNW_REG_SP, &cfa))
			return -1;
		/* A frame whose CFA is its frame pointer plus a small offset may compute it
		 * from the frame pointer (a frame that uses alloca does): that value then
		 * decides the walk too. Any other frame's CFA follows from its stack pointer,
		 * which follows from the frames below it. */
		if (cfa > bp && cfa - bp <= 65536) {
			if (bl.type != UNW_SLT_MEMORY || nc == BT_WORDS)
				return -1;
			w->fp_words |= 1u << nc;
			w->chk[nc++] = (struct bt_check){bl.u.addr, bp};
		}
	}
	w->n = nc;
	return out;
}
