/* The HTML report's charts, inline SVG with no script: a process's open sockets, close-wait
 * sockets and orphaned TLS sessions over time (step lines: a timeline sample holds until
 * the next one, since unchanged samples are not stored), with its lease and finding events
 * marked as vertical lines and socket-growth windows shaded; and one call site's growth
 * series. Without timeline samples the process chart says so and shows peak_open and
 * open_at_exit as bars (reports of schema 1). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define esc xml_escape

struct line {
	const char *key, *label, *color;
};
static const struct line lines[] = {
	{"open_sockets", "open sockets", "#1f77b4"},
	{"close_wait", "close-wait sockets", "#d62728"},
	{"orphaned_sessions", "orphaned sessions", "#9467bd"},
};
#define NLINES (sizeof lines / sizeof lines[0])

#define CW 720
#define CH 230
#define ML 50
#define MR 170
#define MT 15
#define MB 35
#define PW (CW - ML - MR)
#define PH (CH - MT - MB)
#define MAX_MARKS 24

static int num(json_t *v, double *out)
{
	if (json_is_integer(v) || json_is_real(v)) {
		*out = json_number_value(v);
		return 1;
	}
	return 0;
}

void format_duration(double ms, char *buf, size_t n)
{
	if (ms < 10000)
		snprintf(buf, n, "%.0f ms", ms);
	else if (ms < 120000)
		snprintf(buf, n, "%.1f s", ms / 1000);
	else
		snprintf(buf, n, "%.1f min", ms / 60000);
}

static double x_of(double t, double tmax)
{
	return ML + PW * (t / tmax);
}

static double y_of(double v, double vmax)
{
	return MT + PH - PH * (v / vmax);
}

static void frame_open(FILE *out, const char *label, double tmax, double vmax)
{
	fprintf(out, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		     "role=\"img\" aria-label=\"",
		CW, CH, CW, CH);
	esc(out, label);
	fprintf(out, "\">\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" "
		     "stroke=\"#ccc\"/>\n",
		ML, MT, PW, PH);
	for (int i = 0; i <= 2; i++) {
		double v = vmax * i / 2, y = y_of(v, vmax);
		fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
			     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
			ML, y, ML + PW, y, ML - 5, y + 4, v);
	}
	char d[32];
	format_duration(tmax, d, sizeof d);
	fprintf(out, "<text x=\"%d\" y=\"%d\">0</text>", ML, CH - MB + 15);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", ML + PW,
		CH - MB + 15, d);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since start</text>\n",
		ML + PW / 2, CH - 5);
}

static void legend(FILE *out, int row, const char *color, const char *label, int dashed)
{
	int y = MT + 12 + 18 * row;
	if (dashed)
		fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			     "stroke-dasharray=\"3,2\"/>",
			ML + PW + 10, y - 2, ML + PW + 22, y - 2, color);
	else
		fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>",
			ML + PW + 10, y - 4, color);
	fprintf(out, "<text x=\"%d\" y=\"%d\">", ML + PW + 28, y);
	esc(out, label);
	fputs("</text>\n", out);
}

/* A step line through (t[i], v[i]); the data points are the polyline's vertices at the
 * sample times. Returns the points drawn. */
static size_t step_line(FILE *out, const double *t, const double *v, size_t n, double tmax,
			double vmax, const char *color, const char *label)
{
	if (!n)
		return 0;
	fprintf(out, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		     "points=\"",
		color);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fprintf(out, " %.1f,%.1f", x_of(t[i], tmax), y_of(v[i - 1], vmax));
		fprintf(out, "%s%.1f,%.1f", i ? " " : "", x_of(t[i], tmax), y_of(v[i], vmax));
	}
	fputs("\"><title>", out);
	esc(out, label);
	fputs("</title></polyline>\n", out);
	if (n == 1)
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
			x_of(t[0], tmax), y_of(v[0], vmax), color);
	return n;
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
			w, lines[i ? 1 : 0].color);
		fprintf(out, "<text x=\"%d\" y=\"%d\">%lld</text>\n", 116 + w, y + 14, vals[i]);
	}
	fprintf(out, "</svg>\n");
}

/* Vertical marks: lease events (orange), findings at the time their first instance was
 * found (red), socket-growth windows shaded. */
