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
int cmd_train(int argc, char **argv);

int cmd_generate(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_metrics(int argc, char **argv);

/* Helpers shared by the subcommands (cli_util.c). */
#include <stddef.h>
#include <stdint.h>
#define CLI_MAX_SEEDS 100000
#define CLI_MAX_SEED  4294967295u
#define CLI_MAX_GRID  4096
/* --name VALUE or --name=VALUE, advancing *i; NULL if argv[*i] is another flag. */
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, int *missing);
/* Whole-string decimal in [lo, hi]; 1 on success. */
int cli_parse_int(const char *s, long long lo, long long hi, long long *v);
/* Whole-string finite number in [lo, hi] ([lo, hi) with hi_open); 1 on success. */
int cli_parse_number(const char *s, double lo, double hi, int hi_open, double *v);
/* "4:128,64:32" or "V" into values[log2 R] (values[0] for a bare V); 0 or -1. */
int cli_parse_per_res(const char *text, int max_log2, double lo, double hi, double *values,
                      int *bare, char *err, size_t err_size);
/* "0-3,9,20-22" -> malloc'd seeds; 0, or -1 with the reason in err. */
int cli_parse_seeds(const char *text, uint64_t **seeds, int *count, char *err, size_t err_size);
/* mkdir -p; 0 on success. */
int cli_mkdir_p(const char *dir);

#endif
