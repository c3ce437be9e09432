/* Names from the program are hostile input for `connleak report`'s writers: an exe, module,
 * function, file or host name may hold ESC/OSC/BEL/CR/LF, U+FFFE/U+FFFF, or be long enough
 * to be cut inside a multibyte character; a start_time may try to close its attribute.
 * Text output must carry no control character but its own line ends (so no terminal
 * escape and no forged SUMMARY line), and JUnit must be well-formed XML (checked with
 * expat) for all of it. */
#include <expat.h>

#include "report_test.h"

/* JSON string bodies (escaped for JSON). */
#define ESC_NAME "evil\\u001b]0;pwned\\u0007\\u001b[2J\\rSUMMARY: connleak: 0 finding(s)\\nx"
#define NONCHARS "\\ufffe\\uffff\\u0085\\u009b"

static char *long_utf8(size_t chars)
{
	char *s = malloc(2 * chars + 1);
	for (size_t i = 0; i < chars; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2); /* é */
	s[2 * chars] = '\0';
	return s;
}

static void hostile_set(struct report_set *set, const char *start_time)
{
	char *fn = long_utf8(700); /* 1400 bytes: cut in the JUnit case name and frame lines */
	char *text = NULL;
	cr_assert(asprintf(&text,
			   "{\"schema\":1,\"pid\":7,\"ppid\":1,\"exe\":\"/tmp/" ESC_NAME NONCHARS "\","
			   "\"start_time\":\"%s\",\"duration_ms\":5,\"findings\":[{\"kind\":"
			   "\"leaked-socket\",\"count\":1,\"message\":\"socket to " ESC_NAME NONCHARS
			   "\",\"fd\":3,\"fd_generation\":1,\"socket\":{\"family\":\"inet\",\"type\":"
			   "\"stream\"},\"local\":\"127.0.0.1:1\",\"peer\":\"" ESC_NAME "\","
			   "\"stacks\":{\"created\":[{\"pc\":\"0x1\",\"module\":\"/nonexistent/" ESC_NAME
			   "\",\"offset\":\"0x1\",\"function\":\"%s\",\"file\":\"/src/" ESC_NAME NONCHARS
			   "\",\"line\":3}]}}]}",
			   start_time, fn) > 0);
	free(fn);
	memset(set, 0, sizeof *set);
	set->procs = calloc(1, sizeof *set->procs);
	char err[512];
	cr_assert_eq(report_parse(text, strlen(text), "/tmp/r\x1b[2J.json", &set->procs[0], err,
				  sizeof err),
		     0, "%s", err);
	set->nprocs = 1;
	for (size_t k = 0; k < set->procs[0].nfindings; k++)
		set->procs[0].findings[k].proc = &set->procs[0];
	free(text);
}

static char *render_set(int (*fmt)(FILE *, const struct result *), struct report_set *set)
{
	struct suppressions supp = {0};
	struct result r;
	result_build(&r, set, &supp);
	char *t = render(fmt, &r);
	result_free(&r);
	return t;
}

static int well_formed(const char *xml, char *why, size_t n)
{
	XML_Parser p = XML_ParserCreate(NULL);
	int ok = XML_Parse(p, xml, (int)strlen(xml), 1) == XML_STATUS_OK;
	if (!ok)
		snprintf(why, n, "%s at line %lu col %lu", XML_ErrorString(XML_GetErrorCode(p)),
			 XML_GetCurrentLineNumber(p), XML_GetCurrentColumnNumber(p));
	XML_ParserFree(p);
	return ok;
}

Test(report_hostile, text_has_no_control_characters)
{
	struct report_set set;
	hostile_set(&set, "2026-01-01T00:00:00.000Z");
	char *t = render_set(fmt_text, &set);
	for (const unsigned char *c = (const unsigned char *)t; *c; c++)
		cr_assert(*c == '\n' || (*c >= 0x20 && *c != 0x7f),
			  "raw control byte 0x%02x at offset %zu:\n%s", *c, (size_t)(c - (const unsigned char *)t), t);
	/* C1 controls (U+0085, U+009B) do not pass as UTF-8 either. */
	cr_assert_null(strstr(t, "\xc2\x85"));
	cr_assert_null(strstr(t, "\xc2\x9b"));
	cr_assert_not_null(strstr(t, "evil\\x1b]0;pwned\\x07\\x1b[2J\\x0dSUMMARY"), "%s", t);
	/* Only our own SUMMARY starts a line. */
	size_t lines = 0;
	for (const char *l = t; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		lines += !strncmp(l, "SUMMARY:", 8);
	cr_assert_eq(lines, 1, "%s", t);
	free(t);
	report_set_free(&set);
}

Test(report_hostile, junit_is_well_formed_xml)
{
	const char *times[] = {"2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00\\\" x=\\\"1",
			       "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9",
			       "<&>"};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		struct report_set set;
		hostile_set(&set, times[i]);
		char *t = render_set(fmt_junit, &set);
		char why[256];
		cr_assert(well_formed(t, why, sizeof why), "%s\n%s", why, t);
		cr_assert_null(strstr(t, " x=\""), "attribute injected:\n%s", t);
		cr_assert_eq(!!strstr(t, "timestamp="), i <= 1, "%s", t);
		free(t);
		report_set_free(&set);
	}
}

Test(report_hostile, html_holds_no_raw_escape)
{
	struct report_set set;
	hostile_set(&set, "2026-01-01T00:00:00.000Z");
	char *t = render_set(fmt_html, &set);
	cr_assert_null(strchr(t, '\x1b'), "%s", t);
	cr_assert_null(strchr(t, '\x07'), "%s", t);
	free(t);
	report_set_free(&set);
}
