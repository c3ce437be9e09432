/* Turns a code address into module+offset and, where the module has symbols and DWARF,
 * function and file:line. Used only when a report with findings is written. */
#ifndef CONNLEAK_SYMBOLIZE_H
#define CONNLEAK_SYMBOLIZE_H

#include <stdint.h>

struct frame_info {
	uintptr_t pc;
	char module[512];
	uintptr_t offset;
	char function[256]; /* empty when unknown */
	char file[256];     /* empty when unknown */
	int line;           /* 0 when unknown */
	int jit;            /* in no module, named from the perf map; offset is from the code's start */
	char perf_map[64];  /* the map that named it ("/tmp/perf-<pid>.map") */
};

/* Loads elfutils' libdw on first use (dlopen: never linked into the program). */
void symbolize_begin(void);
void symbolize(uintptr_t pc, struct frame_info *fi);
void symbolize_end(void);

#endif
