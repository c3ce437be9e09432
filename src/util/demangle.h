/* C++ names demangled as the sanitizers print them, without linking libstdc++. */
#ifndef CONNLEAK_DEMANGLE_H
#define CONNLEAK_DEMANGLE_H

#include <stddef.h>

/* Rewrites `name` (a buffer of `n` bytes) in place when it is a mangled C++ name and the
 * process already has libstdc++'s __cxa_demangle loaded (a C++ program, node, the .NET
 * runtime): a C program never gets libstdc++ pulled in, and its mangled names are left for
 * `connleak report`, which demangles them offline. Returns 1 when rewritten. */
int demangle_in_place(char *name, size_t n);

#endif
