/* Unwinding through JIT'd code libunwind cannot step through on its own. Measured (x86-64,
 * libunwind 1.6): .NET, node (V8) and HotSpot with -XX:+PreserveFramePointer keep frame
 * pointers in JIT'd code, and libunwind's frame-chain fallback walks them to main. CPython
 * 3.12's perf trampolines do not: each Python call goes through a copy of
 *     sub $8,%rsp ; call *%rcx ; add $8,%rsp ; ret
 * in anonymous memory, with no unwind info and no frame pointer, and the walk stopped at
 * the first one (the Python caller never appeared). This file is the step for that frame:
 * taken only when the code bytes around the frame's address are exactly that sequence, and
 * only after reading them and the stack slot with process_vm_readv (which fails instead of
 * faulting on unmapped or unreadable memory), with the stack strictly growing and the walk
 * bounded by the caller's frame limit. The walk then resumes in libunwind from a context
 * built from the frame's registers (the trampoline saves and changes none but %rsp). */
#include "unwind_steps.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "unwind_api.h"

static const unsigned char tramp_before[6] = {0x48, 0x83, 0xec, 0x08, 0xff, 0xd1};
static const unsigned char tramp_after[5] = {0x48, 0x83, 0xc4, 0x08, 0xc3};

int unwind_steps_enabled;

#define MAX_STEPS 512

void unwind_steps_init(void)
{
	/* Trampolines exist only where CPython was asked for them (PYTHONPERFSUPPORT or
	 * -X perf, which sets nothing we can see before Python starts: the env var is what
	 * `connleak run` uses). Elsewhere the fast unw_backtrace path alone is taken. */
	const char *v = getenv("PYTHONPERFSUPPORT");
	/* ...and only in a CPython that has them: `connleak run` sets the variable for every
	 * process of the run, and the stepping walk costs several times the fast one. */
	unwind_steps_enabled = v && *v && strcmp(v, "0") != 0 &&
			       dlsym(RTLD_DEFAULT, "_Py_trampoline_func_start") != NULL;
	if (unwind_steps_enabled)
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

/* Reads our own memory without faulting: 0 on success. */
static int safe_read(uintptr_t addr, void *buf, size_t n)
{
	struct iovec local = {buf, n}, remote = {(void *)addr, n};
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* The frame at `ip` with stack pointer `sp` is a CPython trampoline: its caller's return
 * address and stack pointer. */
static int trampoline_step(uintptr_t ip, uintptr_t sp, uintptr_t *ra, uintptr_t *new_sp)
{
	unsigned char code[11];
	if (ip < sizeof tramp_before || safe_read(ip - sizeof tramp_before, code, sizeof code))
		return -1;
	if (memcmp(code, tramp_before, sizeof tramp_before) ||
	    memcmp(code + sizeof tramp_before, tramp_after, sizeof tramp_after))
		return -1;
	/* [sp] is the trampoline's 8-byte pad, [sp+8] the return address into its caller. */
	uintptr_t r;
	if (safe_read(sp + 8, &r, sizeof r) || r < 4096)
		return -1;
	*ra = r;
	*new_sp = sp + 16;
	return 0;
}

int unwind_with_steps(void **out, int max)
{
	unw_context_t uc;
	unw_cursor_t c;
	if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
		return 0;
	int n = 0, python = 0;
	uintptr_t last_sp = 0;
	/* Bounded whatever the stack: a deep recursion costs at most this many steps. */
	for (int steps = 0; n < max && steps < MAX_STEPS; steps++) {
		unw_word_t ip, sp;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || !ip ||
		    unw_get_reg(&c, UNW_REG_SP, &sp) != 0 || (steps && sp < last_sp))
			break;
		/* Before the first Python function, every frame (the C code that made the
		 * call); from there on, only the Python functions: each one costs four frames
		 * of interpreter C, and the program's own function would fall beyond the
		 * depth (measured: 17 frames down for a function calling
		 * socket.create_connection). */
		if (!python)
			out[n++] = (void *)ip;
		last_sp = sp;
		/* A failed step leaves the cursor undefined: keep this frame's state. */
		unw_cursor_t here = c;
		if (unw_step(&c) > 0)
			continue;
		c = here;
		/* libunwind stopped: a trampoline frame? */
		uintptr_t ra, nsp;
		if (trampoline_step(ip, sp, &ra, &nsp) != 0 || nsp <= sp)
			break;
		if (python)
			out[n++] = (void *)ip;
		python = 1;
		unw_word_t rbx, rbp, r12, r13, r14, r15;
		if (unw_get_reg(&c, UNW_X86_64_RBX, &rbx) || unw_get_reg(&c, UNW_X86_64_RBP, &rbp) ||
		    unw_get_reg(&c, UNW_X86_64_R12, &r12) || unw_get_reg(&c, UNW_X86_64_R13, &r13) ||
		    unw_get_reg(&c, UNW_X86_64_R14, &r14) || unw_get_reg(&c, UNW_X86_64_R15, &r15))
			break;
		/* Resume from the caller: the callee-saved registers as they are in this frame
		 * (the trampoline touches none), its return address and stack pointer. */
		mcontext_t *m = &uc.uc_mcontext;
		m->gregs[REG_RIP] = (greg_t)ra;
		m->gregs[REG_RSP] = (greg_t)nsp;
		m->gregs[REG_RBX] = (greg_t)rbx;
		m->gregs[REG_RBP] = (greg_t)rbp;
		m->gregs[REG_R12] = (greg_t)r12;
		m->gregs[REG_R13] = (greg_t)r13;
		m->gregs[REG_R14] = (greg_t)r14;
		m->gregs[REG_R15] = (greg_t)r15;
		if (unw_init_local(&c, &uc) != 0)
			break;
	}
	return n;
}

