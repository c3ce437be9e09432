/* libFuzzer target for the report reader (tools/report_read.c): any bytes must give a
 * parsed report or a one-line error, never a crash, leak or hang. What parses is also
 * grouped, matched against suppressions and written in every format (to /dev/null), so
 * the writers see every shape the reader accepts. Symbolization is left out: it would
 * open whatever module paths the input names. The JUnit output must also be well-formed
 * XML (checked with expat) whatever names the input holds.
 *
 *   make fuzz    (clang -fsanitize=fuzzer,address; FUZZ_TIME seconds, corpus in
 *                 tests/fuzz/corpus) */
#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static FILE *sink;

static void junit_well_formed(const struct result *r)
{
	char *xml = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&xml, &len);
	if (!m)
		return;
	fmt_junit(m, r);
	fclose(m);
	XML_Parser p = XML_ParserCreate(NULL);
	if (XML_Parse(p, xml, (int)len, 1) != XML_STATUS_OK) {
		fprintf(stderr, "JUnit output is not well-formed XML: %s at line %lu column %lu\n",
			XML_ErrorString(XML_GetErrorCode(p)), XML_GetCurrentLineNumber(p),
			XML_GetCurrentColumnNumber(p));
		__builtin_trap();
	}
	XML_ParserFree(p);
	free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sink)
		sink = fopen("/dev/null", "w");
	struct process p;
	char err[512];
	if (report_parse((const char *)data, size, "fuzz.json", &p, err, sizeof err) != 0) {
		/* One line, never empty. */
		if (!err[0] || strchr(err, '\n'))
			__builtin_trap();
		return 0;
	}
	struct report_set set = {.procs = &p, .nprocs = 1};
	for (size_t i = 0; i < p.nfindings; i++)
		p.findings[i].proc = &p;
	struct suppressions supp = {0};
	if (suppressions_parse(&supp, "leaked-socket:*main*\n*:libc.so*\ndouble-close:a*b*c\n", err,
			       sizeof err) != 0)
		__builtin_trap();
	struct result r;
	result_build(&r, &set, &supp);
	if (sink) {
		fmt_text(sink, &r);
		fmt_json(sink, &r);
		fmt_junit(sink, &r);
		fmt_html(sink, &r);
		fflush(sink);
	}
	junit_well_formed(&r);
	result_free(&r);
	suppressions_free(&supp);
	process_free(&p);
	return 0;
}
