/* `connleak report --format junit`: JUnit XML for CI dashboards. One <testsuite> per
 * process (report file); one <testcase> per finding group the process has, failing with
 * the stacks (or <skipped> when suppressed); a process without findings has one passing
 * testcase. Test case names avoid ports and timings so they stay the same from run to run. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* "leaked-socket in leak_one_connection (leak.c:13)": the first named frame. */
static void case_name(const struct group *g, char *buf, size_t n)
{
	const struct finding *f = g->members[0];
	for (size_t s = 0; s < f->nstacks; s++)
		for (size_t i = 0; i < f->stacks[s].nframes; i++) {
			const struct frame *fr = &f->stacks[s].frames[i];
			if (!fr->function || !*fr->function)
				continue;
			if (fr->file && fr->line > 0) {
				const char *base = strrchr(fr->file, '/');
				snprintf(buf, n, "%s in %s (%s:%ld)", g->kind, fr->function,
					 base ? base + 1 : fr->file, fr->line);
			} else {
				snprintf(buf, n, "%s in %s", g->kind, fr->function);
			}
			return;
		}
	snprintf(buf, n, "%s", g->kind);
}

/* "2026-11-29T07:12:50..." (JUnit's timestamp is the first 19 characters); anything else
 * a report holds there is left out rather than written into the attribute. */
static int iso_timestamp(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	if (!t)
		return 0;
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
			return 0;
	return 1;
}

static void failure_body(FILE *out, const struct proc_group *pg)
{
	const struct group *g = pg->group;
	char *text = NULL, line[512];
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return;
	const struct finding *f = pg->example;
	fprintf(m, "%s: %s\n", g->kind, f->message ? f->message : "");
	fprintf(m, "%" PRIu64 " instance(s) in this process, %" PRIu64 " in %zu process(es)\n",
		pg->count, g->count, g->nprocs);
	finding_socket_line(f, line, sizeof line);
	if (line[0])
		fprintf(m, "%s\n", line);
	text_stacks(m, f, "");
	fclose(m);
	xml_escape(out, text); /* element content */
	free(text);
}

int fmt_junit(FILE *out, const struct result *r)
{
	size_t tests = 0, failures = 0, skipped = 0;
	const struct report_set *set = r->set;
	/* Totals first: the root element carries them. Each process's groups come from the
	 * result's index, so this stays linear in the number of reports. */
	for (size_t p = 0; p < set->nprocs; p++) {
		size_t n;
		const struct proc_group *pg = process_groups(r, &set->procs[p], &n);
		for (size_t i = 0; i < n; i++) {
			if (pg[i].group->suppressed_by >= 0)
				skipped++;
			else
				failures++;
		}
		tests += n ? n : 1;
	}
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"connleak\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
		     "skipped=\"%zu\">\n",
		tests, failures, skipped);
	char label[300], name[1024];
	for (size_t pi = 0; pi < set->nprocs; pi++) {
		const struct process *p = &set->procs[pi];
		size_t t = 0, f = 0, s = 0;
		const struct proc_group *pgs = process_groups(r, p, &t);
		for (size_t i = 0; i < t; i++) {
			if (pgs[i].group->suppressed_by >= 0)
				s++;
			else
				f++;
		}
		process_label(p, label, sizeof label);
		fprintf(out, "  <testsuite name=\"");
		xml_attr(out, label);
		fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\"",
			t ? t : 1, f, s);
		if (iso_timestamp(p->start_time))
			fprintf(out, " timestamp=\"%.19s\"", p->start_time);
		long long ms = json_int(p->root, "duration_ms", -1);
		if (ms >= 0)
			fprintf(out, " time=\"%lld.%03lld\"", ms / 1000, ms % 1000);
		fprintf(out, ">\n    <properties>\n");
		fprintf(out, "      <property name=\"pid\" value=\"%lld\"/>\n", p->pid);
		fprintf(out, "      <property name=\"ppid\" value=\"%lld\"/>\n", p->ppid);
		fprintf(out, "      <property name=\"exe\" value=\"");
		xml_attr(out, p->exe);
		fprintf(out, "\"/>\n      <property name=\"report\" value=\"");
		xml_attr(out, p->path);
		fprintf(out, "\"/>\n    </properties>\n");
		const char *classname = p->name;
		for (size_t i = 0; i < t; i++) {
			const struct group *g = pgs[i].group;
			case_name(g, name, sizeof name);
			fprintf(out, "    <testcase classname=\"connleak.");
			xml_attr(out, classname);
			fprintf(out, "\" name=\"");
			xml_attr(out, name);
			fprintf(out, "\">\n");
			if (g->suppressed_by >= 0) {
				const struct suppression *sp = &r->supp->items[g->suppressed_by];
				fprintf(out, "      <skipped message=\"suppressed by ");
				xml_attr(out, sp->kind);
				fputc(':', out);
				xml_attr(out, sp->pattern);
				fprintf(out, "\"/>\n");
			} else {
				const struct finding *ex = pgs[i].example;
				fprintf(out, "      <failure type=\"");
				xml_attr(out, g->kind);
				fprintf(out, "\" message=\"");
				xml_attr(out, ex->message ? ex->message : g->kind);
				fprintf(out, "\">");
				failure_body(out, &pgs[i]);
				fprintf(out, "</failure>\n");
			}
			fprintf(out, "    </testcase>\n");
		}
		if (!t) {
			fprintf(out, "    <testcase classname=\"connleak.");
			xml_attr(out, classname);
			fprintf(out, "\" name=\"no connection findings\"/>\n");
		}
		fprintf(out, "  </testsuite>\n");
	}
	fprintf(out, "</testsuites>\n");
	return ferror(out) ? -1 : 0;
}
