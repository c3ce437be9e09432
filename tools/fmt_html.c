/* `connleak report --format html`: the page an engineer opens after a load test. One
 * self-contained file (inline CSS and SVG, no script, nothing loaded from anywhere):
 * a summary at the top (findings by kind, processes, the worst growth by call site), the
 * finding groups with their stacks folded in <details>, the suppressions used, then the
 * processes in order of what matters (findings, growth, peak sockets), each with a chart
 * of its sockets over time (fmt_html_chart.c), a chart per growing call site, its findings,
 * stats and endpoint table (peak concurrency, handshakes per connection, lifetimes).
 * Processes that never touched a socket (the env, shell and launcher processes of an exec
 * chain) fold into one line. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define esc xml_escape
#define WORST_GROWTH 5

static const char *const css =
	"body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
	"h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}"
	"th{background:#f3f3f3}td.n{text-align:right}"
	"pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}"
	".kind{font-weight:bold;color:#a00}.sup{color:#777}.grow{color:#a00;font-weight:bold}"
	"details{margin:.4em 0}summary{cursor:pointer}"
	"div.group{border-left:3px solid #a00;padding-left:.8em;margin:1em 0}"
	"section.proc{border:1px solid #ddd;border-radius:6px;padding:0 1em 1em;margin:1em 0}"
	"p.quiet{color:#555}code{font-size:.9em}table.endpoints td,table.endpoints th{"
	"font-size:.8em}"
	"svg text{font-size:11px;font-family:sans-serif}";

static void cell(FILE *out, json_t *v)
{
	if (json_is_string(v)) {
		fputs("<td>", out);
		esc(out, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(out, "<td class=\"n\">%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		fprintf(out, "<td class=\"n\">%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		fprintf(out, "<td>%s", json_is_true(v) ? "true" : "false");
	} else if (json_is_object(v)) {
		fputs("<td>", out);
		const char *k;
		json_t *x;
		const char *sep = "";
		json_object_foreach(v, k, x)
		{
			fputs(sep, out);
			esc(out, k);
			if (json_is_integer(x))
				fprintf(out, " %lld", (long long)json_integer_value(x));
			else if (json_is_string(x)) {
				fputc(' ', out);
				esc(out, json_string_value(x));
			}
			sep = ", ";
		}
	} else {
		fputs("<td>&ndash;", out);
	}
	fputs("</td>", out);
}

static void stats_table(FILE *out, json_t *stats)
{
	if (!json_is_object(stats) || !json_object_size(stats))
		return;
	fputs("<table class=\"stats\"><tr>", out);
	const char *k;
	json_t *v;
	json_object_foreach(stats, k, v)
	{
		fputs("<th>", out);
		esc(out, k);
		fputs("</th>", out);
	}
	fputs("</tr><tr>", out);
	json_object_foreach(stats, k, v) cell(out, v);
	fputs("</tr></table>\n", out);
}

static const char *const ep_cols[] = {"role",	   "peer",	"hostname",	  "connections",
				      "open",	   "peak_concurrent", "requests", "bytes_in",
				      "bytes_out", "tls_handshakes"};
static const char *const ep_heads[] = {"role", "peer", "hostname", "connections", "open at end",
				       "peak concurrent", "requests", "bytes in", "bytes out",
				       "TLS handshakes"};
#define NEP (sizeof ep_cols / sizeof ep_cols[0])

static void endpoint_table(FILE *out, json_t *eps)
{
	if (!json_array_size(eps)) {
		fputs("<p>No endpoints.</p>\n", out);
		return;
	}
	fputs("<table class=\"endpoints\"><tr>", out);
	for (size_t c = 0; c < NEP; c++)
		fprintf(out, "<th>%s</th>", ep_heads[c]);
	fputs("<th>handshakes per connection</th><th>lifetime ms</th></tr>\n", out);
	for (size_t i = 0; i < json_array_size(eps); i++) {
		json_t *e = json_array_get(eps, i);
		fputs("<tr>", out);
		for (size_t c = 0; c < NEP; c++)
			cell(out, json_object_get(e, ep_cols[c]));
		long long conns = json_int(e, "connections", 0), hs = json_int(e, "tls_handshakes", 0);
		if (conns > 0)
			fprintf(out, "<td class=\"n\">%.2f</td>", (double)hs / (double)conns);
		else
			fputs("<td>&ndash;</td>", out);
		cell(out, json_object_get(e, "lifetime_ms"));
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* ---- growth by call site ---- */

