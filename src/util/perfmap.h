/* Names of JIT'd code from the process's perf map (/tmp/perf-<pid>.map), for frames that
 * fall in no module. Loaded only while a report with findings is written. */
#ifndef CONNLEAK_PERFMAP_H
#define CONNLEAK_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

/* Reads the map of process `pid` (the process the report is for: a helper writing it has
 * another pid) if there is one, bounded, without malloc; harmless when there is none. */
void perfmap_begin(int pid);
/* 1 and the name of the code containing the call before return address `pc` (and where
 * that code starts), 0 when the map does not cover it. */
int perfmap_lookup(uintptr_t pc, char *name, size_t n, uintptr_t *start);
/* 1 and the file of the executable mapping holding return address `pc` (and where that
 * mapping starts) when it is a file mapped outside the dynamic loader (.NET ReadyToRun
 * code in .dll files), else 0. */
int perfmap_mapping(uintptr_t pc, char *path, size_t n, uintptr_t *start);
/* "/tmp/perf-<pid>.map" when a map was read, else NULL. */
const char *perfmap_path(void);
void perfmap_end(void);

#endif
