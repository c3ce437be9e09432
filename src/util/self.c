/* Finds this library's address range once (one dladdr, one dl_iterate_phdr): dladdr per
 * lookup costs a symbol-table scan each time, which at start-up alone was a millisecond. */
#include "self.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

static uintptr_t range_lo, range_hi;

static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t base = (uintptr_t)data;
	if (info->dlpi_addr != base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = base + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!range_lo || lo < range_lo)
			range_lo = lo;
		if (hi > range_hi)
			range_hi = hi;
	}
	return 1;
}

static void find_self(void)
{
	Dl_info info;
	if (dladdr((void *)find_self, &info))
		dl_iterate_phdr(find_range, info.dli_fbase);
}

void self_range(uintptr_t *lo, uintptr_t *hi)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, find_self);
	*lo = range_lo;
	*hi = range_hi;
}
