/* Pool, live lists and inherited list of socket records, per shard of descriptor numbers.
 * A shard's pool only grows to the peak number of live sockets on its numbers (plus one
 * block); closed records go back on their shard's free list. Blocks come from the arena: a socket
 * may be created in a signal handler that interrupted malloc. */
#include "sock.h"

#include <string.h>

#include "../util/arena.h"
#include "../util/threads.h"

/* Records a shard takes from the arena at once: small, since every shard of numbers in
 * use grows its own pool (32 shards of a few records, not one block of 256). */
#define BLOCK 16

/* One cache line each: threads on different shards write no common line. */
struct shard {
	struct sock *free_list, *live, *live_tail;
} __attribute__((aligned(64)));

static struct shard shards[SOCK_SHARDS];
static struct sock *inh;
static uint32_t ninh;
static _Atomic uint32_t nlive, nnamed;
_Atomic uint32_t sock_epoch;
uint32_t sock_proc;

struct sock *sock_new(int shard)
{
	struct shard *sh = &shards[shard];
	if (!sh->free_list) {
		struct sock *block = arena_alloc(BLOCK * sizeof *block);
		if (!block)
			return NULL;
		for (int i = 0; i < BLOCK; i++) {
			block[i].next = sh->free_list;
			sh->free_list = &block[i];
		}
	}
	struct sock *s = sh->free_list;
	sh->free_list = s->next;
	uint32_t incarnation = atomic_load(&s->incarnation);
	/* glibc's memset (vector stores, ~40 instructions for a record), not the `rep stosq`
	 * GCC inlines for a constant size (one instruction a word, ~85): the size is hidden
	 * from the compiler. */
	size_t size = sizeof *s;
	__asm__("" : "+r"(size));
	memset(s, 0, size);
	if (threads_many()) {
		atomic_store(&s->incarnation, incarnation + 1);
		s->created_epoch = atomic_fetch_add_explicit(&sock_epoch, 1, memory_order_relaxed) + 1;
	} else {
		/* The one thread (util/threads.h): no I/O call elsewhere looks at the record,
		 * and no other socket is made meanwhile (one a signal handler makes here waits
		 * for the busy mark to drop). */
		atomic_store_explicit(&s->incarnation, incarnation + 1, memory_order_relaxed);
		s->created_epoch = atomic_load_explicit(&sock_epoch, memory_order_relaxed) + 1;
		atomic_store_explicit(&sock_epoch, s->created_epoch, memory_order_relaxed);
	}
	s->proc = sock_proc;
	s->shard = (uint8_t)shard;
	s->next = sh->live;
	if (sh->live)
		sh->live->prev = s;
	else
		sh->live_tail = s;
	sh->live = s;
	ATOMIC_COUNT_ADD(&nlive, 1);
	return s;
}

static int on_inherited(const struct sock *s)
{
	return s->proc != sock_proc || s->on_inherited_list;
}

void sock_release(struct sock *s)
{
	struct shard *sh = &shards[s->shard];
	int inherited = on_inherited(s);
	if (s->prev)
		s->prev->next = s->next;
	else if (inherited)
		inh = s->next;
	else
		sh->live = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else if (!inherited)
		sh->live_tail = s->prev;
	ATOMIC_COUNT_ADD(&nlive, -1);
	if (inherited)
		ninh--;
	if (s->host[0])
		ATOMIC_COUNT_ADD(&nnamed, -1);
	/* Keep the fields as they are: a racing reader may still look at them. */
	s->prev = NULL;
	s->next = sh->free_list;
	sh->free_list = s;
}

static struct sock *live_from(int shard)
{
	for (int i = shard; i < SOCK_SHARDS; i++)
		if (shards[i].live)
			return shards[i].live;
	return NULL;
}

struct sock *sock_live_head(void)
{
	return live_from(0);
}

struct sock *sock_next(const struct sock *s)
{
	if (s->next || on_inherited(s))
		return s->next;
	return live_from(s->shard + 1);
}

struct sock *sock_inherited_head(void)
{
	return inh;
}

uint32_t sock_live_count(void)
{
	return atomic_load_explicit(&nlive, memory_order_relaxed);
}

uint32_t sock_inherited_count(void)
{
	return ninh;
}

/* The live list goes in front of the inherited one; its records are marked by their
 * stale `proc`, and brought up to date one by one when the child's model touches them. */
void sock_fork_child(void)
{
	sock_proc++;
	for (int i = 0; i < SOCK_SHARDS; i++) {
		struct shard *sh = &shards[i];
		if (!sh->live)
			continue;
		sh->live_tail->next = inh;
		if (inh)
			inh->prev = sh->live_tail;
		inh = sh->live;
		sh->live = sh->live_tail = NULL;
	}
	ninh = sock_live_count();
}

/* What model_fork_child once did to every record: the socket is the parent's too, the
 * child's report starts without its endpoint or the parent's pending shared close. */
void sock_refresh(struct sock *s)
{
	s->proc = sock_proc;
	s->on_inherited_list = 1;
	s->inherited = 1;
	s->forked = 0;
	s->fork_child = 0;
	s->shared_close_stack = 0;
	s->ep = NULL;
}

uint32_t sock_named_count(void)
{
	return atomic_load_explicit(&nnamed, memory_order_relaxed);
}

/* After s->host was written; had_host: whether it was set before. */
void sock_named(struct sock *s, int had_host)
{
	int d = (s->host[0] != 0) - (had_host != 0);
	if (d)
		ATOMIC_COUNT_ADD(&nnamed, d);
}
