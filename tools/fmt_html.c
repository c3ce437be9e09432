/* `connleak report --format html`: one self-contained page (inline CSS and SVG, nothing
 * loaded from anywhere): the summary, the finding groups with their stacks, the
 * suppressions used, and per process a chart of open sockets, close-wait sockets and
 * orphaned sessions over time (from the report's timeline; without samples the chart says
 * so and shows peak_open and open_at_exit), its findings, stats and endpoint table. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define esc xml_escape

static const char *const css =
	"body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
	"h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}"
	"th{background:#f3f3f3}td.n{text-align:right}"
	"pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}"
	".kind{font-weight:bold;color:#a00}.sup{color:#777}"
	"details{margin:.4em 0}summary{cursor:pointer}"
	"section.proc{border:1px solid #ddd;border-radius:6px;padding:0 1em 1em;margin:1em 0}"
	"svg text{font-size:11px;font-family:sans-serif}";

/* ---- chart ---- */

struct series {
	const char *key, *label, *color;
};
static const struct series series[] = {
	{"open_sockets", "open sockets", "#1f77b4"},
	{"close_wait", "close-wait sockets", "#d62728"},
	{"orphaned_sessions", "orphaned sessions", "#9467bd"},
};
#define NSERIES (sizeof series / sizeof series[0])

#define CW 640
#define CH 220
#define ML 50
#define MR 170
#define MT 15
#define MB 35

static int num(json_t *v, double *out)
{
	if (json_is_integer(v) || json_is_real(v)) {
		*out = json_number_value(v);
		return 1;
	}
	return 0;
}

static void chart_empty(FILE *out, const struct process *p)
{
	json_t *stats = json_object_get(p->root, "stats");
	long long peak = json_int(stats, "peak_open", -1), at_exit = json_int(stats, "open_at_exit", -1);
	double max = (double)(peak > at_exit ? peak : at_exit);
	if (max < 1)
		max = 1;
	fprintf(out, "<svg class=\"chart\" width=\"%d\" height=\"110\" viewBox=\"0 0 %d 110\" "
		     "role=\"img\" aria-label=\"no timeline samples\">\n",
		CW, CW);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"110\" fill=\"#fafafa\" "
		     "stroke=\"#ddd\"/>\n",
		CW);
	fprintf(out, "<text x=\"10\" y=\"20\">no timeline samples</text>\n");
	const char *names[] = {"peak open", "open at exit"};
	long long vals[] = {peak, at_exit};
	for (int i = 0; i < 2; i++) {
		int y = 40 + i * 30;
		fprintf(out, "<text x=\"10\" y=\"%d\">%s</text>\n", y + 14, names[i]);
		if (vals[i] < 0) {
			fprintf(out, "<text x=\"110\" y=\"%d\">unknown</text>\n", y + 14);
			continue;
		}
		int w = (int)((CW - 200) * (double)vals[i] / max);
		fprintf(out, "<rect x=\"110\" y=\"%d\" width=\"%d\" height=\"18\" fill=\"%s\"/>\n", y,
			w, series[i ? 1 : 0].color);
		fprintf(out, "<text x=\"%d\" y=\"%d\">%lld</text>\n", 116 + w, y + 14, vals[i]);
	}
	fprintf(out, "</svg>\n");
}

