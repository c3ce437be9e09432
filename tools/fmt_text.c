/* `connleak report --format text`: the merged report for people, like a sanitizer's: one
 * block per finding group (kind, message, counts and processes, socket, stacks as
 * "#N 0x... in func file.c:12 (module+0x...)"), the suppressions used, and a SUMMARY.
 * Everything taken from a report is written through text_escape: names come from the
 * program, and no control character in them may reach the terminal or forge a line. */
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
		fputc(' ', out);
		text_escape(out, label);
		if (c > 1)
			fprintf(out, " x%" PRIu64, c);
	}
	fputc('\n', out);
}

void text_stacks(FILE *out, const struct finding *f, const char *indent)
{
	char line[2048], title[64];
	for (size_t s = 0; s < f->nstacks; s++) {
		const struct stack *st = &f->stacks[s];
		fputs(indent, out);
		text_escape(out, stack_title(st, title, sizeof title));
		fputs(":\n", out);
		for (size_t i = 0; i < st->nframes; i++) {
			frame_line(&st->frames[i], i, line, sizeof line);
			fprintf(out, "%s  ", indent);
			text_escape(out, line);
			fputc('\n', out);
		}
	}
}

/* Processes that left no final report (a snapshot was the last word: SIGKILL, the OOM
 * killer) or whose report is incomplete: their findings above may not be all. */
static void text_incomplete(FILE *out, const struct result *r)
{
	int any = 0;
	for (size_t i = 0; i < r->set->nprocs; i++) {
		const struct process *p = &r->set->procs[i];
		json_t *snap = json_object_get(p->root, "snapshot");
		json_t *complete = json_object_get(p->root, "complete");
		if (!json_is_false(complete))
			continue;
		char label[300];
		process_label(p, label, sizeof label);
		if (!any++)
			fputs("Incomplete reports:\n", out);
		if (json_is_object(snap)) {
			json_int_t t = json_integer_value(json_object_get(snap, "t_ms"));
			const char *when = json_string_value(json_object_get(snap, "time"));
			fprintf(out,
				"  %s: ended without a final report (killed?), last snapshot taken "
				"%lld.%03lld s after start%s%s%s; its findings and open sockets are "
				"listed above\n",
				label, (long long)(t / 1000), (long long)(t % 1000), when ? " (" : "",
				when ? when : "", when ? ")" : "");
		} else if (json_is_string(json_object_get(p->root, "tracking_stopped"))) {
			fprintf(out, "  %s: tracking stopped at a seccomp sandbox\n", label);
		} else if (json_is_false(json_object_get(p->root, "model_consistent"))) {
			fprintf(out, "  %s: written while the model was being changed (a signal "
				     "interrupted it)\n", label);
		} else {
			fprintf(out, "  %s: connleak could not follow everything (out of memory or "
				     "signal events lost)\n", label);
		}
	}
	if (any)
		fputc('\n', out);
}

int fmt_text(FILE *out, const struct result *r)
{
	char line[512];
	for (size_t gi = 0; gi < r->ngroups; gi++) {
		const struct group *g = &r->groups[gi];
		if (g->suppressed_by >= 0 || !g->nmembers)
			continue;
		const struct finding *f = g->members[0];
		fputs("connleak: ", out);
		text_escape(out, g->kind);
		fputs(": ", out);
		text_escape(out, f->message ? f->message : "(no message)");
		fputc('\n', out);
		text_processes(out, g);
		finding_socket_line(f, line, sizeof line);
		if (line[0]) {
			fputs("  ", out);
			text_escape(out, line);
			fputc('\n', out);
		}
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
			fprintf(out, "  %5" PRIu64 "  %6zu  ", s->hits, s->groups);
			text_escape(out, s->kind);
			fputc(':', out);
			text_escape(out, s->pattern);
			fputc('\n', out);
		}
		if (any)
			fputc('\n', out);
	}
	text_incomplete(out, r);
	fputs("SUMMARY: connleak: ", out);
	summary_counts(out, r);
	fputc('\n', out);
	return ferror(out) ? -1 : 0;
}
