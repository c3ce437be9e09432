/* Lock-free bump allocator over mmap'd chunks (see arena.h). A chunk is claimed by one
 * compare-and-swap of the current (chunk, offset) word; a request that does not fit in
 * what is left of the chunk maps a fresh one, and requests larger than a quarter chunk
 * get a mapping of their own. Everything here is a system call or an atomic: it may run
 * in a signal handler that interrupted any code of the program or of connleak. */
#include "arena.h"

#include <stdatomic.h>
#include <sys/mman.h>

#define CHUNK ((size_t)1 << 20)
#define ALIGN 16

struct chunk_state {
	char *base;
	_Atomic size_t used;
};

/* The chunk being carved: base and offset change together. */
static _Atomic(struct chunk_state *) current;
static _Atomic uint64_t mapped, failures;

uint64_t arena_failures(void)
{
	return atomic_load_explicit(&failures, memory_order_relaxed);
}

void arena_note_failure(void)
{
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

void *arena_map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		arena_note_failure();
		return NULL;
	}
	atomic_fetch_add_explicit(&mapped, n, memory_order_relaxed);
	return p;
}

void arena_unmap(void *p, size_t n)
{
	if (p) {
		munmap(p, n);
		atomic_fetch_sub_explicit(&mapped, n, memory_order_relaxed);
	}
}

uint64_t arena_mapped(void)
{
	return atomic_load_explicit(&mapped, memory_order_relaxed);
}

/* Each chunk starts with its own state record, so a chunk is one mapping. The offset is
 * bumped with an atomic add; a loser that overshoots the end simply moves on. */
void *arena_alloc(size_t n)
{
	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (n == 0)
		n = ALIGN;
	if (n > CHUNK / 4)
		return arena_map(n);
	for (;;) {
		struct chunk_state *c = atomic_load_explicit(&current, memory_order_acquire);
		if (c) {
			size_t off = atomic_fetch_add_explicit(&c->used, n, memory_order_relaxed);
			if (off + n <= CHUNK)
				return c->base + off;
		}
		/* Full (or none yet): map a new chunk and try to make it current. */
		char *m = arena_map(CHUNK);
		if (!m)
			return NULL;
		struct chunk_state *fresh = (struct chunk_state *)m;
		fresh->base = m;
		atomic_init(&fresh->used, (sizeof *fresh + ALIGN - 1) & ~(size_t)(ALIGN - 1));
		if (!atomic_compare_exchange_strong_explicit(&current, &c, fresh,
							     memory_order_acq_rel,
							     memory_order_acquire))
			arena_unmap(m, CHUNK); /* another thread (or a handler) installed one */
	}
}
