/* Symbolized frames of an interned stack, shared by the writers. */
#ifndef CONNLEAK_FRAMES_H
#define CONNLEAK_FRAMES_H

#include "../track/stacks.h"
#include "../util/symbolize.h"

/* Calls fn for each frame of `id`, symbolized. */
void frames_each(stack_id id, void (*fn)(int index, const struct frame_info *fi, void *ctx),
		 void *ctx);

#endif