/* The first frames of a growth series' stack (symbolize_set named them offline):
 * "f (file.c:12) < g < h". */
static void growth_frames(FILE *out, json_t *stack, size_t max)
{
	size_t n = json_array_size(stack);
	if (!n) {
		fputs("(no stack)", out);
		return;
	}
	for (size_t i = 0; i < n && i < max; i++) {
		struct frame f;
		report_read_frame(json_array_get(stack, i), &f);
		if (i)
			fputs(" &lt; ", out);
		fputs("<code>", out);
		if (f.function && *f.function) {
			esc(out, f.function);
			if (f.file && *f.file && f.line > 0) {
				const char *b = strrchr(f.file, '/');
				fprintf(out, " (");
				esc(out, b ? b + 1 : f.file);
				fprintf(out, ":%ld)", f.line);
			}
		} else if (f.module) {
			const char *b = strrchr(f.module, '/');
			esc(out, b ? b + 1 : f.module);
			fprintf(out, "+0x%" PRIx64, f.offset);
		} else {
			esc(out, f.pc ? f.pc : "?");
		}
		fputs("</code>", out);
	}
}

static double num_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* How much a series matters: growing first, then its rate, then its count. */
static double growth_weight(json_t *g)
{
	return (json_is_true(json_object_get(g, "growing")) ? 1e12 : 0) +
	       num_of(g, "rate_per_min") * 1e3 + num_of(g, "count");
}

/* The fastest growth of a process (0 without a growth array). */
static double process_growth(const struct process *p)
{
	json_t *gs = json_object_get(p->root, "growth");
	double best = 0;
	for (size_t i = 0; i < json_array_size(gs); i++) {
		double w = growth_weight(json_array_get(gs, i));
		if (w > best)
			best = w;
	}
	return best;
}

static void growth_row(FILE *out, const struct result *r, const struct process *p, json_t *g)
{
	char label[300], d[32];
	fputs("<tr>", out);
	if (r) {
		process_label(p, label, sizeof label);
		fprintf(out, "<td><a href=\"#p%zu\">", (size_t)(p - r->set->procs) + 1);
		esc(out, label);
		fputs("</a></td>", out);
	}
	const char *what = json_str(g, "what");
	fputs("<td>", out);
	esc(out, what && !strcmp(what, "tls_sessions") ? "orphaned TLS sessions" : "open sockets");
	fprintf(out, "</td><td class=\"n\">%.0f</td><td class=\"n\">%.0f</td>",
		num_of(g, "count"), num_of(g, "close_wait"));
	double rate = num_of(g, "rate_per_min");
	fprintf(out, "<td class=\"n%s\">%+.1f</td>", json_is_true(json_object_get(g, "growing")) ?
		" grow" : "", rate);
	json_t *samples = json_object_get(g, "samples");
	json_t *first = json_array_get(samples, 0);
	json_t *last = json_array_get(samples, json_array_size(samples) - 1);
	double span = json_is_number(json_array_get(last, 0)) && json_is_number(json_array_get(first, 0))
			      ? json_number_value(json_array_get(last, 0)) -
					json_number_value(json_array_get(first, 0))
			      : 0;
	format_duration(span, d, sizeof d);
	fprintf(out, "<td>%s%s</td><td>", json_is_true(json_object_get(g, "growing")) ?
		"<span class=\"grow\">socket-growth</span> " : "", d);
	growth_frames(out, json_object_get(g, "stack"), 3);
	fputs("</td></tr>\n", out);
}

static void growth_head(FILE *out, int with_process)
{
	fprintf(out, "<table class=\"growth\"><tr>%s<th>what</th><th>now</th><th>of them "
		     "close-wait</th><th>per minute (recent)</th><th>over</th><th>call site (first frames)"
		     "</th></tr>\n",
		with_process ? "<th>process</th>" : "");
}

struct ranked {
	const struct process *p;
	json_t *g;
	double w;
};

static int by_weight(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	return x->w < y->w ? 1 : x->w > y->w ? -1 : 0;
}

