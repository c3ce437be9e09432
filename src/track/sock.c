/* Pool, live list and inherited list of socket records. The pool only grows to the peak number of live
 * sockets; closed records go back on the free list. Blocks come from the arena: a socket
 * may be created in a signal handler that interrupted malloc. */
#include "sock.h"

#include <string.h>

#include "../util/arena.h"

#define BLOCK 256

static struct sock *free_list;
static struct sock *live, *live_tail, *inh;
static uint32_t nlive, ninh, nnamed;
_Atomic uint32_t sock_epoch;
uint32_t sock_proc;

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
	s->proc = sock_proc;
	s->next = live;
	if (live)
		live->prev = s;
	else
		live_tail = s;
	live = s;
	nlive++;
	return s;
}

void sock_release(struct sock *s)
{
	int inherited = s->proc != sock_proc || s->on_inherited_list;
	if (s->prev)
		s->prev->next = s->next;
	else if (inherited)
		inh = s->next;
	else
		live = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else if (!inherited)
		live_tail = s->prev;
	nlive--;
	ninh -= inherited;
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

struct sock *sock_inherited_head(void)
{
	return inh;
}

uint32_t sock_live_count(void)
{
	return nlive;
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
	if (live) {
		live_tail->next = inh;
		if (inh)
			inh->prev = live_tail;
		inh = live;
		live = live_tail = NULL;
	}
	ninh = nlive;
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
	return nnamed;
}

/* After s->host was written; had_host: whether it was set before. */
void sock_named(struct sock *s, int had_host)
{
	nnamed += (s->host[0] != 0) - (had_host != 0);
}
