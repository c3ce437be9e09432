/* `connleak report` suppressions: the file syntax, `*` matching, and which frames' names a
 * pattern is matched against; used suppressions are counted. */
#include "report_test.h"

Test(report_suppress, wildcard)
{
	cr_assert(wildcard_match("abc", "abc"));
	cr_assert_not(wildcard_match("abc", "abcd"));
	cr_assert_not(wildcard_match("abc", "xabc"));
	cr_assert(wildcard_match("*", ""));
	cr_assert(wildcard_match("*", "anything"));
	cr_assert(wildcard_match("leak_*", "leak_one_connection"));
	cr_assert(wildcard_match("*_one_*", "leak_one_connection"));
	cr_assert(wildcard_match("*connection", "leak_one_connection"));
	cr_assert(wildcard_match("a*b*c", "aXXbYYbZc"));
	cr_assert_not(wildcard_match("a*b*c", "aXXbYYbZ"));
	cr_assert(wildcard_match("**a**", "a"));
	cr_assert_not(wildcard_match("", "a"));
	cr_assert(wildcard_match("?", "?")); /* only * is special */
	cr_assert_not(wildcard_match("?", "x"));
}

Test(report_suppress, parse_comments_blanks_spaces)
{
	struct suppressions s = {0};
	char err[256];
	const char *text = "# a comment\n\n  leaked-socket : leak_* # trailing\n"
			   "*:libcurl.so*\r\ndouble-close:second_close";
	cr_assert_eq(suppressions_parse(&s, text, err, sizeof err), 0, "%s", err);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.items[0].kind, "leaked-socket");
	cr_assert_str_eq(s.items[0].pattern, "leak_*");
	cr_assert_eq(s.items[0].line, 3);
	cr_assert_str_eq(s.items[1].kind, "*");
	cr_assert_str_eq(s.items[1].pattern, "libcurl.so*");
	cr_assert_eq(s.items[2].line, 5);
	suppressions_free(&s);
}

Test(report_suppress, parse_errors_name_the_line)
{
	struct suppressions s = {0};
	char err[256];
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:x\nno colon here\n", err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "line 2"), "%s", err);
	suppressions_free(&s);
	cr_assert_eq(suppressions_parse(&s, "leaky-socket:x\n", err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "unknown finding kind 'leaky-socket'"), "%s", err);
	suppressions_free(&s);
	cr_assert_eq(suppressions_parse(&s, "double-close:   # nothing\n", err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "empty pattern"), "%s", err);
	suppressions_free(&s);
}

Test(report_suppress, load_missing_file_names_it)
{
	struct suppressions s = {0};
	char err[256];
	cr_assert_eq(suppressions_load(&s, "/nonexistent/supp.txt", err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "/nonexistent/supp.txt"), "%s", err);
}

static int match_one(const char *line, const char *finding)
{
	long pids[] = {1};
	const char *f[] = {finding};
	struct report_set *set = make_set(1, pids, f);
	struct suppressions s = {0};
	char err[256];
	cr_assert_eq(suppressions_parse(&s, line, err, sizeof err), 0, "%s", err);
	int m = suppression_match(&s, &set->procs[0].findings[0]);
	suppressions_free(&s);
	free_set(set);
	return m;
}

#define F_LEAK                                                                              \
	"{\"kind\":\"leaked-socket\",\"stacks\":{\"created\":[" FRAME("10", "helper", "src/net/conn.c", 5) \
	"," LIBC_FRAME "]}}"

Test(report_suppress, matches_function_file_module_of_any_frame)
{
	cr_assert_eq(match_one("leaked-socket:helper", F_LEAK), 0);
	cr_assert_eq(match_one("leaked-socket:__libc_start_*", F_LEAK), 0); /* second frame */
	cr_assert_eq(match_one("leaked-socket:conn.c", F_LEAK), 0);         /* file basename */
	cr_assert_eq(match_one("leaked-socket:src/net/conn.c", F_LEAK), 0); /* file as given */
	cr_assert_eq(match_one("leaked-socket:*/net/*", F_LEAK), 0);
	cr_assert_eq(match_one("leaked-socket:app", F_LEAK), 0);            /* module basename */
	cr_assert_eq(match_one("leaked-socket:/nonexistent/app", F_LEAK), 0);
	cr_assert_eq(match_one("leaked-socket:libc.so.6", F_LEAK), 0);
	cr_assert_eq(match_one("*:helper", F_LEAK), 0);
	cr_assert_eq(match_one("leaked-socket:help", F_LEAK), -1); /* whole names only */
	cr_assert_eq(match_one("double-close:helper", F_LEAK), -1); /* other kind */
	cr_assert_eq(match_one("double-close:helper\nleaked-socket:nothing\n*:conn*", F_LEAK), 2);
}

