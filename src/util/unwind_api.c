/* Loads libunwind on demand (see unwind_api.h). RTLD_LOCAL: its symbols (it also defines
 * `backtrace`) stay out of the program's lookups, as a library the program never asked
 * for should. */
#include "unwind_api.h"

#include <dlfcn.h>

#include "log.h"

struct unwind_api unwind_api;

#define STR_(x) #x
#define STR(x) STR_(x)

int unwind_api_load(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_linef("connleak: cannot load libunwind (%s): no stacks will be captured",
			  dlerror());
		return -1;
	}
	struct {
		void **slot;
		const char *name;
	} syms[] = {
		/* The names <libunwind.h> maps unw_* to for local-only x86-64 unwinding. */
		{(void **)&unwind_api.getcontext, STR(UNW_ARCH_OBJ(getcontext))},
		{(void **)&unwind_api.init_local, STR(UNW_OBJ(init_local))},
		{(void **)&unwind_api.step, STR(UNW_OBJ(step))},
		{(void **)&unwind_api.get_reg, STR(UNW_OBJ(get_reg))},
		{(void **)&unwind_api.get_save_loc, STR(UNW_OBJ(get_save_loc))},
		{(void **)&unwind_api.is_signal_frame, STR(UNW_OBJ(is_signal_frame))},
		{(void **)&unwind_api.set_caching_policy, STR(UNW_OBJ(set_caching_policy))},
		{(void **)&unwind_api.local_addr_space, STR(UNW_OBJ(local_addr_space))},
		{(void **)&unwind_api.backtrace, "unw_backtrace"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			log_linef("connleak: libunwind has no %s: no stacks will be captured",
				  syms[i].name);
			unwind_api = (struct unwind_api){0};
			return -1;
		}
	}
	return 0;
}
