/* `connleak report` writers: text (sanitizer-like frames, suppressions used, SUMMARY),
 * json (parses, documented keys), junit (suites per process, failures, escaping) and html
 * (self-contained, SVG chart from the timeline or the "no timeline samples" stats). */
#include "report_test.h"

#define LEAK_FINDING                                                                        \
	"{\"kind\":\"leaked-socket\",\"count\":2,\"message\":\"socket fd 3 to 127.0.0.1:80 <is> "   \
	"still open & \\\"leaked\\\"\",\"fd\":3,\"fd_generation\":1,\"socket\":{\"family\":"    \
	"\"inet\",\"type\":\"stream\",\"origin\":\"socket\"},\"local\":\"127.0.0.1:5000\","     \
	"\"peer\":\"127.0.0.1:80\",\"tcp_state\":\"ESTABLISHED\",\"stacks\":{\"created\":["     \
	FRAME("1976", "leak_one_connection", "tests/fixtures/leak.c", 13) "," LIBC_FRAME "]}}"
#define DC_FINDING                                                                          \
	"{\"kind\":\"double-close\",\"count\":1,\"message\":\"dc\",\"stacks\":{\"closed\":["    \
	FRAME("1580", "second_close", "dc.c", 27) "]}}"

struct fixture {
	struct report_set *set;
	struct suppressions supp;
	struct result r;
};

static void setup_fx(struct fixture *fx, const char *supp_text)
{
	long pids[] = {100, 101, 102};
	const char *f[] = {LEAK_FINDING, LEAK_FINDING "," DC_FINDING, ""};
	fx->set = make_set(3, pids, f);
	memset(&fx->supp, 0, sizeof fx->supp);
	char err[256];
	cr_assert_eq(suppressions_parse(&fx->supp, supp_text, err, sizeof err), 0, "%s", err);
	result_build(&fx->r, fx->set, &fx->supp);
}

static void teardown_fx(struct fixture *fx)
{
	result_free(&fx->r);
	suppressions_free(&fx->supp);
	free_set(fx->set);
}

Test(report_fmt, text)
{
	struct fixture fx;
	setup_fx(&fx, "double-close:second_*\nstale-dns:*\n");
	char *t = render(fmt_text, &fx.r);
	cr_assert_not_null(strstr(t, "connleak: leaked-socket: socket fd 3 to 127.0.0.1:80"), "%s", t);
	cr_assert_not_null(strstr(t, "4 instance(s) in 2 process(es): app[100] x2 app[101] x2"), "%s", t);
	cr_assert_not_null(strstr(t, "fd 3 (generation 1), inet stream, 127.0.0.1:5000 -> 127.0.0.1:80, ESTABLISHED"), "%s", t);
	cr_assert_not_null(strstr(t, "  created at:\n    #0 0x55000001976 in leak_one_connection leak.c:13 (/nonexistent/app+0x1976)\n"), "%s", t);
	cr_assert_not_null(strstr(t, "#1 0x7f000002724a in __libc_start_call_main (/nonexistent/libc.so.6+0x2724a)"), "%s", t);
	cr_assert_null(strstr(t, "double-close: dc"), "suppressed group printed:\n%s", t);
	cr_assert_not_null(strstr(t, "Suppressions used:\n  count  groups  suppression\n      1       1  double-close:second_*\n"), "%s", t);
	cr_assert_null(strstr(t, "stale-dns:*"), "unused suppression listed:\n%s", t);
	cr_assert_not_null(strstr(t, "SUMMARY: connleak: 4 finding(s) in 1 group(s) from 2 of 3 process(es): 4 leaked-socket; 1 suppressed\n"), "%s", t);
	free(t);
	teardown_fx(&fx);
}

Test(report_fmt, text_clean)
{
	struct fixture fx;
	setup_fx(&fx, "*:app\n");
	char *t = render(fmt_text, &fx.r);
	cr_assert_not_null(strstr(t, "SUMMARY: connleak: 0 finding(s) in 0 group(s) from 0 of 3 process(es); 5 suppressed\n"), "%s", t);
	free(t);
	teardown_fx(&fx);
}

