/* Groups the findings of all processes by kind and stacks (module+offset frames, so the
 * same code in forked children and in other runs of the same binary falls together, where
 * absolute addresses differ), counts instances and processes, applies the suppressions,
 * and orders the groups by severity, then by count. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

char *finding_key(const struct finding *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return NULL;
	fprintf(m, "%s", f->kind);
	for (size_t s = 0; s < f->nstacks; s++) {
		const struct stack *st = &f->stacks[s];
		fprintf(m, "\n%s:", st->name);
		for (size_t i = 0; i < st->nframes; i++) {
			const struct frame *fr = &st->frames[i];
			/* JIT'd code moves from run to run: its name is what stays. */
			if (fr->jit && fr->function)
				fprintf(m, " jit:%s", fr->function);
			else if (fr->has_offset)
				fprintf(m, " %s+0x%" PRIx64, fr->module ? fr->module : "?", fr->offset);
			else
				fprintf(m, " %s@%s", fr->module ? fr->module : "?",
					fr->pc ? fr->pc : "?");
		}
	}
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct keyed {
	struct finding *f;
	char *key;
	size_t order; /* process order, then finding order: members keep it */
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->rank == CONNLEAK_KIND_COUNT) {
		int c = strcmp(x->kind, y->kind);
		if (c)
			return c;
	}
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static void free_index(struct result *r)
{
	for (size_t i = 0; r->by_proc && i < r->set->nprocs; i++)
		free(r->by_proc[i]);
	free(r->by_proc);
	free(r->nby_proc);
	r->by_proc = NULL;
	r->nby_proc = NULL;
}

static void index_by_process(struct result *r);

void result_build(struct result *r, struct report_set *set, struct suppressions *supp)
{
	memset(r, 0, sizeof *r);
	r->set = set;
	r->supp = supp;
	size_t n = 0;
	for (size_t p = 0; p < set->nprocs; p++) {
		n += set->procs[p].nfindings;
		set->procs[p].unsuppressed = 0;
	}
	for (size_t s = 0; supp && s < supp->n; s++)
		supp->items[s].hits = supp->items[s].groups = 0;
	struct keyed *k = n ? calloc(n, sizeof *k) : NULL;
	if (n && !k)
		return;
	size_t i = 0;
	for (size_t p = 0; p < set->nprocs; p++)
		for (size_t j = 0; j < set->procs[p].nfindings; j++, i++) {
			k[i].f = &set->procs[p].findings[j];
			k[i].key = finding_key(k[i].f);
			if (!k[i].key)
				k[i].key = strdup("");
			k[i].order = i;
		}
	if (n > 1)
		qsort(k, n, sizeof *k, cmp_keyed);
	r->groups = n ? calloc(n, sizeof *r->groups) : NULL;
	for (i = 0; i < n && r->groups;) {
		size_t j = i;
		while (j < n && !strcmp(k[j].key, k[i].key) && k[j].key[0])
			j++;
		if (j == i)
			j = i + 1;
		struct group *g = &r->groups[r->ngroups++];
		g->kind = k[i].f->kind;
		g->rank = k[i].f->rank;
		g->key = k[i].key;
		g->members = calloc(j - i, sizeof *g->members);
		g->suppressed_by = -1;
		const struct process *last = NULL;
		for (size_t m = i; m < j; m++) {
			if (g->members)
				g->members[g->nmembers++] = k[m].f;
			g->count += k[m].f->count;
			if (k[m].f->proc != last)
				g->nprocs++;
			last = k[m].f->proc;
			if (m != i)
				free(k[m].key);
		}
		i = j;
	}
	free(k);
	/* Suppressions: every member shares the module+offset frames, so the example's
	 * names stand for the group. */
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		struct group *g = &r->groups[gi];
		g->suppressed_by = g->nmembers ? suppression_match(supp, g->members[0]) : -1;
		if (g->suppressed_by >= 0) {
			supp->items[g->suppressed_by].hits += g->count;
			supp->items[g->suppressed_by].groups++;
			r->suppressed += g->count;
			continue;
		}
		r->total += g->count;
		r->shown_groups++;
		r->per_rank[g->rank] += g->count;
		for (size_t m = 0; m < g->nmembers; m++)
			g->members[m]->proc->unsuppressed += g->members[m]->count;
	}
	for (size_t p = 0; p < set->nprocs; p++)
		if (set->procs[p].unsuppressed)
			r->procs_with_findings++;
	if (r->ngroups > 1)
		qsort(r->groups, r->ngroups, sizeof *r->groups, cmp_group);
	index_by_process(r);
}

static int proc_index(const struct result *r, const struct process *p, size_t *pi)
{
	if (!r->set || p < r->set->procs || p >= r->set->procs + r->set->nprocs)
		return -1;
	*pi = (size_t)(p - r->set->procs);
	return 0;
}

/* Each process's groups, in one pass over all members: a group's members from one
 * process are next to each other (they are in process order). */
static void index_by_process(struct result *r)
{
	size_t np = r->set->nprocs, *cap;
	if (!np)
		return;
	r->by_proc = calloc(np, sizeof *r->by_proc);
	r->nby_proc = calloc(np, sizeof *r->nby_proc);
	cap = calloc(np, sizeof *cap);
	if (!r->by_proc || !r->nby_proc || !cap)
		goto fail;
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		const struct group *g = &r->groups[gi];
		for (size_t m = 0; m < g->nmembers; m++) {
			const struct finding *f = g->members[m];
			size_t pi;
			if (proc_index(r, f->proc, &pi))
				continue;
			size_t n = r->nby_proc[pi];
			if (n && r->by_proc[pi][n - 1].group == g) {
				r->by_proc[pi][n - 1].count += f->count;
				continue;
			}
			if (n == cap[pi]) {
				size_t c = cap[pi] ? 2 * cap[pi] : 4;
				struct proc_group *v = realloc(r->by_proc[pi], c * sizeof *v);
				if (!v)
					goto fail;
				r->by_proc[pi] = v;
				cap[pi] = c;
			}
			r->by_proc[pi][n] = (struct proc_group){g, f->count, f};
			r->nby_proc[pi]++;
		}
	}
	free(cap);
	return;
fail:
	free(cap);
	free_index(r);
}

const struct proc_group *process_groups(const struct result *r, const struct process *p,
					size_t *n)
{
	size_t pi;
	*n = 0;
	if (!r->by_proc || proc_index(r, p, &pi))
		return NULL;
	*n = r->nby_proc[pi];
	return r->by_proc[pi];
}

uint64_t group_count_in(const struct group *g, const struct process *p)
{
	/* First member whose process is not before p. */
	size_t lo = 0, hi = g->nmembers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->members[mid]->proc < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t c = 0;
	for (size_t m = lo; m < g->nmembers && g->members[m]->proc == p; m++)
		c += g->members[m]->count;
	return c;
}

void result_free(struct result *r)
{
	if (r->set)
		free_index(r);
	for (size_t i = 0; i < r->ngroups; i++) {
		free(r->groups[i].members);
		free(r->groups[i].key);
	}
	free(r->groups);
	memset(r, 0, sizeof *r);
}
