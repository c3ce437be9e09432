/* Resolves the real libc functions behind our hooks, once, before any hook needs them.
 * A pointer that resolves back into this library (another preload re-exporting us) is
 * refused in favour of the default lookup, so a hook can never call itself. */
#include "real.h"

#include "self.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>

struct real_fns real;

static void *resolve(const char *name, uintptr_t lo, uintptr_t hi)
{
	void *p = dlsym(RTLD_NEXT, name);
	return p && self_contains((uintptr_t)p, lo, hi) ? NULL : p;
}

void real_init(void)
{
	static atomic_int done;
	if (atomic_load_explicit(&done, memory_order_acquire))
		return;
	/* Racing threads resolve the same values; storing a pointer twice is harmless. */
	uintptr_t lo, hi;
	self_range(&lo, &hi);
#define R(field, sym) *(void **)&real.field = resolve(sym, lo, hi)
	R(socket, "socket");
	R(socketpair, "socketpair");
	R(connect, "connect");
	R(accept, "accept");
	R(accept4, "accept4");
	R(close, "close");
	R(close_range, "close_range");
	R(closefrom, "closefrom");
	R(fclose, "fclose");
	R(dup, "dup");
	R(dup2, "dup2");
	R(dup3, "dup3");
	R(fcntl, "fcntl");
	R(fcntl64, "fcntl64");
	R(ioctl, "ioctl");
	R(shutdown, "shutdown");
	R(read, "read");
	R(write, "write");
	R(recv, "recv");
	R(send, "send");
	R(recvfrom, "recvfrom");
	R(sendto, "sendto");
	R(recvmsg, "recvmsg");
	R(sendmsg, "sendmsg");
	R(recvmmsg, "recvmmsg");
	R(sendmmsg, "sendmmsg");
	R(readv, "readv");
	R(writev, "writev");
	R(read_chk, "__read_chk");
	R(recv_chk, "__recv_chk");
	R(recvfrom_chk, "__recvfrom_chk");
	R(fork, "fork");
	R(vfork, "vfork");
	R(posix_spawn, "posix_spawn");
	R(posix_spawnp, "posix_spawnp");
	R(popen, "popen");
	R(system, "system");
	R(execve, "execve");
	R(execv, "execv");
	R(execvp, "execvp");
	R(execvpe, "execvpe");
	R(fexecve, "fexecve");
	R(execveat, "execveat");
	R(_exit, "_exit");
	R(_Exit, "_Exit");
	R(open, "open");
	R(unlink, "unlink");
	R(pipe2, "pipe2");
	R(syscall, "syscall");
	R(getaddrinfo, "getaddrinfo");
	R(freeaddrinfo, "freeaddrinfo");
	R(gethostbyname, "gethostbyname");
	R(gethostbyname2, "gethostbyname2");
	R(gethostbyname_r, "gethostbyname_r");
	R(gethostbyname2_r, "gethostbyname2_r");
	R(sigaction, "sigaction");
	R(signal, "signal");
	R(sysv_signal, "sysv_signal");
	R(sigset, "sigset");
	R(clone, "clone");
	R(sigaltstack, "sigaltstack");
	R(prctl, "prctl");
	R(exit, "exit");
	R(longjmp, "longjmp");
	R(longjmp_chk, "__longjmp_chk");
#undef R
	if (!real.fcntl64)
		real.fcntl64 = real.fcntl;
	atomic_store_explicit(&done, 1, memory_order_release);
}
