/* The connleak command: dispatches to `run` (run.c), `report` (report_cmd.c) and `top`
 * (top.c), prints the version and the usage. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "connleak/connleak.h"

void connleak_usage(FILE *f)
{
	fprintf(f,
		"usage: connleak run [--report-dir DIR] [--options 'k=v:...'] [--no-perf-maps]\n"
		"                    [--] CMD [ARGS...]\n"
		"       connleak report [--format text|json|junit|html] [--output FILE]\n"
		"                       [--suppressions FILE] [--fail-on KINDS|any] PATH...\n"
		"       connleak top [--once] [--interval MS] [DIR | PID]\n"
		"       connleak version\n"
		"\n"
		"run   runs CMD with the connleak preload (CONNLEAK=1), writes one JSON report\n"
		"      per process to DIR (default ./connleak-reports), prints a summary and\n"
		"      returns CMD's exit status (128+N when killed by signal N). It asks\n"
		"      .NET, node, CPython >= 3.12 and the JVM for perf maps (environment\n"
		"      only) so managed frames are named, unless --no-perf-maps.\n"
		"      Options: see CONNLEAK_OPTIONS=help=1 or the README.\n"
		"report reads the reports in PATH (files or folders), groups, symbolizes and\n"
		"      suppresses the findings of all processes; see `connleak report --help`\n"
		"      and connleak(1).\n"
		"top   shows the reports in DIR (snapshots of running processes and final\n"
		"      reports) like top: sockets, close-wait, orphaned TLS sessions, descriptors\n"
		"      per process, and the call sites holding the most with their growth.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		connleak_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("connleak %s (report schema %d)\n", CONNLEAK_VERSION,
		       CONNLEAK_SCHEMA_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		connleak_usage(stdout);
		return 0;
	}
	fprintf(stderr, "connleak: unknown command '%s'\n", argv[1]);
	connleak_usage(stderr);
	return 2;
}
