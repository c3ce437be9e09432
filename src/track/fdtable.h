/* The descriptor table: one slot per fd number, in chunks allocated on first use. Readers
 * on the I/O path look a slot up without any lock; writers hold the model lock. */
#ifndef CONNLEAK_FDTABLE_H
#define CONNLEAK_FDTABLE_H

#include <stdatomic.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sock.h"
#include "stacks.h"

#define FDT_CHUNK_BITS 12
#define FDT_CHUNK (1 << FDT_CHUNK_BITS)
#define FDT_CHUNKS 256 /* fds below 1,048,576 are tracked */
#define FDT_MAX (FDT_CHUNK * FDT_CHUNKS)

struct fd_slot {
	_Atomic(struct sock *) sock; /* NULL: not a socket we track */
	uint32_t gen;                /* sockets this number has held */
	stack_id last_close;         /* the close() that released the socket it held last */
	uint8_t closed_socket;       /* the last thing here was a socket the program closed */
	/* What a stale use of the number needs to say about the socket it held. */
	stack_id last_created;
	socklen_t last_peer_len;
	struct sockaddr_in6 last_peer; /* inet and inet6 peers; others are not kept */
	int fd;                        /* the number of this slot */
	/* The descriptor's FD_CLOEXEC as the hooks saw it set (track/cloexec.h), and the fork
	 * count when it last began to be inherited by an exec'd child. */
	uint8_t cloexec;
	uint32_t cx_forks;
};

extern _Atomic(struct fd_slot *) fdt_chunks[FDT_CHUNKS];

/* One byte per descriptor number: non-zero while its slot holds a socket or the memory
 * of a closed one, so the read/write hooks (hooks/io.c) tell "nothing of ours" with one
 * load and no chunk lookup. A flat array: only the pages of numbers in use are touched. */
extern _Atomic(uint8_t) fdt_hot[FDT_MAX];

static inline int fdt_is_hot(int fd)
{
	return (unsigned)fd < FDT_MAX && atomic_load_explicit(&fdt_hot[fd], memory_order_relaxed);
}

/* Under the model lock, after a slot's socket or closed_socket changed. */
static inline void fdt_sync(struct fd_slot *slot)
{
	atomic_store_explicit(&fdt_hot[slot->fd],
			      atomic_load_explicit(&slot->sock, memory_order_relaxed) != NULL ||
				      slot->closed_socket,
			      memory_order_relaxed);
}

/* Lock-free: the socket behind fd, or NULL. */
static inline struct sock *fdt_sock(int fd)
{
	if ((unsigned)fd >= FDT_MAX)
		return NULL;
	struct fd_slot *c =
		atomic_load_explicit(&fdt_chunks[(unsigned)fd >> FDT_CHUNK_BITS], memory_order_acquire);
	if (!c)
		return NULL;
	return atomic_load_explicit(&c[fd & (FDT_CHUNK - 1)].sock, memory_order_acquire);
}

/* Lock-free: whether the last thing at fd was a socket the program closed (a second
 * close of it is a double close). */
static inline int fdt_was_closed_socket(int fd)
{
	if ((unsigned)fd >= FDT_MAX)
		return 0;
	struct fd_slot *c =
		atomic_load_explicit(&fdt_chunks[(unsigned)fd >> FDT_CHUNK_BITS], memory_order_acquire);
	return c && c[fd & (FDT_CHUNK - 1)].closed_socket;
}

/* Under the model lock: the slot for fd, allocating its chunk when `create`. */
struct fd_slot *fdt_slot(int fd, int create);

/* One past the highest fd that ever had a slot. */
int fdt_limit(void);

#endif
