/* Turns a code address into module+offset and, from the module's symbol tables, the
 * function (see elfsym.h). No DWARF in the process: `connleak report` adds file:line
 * offline. Used only when a report with findings is written. */
#ifndef CONNLEAK_SYMBOLIZE_H
#define CONNLEAK_SYMBOLIZE_H

#include <stdint.h>

struct frame_info {
	uintptr_t pc;
	char module[512];
	uintptr_t offset;
	char function[256]; /* empty when unknown */
	uintptr_t function_offset;
	char file[256];     /* empty when unknown (never known in process) */
	int line;           /* 0 when unknown */
	int jit;            /* in no module, named from the perf map; offset is from the code's start */
	char perf_map[64];  /* the map that named it ("/tmp/perf-<pid>.map") */
};

/* symbolize=1: names from the symbol tables; else exported names (dladdr) only. */
void symbolize_begin(void);
void symbolize(uintptr_t pc, struct frame_info *fi);
/* On: dladdr names only, nothing that allocates (no demangling): for a report written in
 * a signal handler. */
void symbolize_minimal(int on);
void symbolize_end(void);

#endif