/* Returns the number of samples drawn. */
int html_chart(FILE *out, const struct process *p)
{
	json_t *tl = json_object_get(p->root, "timeline");
	size_t n = json_array_size(tl), valid = 0;
	double tmax = 0, vmax = 1;
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(tl, i);
		double t, v;
		if (!num(json_object_get(s, "t_ms"), &t))
			continue;
		valid++;
		if (t > tmax)
			tmax = t;
		for (size_t k = 0; k < NSERIES; k++)
			if (num(json_object_get(s, series[k].key), &v) && v > vmax)
				vmax = v;
	}
	if (!valid) {
		chart_empty(out, p);
		return 0;
	}
	if (tmax <= 0)
		tmax = 1;
	const int pw = CW - ML - MR, ph = CH - MT - MB;
	fprintf(out, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		     "role=\"img\" aria-label=\"sockets over time\">\n",
		CW, CH, CW, CH);
	fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" "
		     "stroke=\"#ccc\"/>\n",
		ML, MT, pw, ph);
	/* y grid: 0, half, max */
	for (int i = 0; i <= 2; i++) {
		double v = vmax * i / 2;
		double y = MT + ph - ph * (v / vmax);
		fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
			     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
			ML, y, ML + pw, y, ML - 5, y + 4, v);
	}
	fprintf(out, "<text x=\"%d\" y=\"%d\">0</text>", ML, CH - MB + 15);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%g ms</text>\n", ML + pw,
		CH - MB + 15, tmax);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since start</text>\n",
		ML + pw / 2, CH - 5);
	for (size_t k = 0; k < NSERIES; k++) {
		size_t pts = 0;
		fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
			series[k].color);
		double lx = 0, ly = 0;
		for (size_t i = 0; i < n; i++) {
			json_t *s = json_array_get(tl, i);
			double t, v;
			if (!num(json_object_get(s, "t_ms"), &t) ||
			    !num(json_object_get(s, series[k].key), &v))
				continue;
			lx = ML + pw * (t / tmax);
			ly = MT + ph - ph * (v / vmax);
			fprintf(out, "%s%.1f,%.1f", pts++ ? " " : "", lx, ly);
		}
		fprintf(out, "\"><title>%s</title></polyline>\n", series[k].label);
		if (pts == 1)
			fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", lx, ly,
				series[k].color);
		int ly0 = MT + 12 + 18 * (int)k;
		fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>"
			     "<text x=\"%d\" y=\"%d\">%s</text>\n",
			ML + pw + 10, ly0 - 4, series[k].color, ML + pw + 28, ly0, series[k].label);
	}
	fprintf(out, "</svg>\n");
	return (int)valid;
}

/* ---- tables ---- */

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
				      "open",	   "peak_concurrent", "bytes_in", "bytes_out",
				      "requests",  "tls_handshakes",  "lifetime_ms"};
#define NEP (sizeof ep_cols / sizeof ep_cols[0])

static void endpoint_table(FILE *out, json_t *eps)
{
	if (!json_array_size(eps)) {
		fputs("<p>No endpoints.</p>\n", out);
		return;
	}
	fputs("<table class=\"endpoints\"><tr>", out);
	for (size_t c = 0; c < NEP; c++)
		fprintf(out, "<th>%s</th>", ep_cols[c]);
	fputs("</tr>\n", out);
	for (size_t i = 0; i < json_array_size(eps); i++) {
		json_t *e = json_array_get(eps, i);
		fputs("<tr>", out);
		for (size_t c = 0; c < NEP; c++)
			cell(out, json_object_get(e, ep_cols[c]));
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* ---- findings ---- */

static void group_block(FILE *out, const struct result *r, size_t gi)
{
	const struct group *g = &r->groups[gi];
	const struct finding *f = g->members[0];
	char line[512];
	fprintf(out, "<details open id=\"g%zu\"><summary><span class=\"kind\">", gi + 1);
	esc(out, g->kind);
	fputs("</span>: ", out);
	esc(out, f->message ? f->message : "");
	fprintf(out, " &mdash; %" PRIu64 " instance(s) in %zu process(es)</summary>\n", g->count,
		g->nprocs);
	fputs("<p>Processes:", out);
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
		fputs("<pre>", out);
		esc(out, text);
		fputs("</pre>\n", out);
		free(text);
	}
	fputs("</details>\n", out);
}

static void process_section(FILE *out, const struct result *r, size_t pi)
{
	const struct process *p = &r->set->procs[pi];
	char label[300];
	process_label(p, label, sizeof label);
	fprintf(out, "<section class=\"proc\" id=\"p%zu\"><h3>", pi + 1);
	esc(out, label);
	fputs("</h3>\n<table>", out);
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
	fputs("<h4>Sockets over time</h4>\n", out);
	html_chart(out, p);
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
	fputs("<h4>Stats</h4>\n", out);
	stats_table(out, json_object_get(p->root, "stats"));
	fputs("<h4>Endpoints</h4>\n", out);
	endpoint_table(out, json_object_get(p->root, "endpoints"));
	fputs("</section>\n", out);
}

int fmt_html(FILE *out, const struct result *r)
{
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		     "<title>connleak report</title>\n<style>%s</style></head><body>\n",
		css);
	fputs("<h1>connleak report</h1>\n<p>", out);
	summary_counts(out, r);
	fputs(".</p>\n<h2>Findings</h2>\n", out);
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
	for (size_t pi = 0; pi < r->set->nprocs; pi++)
		process_section(out, r, pi);
	fputs("</body></html>\n", out);
	return ferror(out) ? -1 : 0;
}
