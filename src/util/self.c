/* Finds this library's address range once (one dladdr, one dl_iterate_phdr): dladdr per
 * lookup costs a symbol-table scan each time, which at start-up alone was a millisecond. */
#include "self.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

struct range {
	uintptr_t base, lo, hi;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct range *r = data;
	if (info->dlpi_addr != r->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = r->base + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!r->lo || lo < r->lo)
			r->lo = lo;
		if (hi > r->hi)
			r->hi = hi;
	}
	return 1;
}

void module_range(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	Dl_info info;
	struct range r = {0, 0, 0};
	if (dladdr(addr, &info)) {
		r.base = (uintptr_t)info.dli_fbase;
		dl_iterate_phdr(find_range, &r);
	}
	*lo = r.lo;
	*hi = r.hi;
}

static uintptr_t range_lo, range_hi;

static void find_self(void)
{
	module_range((const void *)find_self, &range_lo, &range_hi);
}

void self_range(uintptr_t *lo, uintptr_t *hi)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, find_self);
	*lo = range_lo;
	*hi = range_hi;
}
