/* Grouped findings store (uthash keyed by kind and stacks). Callers hold the model lock. */
#include "findings.h"

#include "../util/arena.h"
#include <string.h>

#include "../util/clock.h"
#include "model.h"

static struct finding *groups;
/* Groups a forked child cleared, for reuse: arena memory is never returned. */
static struct finding *spare;
static uint64_t next_seq, total, per_kind[CONNLEAK_KIND_COUNT];

void findings_add(const struct finding *f)
{
	struct finding *g;
	total++;
	if (f->key.kind >= 0 && f->key.kind < CONNLEAK_KIND_COUNT)
		per_kind[f->key.kind]++;
	HASH_FIND(hh, groups, &f->key, sizeof f->key, g);
	if (g) {
		g->count++;
		return;
	}
	if (spare) {
		g = spare;
		spare = spare->hh.next;
	} else if (!(g = arena_alloc(sizeof *g))) {
		return;
	}
	*g = *f;
	memset(&g->hh, 0, sizeof g->hh);
	g->count = 1;
	g->seq = next_seq++;
	g->t_ms = clock_coarse_ms() - model_state.start_mono_ms;
	HASH_ADD(hh, groups, key, sizeof g->key, g);
}

struct finding *findings_find(const struct finding_key *k)
{
	struct finding *g;
	HASH_FIND(hh, groups, k, sizeof *k, g);
	return g;
}

uint64_t findings_total(void)
{
	return total;
}

uint64_t findings_of_kind(int kind)
{
	return (kind >= 0 && kind < CONNLEAK_KIND_COUNT) ? per_kind[kind] : 0;
}

/* uthash keeps insertion order in its app-order list, which is first occurrence. */
void findings_each(void (*fn)(const struct finding *f, void *ctx), void *ctx)
{
	for (struct finding *g = groups; g; g = g->hh.next)
		fn(g, ctx);
}

void findings_clear(void)
{
	struct finding *g, *tmp;
	HASH_ITER(hh, groups, g, tmp) {
		HASH_DEL(groups, g);
		g->hh.next = spare;
		spare = g;
	}
	total = 0;
	memset(per_kind, 0, sizeof per_kind);
}
