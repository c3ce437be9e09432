/* Unit tests for CONNLEAK_OPTIONS parsing: defaults, separators, quoting, errors, each/help. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/options.h"

#define MAX_MSGS 16

struct errs {
	int n;
	char msg[MAX_MSGS][512];
};

static void on_error(const char *msg, void *ctx)
{
	struct errs *e = ctx;
	if (e->n < MAX_MSGS)
		snprintf(e->msg[e->n], sizeof e->msg[0], "%s", msg);
	e->n++;
}

static int parse(struct options *o, const char *spec, struct errs *e)
{
	memset(e, 0, sizeof *e);
	options_defaults(o);
	return options_parse(o, spec, on_error, e);
}

/* Every option the design names, plus symbolize, halt_on_error and help. */
static const char *const all_names[] = {
	"report_dir",    "log_path", "exitcode",   "backtrace_depth", "close_wait_ms",
	"symbolize",     "halt_on_error", "lease_ms", "lease_mode",   "lease_peers",
	"dns_check_ms",  "sample_ms", "growth_window_ms", "growth_min", "suppressions", "snapshot_ms", "report_signal", "run_notify", "help",
	"keepalive_idle_ms", "lease_on_dns_change", "lease_protocols", "show_open_at_exit",
};
#define NNAMES (sizeof all_names / sizeof all_names[0])

Test(options, defaults)
{
	struct options o;
	memset(&o, 0x5a, sizeof o);
	options_defaults(&o);
	cr_assert_eq(o.close_wait_ms, 5000);
	cr_assert_eq(o.backtrace_depth, 16);
	cr_assert_str_eq(o.log_path, "stderr");
	cr_assert_eq(o.exitcode, 0);
	cr_assert_str_eq(o.report_dir, "");
	cr_assert_eq(o.halt_on_error, 0);
	cr_assert_eq(o.lease_ms, 0);
	cr_assert_eq(o.lease_mode, LEASE_ENFORCE);
	cr_assert_str_eq(o.lease_peers, "");
	cr_assert_str_eq(o.suppressions, "");
	cr_assert_eq(o.help, 0);
}

Test(options, empty_and_null_spec)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(parse(&o, NULL, &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(parse(&o, " :,,: \t\n", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(o.close_wait_ms, 5000);
}

Test(options, colon_separator)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "report_dir=/tmp/r:lease_ms=60000:exitcode=23", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_str_eq(o.report_dir, "/tmp/r");
	cr_assert_eq(o.lease_ms, 60000);
	cr_assert_eq(o.exitcode, 23);
}

Test(options, comma_and_space_separators)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "exitcode=7,close_wait_ms=10 backtrace_depth=4\tlease_mode=report", &e),
		     0);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(o.exitcode, 7);
	cr_assert_eq(o.close_wait_ms, 10);
	cr_assert_eq(o.backtrace_depth, 4);
	cr_assert_eq(o.lease_mode, LEASE_REPORT);
}

Test(options, mixed_and_repeated_separators)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "::exitcode=1 , :sample_ms=250,,", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(o.exitcode, 1);
	cr_assert_eq(o.sample_ms, 250);
}

Test(options, later_value_wins)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "exitcode=3:exitcode=4", &e), 0);
	cr_assert_eq(o.exitcode, 4);
}

Test(options, double_quoted_value_holds_separators)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "report_dir=\"/tmp/a b:c,d\":exitcode=2", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_str_eq(o.report_dir, "/tmp/a b:c,d");
	cr_assert_eq(o.exitcode, 2);
}

Test(options, single_quoted_value)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "lease_peers='db:5432,cache:6379' log_path='/var/log/c %p.txt'", &e),
		     0);
	cr_assert_eq(e.n, 0);
	cr_assert_str_eq(o.lease_peers, "db:5432,cache:6379");
	cr_assert_str_eq(o.log_path, "/var/log/c %p.txt");
}

Test(options, quoted_number)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "close_wait_ms=\"250\"", &e), 0);
	cr_assert_eq(o.close_wait_ms, 250);
}

Test(options, empty_string_value)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "log_path=:exitcode=5", &e), 0);
	cr_assert_eq(e.n, 0);
	cr_assert_str_eq(o.log_path, "");
	cr_assert_eq(o.exitcode, 5);
}

