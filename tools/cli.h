/* The connleak command's subcommands, as main.c dispatches to them. */
#ifndef CONNLEAK_TOOLS_CLI_H
#define CONNLEAK_TOOLS_CLI_H

#include <stdio.h>

void connleak_usage(FILE *f);
/* argv[0] is the subcommand's name; each returns the command's exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);

/* run_env.c: asks managed runtimes for perf maps through the environment (.NET, node,
 * CPython >= 3.12, HotSpot); `connleak run --no-perf-maps` skips it. */
void run_env_perf_maps(void);
/* 1 when `cmd` (looked up in PATH like execvp) is an ELF file without a program
 * interpreter: statically linked (Go binaries), so the preload never loads into it. */
int run_command_is_static(const char *cmd);

#endif
