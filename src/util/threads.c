/* The one flag of threads.h that is ours to set (process.c's clone hook). */
#include "threads.h"

int threads_cloned;