Test(report_fmt, json)
{
	struct fixture fx;
	setup_fx(&fx, "double-close:second_*\n");
	char *t = render(fmt_json, &fx.r);
	json_error_t e;
	json_t *root = json_loads(t, JSON_REJECT_DUPLICATES, &e);
	cr_assert_not_null(root, "%s: %s", e.text, t);
	json_t *sum = json_object_get(root, "summary");
	cr_assert_eq(json_integer_value(json_object_get(sum, "findings")), 4);
	cr_assert_eq(json_integer_value(json_object_get(sum, "suppressed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(sum, "processes")), 3);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(sum, "by_kind"), "leaked-socket")), 4);
	json_t *findings = json_object_get(root, "findings");
	cr_assert_eq(json_array_size(findings), 1);
	json_t *g = json_array_get(findings, 0);
	cr_assert_str_eq(json_string_value(json_object_get(g, "kind")), "leaked-socket");
	cr_assert_eq(json_integer_value(json_object_get(g, "count")), 4);
	cr_assert_eq(json_array_size(json_object_get(g, "processes")), 2);
	json_t *fr = json_array_get(json_object_get(json_object_get(g, "stacks"), "created"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(fr, "function")), "leak_one_connection");
	cr_assert_str_eq(json_string_value(json_object_get(fr, "offset")), "0x1976");
	cr_assert_eq(json_integer_value(json_object_get(fr, "line")), 13);
	json_t *used = json_object_get(root, "suppressions_used");
	cr_assert_eq(json_array_size(used), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(used, 0), "pattern")), "second_*");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(used, 0), "count")), 1);
	cr_assert_eq(json_array_size(json_object_get(root, "suppressed_findings")), 1);
	cr_assert_eq(json_array_size(json_object_get(root, "processes")), 3);
	json_decref(root);
	free(t);
	teardown_fx(&fx);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(report_fmt, junit)
{
	struct fixture fx;
	setup_fx(&fx, "double-close:second_*\n");
	char *t = render(fmt_junit, &fx.r);
	cr_assert_eq(strncmp(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"connleak\" tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"1\">", 106), 0, "%s", t);
	cr_assert_eq(count_of(t, "<testsuite "), 3, "%s", t);
	cr_assert_eq(count_of(t, "<failure "), 2, "%s", t);
	cr_assert_eq(count_of(t, "<skipped message=\"suppressed by double-close:second_*\"/>"), 1, "%s", t);
	cr_assert_not_null(strstr(t, "name=\"leaked-socket in leak_one_connection (leak.c:13)\""), "%s", t);
	cr_assert_not_null(strstr(t, "&lt;is&gt; still open &amp; &quot;leaked&quot;"), "%s", t);
	cr_assert_null(strstr(t, "<is>"), "%s", t);
	cr_assert_not_null(strstr(t, "<testsuite name=\"app[102]\" tests=\"1\" failures=\"0\""), "%s", t);
	cr_assert_not_null(strstr(t, "<testcase classname=\"connleak.app\" name=\"no connection findings\"/>"), "%s", t);
	cr_assert_not_null(strstr(t, "#0 0x55000001976 in leak_one_connection leak.c:13"), "%s", t);
	cr_assert_not_null(strstr(t, "</testsuites>\n"));
	free(t);
	teardown_fx(&fx);
}

Test(report_fmt, xml_escape_shows_control_characters_as_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	xml_escape(m, "a\x01<b>\x1f&\"'\tc\n\r");
	xml_attr(m, "|\t\n\r|");
	fclose(m);
	cr_assert_str_eq(buf, "a\\x01&lt;b&gt;\\x1f&amp;&quot;&#39;\tc\n&#13;|&#9;&#10;&#13;|");
	free(buf);
}

