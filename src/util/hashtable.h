/* uthash as connleak uses it: its bucket arrays come from mmap (arena_map), never from
 * malloc, since tables are updated from hooks that may run in a signal handler that
 * interrupted malloc; and running out of memory drops the one entry (counted by the
 * caller as untracked) instead of uthash's default exit(-1), which would end the host
 * program. Include this instead of <uthash.h>. */
#ifndef CONNLEAK_HASHTABLE_H
#define CONNLEAK_HASHTABLE_H

#include "arena.h"

#define uthash_malloc(sz) arena_map(sz)
#define uthash_free(ptr, sz) arena_unmap((ptr), (sz))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) arena_note_failure()
#include <uthash.h>

#endif
