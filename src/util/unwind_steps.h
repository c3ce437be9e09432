/* A stack walk that also steps through JIT'd frames libunwind alone cannot (CPython 3.12's
 * perf trampolines), validated and bounded; see unwind_steps.c for what was measured. */
#ifndef CONNLEAK_UNWIND_STEPS_H
#define CONNLEAK_UNWIND_STEPS_H

/* Set by unwind_steps_init() when the process may have such frames; otherwise the plain
 * unw_backtrace walk is used. */
extern int unwind_steps_enabled;
void unwind_steps_init(void);

/* Like unw_backtrace: at most `max` return addresses, innermost first (ours included). */
int unwind_with_steps(void **out, int max);

#endif
