/* `connleak report --format text`: the merged report for people, like a sanitizer's: one
 * block per finding group (kind, message, counts and processes, socket, stacks as
 * "#N 0x... in func file.c:12 (module+0x...)"), the suppressions used, and a SUMMARY. */
#include <inttypes.h>
#include <string.h>

#include "report.h"

#define MAX_LISTED 8

static void text_processes(FILE *out, const struct group *g)
{
	fprintf(out, "  %" PRIu64 " instance(s) in %zu process(es):", g->count, g->nprocs);
	const struct process *last = NULL;
	size_t listed = 0;
	for (size_t m = 0; m < g->nmembers; m++) {
		const struct process *p = g->members[m]->proc;
		if (p == last)
			continue;
		last = p;
		if (listed++ == MAX_LISTED) {
			fprintf(out, " and %zu more", g->nprocs - MAX_LISTED);
			break;
		}
		char label[300];
		process_label(p, label, sizeof label);
		uint64_t c = group_count_in(g, p);
		if (c > 1)
			fprintf(out, " %s x%" PRIu64, label, c);
		else
			fprintf(out, " %s", label);
	}
	fputc('\n', out);
}

void text_stacks(FILE *out, const struct finding *f, const char *indent)
{
	char line[2048], title[64];
	for (size_t s = 0; s < f->nstacks; s++) {
		const struct stack *st = &f->stacks[s];
		fprintf(out, "%s%s:\n", indent, stack_title(st, title, sizeof title));
		for (size_t i = 0; i < st->nframes; i++) {
			frame_line(&st->frames[i], i, line, sizeof line);
			fprintf(out, "%s  %s\n", indent, line);
		}
	}
}

int fmt_text(FILE *out, const struct result *r)
{
	char line[512];
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		const struct group *g = &r->groups[gi];
		if (g->suppressed_by >= 0 || !g->nmembers)
			continue;
		const struct finding *f = g->members[0];
		fprintf(out, "connleak: %s: %s\n", g->kind, f->message ? f->message : "(no message)");
		text_processes(out, g);
		finding_socket_line(f, line, sizeof line);
		if (line[0])
			fprintf(out, "  %s\n", line);
		text_stacks(out, f, "  ");
		fputc('\n', out);
	}
	if (r->supp && r->supp->n) {
		int any = 0;
		for (size_t i = 0; i < r->supp->n; i++) {
			const struct suppression *s = &r->supp->items[i];
			if (!s->hits)
				continue;
			if (!any++)
				fprintf(out, "Suppressions used:\n  count  groups  suppression\n");
			fprintf(out, "  %5" PRIu64 "  %6zu  %s:%s\n", s->hits, s->groups, s->kind,
				s->pattern);
		}
		if (any)
			fputc('\n', out);
	}
	fputs("SUMMARY: connleak: ", out);
	summary_counts(out, r);
	fputc('\n', out);
	return ferror(out) ? -1 : 0;
}
