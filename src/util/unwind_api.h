/* libunwind, loaded when connleak is on, not linked: a program run with the preload but
 * without CONNLEAK=1 then maps neither libunwind nor its liblzma, and relocates neither
 * (measured: ~80,000 instructions and two libraries' mappings at every process start).
 * Include this instead of <libunwind.h>: the unw_* names used in connleak call through the
 * table unwind_api_load() fills. */
#ifndef CONNLEAK_UNWIND_API_H
#define CONNLEAK_UNWIND_API_H

#define UNW_LOCAL_ONLY
#include <libunwind.h>

struct unwind_api {
	int (*getcontext)(unw_context_t *);
	int (*init_local)(unw_cursor_t *, unw_context_t *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
	int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
	int (*is_signal_frame)(unw_cursor_t *);
	int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t);
	int (*backtrace)(void **, int);
	unw_addr_space_t *local_addr_space;
};

extern struct unwind_api unwind_api;

/* Loads libunwind and fills the table: 0, or -1 (logged) when it cannot, and then no stack
 * is captured. Once; the caller serialises (backtrace_init's pthread_once). */
int unwind_api_load(void);

#undef unw_getcontext
#undef unw_init_local
#undef unw_step
#undef unw_get_reg
#undef unw_get_save_loc
#undef unw_is_signal_frame
#undef unw_set_caching_policy
#undef unw_local_addr_space
#define unw_getcontext(uc) unwind_api.getcontext(uc)
#define unw_init_local (*unwind_api.init_local)
#define unw_step (*unwind_api.step)
#define unw_get_reg (*unwind_api.get_reg)
#define unw_get_save_loc (*unwind_api.get_save_loc)
#define unw_is_signal_frame (*unwind_api.is_signal_frame)
#define unw_set_caching_policy (*unwind_api.set_caching_policy)
#define unw_backtrace (*unwind_api.backtrace)
#define unw_local_addr_space (*unwind_api.local_addr_space)

#endif