static int marks(FILE *out, const struct process *p, double tmax)
{
	int n = 0, leases = 0, found = 0;
	json_t *events = json_object_get(p->root, "events");
	for (size_t i = 0; i < json_array_size(events) && n < MAX_MARKS; i++) {
		json_t *e = json_array_get(events, i);
		double t;
		const char *what = json_str(e, "what");
		if (!what || strcmp(what, "lease") || !num(json_object_get(e, "t_ms"), &t) || t > tmax)
			continue;
		fprintf(out, "<line class=\"mark lease\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			     "stroke=\"#ff7f0e\" stroke-dasharray=\"3,2\"><title>lease: fd %lld",
			x_of(t, tmax), MT, x_of(t, tmax), MT + PH, json_int(e, "fd", -1));
		const char *peer = json_str(e, "peer");
		if (peer) {
			fputs(" to ", out);
			esc(out, peer);
		}
		fputs("</title></line>\n", out);
		n++;
		leases++;
	}
	json_t *fs = json_object_get(p->root, "findings");
	for (size_t i = 0; i < json_array_size(fs) && n < MAX_MARKS; i++) {
		json_t *f = json_array_get(fs, i);
		double t, since, window;
		const char *kind = json_str(f, "kind");
		if (!kind)
			continue;
		if (!strcmp(kind, "socket-growth") && num(json_object_get(f, "since_ms"), &since) &&
		    num(json_object_get(f, "window_ms"), &window) && since + window <= tmax * 1.001) {
			fprintf(out, "<rect class=\"mark growth\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
				     "height=\"%d\" fill=\"#d62728\" fill-opacity=\"0.07\"><title>",
				x_of(since, tmax), MT, PW * (window / tmax), PH);
			esc(out, json_str(f, "message") ? json_str(f, "message") : kind);
			fputs("</title></rect>\n", out);
		}
		if (!num(json_object_get(f, "t_ms"), &t) || t > tmax * 1.001)
			continue;
		fprintf(out, "<line class=\"mark finding\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			     "stroke=\"#a00\" stroke-dasharray=\"2,3\"><title>",
			x_of(t, tmax), MT, x_of(t, tmax), MT + PH);
		esc(out, kind);
		fputs(": ", out);
		esc(out, json_str(f, "message") ? json_str(f, "message") : "");
		fputs("</title></line>\n", out);
		n++;
		found++;
	}
	int row = (int)NLINES;
	if (leases)
		legend(out, row++, "#ff7f0e", "lease", 1);
	if (found)
		legend(out, row++, "#a00", "finding", 1);
	return n;
}

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
		for (size_t k = 0; k < NLINES; k++)
			if (num(json_object_get(s, lines[k].key), &v) && v > vmax)
				vmax = v;
	}
	if (!valid) {
		chart_empty(out, p);
		return 0;
	}
	if (tmax <= 0)
		tmax = 1;
	double *t = malloc(n * sizeof *t), *v = malloc(n * sizeof *v);
	if (!t || !v) {
		free(t);
		free(v);
		return 0;
	}
	frame_open(out, "sockets over time", tmax, vmax);
	marks(out, p, tmax);
	for (size_t k = 0; k < NLINES; k++) {
		size_t m = 0;
		double last = -1;
		for (size_t i = 0; i < n; i++) {
			json_t *s = json_array_get(tl, i);
			if (num(json_object_get(s, "t_ms"), &t[m]) && t[m] >= last &&
			    num(json_object_get(s, lines[k].key), &v[m]))
				last = t[m++];
		}
		step_line(out, t, v, m, tmax, vmax, lines[k].color, lines[k].label);
		legend(out, (int)k, lines[k].color, lines[k].label, 0);
	}
	fputs("</svg>\n", out);
	free(t);
	free(v);
	return (int)valid;
}

int html_growth_chart(FILE *out, json_t *g)
{
	json_t *samples = json_object_get(g, "samples");
	size_t n = json_array_size(samples);
	const char *what = json_str(g, "what");
	int sockets = what && !strcmp(what, "sockets");
	double *t = calloc(n + 1, sizeof *t), *c = calloc(n + 1, sizeof *c),
	       *w = calloc(n + 1, sizeof *w);
	size_t m = 0;
	double tmax = 0, vmax = 1, last = -1;
	for (size_t i = 0; t && c && w && i < n; i++) {
		json_t *s = json_array_get(samples, i);
		if (!num(json_array_get(s, 0), &t[m]) || t[m] < last ||
		    !num(json_array_get(s, 1), &c[m]) || !num(json_array_get(s, 2), &w[m]))
			continue;
		last = t[m];
		if (t[m] > tmax)
			tmax = t[m];
		if (c[m] > vmax)
			vmax = c[m];
		m++;
	}
	if (!m) {
		free(t);
		free(c);
		free(w);
		return 0;
	}
	if (tmax <= 0)
		tmax = 1;
	const char *label = sockets ? "open sockets from this call site"
				    : "orphaned TLS sessions from this call site";
	frame_open(out, label, tmax, vmax);
	step_line(out, t, c, m, tmax, vmax, sockets ? "#1f77b4" : "#9467bd",
		  sockets ? "open sockets" : "orphaned sessions");
	legend(out, 0, sockets ? "#1f77b4" : "#9467bd", sockets ? "open" : "orphaned sessions", 0);
	if (sockets) {
		step_line(out, t, w, m, tmax, vmax, "#d62728", "close-wait sockets");
		legend(out, 1, "#d62728", "close-wait", 0);
	}
	fputs("</svg>\n", out);
	free(t);
	free(c);
	free(w);
	return (int)m;
}
