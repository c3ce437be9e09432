/* What `connleak run` adds to the command's environment for managed runtimes, and how it
 * recognises a command it cannot see into. The runtimes are asked, by environment only
 * (never by changing the command line), to publish their JIT'd code as perf maps
 * (/tmp/perf-<pid>.map), which name the managed frames of a report; the JVM also keeps
 * frame pointers in compiled code so stacks can be walked through it. */
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Appends `flags` to a space-separated variable unless it is already there. */
static void append_flags(const char *var, const char *flags)
{
	const char *prev = getenv(var);
	if (prev && strstr(prev, flags))
		return;
	size_t n = (prev ? strlen(prev) : 0) + strlen(flags) + 2;
	char *v = malloc(n);
	if (!v)
		return;
	snprintf(v, n, "%s%s%s", prev ? prev : "", prev && *prev ? " " : "", flags);
	setenv(var, v, 1);
	free(v);
}

void run_env_perf_maps(void)
{
	/* .NET: perf map of JIT'd code and stubs; names without the tier ("[QuickJitted]"),
	 * which changes while a program warms up. A value the user set is kept. */
	setenv("DOTNET_PerfMapEnabled", "1", 0);
	setenv("DOTNET_PerfMapShowOptimizationTiers", "0", 0);
	/* node: each JS function gets its own copy of the interpreter entry, so interpreted
	 * frames are named too, not only optimized ones. Both are allowed in NODE_OPTIONS. */
	append_flags("NODE_OPTIONS", "--perf-basic-prof --interpreted-frames-native-stack");
	/* CPython >= 3.12: a trampoline per Python function, named "py::func:file". */
	setenv("PYTHONPERFSUPPORT", "1", 0);
	/* HotSpot: the map is written at exit (compiled methods only: interpreted ones share
	 * the interpreter's name), and compiled code keeps frame pointers. The JVM prints
	 * "Picked up JAVA_TOOL_OPTIONS" on stderr; --no-perf-maps avoids it. */
	append_flags("JAVA_TOOL_OPTIONS", "-XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit "
					  "-XX:+PreserveFramePointer");
}

/* The file execvp would run for `cmd`, or 0 when not found. */
static int find_command(const char *cmd, char *out, size_t n)
{
	if (strchr(cmd, '/')) {
		snprintf(out, n, "%s", cmd);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		if ((size_t)snprintf(out, n, "%.*s/%s", (int)len, len ? path : ".", cmd) < n &&
		    access(out, X_OK) == 0)
			return 1;
		if (!colon)
			break;
		path = colon + 1;
	}
	return 0;
}

int run_command_is_static(const char *cmd)
{
	char path[PATH_MAX];
	if (!find_command(cmd, path, sizeof path))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int is_static = 0;
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	size_t phnum;
	GElf_Ehdr eh;
	if (e && elf_kind(e) == ELF_K_ELF && gelf_getehdr(e, &eh) &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && elf_getphdrnum(e, &phnum) == 0) {
		/* No program interpreter: the kernel starts it directly (static, or static-pie),
		 * so the dynamic loader never runs and nothing is preloaded. */
		is_static = 1;
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP)
				is_static = 0;
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return is_static;
}