static void worst_growth(FILE *out, const struct result *r)
{
	size_t n = 0, cap = 0;
	struct ranked *all = NULL;
	for (size_t pi = 0; pi < r->set->nprocs; pi++) {
		const struct process *p = &r->set->procs[pi];
		json_t *gs = json_object_get(p->root, "growth");
		for (size_t i = 0; i < json_array_size(gs); i++) {
			json_t *g = json_array_get(gs, i);
			if (num_of(g, "count") <= 0 && num_of(g, "rate_per_min") <= 0)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct ranked *x = realloc(all, cap * sizeof *all);
				if (!x)
					break;
				all = x;
			}
			all[n++] = (struct ranked){p, g, growth_weight(g)};
		}
	}
	fputs("<h3>Worst growth by call site</h3>\n", out);
	if (!n) {
		fputs("<p class=\"quiet\">No call site holds sockets or orphaned sessions at the "
		      "end of any report.</p>\n", out);
		free(all);
		return;
	}
	qsort(all, n, sizeof *all, by_weight);
	growth_head(out, 1);
	for (size_t i = 0; i < n && i < WORST_GROWTH; i++)
		growth_row(out, r, all[i].p, all[i].g);
	fputs("</table>\n", out);
	free(all);
}

/* ---- findings ---- */

static void group_block(FILE *out, const struct result *r, size_t gi)
{
	const struct group *g = &r->groups[gi];
	const struct finding *f = g->members[0];
	char line[512];
	fprintf(out, "<div class=\"group\" id=\"g%zu\"><p><span class=\"kind\">", gi + 1);
	esc(out, g->kind);
	fputs("</span>: ", out);
	esc(out, f->message ? f->message : "");
	fprintf(out, " &mdash; %" PRIu64 " instance(s) in %zu process(es):", g->count, g->nprocs);
	const struct process *last = NULL;
	for (size_t m = 0; m < g->nmembers; m++) {
		const struct process *p = g->members[m]->proc;
		if (p == last)
			continue;
		last = p;
		char label[300];
		process_label(p, label, sizeof label);
		fprintf(out, " <a href=\"#p%zu\">", (size_t)(p - r->set->procs) + 1);
		esc(out, label);
		fprintf(out, "</a> (%" PRIu64 ")", group_count_in(g, p));
	}
	fputs("</p>\n", out);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (m) {
		finding_socket_line(f, line, sizeof line);
		if (line[0])
			fprintf(m, "%s\n", line);
		text_stacks(m, f, "");
		fclose(m);
		fprintf(out, "<details><summary>stacks (%zu)</summary><pre>", f->nstacks);
		esc(out, text);
		fputs("</pre></details>\n", out);
		free(text);
	}
	fputs("</div>\n", out);
}

/* ---- processes ---- */

static long long stat_of(const struct process *p, const char *key)
{
	return json_int(json_object_get(p->root, "stats"), key, 0);
}

/* No socket created, accepted, received or inherited, no TLS session, no finding. */
static int never_touched_a_socket(const struct process *p)
{
	json_t *stats = json_object_get(p->root, "stats");
	if (!json_is_object(stats) || p->total)
		return 0;
	return !stat_of(p, "peak_open") && !stat_of(p, "sockets_created") &&
	       !stat_of(p, "sockets_accepted") &&
	       !stat_of(p, "sockets_received") && !stat_of(p, "sockets_inherited") &&
	       !stat_of(p, "tls_sessions");
}

static void process_growth_section(FILE *out, const struct process *p)
{
	json_t *gs = json_object_get(p->root, "growth");
	size_t shown = 0;
	for (size_t i = 0; i < json_array_size(gs); i++) {
		json_t *g = json_array_get(gs, i);
		if (!json_is_true(json_object_get(g, "growing")))
			continue;
		if (!shown++)
			fputs("<h4>Growing call sites</h4>\n", out);
		fputs("<p>", out);
		growth_frames(out, json_object_get(g, "stack"), 4);
		fputs("</p>\n", out);
		html_growth_chart(out, g);
	}
	size_t n = json_array_size(gs);
	if (!n)
		return;
	fputs("<details><summary>Call sites holding the most</summary>\n", out);
	growth_head(out, 0);
	for (size_t i = 0; i < n && i < 8; i++)
		growth_row(out, NULL, p, json_array_get(gs, i));
	fputs("</table></details>\n", out);
}

