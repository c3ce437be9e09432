/* Chunked fd table. Chunks are never freed, so a lock-free reader can never see freed
 * memory; memory is bounded by the highest descriptor number used. Chunks come from the
 * arena (no malloc: this runs in signal handlers too). */
#include "fdtable.h"

#include "../util/arena.h"

_Atomic(struct fd_slot *) fdt_chunks[FDT_CHUNKS];
_Atomic(uintptr_t) fdt_hot[FDT_MAX];
static int limit;

struct fd_slot *fdt_slot(int fd, int create)
{
	if ((unsigned)fd >= FDT_MAX)
		return NULL;
	unsigned ci = (unsigned)fd >> FDT_CHUNK_BITS;
	struct fd_slot *c = atomic_load_explicit(&fdt_chunks[ci], memory_order_acquire);
	if (!c) {
		if (!create)
			return NULL;
		c = arena_alloc(FDT_CHUNK * sizeof *c);
		if (!c)
			return NULL;
		atomic_store_explicit(&fdt_chunks[ci], c, memory_order_release);
	}
	if (fd + 1 > limit)
		limit = fd + 1;
	c[fd & (FDT_CHUNK - 1)].fd = fd;
	return &c[fd & (FDT_CHUNK - 1)];
}

int fdt_limit(void)
{
	return limit;
}
