/* Helpers for the `connleak report` unit tests (tests/unit/test_report_*.c): build reports
 * from short JSON texts, with frames whose module does not exist (so the report's own names
 * are used and the tests do not depend on this machine's binaries). */
#ifndef CONNLEAK_REPORT_TEST_H
#define CONNLEAK_REPORT_TEST_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* A frame of the fictitious program /nonexistent/app. */
#define FRAME(off, fn, file, line)                                                          \
	"{\"pc\":\"0x5500000" off "\",\"module\":\"/nonexistent/app\",\"offset\":\"0x" off      \
	"\",\"function\":\"" fn "\",\"file\":\"" file "\",\"line\":" #line "}"
#define LIBC_FRAME                                                                          \
	"{\"pc\":\"0x7f000002724a\",\"module\":\"/nonexistent/libc.so.6\",\"offset\":\"0x2724a\"," \
	"\"function\":\"__libc_start_call_main\",\"file\":null,\"line\":null}"

/* One report: pid, then findings as JSON text (the inside of the array). */
static inline void make_report(struct process *p, long pid, const char *findings)
{
	char *text = NULL;
	if (asprintf(&text,
		     "{\"schema\":1,\"tool\":\"connleak\",\"pid\":%ld,\"ppid\":1,"
		     "\"exe\":\"/nonexistent/app\",\"start_time\":\"2026-01-01T00:00:%02ld.000Z\","
		     "\"end_time\":\"2026-01-01T00:00:59.000Z\",\"duration_ms\":12,"
		     "\"stats\":{\"peak_open\":3,\"open_at_exit\":1},\"endpoints\":[],"
		     "\"timeline\":[],\"findings\":[%s]}",
		     pid, pid % 60, findings) < 0)
		cr_assert_fail("asprintf");
	char err[512];
	int rc = report_parse(text, strlen(text), "mem.json", p, err, sizeof err);
	cr_assert_eq(rc, 0, "report_parse: %s\n%s", err, text);
	free(text);
}

/* A set of n reports built with make_report. */
static inline struct report_set *make_set(size_t n, const long *pids, const char *const *findings)
{
	struct report_set *s = calloc(1, sizeof *s);
	s->procs = calloc(n, sizeof *s->procs);
	for (size_t i = 0; i < n; i++) {
		make_report(&s->procs[i], pids[i], findings[i]);
		s->nprocs++;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < s->procs[i].nfindings; k++)
			s->procs[i].findings[k].proc = &s->procs[i];
	symbolize_set(s);
	return s;
}

static inline void free_set(struct report_set *s)
{
	report_set_free(s);
	free(s);
}

/* What a writer produced, NUL-terminated; free() it. */
static inline char *render(int (*fmt)(FILE *, const struct result *), const struct result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_not_null(m);
	cr_assert_eq(fmt(m, r), 0);
	fclose(m);
	return buf;
}

#endif