Test(options, unknown_key_one_error_others_applied)
{
	struct options o;
	struct errs e;
	int r = parse(&o, "exitcode=9:no_such_option=1:close_wait_ms=42", &e);
	cr_assert_eq(r, 1);
	cr_assert_eq(e.n, 1, "expected exactly one error, got %d", e.n);
	cr_assert(strstr(e.msg[0], "no_such_option"), "error does not name the key: %s", e.msg[0]);
	cr_assert_eq(o.exitcode, 9);
	cr_assert_eq(o.close_wait_ms, 42);
	cr_assert_eq(strchr(e.msg[0], '\n'), NULL, "message is one line");
}

/* One malformed value: exactly one error naming the option; the default stays. */
static void bad_value(const char *spec, const char *name)
{
	struct options o, d;
	struct errs e;
	options_defaults(&d);
	char full[256];
	snprintf(full, sizeof full, "sample_ms=77:%s:dns_check_ms=33", spec);
	int r = parse(&o, full, &e);
	cr_assert_eq(r, 1, "%s: returned %d", spec, r);
	cr_assert_eq(e.n, 1, "%s: expected one error, got %d", spec, e.n);
	cr_assert(strstr(e.msg[0], name), "%s: error does not name %s: %s", spec, name, e.msg[0]);
	cr_assert_eq(strchr(e.msg[0], '\n'), NULL);
	/* The default is kept for the bad key... */
	cr_assert_eq(o.close_wait_ms, d.close_wait_ms);
	cr_assert_eq(o.exitcode, d.exitcode);
	cr_assert_eq(o.halt_on_error, d.halt_on_error);
	cr_assert_eq(o.lease_mode, d.lease_mode);
	cr_assert_eq(o.backtrace_depth, d.backtrace_depth);
	/* ...and the keys around it still apply. */
	cr_assert_eq(o.sample_ms, 77);
	cr_assert_eq(o.dns_check_ms, 33);
}

Test(options, bad_close_wait_ms)
{
	bad_value("close_wait_ms=abc", "close_wait_ms");
}

Test(options, bad_close_wait_ms_trailing_junk)
{
	bad_value("close_wait_ms=12ms", "close_wait_ms");
}

Test(options, bad_close_wait_ms_overflow)
{
	bad_value("close_wait_ms=18446744073709551616", "close_wait_ms");
}

Test(options, bad_close_wait_ms_empty)
{
	bad_value("close_wait_ms=", "close_wait_ms");
}

Test(options, bad_exitcode_too_big)
{
	bad_value("exitcode=300", "exitcode");
}

Test(options, bad_exitcode_negative)
{
	bad_value("exitcode=-1", "exitcode");
}

Test(options, bad_exitcode_plus_sign)
{
	bad_value("exitcode=+1", "exitcode");
}

Test(options, bad_halt_on_error)
{
	bad_value("halt_on_error=2", "halt_on_error");
}

Test(options, bad_lease_mode)
{
	bad_value("lease_mode=bogus", "lease_mode");
}

Test(options, bad_backtrace_depth)
{
	bad_value("backtrace_depth=65", "backtrace_depth");
}

Test(options, bad_value_keeps_earlier_setting)
{
	/* The header's contract: a key with a bad value keeps what it had. */
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "exitcode=5:exitcode=x", &e), 1);
	cr_assert_eq(o.exitcode, 5);
	cr_assert(strstr(e.msg[0], "bad value 'x' for option exitcode"), "%s", e.msg[0]);
	cr_assert(strstr(e.msg[0], "keeping 5"), "%s", e.msg[0]);
	cr_assert_eq(parse(&o, "report_dir=/a:report_dir='/b", &e), 1);
	cr_assert_str_eq(o.report_dir, "/a");
	cr_assert(strstr(e.msg[0], "keeping '/a'"), "%s", e.msg[0]);
}

Test(options, unterminated_quote_is_an_error)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "exitcode=3:report_dir=\"/tmp/my reports:exitcode=42", &e), 1);
	cr_assert_str_eq(o.report_dir, "", "an unterminated value is not taken");
	cr_assert_eq(o.exitcode, 3, "nor is what follows the quote read as options");
	cr_assert(strstr(e.msg[0], "quote of option report_dir is never closed"), "%s", e.msg[0]);
}

Test(options, quoted_value_holds_exitcode_text)
{
	struct options o;
	struct errs e;
	cr_assert_eq(parse(&o, "report_dir='/tmp/a:exitcode=42':close_wait_ms=7", &e), 0);
	cr_assert_str_eq(o.report_dir, "/tmp/a:exitcode=42");
	cr_assert_eq(o.exitcode, 0);
	cr_assert_eq(o.close_wait_ms, 7);
}

