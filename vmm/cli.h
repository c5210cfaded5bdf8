/* cli: what husk's command lines share. The error line and its exit code,
 * numbers, the options every command has (--level, --seccomp-level,
 * --no-seccomp), and options as data: each resource (api/resource.h)
 * lists its own (name, usage text, how it fills a vm_config), defined
 * beside its code (a device's in its device module). */
#ifndef HUSK_VMM_CLI_H
#define HUSK_VMM_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vm_config;

/* Print "<prog>: <fmt, with arg for its %s>" to stderr; returns 2, the
 * exit code of a bad command line. */
int cli_error(const char *prog, const char *fmt, const char *arg);
/* Replace *field by a copy of arg; -ENOMEM with err. */
int cli_set_str(char **field, const char *arg, char *err, size_t errlen);
/* An unsigned decimal in [min, max]; -EINVAL otherwise. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* getopt values of the common options; a command lists CLI_COMMON_OPTS
 * among its own and hands these values to cli_common. */
enum { CLI_LEVEL = 0x100, CLI_SECCOMP_LEVEL, CLI_NO_SECCOMP, CLI_SECCOMP_FILTER, CLI_TABLE = 0x200 };
#define CLI_COMMON_OPTS                                                     \
	{ "level", required_argument, NULL, CLI_LEVEL },                    \
	{ "seccomp-level", required_argument, NULL, CLI_SECCOMP_LEVEL },    \
	{ "no-seccomp", no_argument, NULL, CLI_NO_SECCOMP },                \
	{ "seccomp-filter", required_argument, NULL, CLI_SECCOMP_FILTER }
#define CLI_COMMON_USAGE "[--level LEVEL] [--seccomp-level 0|1|2|log] [--no-seccomp] [--seccomp-filter FILE]"
/* 0, or cli_error's 2 for a bad value. */
int cli_common(const char *prog, int c, const char *arg);

/* An option that fills in part of a vm_config. */
struct cli_opt {
	const char *name;
	int has_arg;       /* getopt's no_argument, required_argument, optional_argument */
	const char *usage; /* its part of the usage line */
	/* 0, or -errno with the reason (the option named) in err */
	int (*apply)(const char *arg, struct vm_config *cfg, char *err, size_t errlen);
};

/* getopt's table for a command: its own options, then the cli_opts (value
 * CLI_TABLE + index), then the common ones and --help. NULL if it does
 * not fit in cap. */
struct option *cli_options(struct option *out, size_t cap, const struct option *own, size_t n_own,
                           const struct cli_opt *const *table);
/* Print "usage: <head>" and each table option's usage, wrapped. */
void cli_usage(FILE *f, const char *head, const struct cli_opt *const *table, const char *tail);

/* Rows of a command's own getopt table. */
#define CLI_ARG(name, val) { (name), required_argument, NULL, (val) }
#define CLI_FLAG(name, val) { (name), no_argument, NULL, (val) }

/* A command line: the command's own options, the table's, the common
 * ones and --help, read the same way by every husk command. */
struct cli_cmd {
	const char *prog; /* the error lines' prefix: "husk snapshot load" */
	const struct option *own;
	size_t n_own;
	/* 0, or the exit code of a bad option */
	int (*own_option)(int c, char *arg, void *ctx);
	const struct cli_opt *const *table; /* applied to the vm_config; NULL: none */
	void (*usage)(FILE *f);
};

/* Read argv (from argv[1]; no operands taken): own options go to
 * own_option with ctx, table options fill cfg, the common ones to
 * cli_common, --help prints the usage and exits 0. 0, or the exit code
 * of a bad command line (the usage or the error printed). */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *ctx, struct vm_config *cfg);

/* What Firecracker's argument parser does before it reads any option:
 * "--help" or "-h" anywhere before a "--" wins, then "--version"
 * anywhere before it, whatever else argv holds (a value, an unknown or
 * misplaced flag). */
enum cli_early { CLI_EARLY_NONE, CLI_EARLY_HELP, CLI_EARLY_VERSION };
enum cli_early cli_early_flag(int argc, char **argv);

#endif
