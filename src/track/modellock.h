/* The model lock in two sizes. model_lock() (model.h) is exclusive: the whole model. A
 * per-descriptor section covers what a socket's usual create, connect and last close
 * touch (its fd slot, its record, its shard's lists in sock.h, counters updated
 * atomically) under the lock of its number's shard alone, so threads creating and
 * closing sockets on different numbers never wait for each other (the kernel gives each
 * thread its own numbers; a slot's writer is whoever holds its number).
 *
 * Exclusion: model_lock raises a flag, then waits until no section runs (a count of
 * them); a section that finds the flag raised once it holds its shard and is counted gives
 * way, and its caller takes model_lock instead. A section never takes model_lock, and model_lock's holder never
 * enters a section. Internal to src/track. */
#ifndef CONNLEAK_MODELLOCK_H
#define CONNLEAK_MODELLOCK_H

#include <stdint.h>

#include "../util/clock.h"
#include "model.h"
#include "timeline.h"

/* The shard of fd, held (>= 0), or -1: the model lock is held or wanted elsewhere: take
 * model_lock. */
int model_section_enter(int fd);
void model_section_leave(int shard);
/* In a section, before it changes anything: the clock read that model_lock makes for
 * every event (hook_leave's snapshot check), and whether something only model_lock does is
 * due (a timeline sample, taken before the event): then the section gives way. */
extern uint64_t model_clock_ms;
static inline int model_section_due(void)
{
	uint64_t now = clock_coarse_ms();
	__atomic_store_n(&model_clock_ms, now, __ATOMIC_RELAXED);
	return model_opt && model_opt->sample_ms && now >= timeline_due_ms;
}

/* In a section (after model_section_due) or under model_lock: that clock read, instead of
 * another (the coarse clock moves every few milliseconds; a connection read it ~9 times). */
static inline uint64_t model_now(void)
{
	return __atomic_load_n(&model_clock_ms, __ATOMIC_RELAXED);
}

/* In a forked child or a report helper: every lock free again. Returns whether every
 * lock was free when the copy was taken (no change of the model half done). */
int model_locks_reset(void);

#endif