Test(options, control_bytes_escaped_in_messages)
{
	struct options o;
	struct errs e;
	parse(&o, "k\x1b[2J=1:exitcode=\x1b]0;t\x07", &e);
	cr_assert_eq(e.n, 2);
	for (int i = 0; i < 2; i++)
		for (const char *c = e.msg[i]; *c; c++)
			cr_assert((unsigned char)*c >= 0x20, "raw control byte in %s", e.msg[i]);
	cr_assert(strstr(e.msg[0], "'k\\x1b[2J'"), "%s", e.msg[0]);
	cr_assert(strstr(e.msg[1], "'\\x1b]0;t\\x07'"), "%s", e.msg[1]);
}

Test(options, error_lines_capped)
{
	struct options o;
	struct errs e;
	char spec[2000] = "";
	for (int i = 0; i < 50; i++)
		strcat(spec, "bogus=1:");
	strcat(spec, "exitcode=9");
	cr_assert_eq(parse(&o, spec, &e), 50);
	cr_assert_eq(e.n, 9, "8 problems and one line counting the rest");
	cr_assert(strstr(e.msg[8], "42 more problem(s)"), "%s", e.msg[8]);
	cr_assert_eq(o.exitcode, 9);
}

Test(options, paths_that_would_not_fit_are_errors)
{
	struct options o;
	struct errs e;
	static char spec[PATH_MAX + 64];
	/* report_dir must leave room for "/<exe>.<pid>.<n>.json". */
	strcpy(spec, "report_dir=/");
	memset(spec + strlen(spec), 'd', PATH_MAX - 200);
	cr_assert_eq(parse(&o, spec, &e), 1);
	cr_assert_str_eq(o.report_dir, "");
	/* log_path with %p must fit once every %p is a 10-digit pid. */
	strcpy(spec, "log_path=/");
	size_t n = strlen(spec);
	for (size_t i = 0; i < (PATH_MAX - 40) / 2; i++, n += 2)
		memcpy(spec + n, "%p", 2);
	spec[n] = '\0';
	cr_assert_eq(parse(&o, spec, &e), 1);
	cr_assert_str_eq(o.log_path, "stderr");
	cr_assert_eq(parse(&o, "log_path=/tmp/x.%p.log", &e), 0);
}

Test(options, bad_value_message_says_what_is_accepted)
{
	struct options o;
	struct errs e;
	parse(&o, "lease_mode=bogus", &e);
	cr_assert_eq(e.n, 1);
	cr_assert(strstr(e.msg[0], "bogus"), "%s", e.msg[0]);
	cr_assert(strstr(e.msg[0], "enforce"), "%s", e.msg[0]);
	cr_assert(strstr(e.msg[0], "report"), "%s", e.msg[0]);
	parse(&o, "exitcode=300", &e);
	cr_assert(strstr(e.msg[0], "255"), "%s", e.msg[0]);
}

Test(options, too_long_path_rejected)
{
	struct options o;
	struct errs e;
	static char spec[PATH_MAX + 64];
	strcpy(spec, "report_dir=");
	size_t n = strlen(spec);
	memset(spec + n, 'x', PATH_MAX + 10);
	spec[n + PATH_MAX + 10] = '\0';
	strcat(spec, ":exitcode=4");
	cr_assert_eq(parse(&o, spec, &e), 1);
	cr_assert_eq(e.n, 1);
	cr_assert(strstr(e.msg[0], "report_dir"), "%s", e.msg[0]);
	cr_assert_str_eq(o.report_dir, "");
	cr_assert_eq(o.exitcode, 4);
	cr_assert(strlen(e.msg[0]) < 300, "the message shows a bounded excerpt of the value");
}

Test(options, key_without_equals)
{
	struct options o;
	struct errs e;
	int r = parse(&o, "exitcode=6:verbose:close_wait_ms=8", &e);
	cr_assert_eq(r, 1);
	cr_assert_eq(e.n, 1);
	cr_assert(strstr(e.msg[0], "verbose"), "%s", e.msg[0]);
	cr_assert_eq(o.exitcode, 6);
	cr_assert_eq(o.close_wait_ms, 8);
}

Test(options, known_key_without_equals_keeps_default)
{
	struct options o;
	struct errs e;
	int r = parse(&o, "exitcode help=1", &e);
	cr_assert_eq(r, 1);
	cr_assert_eq(e.n, 1);
	cr_assert(strstr(e.msg[0], "exitcode"), "%s", e.msg[0]);
	cr_assert_eq(o.exitcode, 0);
	cr_assert_eq(o.help, 1);
}