static void process_section(FILE *out, const struct result *r, size_t pi)
{
	const struct process *p = &r->set->procs[pi];
	char label[300];
	process_label(p, label, sizeof label);
	fprintf(out, "<section class=\"proc\" id=\"p%zu\"><h3>", pi + 1);
	esc(out, label);
	fprintf(out, "</h3>\n<p>%" PRIu64 " finding(s), peak %lld open socket(s), %lld TLS "
		     "session(s), %lld orphaned at the end</p>\n",
		p->unsuppressed, stat_of(p, "peak_open"), stat_of(p, "tls_sessions"),
		stat_of(p, "orphaned_sessions"));
	fputs("<h4>Sockets over time</h4>\n", out);
	html_chart(out, p);
	process_growth_section(out, p);
	fputs("<h4>Findings</h4>\n", out);
	int any = 0;
	size_t npg;
	const struct proc_group *pg = process_groups(r, p, &npg);
	for (size_t k = 0; k < npg; k++) {
		const struct group *g = pg[k].group;
		size_t gi = (size_t)(g - r->groups);
		uint64_t c = pg[k].count;
		if (!any++)
			fputs("<ul>\n", out);
		fprintf(out, "<li%s><a href=\"#g%zu\">", g->suppressed_by >= 0 ? " class=\"sup\"" : "",
			gi + 1);
		esc(out, g->kind);
		fprintf(out, "</a> &times;%" PRIu64 ": ", c);
		esc(out, g->members[0]->message ? g->members[0]->message : "");
		if (g->suppressed_by >= 0)
			fputs(" (suppressed)", out);
		fputs("</li>\n", out);
	}
	fputs(any ? "</ul>\n" : "<p>No findings.</p>\n", out);
	fputs("<h4>Endpoints</h4>\n", out);
	endpoint_table(out, json_object_get(p->root, "endpoints"));
	fputs("<details><summary>Process details and stats</summary>\n<table>", out);
	fputs("<tr><th>exe</th>", out);
	cell(out, json_object_get(p->root, "exe"));
	fputs("</tr><tr><th>command line</th><td>", out);
	json_t *argv = json_object_get(p->root, "cmdline");
	for (size_t i = 0; i < json_array_size(argv); i++) {
		if (i)
			fputc(' ', out);
		esc(out, json_string_value(json_array_get(argv, i)));
	}
	fprintf(out, "</td></tr><tr><th>pid / ppid</th><td>%lld / %lld</td></tr>", p->pid, p->ppid);
	fputs("<tr><th>started</th>", out);
	cell(out, json_object_get(p->root, "start_time"));
	fputs("</tr><tr><th>duration ms</th>", out);
	cell(out, json_object_get(p->root, "duration_ms"));
	fputs("</tr><tr><th>ended</th>", out);
	cell(out, json_object_get(p->root, "end"));
	fputs("</tr><tr><th>report</th><td>", out);
	esc(out, p->path);
	fputs("</td></tr></table>\n", out);
	stats_table(out, json_object_get(p->root, "stats"));
	fputs("</details>\n</section>\n", out);
}

static const struct result *sort_r;

/* Findings first, then growth, then peak sockets; then the reading order. */
static int by_importance(const void *a, const void *b)
{
	const struct process *x = &sort_r->set->procs[*(const size_t *)a];
	const struct process *y = &sort_r->set->procs[*(const size_t *)b];
	if (x->unsuppressed != y->unsuppressed)
		return x->unsuppressed < y->unsuppressed ? 1 : -1;
	double gx = process_growth(x), gy = process_growth(y);
	if (gx != gy)
		return gx < gy ? 1 : -1;
	long long px = stat_of(x, "peak_open"), py = stat_of(y, "peak_open");
	if (px != py)
		return px < py ? 1 : -1;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	return ia < ib ? -1 : ia > ib;
}

