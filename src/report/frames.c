/* Walks an interned stack and symbolizes each frame. */
#include "frames.h"

void frames_each(stack_id id, void (*fn)(int, const struct frame_info *, void *), void *ctx)
{
	const uintptr_t *pcs;
	int n = stacks_get(id, &pcs);
	for (int i = 0; i < n; i++) {
		struct frame_info fi;
		symbolize(pcs[i], &fi);
		fn(i, &fi, ctx);
	}
}
