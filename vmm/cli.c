/* cli: the shared parts of husk's command lines. */
#include "vmm/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/seccomp_file.h"

int cli_error(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return 2;
}

int cli_set_str(char **field, const char *arg, char *err, size_t errlen)
{
	char *s = strdup(arg);
	if (!s)
		return errmsg_set(err, errlen, -ENOMEM, "out of memory");
	free(*field);
	*field = s;
	return 0;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* as Firecracker, which refuses --no-seccomp with --seccomp-filter */
#define CLI_FILTER_CONFLICT "--seccomp-filter cannot go with --no-seccomp or --seccomp-level 0"

/* --seccomp-filter FILE: compiled now, so a bad file stops start-up. The
 * commands set a level before parsing: NONE here means it was turned off. */
static int cli_seccomp_filter(const char *prog, const char *path)
{
	char err[512], msg[1024];
	if (seccomp_get_level() == SECCOMP_LEVEL_NONE)
		return cli_error(prog, "%s", CLI_FILTER_CONFLICT);
	if (seccomp_filter_file_load(path, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "--seccomp-filter %s: %s", path, err);
		return cli_error(prog, "%s", msg);
	}
	return 0;
}

int cli_common(const char *prog, int c, const char *arg)
{
	enum log_level l;
	enum seccomp_level s;
	switch (c) {
	case CLI_LEVEL:
		if (log_level_parse(arg, &l) < 0)
			return cli_error(prog, "--level must be Error, Warning, Info, Debug, Trace or Off, got '%s'",
			                 arg);
		log_set_level(l);
		return 0;
	case CLI_SECCOMP_LEVEL:
		if (seccomp_level_parse(arg, &s) < 0)
			return cli_error(prog, "--seccomp-level must be 0, 1, 2 or log, got '%s'", arg);
		if (s == SECCOMP_LEVEL_NONE && seccomp_has_custom())
			return cli_error(prog, "%s", CLI_FILTER_CONFLICT);
		seccomp_set_level(s);
		return 0;
	case CLI_NO_SECCOMP:
		if (seccomp_has_custom())
			return cli_error(prog, "%s", CLI_FILTER_CONFLICT);
		seccomp_set_level(SECCOMP_LEVEL_NONE);
		return 0;
	case CLI_SECCOMP_FILTER: return cli_seccomp_filter(prog, arg);
	}
	return cli_error(prog, "%s", "internal error: not a common option");
}

struct option *cli_options(struct option *out, size_t cap, const struct option *own, size_t n_own,
                           const struct cli_opt *const *table)
{
	static const struct option tail[] = { CLI_COMMON_OPTS, { "help", no_argument, NULL, 'h' },
	                                      { NULL, 0, NULL, 0 } };
	size_t n = 0, n_table = 0;
	while (table && table[n_table])
		n_table++;
	if (n_own + n_table + sizeof(tail) / sizeof(tail[0]) > cap)
		return NULL;
	for (size_t i = 0; i < n_own; i++)
		out[n++] = own[i];
	for (size_t i = 0; i < n_table; i++)
		out[n++] = (struct option){ table[i]->name, table[i]->has_arg, NULL, CLI_TABLE + (int)i };
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		out[n++] = tail[i];
	return out;
}

void cli_usage(FILE *f, const char *head, const struct cli_opt *const *table, const char *tail)
{
	const size_t width = 78, indent = strlen("usage: ") + strlen(head);
	size_t col = (size_t)fprintf(f, "usage: %s", head);
	for (size_t i = 0; table && table[i]; i++) {
		size_t len = strlen(table[i]->usage);
		if (col + 1 + len > width)
			col = (size_t)fprintf(f, "\n%*s", (int)indent, "") - 1;
		col += (size_t)fprintf(f, " %s", table[i]->usage);
	}
	fprintf(f, "\n%s", tail);
}

/* One option: the table's, a common one, --help or the command's own. */
static int cli_option(const struct cli_cmd *cmd, int c, char *arg, void *ctx, struct vm_config *cfg)
{
	char err[256];
	if (c >= CLI_TABLE) {
		if (cmd->table[c - CLI_TABLE]->apply(arg, cfg, err, sizeof(err)) < 0)
			return cli_error(cmd->prog, "%s", err);
		return 0;
	}
	switch (c) {
	case CLI_LEVEL:
	case CLI_SECCOMP_LEVEL:
	case CLI_NO_SECCOMP:
	case CLI_SECCOMP_FILTER: return cli_common(cmd->prog, c, arg);
	case 'h': cmd->usage(stdout); exit(0);
	case '?': cmd->usage(stderr); return 2;
	}
	return cmd->own_option(c, arg, ctx);
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *ctx, struct vm_config *cfg)
{
	struct option opts[96];
	int c, code;
	if (!cli_options(opts, sizeof(opts) / sizeof(opts[0]), cmd->own, cmd->n_own, cmd->table))
		return cli_error(cmd->prog, "%s", "internal error: too many options");
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		if ((code = cli_option(cmd, c, optarg, ctx, cfg)) != 0)
			return code;
	if (optind < argc)
		return cli_error(cmd->prog, "unexpected argument '%s'", argv[optind]);
	return 0;
}

enum cli_early cli_early_flag(int argc, char **argv)
{
	enum cli_early found = CLI_EARLY_NONE;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return CLI_EARLY_HELP;
		if (strcmp(argv[i], "--version") == 0)
			found = CLI_EARLY_VERSION;
	}
	return found;
}
