/* src/cli: the progan command line. Each subcommand is one file cmd_<name>.c with
 * `int cmd_<name>(int argc, char **argv)` (argv[0] is the subcommand) returning
 * the process exit code. Only this layer prints usage or exits. */
#ifndef PROGAN_CLI_COMMANDS_H
#define PROGAN_CLI_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

int cmd_devices(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plot(int argc, char **argv);

#endif