Test(report_fmt, html_without_timeline)
{
	struct fixture fx;
	setup_fx(&fx, "");
	char *t = render(fmt_html, &fx.r);
	cr_assert_eq(strncmp(t, "<!DOCTYPE html>", 15), 0);
	cr_assert_eq(count_of(t, "<svg"), 3, "one chart per process");
	cr_assert_eq(count_of(t, "no timeline samples"), 6, "%s", t); /* text + aria-label */
	cr_assert_not_null(strstr(t, "peak open</text>"), "%s", t);
	cr_assert_not_null(strstr(t, ">3</text>"), "peak_open value shown");
	cr_assert_null(strstr(t, "http://"));
	cr_assert_null(strstr(t, "https://"));
	cr_assert_null(strstr(t, "<script"));
	cr_assert_null(strstr(t, "<link"));
	cr_assert_null(strstr(t, "<is>"), "message not escaped");
	cr_assert_not_null(strstr(t, "leak_one_connection leak.c:13"), "%s", t);
	cr_assert_not_null(strstr(t, "</html>\n"));
	free(t);
	teardown_fx(&fx);
}

Test(report_fmt, html_chart_from_timeline)
{
	struct process p;
	char err[256];
	const char *text =
		"{\"schema\":1,\"pid\":5,\"exe\":\"/x/srv\",\"findings\":[],\"endpoints\":[{\"role\":"
		"\"client\",\"peer\":\"10.0.0.1:443\",\"connections\":7,\"lifetime_ms\":{\"p50\":1,"
		"\"p99\":2,\"max\":3}}],\"timeline\":[{\"t_ms\":0,\"open_sockets\":1,\"close_wait\":0,"
		"\"orphaned_sessions\":0},{\"t_ms\":500,\"open_sockets\":4,\"close_wait\":2,"
		"\"orphaned_sessions\":1},{\"t_ms\":1000,\"open_sockets\":8,\"close_wait\":5,"
		"\"orphaned_sessions\":2},{\"bad\":1}]}";
	cr_assert_eq(report_parse(text, strlen(text), "t.json", &p, err, sizeof err), 0, "%s", err);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_eq(html_chart(m, &p), 3);
	fclose(m);
	cr_assert_eq(count_of(buf, "<polyline"), 3, "%s", buf);
	cr_assert_not_null(strstr(buf, "open sockets"));
	cr_assert_not_null(strstr(buf, "close-wait sockets"));
	cr_assert_not_null(strstr(buf, "orphaned sessions"));
	cr_assert_not_null(strstr(buf, "1000 ms"));
	cr_assert_null(strstr(buf, "no timeline samples"));
	/* first open_sockets point at x=left margin, last at the right edge of the plot, top */
	cr_assert_not_null(strstr(buf, "points=\"50.0,"), "%s", buf);
	cr_assert_not_null(strstr(buf, "550.0,15.0"), "%s", buf);
	free(buf);

	struct report_set set = {.procs = &p, .nprocs = 1};
	struct result r;
	result_build(&r, &set, NULL);
	char *t = render(fmt_html, &r);
	cr_assert_not_null(strstr(t, "<td>10.0.0.1:443</td>"), "%s", t);
	cr_assert_not_null(strstr(t, "p50 1, p99 2, max 3"), "%s", t);
	cr_assert_not_null(strstr(t, "No findings."));
	free(t);
	result_free(&r);
	process_free(&p);
}

/* The page's order and folding: the process with a growing call site comes before a busier
 * one without findings, which comes before a quiet one; processes that never touched a
 * socket fold into one line; stacks are in <details>; a growing call site gets a chart. */
