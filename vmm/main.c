/* main: the husk command line. `husk run ...` boots a guest from flags. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/config.h"
#include "vmm/cli.h"
#include "vmm/cli_vm.h"
#include "vmm/config_file.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/snapshot/cli.h"
#include "vmm/snapshot/format.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/seccomp.h"
#include <jansson.h>
#include "vmm/vmm.h"

#define PROG "husk"

/* ---- husk run: every resource's options (api/resource.h) ---- */

static const struct cli_opt *const *run_table(void)
{
	static const struct cli_opt *table[64];
	size_t n = 0;
	for (int r = 0; api_resources[r]; r++)
		for (int i = 0; api_resources[r]->cli_opts && api_resources[r]->cli_opts[i]; i++)
			if (n + 1 < sizeof(table) / sizeof(table[0]))
				table[n++] = api_resources[r]->cli_opts[i];
	table[n] = NULL;
	return table;
}

static void usage(FILE *f)
{
	cli_usage(f, "husk run", run_table(), "");
	fprintf(f, "                " CLI_COMMON_USAGE "\n"
	           "       husk [--api-sock PATH] [--id ID] [--config-file FILE] [--no-api]\n"
	           "            " CLI_COMMON_USAGE "\n"
	           "            [--log-path PATH] [--show-level] [--show-log-origin]\n"
	           "            [--metrics-path PATH] [--start-time-us US] [--boot-timer]\n"
	           "            [--http-api-max-payload-size BYTES] [--mmds-size-limit BYTES] [--metadata FILE]\n"
	           "            [--describe-snapshot FILE] [--snapshot-version] [--no-acpi]\n"
	           "       husk snapshot load --snapshot PATH (--mem-file PATH | --uffd-sock PATH) ...\n"
	           "       husk --version\n");
}

/* husk run's own option: the hidden --seccomp-selftest */
static int run_option(int c, char *arg, void *selftest)
{
	(void)arg;
	(void)c;
	*(bool *)selftest = true;
	return 0;
}

static int run_parse(int argc, char **argv, struct vm_config *cfg, void *selftest)
{
	/* not in the usage: makes the vmm thread do a forbidden syscall once
	 * the VM runs (the tests' proof that the filter is on) */
	static const struct option own[] = { CLI_FLAG("seccomp-selftest", 'S') };
	const struct cli_cmd cmd = { .prog = PROG, .own = own, .n_own = 1, .own_option = run_option,
	                             .table = run_table(), .usage = usage };
	int code = cli_parse(&cmd, argc, argv, selftest, cfg);
	if (code == 0 && !cfg->boot.kernel_image_path)
		return cli_error(PROG, "%s", "run needs --kernel PATH");
	return code;
}

static int run_start(struct vmm *vmm, struct vm_config *cfg, void *selftest)
{
	if (vmm_start(vmm, cfg) < 0) {
		const char *why = vmm_start_error(vmm);
		fprintf(stderr, "husk: the VM did not start: %s\n", why ? why : "see the error above");
		return -EINVAL;
	}
	if (*(bool *)selftest)
		seccomp_selftest();
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct cli_vm_cmd run = { .parse = run_parse, .start = run_start };
	bool selftest = false;
	return cli_vm_main(&run, argc, argv, &selftest);
}

/* ---- husk as Firecracker: the API socket and/or a config file ---- */

struct serve_opts {
	const char *sock;
	const char *id;
	const char *config_file;
	const char *metrics_path;
	const char *metadata; /* --metadata: the MMDS store's first content */
	bool no_api, show_level, show_origin, no_acpi;
	uint64_t max_payload, mmds_limit; /* 0: not given */
	/* --start-time-cpu-us, --parent-cpu-time-us: the jailer's CPU clock
	 * at exec and the CPU it used (api_server's startup CPU time) */
	uint64_t start_cpu_us, parent_cpu_us;
};

enum { O_SOCK = 1, O_ID, O_CONFIG, O_NO_API, O_LOG_PATH, O_SHOW_LEVEL, O_SHOW_ORIGIN, O_METRICS,
       O_START_US, O_MAX_PAYLOAD, O_MMDS_LIMIT, O_METADATA, O_DESCRIBE, O_SNAP_VERSION, O_NO_ACPI,
       O_START_CPU_US, O_PARENT_CPU_US, O_IGNORED };

/* --describe-snapshot FILE: the format version, as Firecracker prints its
 * snapshot data version ("v<major>.0.0"). Exits. */
static void serve_describe(const char *path)
{
	uint32_t v;
	char err[256];
	if (snapshot_describe(path, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "husk: %s\n", err);
		exit(1);
	}
	printf("v%u.0.0\n", v);
	exit(0);
}

