/* `connleak report --format json`: the merged result as one JSON object (built and written
 * with jansson): summary, finding groups with their processes and symbolized stacks, the
 * suppressions used, and per process its stats, endpoints, timeline and growth. The layout is
 * documented in docs/report-command.md ("merged report", schema 1). */
#include <string.h>

#include "report.h"

#define MERGED_SCHEMA 1

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *frame_json(const struct frame *f)
{
	json_t *o = json_object();
	char off[32];
	json_object_set_new(o, "pc", str_or_null(f->pc));
	json_object_set_new(o, "module", str_or_null(f->module));
	if (f->has_offset) {
		snprintf(off, sizeof off, "0x%llx", (unsigned long long)f->offset);
		json_object_set_new(o, "offset", json_string(off));
	} else {
		json_object_set_new(o, "offset", json_null());
	}
	json_object_set_new(o, "function", str_or_null(f->function));
	json_object_set_new(o, "file", str_or_null(f->file));
	json_object_set_new(o, "line", f->line > 0 ? json_integer(f->line) : json_null());
	if (f->has_fn_offset) {
		snprintf(off, sizeof off, "0x%llx", (unsigned long long)f->fn_offset);
		json_object_set_new(o, "function_offset", json_string(off));
	}
	if (f->jit) {
		json_object_set_new(o, "jit", json_true());
		json_object_set_new(o, "perf_map", str_or_null(f->perf_map));
	}
	return o;
}

static json_t *stack_json(const struct stack *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->nframes; i++)
		json_array_append_new(a, frame_json(&s->frames[i]));
	return a;
}

static json_t *group_json(const struct group *g, const struct result *r)
{
	const struct finding *f = g->members[0];
	json_t *o = json_is_object(f->obj) ? json_deep_copy(f->obj) : json_object();
	json_object_set_new(o, "kind", json_string(g->kind));
	json_object_set_new(o, "count", json_integer((json_int_t)g->count));
	json_t *stacks = json_object(), *groups = json_array();
	for (size_t s = 0; s < f->nstacks; s++) {
		if (!strcmp(f->stacks[s].name, "group")) {
			json_t *go = json_object();
			json_object_set_new(go, "count", json_integer(f->stacks[s].group_count));
			json_object_set_new(go, "stack", stack_json(&f->stacks[s]));
			json_array_append_new(groups, go);
		} else {
			json_object_set_new(stacks, f->stacks[s].name, stack_json(&f->stacks[s]));
		}
	}
	json_object_set_new(o, "stacks", stacks);
	if (json_array_size(groups))
		json_object_set_new(o, "groups", groups);
	else
		json_decref(groups);
	json_t *procs = json_array();
	const struct process *last = NULL;
	for (size_t m = 0; m < g->nmembers; m++) {
		const struct process *p = g->members[m]->proc;
		if (p == last)
			continue;
		last = p;
		json_t *po = json_object();
		json_object_set_new(po, "pid", json_integer(p->pid));
		json_object_set_new(po, "exe", json_string(p->exe));
		json_object_set_new(po, "report", json_string(p->path));
		json_object_set_new(po, "count", json_integer((json_int_t)group_count_in(g, p)));
		json_array_append_new(procs, po);
	}
	json_object_set_new(o, "processes", procs);
	if (g->suppressed_by >= 0) {
		const struct suppression *s = &r->supp->items[g->suppressed_by];
		char buf[1024];
		snprintf(buf, sizeof buf, "%s:%s", s->kind, s->pattern);
		json_object_set_new(o, "suppressed_by", json_string(buf));
	}
	return o;
}

static json_t *copy_or(json_t *v, json_t *dflt)
{
	if (v) {
		json_decref(dflt);
		return json_deep_copy(v);
	}
	return dflt;
}

