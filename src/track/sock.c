/* Pool and live list of socket records. The pool only grows to the peak number of live
 * sockets; closed records go back on the free list. Blocks come from the arena: a socket
 * may be created in a signal handler that interrupted malloc. */
#include "sock.h"

#include <string.h>

#include "../util/arena.h"

#define BLOCK 256

static struct sock *free_list;
static struct sock *live;
static uint32_t nlive, nnamed;
_Atomic uint32_t sock_epoch;

struct sock *sock_new(void)
{
	if (!free_list) {
		struct sock *block = arena_alloc(BLOCK * sizeof *block);
		if (!block)
			return NULL;
		for (int i = 0; i < BLOCK; i++) {
			block[i].next = free_list;
			free_list = &block[i];
		}
	}
	struct sock *s = free_list;
	free_list = s->next;
	uint32_t incarnation = atomic_load(&s->incarnation);
	memset(s, 0, sizeof *s);
	atomic_store(&s->incarnation, incarnation + 1);
	s->created_epoch = atomic_fetch_add_explicit(&sock_epoch, 1, memory_order_relaxed) + 1;
	s->next = live;
	if (live)
		live->prev = s;
	live = s;
	nlive++;
	return s;
}

void sock_release(struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		live = s->next;
	if (s->next)
		s->next->prev = s->prev;
	nlive--;
	if (s->host[0])
		nnamed--;
	/* Keep the fields as they are: a racing reader may still look at them. */
	s->prev = NULL;
	s->next = free_list;
	free_list = s;
}

struct sock *sock_live_head(void)
{
	return live;
}

uint32_t sock_live_count(void)
{
	return nlive;
}

uint32_t sock_named_count(void)
{
	return nnamed;
}

/* After s->host was written; had_host: whether it was set before. */
void sock_named(struct sock *s, int had_host)
{
	nnamed += (s->host[0] != 0) - (had_host != 0);
}