/* One option of husk (API mode); 0, or the exit code of a bad one. */
static int serve_option(int c, char *arg, void *opts)
{
	struct serve_opts *o = opts;
	uint64_t v;
	switch (c) {
	case O_SOCK: o->sock = arg; return 0;
	case O_ID:
		/* Firecracker's validate_instance_id (ASCII letters here) */
		if (!*arg || strlen(arg) > 64 || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                             "0123456789-") != strlen(arg))
			return cli_error(PROG, "--id must be 1..64 letters, digits or '-', got '%s'", arg);
		o->id = arg;
		return 0;
	case O_CONFIG: o->config_file = arg; return 0;
	case O_NO_API: o->no_api = true; return 0;
	case O_NO_ACPI: o->no_acpi = true; return 0;
	case O_METRICS: o->metrics_path = arg; return 0;
	case O_LOG_PATH:
		return log_set_path(arg) < 0 ? cli_error(PROG, "--log-path: cannot open '%s'", arg) : 0;
	case O_SHOW_LEVEL: o->show_level = true; return 0;
	case O_SHOW_ORIGIN: o->show_origin = true; return 0;
	case O_START_US:
		if (cli_parse_u64(arg, 0, UINT64_MAX, &v) < 0)
			return cli_error(PROG, "--start-time-us must be a number, got '%s'", arg);
		log_set_start_us(v);
		return 0;
	case O_START_CPU_US:
	case O_PARENT_CPU_US:
		if (cli_parse_u64(arg, 0, UINT64_MAX, &v) < 0)
			return cli_error(PROG, c == O_START_CPU_US ? "--start-time-cpu-us must be a number, got '%s'"
			                                          : "--parent-cpu-time-us must be a number, got '%s'", arg);
		*(c == O_START_CPU_US ? &o->start_cpu_us : &o->parent_cpu_us) = v;
		return 0;
	case O_MAX_PAYLOAD:
		if (cli_parse_u64(arg, 1, 1 << 30, &v) < 0)
			return cli_error(PROG, "--http-api-max-payload-size must be 1..1073741824 bytes, got '%s'", arg);
		http_set_max_body((size_t)v);
		o->max_payload = v;
		return 0;
	case O_MMDS_LIMIT:
		if (cli_parse_u64(arg, 1, 1 << 30, &v) < 0)
			return cli_error(PROG, "--mmds-size-limit must be 1..1073741824 bytes, got '%s'", arg);
		o->mmds_limit = v;
		return 0;
	case O_METADATA: o->metadata = arg; return 0;
	case O_DESCRIBE: serve_describe(arg); return 0;
	case O_SNAP_VERSION: printf("v%u.0.0\n", SNAP_FORMAT_VERSION); exit(0);
	}
	return 0; /* O_IGNORED */
}

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	static const struct option own[] = {
		CLI_ARG("api-sock", O_SOCK),
		CLI_ARG("id", O_ID),
		CLI_ARG("config-file", O_CONFIG),
		CLI_FLAG("no-api", O_NO_API),
		CLI_ARG("log-path", O_LOG_PATH),
		CLI_FLAG("show-level", O_SHOW_LEVEL),
		CLI_FLAG("show-log-origin", O_SHOW_ORIGIN),
		CLI_ARG("metrics-path", O_METRICS),
		CLI_ARG("start-time-us", O_START_US),
		CLI_ARG("http-api-max-payload-size", O_MAX_PAYLOAD),
		CLI_ARG("mmds-size-limit", O_MMDS_LIMIT),
		CLI_ARG("metadata", O_METADATA),
		CLI_ARG("describe-snapshot", O_DESCRIBE),
		CLI_FLAG("snapshot-version", O_SNAP_VERSION),
		CLI_FLAG("no-acpi", O_NO_ACPI),
		CLI_ARG("start-time-cpu-us", O_START_CPU_US),
		CLI_ARG("parent-cpu-time-us", O_PARENT_CPU_US),
		/* Firecracker flags with nothing to do here: the boot timer is
		 * always there; there are no modules to filter the log by */
		CLI_FLAG("boot-timer", O_IGNORED),
		CLI_ARG("module", O_IGNORED),
	};
	const struct cli_cmd cmd = { .prog = PROG, .own = own, .n_own = sizeof(own) / sizeof(own[0]),
	                             .own_option = serve_option, .usage = usage };
	/* filtered unless told otherwise, as `husk run` */
	seccomp_set_level(SECCOMP_LEVEL_ADVANCED);
	int code = cli_parse(&cmd, argc, argv, o, NULL);
	if (code)
		return code;
	if (o->no_api && !o->config_file)
		return cli_error(PROG, "%s", "--no-api needs --config-file");
	if (o->show_level || o->show_origin)
		log_set_options(o->show_level, o->show_origin);
	return 0;
}

/* --metadata FILE: a JSON document put into the MMDS store, as a PUT
 * /mmds would (Firecracker's way to fill it without the API). */
