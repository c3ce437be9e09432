/* Children that glibc starts and execs itself (posix_spawn, posix_spawnp, popen, system:
 * a clone(CLONE_VFORK) inside libc that no fork hook of ours sees). Every socket open
 * without FD_CLOEXEC at that moment may now be held by the exec'd program too; the model
 * notes the program and the spawning stack, and at the socket's last close asks /proc who
 * still holds it (posix_spawn file actions and a close_range in the child are honoured:
 * what the child closed, it does not hold). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>

#include "../track/spawn.h"
#include "hook.h"

static void spawned(pid_t child, const char *program)
{
	if (hook_active())
		TRACK(spawn_noted(child, program, model_capture()));
}

HOOK int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	pid_t child = 0;
	int r = REAL(posix_spawn)(pid ? pid : &child, path, fa, attr, argv, envp);
	if (r == 0)
		spawned(pid ? *pid : child, path);
	return r;
}

HOOK int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		      const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	pid_t child = 0;
	int r = REAL(posix_spawnp)(pid ? pid : &child, file, fa, attr, argv, envp);
	if (r == 0)
		spawned(pid ? *pid : child, file);
	return r;
}

HOOK FILE *popen(const char *command, const char *type)
{
	FILE *f = REAL(popen)(command, type);
	if (f)
		spawned(0, "sh");
	return f;
}

/* The shell has exited when system() returns; what it started in the background (a
 * `cmd &`) may hold the socket on. Noted before the call: the parent is blocked during
 * it, and its other threads may close sockets meanwhile. */
HOOK int system(const char *command)
{
	if (command)
		spawned(0, "sh");
	return REAL(system)(command);
}