static void summary_section(FILE *out, const struct result *r, size_t quiet)
{
	fputs("<h2>Summary</h2>\n", out);
	if (r->shown_groups) {
		fputs("<table class=\"kinds\"><tr><th>kind</th><th>instances</th><th>groups</th>"
		      "</tr>\n", out);
		for (int k = 0; k <= CONNLEAK_KIND_COUNT; k++) {
			if (!r->per_rank[k])
				continue;
			size_t groups = 0;
			const char *name = NULL;
			for (size_t gi = 0; gi < r->ngroups; gi++)
				if (r->groups[gi].rank == k && r->groups[gi].suppressed_by < 0 &&
				    r->groups[gi].nmembers) {
					groups++;
					name = r->groups[gi].kind;
				}
			fputs("<tr><td class=\"kind\">", out);
			esc(out, k < CONNLEAK_KIND_COUNT ? severity_order[k] : name ? name : "other");
			fprintf(out, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%zu</td></tr>\n",
				r->per_rank[k], groups);
		}
		fputs("</table>\n", out);
	} else {
		fputs("<p>No findings.</p>\n", out);
	}
	size_t with_findings = 0;
	long long peak = 0;
	for (size_t pi = 0; pi < r->set->nprocs; pi++) {
		const struct process *p = &r->set->procs[pi];
		with_findings += p->unsuppressed > 0;
		if (stat_of(p, "peak_open") > peak)
			peak = stat_of(p, "peak_open");
	}
	fprintf(out, "<p>%zu process(es): %zu with findings, %zu that used sockets, %zu that never "
		     "touched a socket. Highest peak: %lld open socket(s) in one process.</p>\n",
		r->set->nprocs, with_findings, r->set->nprocs - quiet, quiet, peak);
	worst_growth(out, r);
}

int fmt_html(FILE *out, const struct result *r)
{
	size_t np = r->set->nprocs, quiet = 0;
	size_t *order = calloc(np ? np : 1, sizeof *order);
	if (!order)
		return -1;
	for (size_t i = 0; i < np; i++) {
		order[i] = i;
		quiet += never_touched_a_socket(&r->set->procs[i]);
	}
	sort_r = r;
	qsort(order, np, sizeof *order, by_importance);

	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		     "<title>connleak report</title>\n<style>%s</style></head><body>\n",
		css);
	fputs("<h1>connleak report</h1>\n<p>", out);
	summary_counts(out, r);
	fputs(".</p>\n", out);
	summary_section(out, r, quiet);
	fputs("<h2>Findings</h2>\n", out);
	if (!r->shown_groups)
		fputs("<p>No findings.</p>\n", out);
	for (size_t gi = 0; gi < r->ngroups; gi++)
		if (r->groups[gi].suppressed_by < 0 && r->groups[gi].nmembers)
			group_block(out, r, gi);
	if (r->suppressed) {
		fputs("<h2>Suppressed</h2>\n<table><tr><th>count</th><th>groups</th>"
		      "<th>suppression</th></tr>\n",
		      out);
		for (size_t i = 0; i < r->supp->n; i++) {
			const struct suppression *s = &r->supp->items[i];
			if (!s->hits)
				continue;
			fprintf(out, "<tr><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%zu</td><td>",
				s->hits, s->groups);
			esc(out, s->kind);
			fputc(':', out);
			esc(out, s->pattern);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
		for (size_t gi = 0; gi < r->ngroups; gi++)
			if (r->groups[gi].suppressed_by >= 0 && r->groups[gi].nmembers)
				group_block(out, r, gi);
	}
	fputs("<h2>Processes</h2>\n", out);
	for (size_t i = 0; i < np; i++)
		if (!never_touched_a_socket(&r->set->procs[order[i]]))
			process_section(out, r, order[i]);
	if (quiet) {
		size_t shown = 0;
		fprintf(out, "<p class=\"quiet\" id=\"quiet\">%zu process(es) never touched a socket:",
			quiet);
		for (size_t i = 0; i < np; i++) {
			const struct process *p = &r->set->procs[order[i]];
			if (!never_touched_a_socket(p))
				continue;
			if (shown++ == 40) {
				fputs(" &hellip;", out);
				break;
			}
			char label[300];
			process_label(p, label, sizeof label);
			fputc(' ', out);
			esc(out, label);
		}
		fputs("</p>\n", out);
	}
	fputs("</body></html>\n", out);
	free(order);
	return ferror(out) ? -1 : 0;
}
