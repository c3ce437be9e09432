/* Captures the caller's stack as instruction addresses. */
#ifndef CONNLEAK_BACKTRACE_H
#define CONNLEAK_BACKTRACE_H

#include <stdint.h>

/* Fills at most `max` return addresses of the program's frames, skipping connleak's own
 * frames. Returns how many were written. */
int backtrace_capture(uintptr_t *pcs, int max);

/* A memory word an unwind read, with the value it had: while every such word of a walk still
 * holds its value, the same walk from the same frame gives the same frames (stacks.c). */
struct bt_check {
	uintptr_t addr, val;
};

#define BT_WORDS 32 /* two a frame at the default depth */

/* The words a walk read, in walk order. */
struct bt_words {
	int n;
	/* Bit i: chk[i].val is a frame pointer (an address on the stack), not a return
	 * address (an address in code). */
	uint32_t fp_words;
	/* The walk went through a signal frame: the words past it are where the interrupted
	 * code's stack was, not at fixed offsets from the hook's frame. */
	int signal;
	struct bt_check chk[BT_WORDS];
};

/* The walk of backtrace_capture for a program frame that called connleak at return address
 * `ra` with the hook's frame at `fp` (__builtin_frame_address), done frame by frame: fills
 * at most `max` program frames and, in `w`, the words it read that decide them: each
 * caller's return address, and the saved frame pointer of a frame whose canonical frame
 * address may be computed from it. Returns the frame count, or -1 when the walk cannot be
 * described that way (not that frame, a value held in a register, too many words): then
 * only backtrace_capture is right. */
int backtrace_record(uintptr_t ra, uintptr_t fp, uintptr_t *pcs, int max, struct bt_words *w);

/* Whether this thread's backtrace_capture is the fast walk (unw_backtrace's), not the
 * frame-by-frame one backtrace_record makes too. */
int backtrace_fast(void);

/* Loads the unwinder; called from the constructor, before any hook can hold a lock. */
void backtrace_init(void);

/* Where libunwind is loaded: calls from there are the unwinder's own (hooks/unwinder.c). */
extern uintptr_t unwinder_lo, unwinder_hi;

static inline int from_unwinder(const void *ret)
{
	return (uintptr_t)ret >= unwinder_lo && (uintptr_t)ret < unwinder_hi;
}

#endif
