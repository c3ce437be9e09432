/* Demangling at report time through the process's own libstdc++, found with
 * dlsym(RTLD_DEFAULT) only: dlopen'ing libstdc++ into a C program would run its
 * constructors inside a program that never asked for them. */
#include "demangle.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);

int demangle_in_place(char *name, size_t n)
{
	if (strncmp(name, "_Z", 2) != 0)
		return 0;
	static cxa_demangle_fn fn;
	static int looked;
	if (!looked) {
		fn = (cxa_demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
		looked = 1;
	}
	if (!fn)
		return 0;
	int status = -1;
	char *d = fn(name, NULL, NULL, &status);
	if (status != 0 || !d) {
		free(d);
		return 0;
	}
	snprintf(name, n, "%s", d);
	free(d);
	return 1;
}