Test(report_suppress, matches_the_reports_own_name_when_symbolized_differently)
{
	/* The offline symbolizer can name a frame differently from the process (another
	 * symbol at the same address, a rebuilt module): a pattern naming either matches. */
	long pids[] = {1};
	const char *f[] = {F_LEAK};
	struct report_set *set = make_set(1, pids, f);
	struct frame *fr = &set->procs[0].findings[0].stacks[0].frames[0];
	cr_assert_str_eq(fr->rep_function, "helper");
	fr->function = "helper_alias";
	fr->file = "other.c";
	struct suppressions s = {0};
	char err[256];
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:helper\n", err, sizeof err), 0);
	cr_assert_eq(suppression_match(&s, &set->procs[0].findings[0]), 0,
		     "the report's own function name no longer matched");
	suppressions_free(&s);
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:helper_alias\n", err, sizeof err), 0);
	cr_assert_eq(suppression_match(&s, &set->procs[0].findings[0]), 0);
	suppressions_free(&s);
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:conn.c\n", err, sizeof err), 0);
	cr_assert_eq(suppression_match(&s, &set->procs[0].findings[0]), 0,
		     "the report's own file name no longer matched");
	suppressions_free(&s);
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:other.c\n", err, sizeof err), 0);
	cr_assert_eq(suppression_match(&s, &set->procs[0].findings[0]), 0);
	suppressions_free(&s);
	free_set(set);
}

Test(report_suppress, matches_closed_and_exhaustion_group_stacks)
{
	const char *dc = "{\"kind\":\"double-close\",\"stacks\":{\"closed\":[" FRAME("1", "a", "a.c", 1)
			 "],\"previous_close\":[" FRAME("2", "first_close", "b.c", 2) "]}}";
	cr_assert_eq(match_one("double-close:first_close", dc), 0);
	const char *ex = "{\"kind\":\"fd-exhaustion\",\"groups\":[{\"count\":2,\"stack\":["
			 FRAME("3", "pool", "p.c", 3) "]}]}";
	cr_assert_eq(match_one("fd-exhaustion:pool", ex), 0);
}

Test(report_suppress, used_counts_and_totals)
{
	long pids[] = {1, 2, 3};
	const char *f[] = {
		"{\"kind\":\"leaked-socket\",\"count\":2,\"stacks\":{\"created\":[" FRAME("10", "helper", "c.c", 5) "]}}",
		"{\"kind\":\"leaked-socket\",\"count\":1,\"stacks\":{\"created\":[" FRAME("10", "helper", "c.c", 5) "]}},"
		"{\"kind\":\"double-close\",\"count\":1,\"stacks\":{\"closed\":[" FRAME("20", "x", "c.c", 9) "]}}",
		"{\"kind\":\"close-wait\",\"count\":4,\"stacks\":{\"created\":[" FRAME("30", "keep", "k.c", 9) "]}}"};
	struct report_set *set = make_set(3, pids, f);
	struct suppressions s = {0};
	char err[256];
	cr_assert_eq(suppressions_parse(&s, "leaked-socket:helper\nclose-wait:keep\nstale-dns:*\n",
					err, sizeof err), 0);
	struct result r;
	result_build(&r, set, &s);
	cr_assert_eq(s.items[0].hits, 3);
	cr_assert_eq(s.items[0].groups, 1);
	cr_assert_eq(s.items[1].hits, 4);
	cr_assert_eq(s.items[2].hits, 0);
	cr_assert_eq(r.suppressed, 7);
	cr_assert_eq(r.total, 1);
	cr_assert_eq(r.shown_groups, 1);
	cr_assert_eq(r.procs_with_findings, 1);
	cr_assert_eq(set->procs[1].unsuppressed, 1);
	/* building again does not count twice */
	result_free(&r);
	result_build(&r, set, &s);
	cr_assert_eq(s.items[0].hits, 3);
	cr_assert_eq(set->procs[1].unsuppressed, 1);
	result_free(&r);
	suppressions_free(&s);
	free_set(set);
}
