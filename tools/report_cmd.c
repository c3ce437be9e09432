/* `connleak report`: options, then read -> symbolize -> group and suppress -> write in the
 * chosen format -> exit status for CI (--fail-on). Each step lives in its own file. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: connleak report [--format text|json|junit|html] [--output FILE]\n"
		"                       [--suppressions FILE] [--fail-on KINDS|any]\n"
		"                       [--debuginfod] PATH...\n"
		"\n"
		"Reads the JSON reports in PATH (files, or folders searched recursively for\n"
		"*.json), groups the findings of all processes by kind and stack, symbolizes\n"
		"the stacks and writes the result (text by default, to stdout).\n"
		"  --fail-on KINDS  comma-separated finding kinds, or 'any': exit 1 when\n"
		"                   unsuppressed findings of those kinds remain\n"
		"  --suppressions   file of 'kind:pattern' lines (repeatable)\n"
		"  --debuginfod     let elfutils fetch missing debug info from the servers in\n"
		"                   DEBUGINFOD_URLS (otherwise the command stays offline)\n"
		"Exit status: 0, 1 (--fail-on matched), 2 (usage error, missing PATH, bad\n"
		"suppressions file, no report read).\n");
}

enum format { FMT_TEXT, FMT_JSON, FMT_JUNIT, FMT_HTML };

/* Parses "kind,kind" or "any" into fail[]; -1 on an unknown kind. */
static int parse_fail_on(const char *arg, int fail[CONNLEAK_KIND_COUNT + 1])
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 0;
	if (!copy)
		return -1;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(t, "any")) {
			/* Every finding but open-at-exit, which is not a leak (it can still be
			 * named on its own). */
			for (int k = 0; k <= CONNLEAK_KIND_COUNT; k++)
				fail[k] = k != kind_rank("open-at-exit");
		} else if (kind_is_known(t)) {
			fail[kind_rank(t)] = 1;
		} else {
			fprintf(stderr, "connleak report: --fail-on: unknown finding kind '%s' "
					"(accepts 'any' or:", t);
			for (int k = 0; k < CONNLEAK_KIND_COUNT; k++)
				fprintf(stderr, " %s", severity_order[k]);
			fprintf(stderr, ")\n");
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"suppressions", required_argument, NULL, 's'},
		{"fail-on", required_argument, NULL, 'F'},
		{"debuginfod", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	enum format format = FMT_TEXT;
	const char *output = NULL;
	int fail[CONNLEAK_KIND_COUNT + 1] = {0};
	struct suppressions supp = {0};
	char err[1024];
	int c, status = 0, debuginfod = 0;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":f:o:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				format = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				format = FMT_JSON;
			else if (!strcmp(optarg, "junit"))
				format = FMT_JUNIT;
			else if (!strcmp(optarg, "html"))
				format = FMT_HTML;
			else {
				fprintf(stderr, "connleak report: --format: unknown format '%s' "
						"(accepts text, json, junit, html)\n",
					optarg);
				status = 2;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case 's':
			if (suppressions_load(&supp, optarg, err, sizeof err) != 0) {
				fprintf(stderr, "connleak report: suppressions: %s\n", err);
				status = 2;
			}
			break;
		case 'F':
			if (parse_fail_on(optarg, fail) != 0)
				status = 2;
			break;
		case 'D':
			debuginfod = 1;
			break;
		case 'h':
			report_usage(stdout);
			suppressions_free(&supp);
			return 0;
		case ':':
			fprintf(stderr, "connleak report: option '%s' needs a value\n",
				argv[optind - 1]);
			status = 2;
			break;
		default:
			fprintf(stderr, "connleak report: unknown option '%s'\n", argv[optind - 1]);
			status = 2;
		}
		if (status)
			break;
	}
	if (!status && optind >= argc) {
		fprintf(stderr, "connleak report: no PATH given\n");
		status = 2;
	}
	if (status) {
		report_usage(stderr);
		suppressions_free(&supp);
		return status;
	}

	/* Offline unless asked: with DEBUGINFOD_URLS set, libdwfl would download debug info
	 * for every module without it, which can take minutes (its client reads the variable
	 * at each lookup, so unsetting it here is enough). */
	if (!debuginfod)
		unsetenv("DEBUGINFOD_URLS");
	struct report_set set;
	int missing = report_set_read(&set, argv + optind, argc - optind, stderr);
	if (set.nprocs == 0) {
		if (!missing && !set.nerrors)
			fprintf(stderr, "connleak report: no report files (*.json) found\n");
		else
			fprintf(stderr, "connleak report: no report could be read\n");
		report_set_free(&set);
		suppressions_free(&supp);
		return 2;
	}
	symbolize_set(&set);
	struct result r;
	result_build(&r, &set, &supp);

	FILE *out = stdout;
	if (output && strcmp(output, "-") && !(out = fopen(output, "w"))) {
		fprintf(stderr, "connleak report: cannot write '%s': %s\n", output, strerror(errno));
		status = 2;
	} else {
		int rc;
		switch (format) {
		case FMT_JSON: rc = fmt_json(out, &r); break;
		case FMT_JUNIT: rc = fmt_junit(out, &r); break;
		case FMT_HTML: rc = fmt_html(out, &r); break;
		default: rc = fmt_text(out, &r); break;
		}
		if (out != stdout ? fclose(out) != 0 : fflush(out) != 0)
			rc = -1;
		if (rc) {
			fprintf(stderr, "connleak report: writing %s failed\n",
				output ? output : "the output");
			status = 2;
		}
	}
	if (!status) {
		for (int k = 0; k <= CONNLEAK_KIND_COUNT; k++)
			if (fail[k] && r.per_rank[k])
				status = 1;
		if (missing)
			status = 2;
	}
	result_free(&r);
	report_set_free(&set);
	suppressions_free(&supp);
	symbolize_cleanup();
	return status;
}
