/* Stack interning without a lock and without malloc, so it can run in a signal handler
 * that interrupted anything (malloc, or connleak itself on another path) and, later,
 * outside the model lock. A fixed array of buckets holds singly linked chains; a new
 * entry is pushed on its chain with one compare-and-swap, after which it is immutable.
 * Ids are handed out by an atomic counter and found through a two-level table whose
 * chunks come from the arena. Entries are never freed: the set of distinct stacks of a
 * program is bounded by its code, and ids must stay valid for the report at exit. Two
 * threads interning the same new stack at once may both publish it (two ids, same
 * frames): harmless, and rare.
 *
 * Capturing is most of what a connection costs (an unwind is ~80 instructions a frame), and
 * programs open and close their connections from a few places, again and again. So a hook
 * says where the program called it (stacks_site_*), and each thread remembers, per such
 * place and stack depth, the stack it found there and the memory words that walk read:
 * every caller's return address, and the saved frame pointer of any frame that may compute
 * its frame address from it. The walk is a function of the place, the depth and those
 * words (the unwind tables of loaded code do not change), so while they hold the same
 * values it would find the same frames: checking them (a load and a compare a frame) gives
 * the stack. The words are read in walk order: each one checked proves the frames up to it
 * are live on this thread's stack, so the next one is too. A place is recorded (a walk frame
 * by frame that notes those words) the first time a thread sees it while the thread's own
 * walks are frame by frame too (backtrace.c): the record is that walk, and one walk a place
 * is all such a thread makes. A thread on the fast walk records a place seen a second time,
 * kept only when it matches the fast walk's answer. A place whose stack keeps changing goes
 * back to plain walks. */
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

__thread uintptr_t stacks_site_ra __attribute__((tls_model("initial-exec")));
__thread uintptr_t stacks_site_fp __attribute__((tls_model("initial-exec")));

#define MEMO_WAYS 8
#define MEMO_FAILS 4

enum { MEMO_SEEN, MEMO_READY, MEMO_NEVER };

struct memo {
	stack_id id;
	int16_t depth;
	uint8_t state, fails;
	struct bt_words w;
};

/* The places this thread captured from lately (searched in full: a program alternates
 * between a few), and what was found there: ~4 KB a thread, in its static TLS block (no
 * allocation, nothing to free when the thread ends). */
static __thread uintptr_t memo_key[MEMO_WAYS][2] __attribute__((tls_model("initial-exec")));
static __thread struct memo memo[MEMO_WAYS] __attribute__((tls_model("initial-exec")));
static __thread unsigned memo_next __attribute__((tls_model("initial-exec")));

/* Records shared between threads. The words of a walk that crossed no signal frame sit at
 * fixed offsets from the hook's frame, and its frame-pointer words hold the hook's frame
 * plus a fixed offset: the unwind rules (the CFA is the stack or frame pointer plus a
 * constant) do not depend on where the stack is. So a record kept as offsets serves every
 * thread that reaches the place at the depth, and a thread's first connection there walks
 * nothing (a thread per request: +3,900 instructions a connection, where walking its
 * own stacks cost +31,500; tests/bench/icount.py's thread).
 * Reading another thread's offsets is safe for the same reason as above: each word
 * checked proves this thread's frames match up to it, so the next word lies in one of
 * them. A place keeps at most SHARED_VARIANTS records (different callers); immutable once
 * pushed, never freed (bounded by the code). */
#define SHARED_BUCKETS 1024
#define SHARED_VARIANTS 8

struct shared_rec {
	struct shared_rec *next; /* written once, before publication */
	uintptr_t ra;
	int depth;
	stack_id id;
	struct bt_words w; /* addr and frame-pointer values: offsets from the hook's frame */
};

static _Atomic(struct shared_rec *) shared[SHARED_BUCKETS];

static _Atomic(struct shared_rec *) *shared_bucket(uintptr_t ra)
{
	return &shared[(ra ^ (ra >> 10)) & (SHARED_BUCKETS - 1)];
}

static stack_id walk(int depth)
{
	uintptr_t pcs[MAX_FRAMES];
	int n = backtrace_capture(pcs, depth);
	return stacks_intern(pcs, n);
}

/* What word i's value adds to its offset form: the hook's frame `fp` for a frame-pointer
 * word, nothing for a return address. */
static inline uintptr_t fp_part(const struct bt_words *w, int i, uintptr_t fp)
{
	return (w->fp_words >> i & 1) ? fp : 0;
}

/* Whether the words a walk read still hold their values: `base` 0 for this thread's own
 * record (absolute addresses), the hook's frame for a shared one. They are words of this
 * thread's live frames, read in place (not instrumented: a sanitizer would see reads of
 * other frames' slots). */
