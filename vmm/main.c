/* main: the husk command line. `husk run ...` boots a guest from flags. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/config.h"
#include "vmm/config_file.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/snapshot/cli.h"
#include "vmm/seccomp.h"
#include <jansson.h>
#include "vmm/vmm.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock_mux.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: husk run --kernel PATH [--initrd PATH] [--cmdline ARGS]\n"
	        "                [--vcpus N] [--mem MiB] [--level LEVEL]\n"
	        "                [--serial-out PATH] [--serial-out-limit MiB]\n"
	        "                [--drive path=FILE[,ro][,root][,engine=async][,cache=writeback][,id=NAME]]...\n"
	        "                [--net tap=NAME[,mac=MAC][,rx_bw=RATE][,rx_ops=RATE][,tx_bw=RATE][,tx_ops=RATE]]...\n"
	        "                [--vsock cid=N,uds=PATH] [--rng[=bw=RATE,ops=RATE]]\n"
	        "                [--seccomp-level 0|1|2|log] [--no-seccomp]\n"
	        "       husk [--api-sock PATH] [--id ID] [--config-file FILE] [--no-api]\n"
	        "            [--seccomp-level 0|1|2|log] [--no-seccomp]\n"
	        "            [--level LEVEL] [--log-path PATH] [--show-level] [--show-log-origin]\n"
	        "            [--metrics-path PATH] [--start-time-us US] [--boot-timer]\n"
	        "       husk snapshot load --snapshot PATH (--mem-file PATH | --uffd-sock PATH) ...\n"
	        "       husk --version\n");
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "husk: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return 2;
}

/* Parse an unsigned decimal in [min, max]; -EINVAL otherwise. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

static int run_parse(int argc, char **argv, struct vm_config *cfg, bool *selftest)
{
	enum { OPT_KERNEL = 1, OPT_INITRD, OPT_CMDLINE, OPT_VCPUS, OPT_MEM, OPT_SERIAL,
	       OPT_SERIAL_LIMIT, OPT_LEVEL, OPT_DRIVE, OPT_NET, OPT_VSOCK, OPT_RNG,
	       OPT_SECCOMP_LEVEL, OPT_NO_SECCOMP, OPT_SECCOMP_SELFTEST };
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "serial-out", required_argument, NULL, OPT_SERIAL },
		{ "serial-out-limit", required_argument, NULL, OPT_SERIAL_LIMIT },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "drive", required_argument, NULL, OPT_DRIVE },
		{ "net", required_argument, NULL, OPT_NET },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "rng", optional_argument, NULL, OPT_RNG },
		{ "seccomp-level", required_argument, NULL, OPT_SECCOMP_LEVEL },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		/* not in the usage: makes the vmm thread do a forbidden syscall
		 * once the VM runs (the tests' proof that the filter is on) */
		{ "seccomp-selftest", no_argument, NULL, OPT_SECCOMP_SELFTEST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL: cfg->boot.kernel_image_path = strdup(optarg); break;
		case OPT_INITRD: cfg->boot.initrd_path = strdup(optarg); break;
		case OPT_CMDLINE: cfg->boot.boot_args = strdup(optarg); break;
		case OPT_SERIAL: cfg->serial_out_path = strdup(optarg); break;
		case OPT_SERIAL_LIMIT:
			if (parse_u64(optarg, 0, UINT64_MAX >> 20, &v) < 0)
				return die_usage("--serial-out-limit must be a number of MiB (0: no cap), got '%s'",
				                 optarg);
			cfg->serial_out_limit = v << 20;
			break;
		case OPT_VCPUS:
			if (parse_u64(optarg, 1, CONFIG_MAX_VCPUS, &v) < 0)
				return die_usage("--vcpus must be 1..32, got '%s'", optarg);
			cfg->machine.vcpu_count = (unsigned)v;
			break;
		case OPT_MEM:
			if (parse_u64(optarg, 1, UINT64_MAX >> 20, &v) < 0)
				return die_usage("--mem must be a positive number of MiB, got '%s'", optarg);
			cfg->machine.mem_size_mib = v;
			break;
		case OPT_LEVEL: {
			enum log_level l;
			if (log_level_parse(optarg, &l) < 0)
				return die_usage("--level must be Error, Warning, Info or Debug, got '%s'", optarg);
			log_set_level(l);
			break;
		}
		case OPT_DRIVE: {
			const char *what = NULL;
			if (cfg->nr_drives >= CONFIG_MAX_DRIVES)
				return die_usage("%s", "too many --drive options (at most 16)");
			int n = cfg->nr_drives++; /* counted now so config_free frees it */
			if (blk_drive_parse(optarg, (unsigned)n, &cfg->drives[n], &what) < 0)
				return die_usage("--drive: %s", what);
			break;
		}
		case OPT_NET: {
			const char *what;
			if (cfg->nr_nets >= CONFIG_MAX_NETS)
				return die_usage("%s", "--net: too many interfaces");
			if (net_parse_cli(optarg, &cfg->nets[cfg->nr_nets], &what) < 0)
				return die_usage("%s", what ? what : "--net: out of memory");
			cfg->nr_nets++;
			break;
		}
		case OPT_VSOCK: {
			const char *what;
			uint32_t cid;
			if (cfg->vsock.set)
				return die_usage("%s", "--vsock: only one");
			if (vsock_parse_cli(optarg, &cid, &cfg->vsock.uds_path, &what) < 0)
				return die_usage("%s", what ? what : "--vsock: out of memory");
			cfg->vsock.guest_cid = cid;
			cfg->vsock.set = true;
			break;
		}
		case OPT_RNG:
			cfg->entropy = true;
			if (optarg && rng_parse_cli(optarg, &cfg->entropy_rate_limiter) < 0)
				return die_usage("--rng=bw=RATE,ops=RATE: bad rate '%s'", optarg);
			break;
		case OPT_SECCOMP_LEVEL: {
			enum seccomp_level l;
			if (seccomp_level_parse(optarg, &l) < 0)
				return die_usage("--seccomp-level must be 0, 1, 2 or log, got '%s'", optarg);
			seccomp_set_level(l);
			break;
		}
		case OPT_NO_SECCOMP: seccomp_set_level(SECCOMP_LEVEL_NONE); break;
		case OPT_SECCOMP_SELFTEST: *selftest = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (!cfg->boot.kernel_image_path)
		return die_usage("%s", "run needs --kernel PATH");
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmm vmm;
	bool selftest = false;
	int code;

	config_init(&cfg);
	/* a developer running a guest wants to see its boot time */
	log_set_level(LOG_INFO);
	/* filtered unless told otherwise */
	seccomp_set_level(SECCOMP_LEVEL_ADVANCED);
	code = run_parse(argc, argv, &cfg, &selftest);
	if (code)
		goto out_cfg;
	if (vmm_init(&vmm) < 0) {
		fprintf(stderr, "husk: cannot set up the event loop\n");
		code = 1;
		goto out_cfg;
	}
	if (vmm_start(&vmm, &cfg) < 0) {
		const char *why = vmm_start_error(&vmm);
		fprintf(stderr, "husk: the VM did not start: %s\n", why ? why : "see the error above");
		code = 1;
		goto out;
	}
	if (selftest)
		seccomp_selftest();
	code = vmm_run(&vmm);
	log_info("VM exited: %s (status %d)", vmm_exit_reason(&vmm), code);
	if (code)
		fprintf(stderr, "husk: %s\n", vmm_exit_reason(&vmm));
out:
	vmm_destroy(&vmm);
out_cfg:
	config_free(&cfg);
	return code;
}

