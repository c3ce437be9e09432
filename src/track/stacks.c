/* Stack interning without a lock and without malloc, so it can run in a signal handler
 * that interrupted anything (malloc, or connleak itself on another path) and, later,
 * outside the model lock. A fixed array of buckets holds singly linked chains; a new
 * entry is pushed on its chain with one compare-and-swap, after which it is immutable.
 * Ids are handed out by an atomic counter and found through a two-level table whose
 * chunks come from the arena. Entries are never freed: the set of distinct stacks of a
 * program is bounded by its code, and ids must stay valid for the report at exit. Two
 * threads interning the same new stack at once may both publish it (two ids, same
 * frames): harmless, and rare. */
#include "stacks.h"

#include <stdatomic.h>
#include <string.h>

#include "../util/arena.h"
#include "../util/backtrace.h"

#define MAX_FRAMES 64
#define BUCKET_BITS 14
#define ID_CHUNK_BITS 10
#define ID_CHUNK (1u << ID_CHUNK_BITS)
#define ID_CHUNKS 4096 /* 4M distinct stacks */

struct stack_entry {
	struct stack_entry *next; /* chain; written once, before publication */
	stack_id id;
	uint32_t hash;
	uint32_t len;
	uintptr_t pcs[];
};

static _Atomic(struct stack_entry *) buckets[1u << BUCKET_BITS];
static _Atomic(_Atomic(struct stack_entry *) *) by_id[ID_CHUNKS]; /* by_id[(id-1) >> bits] */
static _Atomic uint32_t nstacks;

static uint32_t stack_hash(const uintptr_t *pcs, int n)
{
	uint64_t h = 0x84222325cbf29ce4ull ^ (uint64_t)n;
	for (int i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static struct stack_entry *find(struct stack_entry *e, struct stack_entry *stop, uint32_t h,
				const uintptr_t *pcs, int n)
{
	for (; e && e != stop; e = e->next)
		if (e->hash == h && e->len == (uint32_t)n &&
		    !memcmp(e->pcs, pcs, (size_t)n * sizeof *pcs))
			return e;
	return NULL;
}

/* The slot for `id`, creating its chunk on first use. */
static _Atomic(struct stack_entry *) *id_slot(stack_id id, int create)
{
	uint32_t ci = (id - 1) >> ID_CHUNK_BITS;
	if (ci >= ID_CHUNKS)
		return NULL;
	_Atomic(struct stack_entry *) *c = atomic_load_explicit(&by_id[ci], memory_order_acquire);
	if (!c && create) {
		_Atomic(struct stack_entry *) *fresh = arena_alloc(ID_CHUNK * sizeof *fresh);
		if (!fresh)
			return NULL;
		/* A loser's chunk stays unused in the arena: once per 1,024 stacks at most. */
		if (atomic_compare_exchange_strong_explicit(&by_id[ci], &c, fresh,
							    memory_order_acq_rel,
							    memory_order_acquire))
			c = fresh;
	}
	return c ? &c[(id - 1) & (ID_CHUNK - 1)] : NULL;
}

stack_id stacks_intern(const uintptr_t *pcs, int n)
{
	if (n <= 0)
		return 0;
	if (n > MAX_FRAMES)
		n = MAX_FRAMES;
	uint32_t h = stack_hash(pcs, n);
	_Atomic(struct stack_entry *) *b = &buckets[h & ((1u << BUCKET_BITS) - 1)];
	struct stack_entry *head = atomic_load_explicit(b, memory_order_acquire);
	struct stack_entry *e = find(head, NULL, h, pcs, n);
	if (e)
		return e->id;
	e = arena_alloc(sizeof *e + (size_t)n * sizeof *pcs);
	if (!e)
		return 0;
	e->hash = h;
	e->len = (uint32_t)n;
	memcpy(e->pcs, pcs, (size_t)n * sizeof *pcs);
	e->id = atomic_fetch_add_explicit(&nstacks, 1, memory_order_relaxed) + 1;
	_Atomic(struct stack_entry *) *slot = id_slot(e->id, 1);
	if (!slot)
		return 0;
	atomic_store_explicit(slot, e, memory_order_release);
	for (;;) {
		e->next = head;
		if (atomic_compare_exchange_weak_explicit(b, &head, e, memory_order_acq_rel,
							  memory_order_acquire))
			return e->id;
		/* Someone pushed first: only the entries above our old head are new. */
		struct stack_entry *other = find(head, e->next, h, pcs, n);
		if (other)
			return other->id;
	}
}

stack_id stacks_capture(int depth)
{
	uintptr_t pcs[MAX_FRAMES];
	if (depth > MAX_FRAMES)
		depth = MAX_FRAMES;
	int n = backtrace_capture(pcs, depth);
	return stacks_intern(pcs, n);
}

int stacks_get(stack_id id, const uintptr_t **pcs)
{
	*pcs = NULL;
	if (!id || id > atomic_load_explicit(&nstacks, memory_order_acquire))
		return 0;
	_Atomic(struct stack_entry *) *slot = id_slot(id, 0);
	struct stack_entry *e = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
	if (!e)
		return 0;
	*pcs = e->pcs;
	return (int)e->len;
}

uint32_t stacks_count(void)
{
	return atomic_load_explicit(&nstacks, memory_order_relaxed);
}

/* No lock to hold across fork: a child sees every entry published before the fork. */
void stacks_fork_prepare(void)
{
}

void stacks_fork_parent(void)
{
}

void stacks_fork_child(void)
{
}
