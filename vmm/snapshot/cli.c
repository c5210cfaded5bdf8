/* cli: `husk snapshot load ...`: a husk process that restores a snapshot
 * on a fresh VMM (no API needed) and runs it, like `husk run`. */
#include "vmm/snapshot/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/resource.h"
#include "vmm/cli.h"
#include "vmm/cli_vm.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot_vmm.h"
#include "vmm/vmm.h"

static void load_usage(FILE *f)
{
	fprintf(f, "usage: husk snapshot load --snapshot PATH (--mem-file PATH | --uffd-sock PATH)\n"
	           "                          [--resume] [--enable-diff] [--serial-out PATH] [--serial-out-limit MiB]\n"
	           "                         ");
	for (int i = 0; api_resources[i]; i++)
		if (api_resources[i]->load_cli_usage)
			fprintf(f, " %s", api_resources[i]->load_cli_usage);
	fprintf(f,
	        "\n                          " CLI_COMMON_USAGE "\n"
	        "  Restores the snapshot into this process and runs it until the guest\n"
	        "  exits (without --resume the VM stays paused: useful only to check a\n"
	        "  snapshot loads). Devices come from the snapshot; a clone gets its own\n"
	        "  taps and host sockets with the device options above, as the\n"
	        "  overrides of PUT /snapshot/load.\n"
	        "       husk snapshot create --api-sock PATH --snapshot PATH --mem-file PATH\n"
	        "                            [--type Full|Diff] [--keep-paused]\n"
	        "  Pauses the VM of a running husk through its API socket, snapshots it,\n"
	        "  resumes it.\n");
}

static unsigned long long cli_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

struct cli_load {
	struct snapshot_load_params p;
	const char *mem_file, *uffd_sock;
	json_t *overrides; /* the devices', or NULL */
};

#define PROG "husk snapshot load"

/* O_DEVICE + i: the load option of api_resources[i] */
enum { O_SNAP = 1, O_MEM, O_UFFD, O_RESUME, O_DIFF, O_DEVICE = 0x40 };

/* The override value so far and this option's, as the load body would
 * hold them: a repeated option of an array override adds its entries. */
static json_t *cli_override_merge(const json_t *before, json_t *v)
{
	if (!before || !json_is_array(before) || !json_is_array(v))
		return v;
	json_t *all = json_deep_copy(before);
	if (all && json_array_extend(all, v) < 0) {
		json_decref(all);
		all = NULL;
	}
	json_decref(v);
	return all; /* NULL: out of memory */
}

/* A device's load option: its resource's override, checked as the API's. */
static int cli_device_override(struct cli_load *l, const struct api_resource *res, const char *arg)
{
	struct api_err e = { "" };
	char msg[sizeof(e.msg) + 64];
	if (!l->overrides && !(l->overrides = json_object()))
		return cli_error(PROG, "%s", "out of memory");
	json_t *v = res->load_cli_override(arg);
	v = v ? cli_override_merge(json_object_get(l->overrides, res->load_override_key), v) : NULL;
	if (!v)
		return cli_error(PROG, "%s", "out of memory");
	if (res->load_override_check(v, &e) < 0) {
		json_decref(v);
		snprintf(msg, sizeof(msg), "--%s %s: %s", res->load_cli_name, arg, e.msg);
		return cli_error(PROG, "%s", msg);
	}
	if (json_object_set_new(l->overrides, res->load_override_key, v) < 0)
		return cli_error(PROG, "%s", "out of memory");
	l->p.device_overrides = l->overrides;
	return 0;
}

/* One option of husk snapshot load; 0, or the exit code of a bad one. */
static int cli_load_option(int c, char *arg, void *load)
{
	struct cli_load *l = load;
	switch (c) {
	case O_SNAP: l->p.snapshot_path = arg; break;
	case O_MEM: l->mem_file = arg; break;
	case O_UFFD: l->uffd_sock = arg; break;
	case O_RESUME: l->p.resume_vm = true; break;
	case O_DIFF: l->p.enable_diff_snapshots = true; break;
	}
	if (c >= O_DEVICE)
		return cli_device_override(l, api_resources[c - O_DEVICE], arg);
	return 0;
}

static int cli_load_parse(int argc, char **argv, struct vm_config *cfg, void *load)
{
	struct cli_load *l = load;
	struct option own[32] = {
		CLI_ARG("snapshot", O_SNAP),
		CLI_ARG("mem-file", O_MEM),
		CLI_ARG("uffd-sock", O_UFFD),
		CLI_FLAG("resume", O_RESUME),
		CLI_FLAG("enable-diff", O_DIFF),
	};
	size_t n_own = O_DIFF;
	for (int i = 0; api_resources[i] && n_own < sizeof(own) / sizeof(own[0]); i++)
		if (api_resources[i]->load_cli_name)
			own[n_own++] = (struct option)CLI_ARG(api_resources[i]->load_cli_name, O_DEVICE + i);
	/* the guest's console, as husk run's (--serial-out, --serial-out-limit) */
	const struct cli_cmd cmd = { .prog = PROG, .own = own, .n_own = n_own,
	                             .own_option = cli_load_option, .usage = load_usage,
	                             .table = api_resource_by_path("/serial")->cli_opts };
	int code = cli_parse(&cmd, argc, argv, l, cfg);
	if (code)
		return code;
	if (!l->p.snapshot_path)
		return cli_error(PROG, "%s", "--snapshot PATH is required");
	if (!l->mem_file == !l->uffd_sock)
		return cli_error(PROG, "%s", "give exactly one of --mem-file and --uffd-sock");
	l->p.mem_backend = l->mem_file ? SNAPSHOT_MEM_FILE : SNAPSHOT_MEM_UFFD;
	l->p.backend_path = l->mem_file ? l->mem_file : l->uffd_sock;
	return 0;
}

static int cli_load_start(struct vmm *vmm, struct vm_config *cfg, void *load)
{
	struct cli_load *l = load;
	char err[512] = "";
	/* the restore benchmark's origin: CLOCK_MONOTONIC, comparable with
	 * the time the guest's first output is seen */
	log_info("snapshot: load start at monotonic %llu us", cli_mono_us());
	if (snapshot_load(vmm, cfg, &l->p, err, sizeof(err)) < 0) {
		fprintf(stderr, "husk: snapshot load failed: %s\n", err);
		return -EINVAL;
	}
	log_info("snapshot: running at monotonic %llu us", cli_mono_us());
	return 0;
}

static int cli_load(int argc, char **argv)
{
	static const struct cli_vm_cmd load = { .parse = cli_load_parse, .start = cli_load_start };
	struct cli_load l;
	memset(&l, 0, sizeof(l));
	int code = cli_vm_main(&load, argc, argv, &l);
	json_decref(l.overrides);
	return code;
}

int snapshot_cli_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "load") == 0)
		return cli_load(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return snapshot_cli_create(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		load_usage(stdout);
		return 0;
	}
	load_usage(stderr);
	return 2;
}