__attribute__((no_sanitize("address"))) static int words_hold(const struct bt_words *w,
							    uintptr_t base)
{
	for (int i = 0; i < w->n; i++)
		if (*(const uintptr_t *)(base + w->chk[i].addr) != w->chk[i].val + fp_part(w, i, base))
			return 0;
	return 1;
}

/* A shared record of this place whose words hold here, made this thread's own. */
static int shared_adopt(struct memo *m, uintptr_t ra, uintptr_t fp, int depth)
{
	const struct shared_rec *r = atomic_load_explicit(shared_bucket(ra), memory_order_acquire);
	for (; r; r = r->next) {
		if (r->ra != ra || r->depth != depth || !words_hold(&r->w, fp))
			continue;
		m->w.n = r->w.n;
		m->w.fp_words = r->w.fp_words;
		for (int i = 0; i < r->w.n; i++) {
			m->w.chk[i].addr = fp + r->w.chk[i].addr;
			m->w.chk[i].val = r->w.chk[i].val + fp_part(&r->w, i, fp);
		}
		m->id = r->id;
		m->state = MEMO_READY;
		return 1;
	}
	return 0;
}

static void shared_publish(const struct memo *m, uintptr_t ra, uintptr_t fp, int depth)
{
	if (m->w.signal)
		return;
	_Atomic(struct shared_rec *) *b = shared_bucket(ra);
	struct shared_rec *head = atomic_load_explicit(b, memory_order_acquire);
	int variants = 0;
	for (const struct shared_rec *r = head; r; r = r->next)
		variants += r->ra == ra && r->depth == depth;
	if (variants >= SHARED_VARIANTS)
		return;
	struct shared_rec *r = arena_alloc(sizeof *r);
	if (!r)
		return;
	r->ra = ra;
	r->depth = depth;
	r->id = m->id;
	r->w.n = m->w.n;
	r->w.fp_words = m->w.fp_words;
	r->w.signal = 0;
	for (int i = 0; i < m->w.n; i++) {
		r->w.chk[i].addr = m->w.chk[i].addr - fp;
		r->w.chk[i].val = m->w.chk[i].val - fp_part(&m->w, i, fp);
	}
	do
		r->next = head;
	while (!atomic_compare_exchange_weak_explicit(b, &head, r, memory_order_release,
						      memory_order_relaxed));
}

/* The walk recorded frame by frame. On a thread whose plain walks are the fast one, kept
 * only when it gives exactly the frames of that walk. */
static stack_id memo_record(struct memo *m, uintptr_t ra, uintptr_t fp, int depth)
{
	uintptr_t pcs[MAX_FRAMES], fast[MAX_FRAMES];
	int n = backtrace_record(ra, fp, pcs, depth, &m->w);
	if (n > 0 && !backtrace_fast()) {
		m->id = stacks_intern(pcs, n);
	} else {
		int nf = backtrace_capture(fast, depth);
		m->id = stacks_intern(fast, nf);
		if (n != nf || memcmp(pcs, fast, (size_t)nf * sizeof *pcs) != 0)
			n = 0;
	}
	if (n <= 0 || !m->id) {
		m->state = MEMO_NEVER;
		return m->id;
	}
	m->state = MEMO_READY;
	shared_publish(m, ra, fp, depth);
	return m->id;
}

stack_id stacks_capture(int depth)
{
	if (depth > MAX_FRAMES)
		depth = MAX_FRAMES;
	uintptr_t ra = stacks_site_ra, fp = stacks_site_fp;
	if (!ra || depth <= 0)
		return walk(depth);
	int w = 0;
	while (w < MEMO_WAYS && (memo_key[w][0] != ra || memo_key[w][1] != fp))
		w++;
	struct memo *m = &memo[w < MEMO_WAYS ? w : 0];
	if (w == MEMO_WAYS || m->depth != depth) {
		if (w == MEMO_WAYS) {
			w = (int)(memo_next++ % MEMO_WAYS);
			m = &memo[w];
			memo_key[w][0] = ra;
			memo_key[w][1] = fp;
		}
		m->depth = (int16_t)depth;
		m->fails = 0;
		if (shared_adopt(m, ra, fp, depth))
			return m->id;
		if (!backtrace_fast())
			return memo_record(m, ra, fp, depth);
		m->state = MEMO_SEEN;
		return m->id = walk(depth);
	}
	switch (m->state) {
	case MEMO_READY:
		if (words_hold(&m->w, 0) || shared_adopt(m, ra, fp, depth))
			return m->id;
		/* Another stack reached this place at this depth: record again, unless
		 * that keeps happening. */
		if (++m->fails >= MEMO_FAILS) {
			m->state = MEMO_NEVER;
			return walk(depth);
		}
		return memo_record(m, ra, fp, depth);
	case MEMO_SEEN:
		return memo_record(m, ra, fp, depth);
	default:
		return walk(depth);
	}
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
