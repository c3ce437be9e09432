/* The connleak command's subcommands, as main.c dispatches to them. */
#ifndef CONNLEAK_TOOLS_CLI_H
#define CONNLEAK_TOOLS_CLI_H

#include <stdio.h>

void connleak_usage(FILE *f);
/* argv[0] is the subcommand's name; each returns the command's exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