static json_t *process_json(const struct process *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer(p->pid));
	json_object_set_new(o, "ppid", json_integer(p->ppid));
	json_object_set_new(o, "exe", json_string(p->exe));
	json_object_set_new(o, "report", json_string(p->path));
	json_object_set_new(o, "start_time", str_or_null(p->start_time));
	json_object_set_new(o, "end", copy_or(json_object_get(p->root, "end"), json_null()));
	/* Schema 2: how it ended, and whether this is all of it (a snapshot left by a killed
	 * process is not). A schema 1 report had no such field: null. */
	json_object_set_new(o, "ended", copy_or(json_object_get(p->root, "ended"), json_null()));
	json_object_set_new(o, "complete",
			    copy_or(json_object_get(p->root, "complete"), json_null()));
	json_object_set_new(o, "snapshot",
			    copy_or(json_object_get(p->root, "snapshot"), json_null()));
	json_object_set_new(o, "duration_ms",
			    copy_or(json_object_get(p->root, "duration_ms"), json_null()));
	json_object_set_new(o, "findings", json_integer((json_int_t)p->unsuppressed));
	json_object_set_new(o, "findings_suppressed",
			    json_integer((json_int_t)(p->total - p->unsuppressed)));
	json_object_set_new(o, "stats", copy_or(json_object_get(p->root, "stats"), json_object()));
	json_object_set_new(o, "endpoints",
			    copy_or(json_object_get(p->root, "endpoints"), json_array()));
	json_object_set_new(o, "timeline",
			    copy_or(json_object_get(p->root, "timeline"), json_array()));
	json_object_set_new(o, "growth",
			    copy_or(json_object_get(p->root, "growth"), json_array()));
	return o;
}

json_t *result_json(const struct result *r)
{
	json_t *root = json_object();
	json_object_set_new(root, "tool", json_string("connleak"));
	json_object_set_new(root, "version", json_string(CONNLEAK_VERSION));
	json_object_set_new(root, "merged_schema", json_integer(MERGED_SCHEMA));
	json_t *sum = json_object(), *by_kind = json_object();
	json_object_set_new(sum, "findings", json_integer((json_int_t)r->total));
	json_object_set_new(sum, "groups", json_integer((json_int_t)r->shown_groups));
	json_object_set_new(sum, "suppressed", json_integer((json_int_t)r->suppressed));
	json_object_set_new(sum, "processes", json_integer((json_int_t)r->set->nprocs));
	json_object_set_new(sum, "processes_with_findings",
			    json_integer((json_int_t)r->procs_with_findings));
	json_object_set_new(sum, "unreadable_reports", json_integer((json_int_t)r->set->nerrors));
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		const struct group *g = &r->groups[gi];
		if (g->suppressed_by >= 0)
			continue;
		json_t *cur = json_object_get(by_kind, g->kind);
		json_object_set_new(by_kind, g->kind,
				    json_integer(json_integer_value(cur) + (json_int_t)g->count));
	}
	json_object_set_new(sum, "by_kind", by_kind);
	json_object_set_new(root, "summary", sum);

	json_t *findings = json_array(), *suppressed = json_array();
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		const struct group *g = &r->groups[gi];
		if (g->nmembers)
			json_array_append_new(g->suppressed_by >= 0 ? suppressed : findings,
					      group_json(g, r));
	}
	json_object_set_new(root, "findings", findings);
	json_object_set_new(root, "suppressed_findings", suppressed);

	json_t *used = json_array();
	for (size_t i = 0; r->supp && i < r->supp->n; i++) {
		const struct suppression *s = &r->supp->items[i];
		if (!s->hits)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "kind", json_string(s->kind));
		json_object_set_new(o, "pattern", json_string(s->pattern));
		json_object_set_new(o, "line", json_integer(s->line));
		json_object_set_new(o, "count", json_integer((json_int_t)s->hits));
		json_object_set_new(o, "groups", json_integer((json_int_t)s->groups));
		json_array_append_new(used, o);
	}
	json_object_set_new(root, "suppressions_used", used);

	json_t *procs = json_array();
	for (size_t p = 0; p < r->set->nprocs; p++)
		json_array_append_new(procs, process_json(&r->set->procs[p]));
	json_object_set_new(root, "processes", procs);
	return root;
}

int fmt_json(FILE *out, const struct result *r)
{
	json_t *root = result_json(r);
	int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	fputc('\n', out);
	return rc || ferror(out) ? -1 : 0;
}
