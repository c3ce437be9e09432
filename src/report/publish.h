/* Publishing a report file: written to a temporary file in the same directory (created
 * 0600, O_EXCL|O_NOFOLLOW) and renamed into place, so a reader never sees a partial file
 * and a failed write leaves the previous snapshot intact. The name (<exe>.<pid>.json, or
 * <exe>.<pid>.<n>.json when an earlier image of this pid or another host's process holds
 * it) is claimed without replacing anything on the first publish; later publishes of the
 * same image (snapshots, then the final report) replace it. */
#ifndef CONNLEAK_PUBLISH_H
#define CONNLEAK_PUBLISH_H

#include <stddef.h>

#include "out.h"

/* The cached exe path and its base name, learned at start (a sandboxed process may no
 * longer read /proc/self/exe). */
void publish_init(void);
const char *publish_exe(void);

/* Forgets the claimed name (a forked child has a new pid). */
void publish_reset(void);

/* Opens a temporary file in dir; -1 with errno on failure. */
int publish_open_tmp(const char *dir, int pid, char *tmp, size_t n);

/* Picks the name for this image if none is claimed yet (no system call but lstat). */
void publish_choose(const char *dir, int pid);

/* Renames tmp into place. Returns 0, or -1 with errno (tmp is removed either way). */
int publish_commit(const char *tmp);

/* What a helper process did, told back to the parent through its exit status. */
#define PUBLISH_OK 0
#define PUBLISH_FAILED 1
#define PUBLISH_NAME_TAKEN 2
#define PUBLISH_RETRY 3
#define PUBLISH_FULL 4 /* ENOSPC, EDQUOT, EFBIG: said once */
void publish_helper_result(int code);

/* The name chosen or published ("" when none). */
const char *publish_target(void);
/* The published path ("" when none) and taking it back (a failed exec). */
const char *publish_path(void);
void publish_unlink(void);

#endif
