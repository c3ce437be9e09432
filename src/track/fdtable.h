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

/* One word per descriptor number, the lock-free readers' view of the slot: its socket,
 * FDT_CLOSED while it holds only the memory of a socket the program closed (a stale use,
 * a double close), else 0. The read/write hooks (hooks/io.c) tell "nothing of ours" with
 * one load and get the socket from the same word, without the chunk lookup. A flat array:
 * only the pages of numbers in use are touched. */
#define FDT_CLOSED ((uintptr_t)1)
extern _Atomic(uintptr_t) fdt_hot[FDT_MAX];

/* Whether fd is a number in the table that holds nothing of ours. A number outside the
 * table (-1 included: libunwind's descriptors, hooks/unwinder.c) is not cold: the full
 * hooks decide for it. */
static inline int fdt_is_cold(int fd)
{
	return (unsigned)fd < FDT_MAX && !atomic_load_explicit(&fdt_hot[fd], memory_order_relaxed);
}

/* Under the model lock, after a slot's socket or closed_socket changed. Release: a reader
 * that sees the socket sees it set up. */
static inline void fdt_sync(struct fd_slot *slot)
{
	struct sock *s = atomic_load_explicit(&slot->sock, memory_order_relaxed);
	atomic_store_explicit(&fdt_hot[slot->fd],
			      s ? (uintptr_t)s : slot->closed_socket ? FDT_CLOSED : 0,
			      memory_order_release);
}

/* Lock-free: the socket behind fd, or NULL. */
static inline struct sock *fdt_sock(int fd)
{
	if ((unsigned)fd >= FDT_MAX)
		return NULL;
	return (struct sock *)(atomic_load_explicit(&fdt_hot[fd], memory_order_acquire) &
			       ~FDT_CLOSED);
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