/* ---- husk as Firecracker: the API socket and/or a config file ---- */

struct serve_opts {
	const char *sock;
	const char *id;
	const char *config_file;
	const char *metrics_path;
	bool no_api;
};

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	enum { O_SOCK = 1, O_ID, O_CONFIG, O_NO_API, O_LEVEL, O_LOG_PATH, O_SHOW_LEVEL, O_SHOW_ORIGIN,
	       O_METRICS, O_START_US, O_IGNORED, O_IGNORED_ARG, O_SECCOMP_LEVEL, O_NO_SECCOMP };
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, O_SOCK },
		{ "id", required_argument, NULL, O_ID },
		{ "config-file", required_argument, NULL, O_CONFIG },
		{ "no-api", no_argument, NULL, O_NO_API },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "log-path", required_argument, NULL, O_LOG_PATH },
		{ "show-level", no_argument, NULL, O_SHOW_LEVEL },
		{ "show-log-origin", no_argument, NULL, O_SHOW_ORIGIN },
		{ "metrics-path", required_argument, NULL, O_METRICS },
		{ "start-time-us", required_argument, NULL, O_START_US },
		{ "seccomp-level", required_argument, NULL, O_SECCOMP_LEVEL },
		{ "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
		/* Firecracker flags with nothing to do here: the boot timer is
		 * always there; the jailer passes the CPU start time */
		{ "boot-timer", no_argument, NULL, O_IGNORED },
		{ "start-time-cpu-us", required_argument, NULL, O_IGNORED_ARG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool show_level = false, show_origin = false;
	uint64_t v;
	int c;
	/* filtered unless told otherwise, as `husk run` */
	seccomp_set_level(SECCOMP_LEVEL_ADVANCED);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCK: o->sock = optarg; break;
		case O_ID:
			if (!*optarg || strlen(optarg) > 64)
				return die_usage("--id must be 1..64 characters, got '%s'", optarg);
			o->id = optarg;
			break;
		case O_CONFIG: o->config_file = optarg; break;
		case O_NO_API: o->no_api = true; break;
		case O_METRICS: o->metrics_path = optarg; break;
		case O_LEVEL: {
			enum log_level l;
			if (log_level_parse(optarg, &l) < 0)
				return die_usage("--level must be Error, Warning, Info or Debug, got '%s'", optarg);
			log_set_level(l);
			break;
		}
		case O_LOG_PATH:
			if (log_set_path(optarg) < 0)
				return die_usage("--log-path: cannot open '%s'", optarg);
			break;
		case O_SHOW_LEVEL: show_level = true; break;
		case O_SHOW_ORIGIN: show_origin = true; break;
		case O_START_US:
			if (parse_u64(optarg, 0, UINT64_MAX, &v) < 0)
				return die_usage("--start-time-us must be a number, got '%s'", optarg);
			log_set_start_us(v);
			break;
		case O_SECCOMP_LEVEL: {
			enum seccomp_level l;
			if (seccomp_level_parse(optarg, &l) < 0)
				return die_usage("--seccomp-level must be 0, 1, 2 or log, got '%s'", optarg);
			seccomp_set_level(l);
			break;
		}
		case O_NO_SECCOMP: seccomp_set_level(SECCOMP_LEVEL_NONE); break;
		case O_IGNORED:
		case O_IGNORED_ARG: break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (o->no_api && !o->config_file)
		return die_usage("%s", "--no-api needs --config-file");
	if (show_level || show_origin)
		log_set_options(show_level, show_origin);
	return 0;
}

/* Boot what the config file configured, as an InstanceStart would. */
static int serve_boot(struct api_target *t)
{
	struct api_request r = { .kind = API_ACTION, .action = ACTION_INSTANCE_START };
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
	code = serve_parse(argc, argv, &o);
	if (code)
		goto out_cfg;
	code = 1;
	if (vmm_init(&vmm) < 0) {
		fprintf(stderr, "husk: cannot set up the event loop\n");
		goto out_cfg;
	}
	metrics_init(&metrics, &vmm, &vmm.loop);
	struct api_target t = { .vmm = &vmm, .cfg = &cfg, .metrics = &metrics, .instance_id = o.id };
	if (o.metrics_path && metrics_open(&metrics, o.metrics_path) < 0) {
		fprintf(stderr, "husk: --metrics-path: cannot open %s\n", o.metrics_path);
		goto out;
	}
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
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("husk v%s\n", HUSK_VERSION);
		return 0;
	}
	if (argc >= 2 && strncmp(argv[1], "--", 2) == 0)
		return cmd_serve(argc, argv);
	usage(stderr);
	return 2;
}