Test(options, several_problems_counted)
{
	struct options o;
	struct errs e;
	int r = parse(&o, "a=1:b:exitcode=x:lease_ms=5", &e);
	cr_assert_eq(r, 3);
	cr_assert_eq(e.n, 3);
	cr_assert_eq(o.lease_ms, 5);
}

struct seen {
	int count[NNAMES];
	int other;
	char close_wait[32], log_path[64], lease_mode[32];
	int close_wait_num, log_path_num, lease_mode_num;
};

static void on_emit(const char *name, const char *value, int is_number, void *ctx)
{
	struct seen *s = ctx;
	size_t i;
	for (i = 0; i < NNAMES; i++)
		if (!strcmp(all_names[i], name))
			break;
	if (i == NNAMES) {
		s->other++;
		return;
	}
	s->count[i]++;
	if (!strcmp(name, "close_wait_ms")) {
		snprintf(s->close_wait, sizeof s->close_wait, "%s", value);
		s->close_wait_num = is_number;
	} else if (!strcmp(name, "log_path")) {
		snprintf(s->log_path, sizeof s->log_path, "%s", value);
		s->log_path_num = is_number;
	} else if (!strcmp(name, "lease_mode")) {
		snprintf(s->lease_mode, sizeof s->lease_mode, "%s", value);
		s->lease_mode_num = is_number;
	}
}

Test(options, each_emits_every_key_once)
{
	struct options o;
	options_defaults(&o);
	struct seen s;
	memset(&s, 0, sizeof s);
	options_each(&o, on_emit, &s);
	for (size_t i = 0; i < NNAMES; i++)
		cr_assert_eq(s.count[i], 1, "%s emitted %d times", all_names[i], s.count[i]);
	cr_assert_eq(s.other, 0, "unexpected option names emitted");
	cr_assert_str_eq(s.close_wait, "5000");
	cr_assert_eq(s.close_wait_num, 1);
	cr_assert_str_eq(s.log_path, "stderr");
	cr_assert_eq(s.log_path_num, 0);
	cr_assert_str_eq(s.lease_mode, "enforce");
	cr_assert_eq(s.lease_mode_num, 0);
}

Test(options, each_reflects_parsed_values)
{
	struct options o;
	struct errs e;
	parse(&o, "close_wait_ms=123:log_path=/tmp/x.%p:lease_mode=report", &e);
	struct seen s;
	memset(&s, 0, sizeof s);
	options_each(&o, on_emit, &s);
	cr_assert_str_eq(s.close_wait, "123");
	cr_assert_str_eq(s.log_path, "/tmp/x.%p");
	cr_assert_str_eq(s.lease_mode, "report");
}

struct help_text {
	int lines;
	char text[8192];
};

static void on_line(const char *line, void *ctx)
{
	struct help_text *h = ctx;
	h->lines++;
	cr_assert_eq(strchr(line, '\n'), NULL, "help lines come without newline");
	size_t n = strlen(h->text);
	snprintf(h->text + n, sizeof h->text - n, "%s\n", line);
}

Test(options, help_lists_every_option)
{
	struct help_text h;
	memset(&h, 0, sizeof h);
	options_help(on_line, &h);
	cr_assert_geq(h.lines, (int)NNAMES);
	for (size_t i = 0; i < NNAMES; i++) {
		char pat[64];
		snprintf(pat, sizeof pat, "  %s ", all_names[i]);
		cr_assert(strstr(h.text, pat), "help does not list %s:\n%s", all_names[i], h.text);
	}
	/* Defaults appear next to their option. */
	cr_assert(strstr(h.text, "5000"));
	cr_assert(strstr(h.text, "stderr"));
	cr_assert(strstr(h.text, "enforce"));
}

Test(options, lease_protocols_and_dns_change)
{
	struct options o;
	struct errs e;
	options_defaults(&o);
	cr_assert_eq(o.lease_protocols, LEASE_PROTO_HTTP);
	cr_assert_eq(o.lease_on_dns_change, 0);
	cr_assert_eq(parse(&o, "lease_protocols=any:lease_on_dns_change=1", &e), 0);
	cr_assert_eq(o.lease_protocols, LEASE_PROTO_ANY);
	cr_assert_eq(o.lease_on_dns_change, 1);
	bad_value("lease_protocols=tcp", "lease_protocols");
	bad_value("lease_on_dns_change=yes", "lease_on_dns_change");
}