Test(report_fmt, html_summary_order_folding_and_growth)
{
	static const char *const texts[] = {
		/* pid 7: an env/shell-like process, no socket */
		"{\"schema\":2,\"pid\":7,\"exe\":\"/usr/bin/env\",\"findings\":[],\"stats\":{"
		"\"sockets_created\":0,\"sockets_accepted\":0,\"peak_open\":0,\"tls_sessions\":0},"
		"\"timeline\":[]}",
		/* pid 8: sockets, no findings, peak 40 */
		"{\"schema\":2,\"pid\":8,\"exe\":\"/x/busy\",\"findings\":[],\"stats\":{"
		"\"sockets_accepted\":90,\"peak_open\":40},\"timeline\":[{\"t_ms\":0,"
		"\"open_sockets\":1},{\"t_ms\":900,\"open_sockets\":40}],\"endpoints\":[{\"role\":"
		"\"server\",\"peer\":\"127.0.0.1:8080\",\"connections\":90,\"tls_handshakes\":45}]}",
		/* pid 9: a growing call site and its finding */
		"{\"schema\":2,\"pid\":9,\"exe\":\"/x/leaky\",\"findings\":[{\"kind\":\"socket-growth\","
		"\"count\":1,\"t_ms\":700,\"message\":\"+600 orphaned TLS sessions/min\",\"since_ms\":0,"
		"\"window_ms\":1000,\"stacks\":{\"created\":[" FRAME("1976", "open_tunnel_session",
								     "srv.c", 74) "]}}],"
		"\"stats\":{\"sockets_created\":10,\"peak_open\":2,\"tls_sessions\":10},"
		"\"events\":[{\"t_ms\":300,\"what\":\"lease\",\"fd\":5,\"peer\":\"127.0.0.1:443\"}],"
		"\"timeline\":[{\"t_ms\":0,\"open_sockets\":1,\"orphaned_sessions\":0},{\"t_ms\":1000,"
		"\"open_sockets\":1,\"orphaned_sessions\":10}],\"growth\":[{\"what\":\"tls_sessions\","
		"\"count\":10,\"close_wait\":0,\"rate_per_min\":600.0,\"growing\":true,\"samples\":"
		"[[0,0,0],[500,5,0],[1000,10,0]],\"stack\":[" FRAME("1976", "open_tunnel_session",
								  "srv.c", 74) "]}]}",
	};
	struct report_set set = {.procs = calloc(3, sizeof(struct process)), .nprocs = 3};
	char err[256];
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(report_parse(texts[i], strlen(texts[i]), "t.json", &set.procs[i], err,
					  sizeof err), 0, "%s", err);
		for (size_t k = 0; k < set.procs[i].nfindings; k++)
			set.procs[i].findings[k].proc = &set.procs[i];
	}
	struct result r;
	result_build(&r, &set, NULL);
	char *t = render(fmt_html, &r);
	const char *leaky = strstr(t, "<section class=\"proc\" id=\"p3\">");
	const char *busy = strstr(t, "<section class=\"proc\" id=\"p2\">");
	cr_assert(leaky && busy && leaky < busy, "the process with findings comes first:\n%s", t);
	cr_assert_null(strstr(t, "id=\"p1\""), "env is folded, not a section");
	cr_assert_not_null(strstr(t, "1 process(es) never touched a socket: env[7]"), "%s", t);
	cr_assert_not_null(strstr(t, "<td class=\"kind\">socket-growth</td><td class=\"n\">1</td>"),
			   "%s", t);
	cr_assert_not_null(strstr(t, "<h3>Worst growth by call site</h3>"), "%s", t);
	cr_assert_not_null(strstr(t, "<code>open_tunnel_session (srv.c:74)</code>"), "%s", t);
	cr_assert_not_null(strstr(t, "<details><summary>stacks (1)</summary><pre>"), "%s", t);
	cr_assert_eq(count_of(t, "aria-label=\"orphaned TLS sessions from this call site\""), 1,
		     "one chart for the growing call site");
	cr_assert_not_null(strstr(t, "points=\"50.0,195.0 300.0,195.0 300.0,105.0 550.0,105.0 550.0,15.0"), "%s", t);
	cr_assert_eq(count_of(t, "class=\"mark lease\""), 1, "the lease event is marked");
	cr_assert_eq(count_of(t, "class=\"mark finding\""), 1, "the finding is marked");
	cr_assert_not_null(strstr(t, "<td class=\"n\">0.50</td>"), "handshakes per connection");
	cr_assert_null(strstr(t, "<script"));
	free(t);
	result_free(&r);
	report_set_free(&set);
}
