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
	uint32_t marks; /* times the number became the memory of a closed socket (fdt_hot) */
};

extern _Atomic(struct fd_slot *) fdt_chunks[FDT_CHUNKS];

/* One word per descriptor number, the lock-free readers' view of the slot: its socket;
 * while it holds only the memory of a socket the program closed (a stale use, a double
 * close), a mark: FDT_CLOSED with the slot's count of such memories above it, so a reader
 * that saw a mark before a call can tell whether it is still the same one after; else 0.
 * The read/write hooks (hooks/io.c) tell "nothing of ours" with one load and get the
 * socket from the same word, without the chunk lookup. A flat array: only the pages of
 * numbers in use are touched. */
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
 * that sees the socket sees it set up. A memory already marked keeps its mark. */
static inline void fdt_sync(struct fd_slot *slot)
{
	struct sock *s = atomic_load_explicit(&slot->sock, memory_order_relaxed);
	uintptr_t v = atomic_load_explicit(&fdt_hot[slot->fd], memory_order_relaxed);
	if (s)
		v = (uintptr_t)s;
	else if (!slot->closed_socket)
		v = 0;
	else if (!(v & FDT_CLOSED))
		v = (uintptr_t)++slot->marks << 1 | FDT_CLOSED;
	atomic_store_explicit(&fdt_hot[slot->fd], v, memory_order_release);
}

/* Lock-free: fd's word (0 outside the table), and the socket a word names. */
static inline uintptr_t fdt_word(int fd)
{
	return (unsigned)fd < FDT_MAX ? atomic_load_explicit(&fdt_hot[fd], memory_order_acquire) : 0;
}

static inline struct sock *fdt_word_sock(uintptr_t v)
{
	return v & FDT_CLOSED ? NULL : (struct sock *)v;
}

/* Lock-free: the socket behind fd, or NULL. */
static inline struct sock *fdt_sock(int fd)
{
	return fdt_word_sock(fdt_word(fd));
}

/* Lock-free: whether the last thing at fd was a socket the program closed (a second
 * close of it is a double close). */
static inline int fdt_was_closed_socket(int fd)
{
	return (fdt_word(fd) & FDT_CLOSED) != 0;
}

/* Under the model lock: the slot for fd, allocating its chunk when `create`. */
struct fd_slot *fdt_slot(int fd, int create);

/* One past the highest fd that ever had a slot. */
int fdt_limit(void);

#endif
