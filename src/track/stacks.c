/* Stack interning with uthash. Entries are never freed: the set of distinct stacks of a
 * program is bounded by its code, and ids must stay valid for the report at exit. */
#include "stacks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
/* Stack keys are arrays of words: mix whole words instead of uthash's byte-wise default. */
static inline unsigned stack_hash(const void *key, size_t len)
{
	const uintptr_t *w = key;
	uint64_t h = 0x84222325cbf29ce4ull;
	for (size_t i = 0; i < len / sizeof *w; i++) {
		h ^= w[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (unsigned)(h ^ (h >> 32));
}
#define HASH_FUNCTION(keyptr, keylen, hashv) (hashv) = stack_hash(keyptr, keylen)
#include <uthash.h>

#include "../util/backtrace.h"

struct stack_entry {
	UT_hash_handle hh;
	stack_id id;
	/* The key: frame count followed by the frames, contiguous. */
	uintptr_t len;
	uintptr_t pcs[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct stack_entry *by_key;
static struct stack_entry **by_id; /* by_id[id - 1] */
static uint32_t nstacks, cap;

stack_id stacks_intern(const uintptr_t *pcs, int n)
{
	if (n <= 0)
		return 0;
	uintptr_t key[65];
	if (n > 64)
		n = 64;
	key[0] = (uintptr_t)n;
	memcpy(key + 1, pcs, (size_t)n * sizeof *pcs);
	size_t keylen = (size_t)(n + 1) * sizeof(uintptr_t);

	pthread_mutex_lock(&lock);
	struct stack_entry *e;
	HASH_FIND(hh, by_key, key, keylen, e);
	if (!e) {
		if (nstacks == cap) {
			uint32_t ncap = cap ? cap * 2 : 256;
			void *p = realloc(by_id, ncap * sizeof *by_id);
			if (!p)
				goto out;
			by_id = p;
			cap = ncap;
		}
		e = malloc(sizeof *e + (size_t)n * sizeof(uintptr_t));
		if (!e)
			goto out;
		memcpy(&e->len, key, keylen);
		e->id = ++nstacks;
		by_id[e->id - 1] = e;
		HASH_ADD_KEYPTR(hh, by_key, &e->len, keylen, e);
	}
out:;
	stack_id id = e ? e->id : 0;
	pthread_mutex_unlock(&lock);
	return id;
}

stack_id stacks_capture(int depth)
{
	uintptr_t pcs[64];
	if (depth > 64)
		depth = 64;
	int n = backtrace_capture(pcs, depth);
	return stacks_intern(pcs, n);
}

int stacks_get(stack_id id, const uintptr_t **pcs)
{
	int n = 0;
	*pcs = NULL;
	pthread_mutex_lock(&lock);
	if (id && id <= nstacks) {
		*pcs = by_id[id - 1]->pcs;
		n = (int)by_id[id - 1]->len;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

uint32_t stacks_count(void)
{
	pthread_mutex_lock(&lock);
	uint32_t n = nstacks;
	pthread_mutex_unlock(&lock);
	return n;
}

void stacks_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void stacks_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void stacks_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