static int serve_metadata(struct mmds *m, const char *path)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		fprintf(stderr, "husk: --metadata %s: %s\n", path, je.text);
		return -EINVAL;
	}
	int ret = json_is_object(doc) ? mmds_store_put(&m->store, doc) : -EINVAL;
	if (ret == -EFBIG)
		fprintf(stderr, "husk: --metadata %s: larger than the MMDS limit of %zu bytes\n", path, m->store.limit);
	else if (ret < 0)
		fprintf(stderr, "husk: --metadata %s: must be a JSON object\n", path);
	json_decref(doc);
	return ret;
}

/* Boot what the config file configured, as an InstanceStart would. */
static int serve_boot(struct api_target *t)
{
	struct api_request r = { .method = api_resource_by_path("/actions")->put, .action = ACTION_INSTANCE_START };
	struct api_reply rep = { 500, NULL };
	char why[512];
	api_apply(t, &r, &rep);
	if (rep.status >= 400) {
		api_reply_reason(&rep, why, sizeof(why));
		fprintf(stderr, "husk: %s\n", why);
	}
	free(rep.body);
	return rep.status >= 400 ? -EINVAL : 0;
}

/* --metrics-path: opened as PUT /metrics would, and shown by GET /vm/config */
static int serve_metrics(struct api_target *t, const char *path)
{
	if (metrics_open(t->metrics, path) < 0) {
		fprintf(stderr, "husk: --metrics-path: cannot open %s\n", path);
		return -1;
	}
	t->cfg->metrics_path = t->metrics->path;
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct serve_opts o = { .sock = "/run/firecracker.socket", .id = "anonymous-instance" };
	struct vm_config cfg;
	struct vmm vmm;
	struct metrics metrics;
	struct api api;
	bool api_up = false;
	char err[512];
	int code;

	config_init(&cfg);
	/* Firecracker's default level (logger.rs DEFAULT_LEVEL) */
	log_set_level(LOG_INFO);
	code = serve_parse(argc, argv, &o);
	if (code)
		goto out_cfg;
	cfg.no_acpi = o.no_acpi;
	code = 1;
	if (vmm_init(&vmm) < 0) {
		fprintf(stderr, "husk: cannot set up the event loop\n");
		goto out_cfg;
	}
	/* as Firecracker: without its own flag the store may be as large as
	 * an API body */
	vmm.mmds.store.limit = o.mmds_limit ? o.mmds_limit : o.max_payload ? o.max_payload : MMDS_STORE_DEFAULT_LIMIT;
	metrics_init(&metrics, &vmm, &vmm.loop);
	if (o.metadata && serve_metadata(&vmm.mmds, o.metadata) < 0)
		goto out;
	struct api_target t = { .vmm = &vmm, .cfg = &cfg, .metrics = &metrics, .instance_id = o.id };
	if (o.metrics_path && serve_metrics(&t, o.metrics_path) < 0)
		goto out;
	if (o.config_file && config_file_load(o.config_file, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "husk: config file %s: %s\n", o.config_file, err);
		goto out;
	}
	if (!o.no_api) {
		if (api_start(&api, o.sock, &vmm.loop, &t) < 0) {
			fprintf(stderr, "husk: cannot serve the API on %s\n", o.sock);
			goto out;
		}
		api_up = true;
	}
	metrics_mark_startup(&metrics, o.start_cpu_us, o.parent_cpu_us);
	if (o.config_file && serve_boot(&t) < 0)
		goto out;
	code = vmm_run(&vmm);
	if (vmm.vm_created)
		log_info("VM exited: %s (status %d)", vmm_exit_reason(&vmm), code);
out:
	if (api_up)
		api_stop(&api);
	metrics_flush(&metrics);
	metrics_close(&metrics);
	vmm_destroy(&vmm);
out_cfg:
	config_free(&cfg);
	return code;
}

int main(int argc, char **argv)
{
	/* jansson seeds its hash tables from /dev/urandom on first use; do it
	 * now, before any thread runs under a seccomp filter without open */
	json_object_seed(0);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "snapshot") == 0)
		return snapshot_cli_main(argc - 1, argv + 1);
	/* Firecracker's command line: --help, then --version, wherever they are */
	switch (cli_early_flag(argc, argv)) {
	case CLI_EARLY_HELP:
		usage(stdout);
		return 0;
	case CLI_EARLY_VERSION:
		/* Firecracker's shape, "<name> v<version>" on the first line
		 * (Kata parses it); husk's own version on the second */
		printf("husk v%s\nhusk %s, following the API and flags of Firecracker v%s\n",
		       FIRECRACKER_API_VERSION, HUSK_VERSION, FIRECRACKER_API_VERSION);
		return 0;
	case CLI_EARLY_NONE:
		break;
	}
	if (argc >= 2 && strncmp(argv[1], "--", 2) == 0)
		return cmd_serve(argc, argv);
	usage(stderr);
	return 2;
}
