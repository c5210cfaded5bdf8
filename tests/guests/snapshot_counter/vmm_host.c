/* snapshot_vmm_host: boots a guest on a whole husk VMM (struct vmm, the
 * devices of `husk run`) and takes a snapshot through snapshot_create,
 * the call PUT /snapshot/create makes, when the guest prints a given line.
 * The tests and the restore benchmark make their snapshots with it until
 * `husk snapshot create` (an API client) exists; restores go through the
 * real binary (`husk snapshot load`).
 *
 * usage: snapshot_vmm_host --kernel ELF [--mem MiB] [--cmdline ARGS]
 *            [--drive SPEC]... [--net SPEC]... [--vsock cid=N,uds=P] [--rng]
 *            [--track-dirty] --at LINE --snapshot P --mem-file M
 *            [--type Full|Diff] [--at2 LINE --snapshot2 P --mem-file2 M --type2 T]
 *            [--then exit|resume]
 * Serial output is copied to stdout; "snapshot ok: P" or "snapshot failed:
 * why" lines go to stderr. With --then exit (the default) the VM stops
 * after the last snapshot, as if killed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "vmm/cli.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot_vmm.h"
#include "vmm/vmm.h"

struct shot {
	const char *at;
	struct snapshot_create_params p;
};

struct host {
	struct vmm vmm;
	int rfd;
	char line[256];
	size_t len;
	struct shot shot[2];
	unsigned nr_shots, done;
	bool then_resume;
	int failed;
};

static void host_line(struct host *h)
{
	struct vmm *vmm = &h->vmm;
	if (h->done >= h->nr_shots || strcmp(h->line, h->shot[h->done].at) != 0)
		return;
	struct shot *s = &h->shot[h->done++];
	char err[512] = "";
	int ret = vmm_pause(vmm);
	if (ret == 0)
		ret = snapshot_create(vmm, &s->p, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "snapshot failed: %s\n", err[0] ? err : strerror(-ret));
		h->failed = 1;
		vm_request_exit(&vmm->vm, 1, "snapshot failed");
		return;
	}
	fprintf(stderr, "snapshot ok: %s\n", s->p.snapshot_path);
	if (h->done == h->nr_shots && !h->then_resume)
		vm_request_exit(&vmm->vm, 0, "snapshot taken");
	else
		vmm_resume(vmm);
}

static void host_on_serial(void *opaque, uint32_t events)
{
	struct host *h = opaque;
	char buf[4096];
	(void)events;
	ssize_t n = read(h->rfd, buf, sizeof(buf));
	if (n <= 0)
		return;
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			h->line[h->len] = '\0';
			host_line(h);
			h->len = 0;
		} else if (h->len + 1 < sizeof(h->line)) {
			h->line[h->len++] = buf[i];
		}
	}
}

static enum snapshot_type host_type(const char *s)
{
	return strcmp(s, "Diff") == 0 ? SNAPSHOT_DIFF : SNAPSHOT_FULL;
}

static int host_parse(int argc, char **argv, struct host *h, struct vm_config *cfg)
{
	enum { O_KERNEL = 1, O_MEM, O_CMDLINE, O_DRIVE, O_NET, O_VSOCK, O_RNG, O_DIRTY, O_AT, O_SNAP,
	       O_MEMF, O_TYPE, O_AT2, O_SNAP2, O_MEMF2, O_TYPE2, O_THEN };
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, O_KERNEL }, { "mem", required_argument, NULL, O_MEM },
		{ "cmdline", required_argument, NULL, O_CMDLINE }, { "drive", required_argument, NULL, O_DRIVE },
		{ "net", required_argument, NULL, O_NET }, { "vsock", required_argument, NULL, O_VSOCK },
		{ "rng", no_argument, NULL, O_RNG }, { "track-dirty", no_argument, NULL, O_DIRTY },
		{ "at", required_argument, NULL, O_AT }, { "snapshot", required_argument, NULL, O_SNAP },
		{ "mem-file", required_argument, NULL, O_MEMF }, { "type", required_argument, NULL, O_TYPE },
		{ "at2", required_argument, NULL, O_AT2 }, { "snapshot2", required_argument, NULL, O_SNAP2 },
		{ "mem-file2", required_argument, NULL, O_MEMF2 }, { "type2", required_argument, NULL, O_TYPE2 },
		{ "then", required_argument, NULL, O_THEN }, { NULL, 0, NULL, 0 },
	};
	const char *what = NULL;
	char opt_err[128];
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL: cfg->boot.kernel_image_path = strdup(optarg); break;
		case O_MEM: cfg->machine.mem_size_mib = strtoull(optarg, NULL, 10); break;
		case O_CMDLINE: cfg->boot.boot_args = strdup(optarg); break;
		case O_DRIVE:
			if (blk_cli_opt.apply(optarg, cfg, opt_err, sizeof(opt_err)) < 0) {
				what = opt_err;
				goto bad;
			}
			break;
		case O_NET:
			if (net_cli_opt.apply(optarg, cfg, opt_err, sizeof(opt_err)) < 0) {
				what = opt_err;
				goto bad;
			}
			break;
		case O_VSOCK:
			if (vsock_cli_opt.apply(optarg, cfg, opt_err, sizeof(opt_err)) < 0) {
				what = opt_err;
				goto bad;
			}
			break;
		case O_RNG:
			if (rng_cli_opt.apply(NULL, cfg, opt_err, sizeof(opt_err)) < 0) {
				what = opt_err;
				goto bad;
			}
			break;
		case O_DIRTY: cfg->machine.track_dirty_pages = true; break;
		case O_AT: h->shot[0].at = optarg; break;
		case O_SNAP: h->shot[0].p.snapshot_path = optarg; break;
		case O_MEMF: h->shot[0].p.mem_file_path = optarg; break;
		case O_TYPE: h->shot[0].p.type = host_type(optarg); break;
		case O_AT2: h->shot[1].at = optarg; break;
		case O_SNAP2: h->shot[1].p.snapshot_path = optarg; break;
		case O_MEMF2: h->shot[1].p.mem_file_path = optarg; break;
		case O_TYPE2: h->shot[1].p.type = host_type(optarg); break;
		case O_THEN: h->then_resume = strcmp(optarg, "resume") == 0; break;
		default: return -EINVAL;
		}
	}
	h->nr_shots = h->shot[1].at ? 2 : h->shot[0].at ? 1 : 0;
	return 0;
bad:
	fprintf(stderr, "bad option: %s\n", what ? what : "?");
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static struct host h;
	struct vm_config cfg;
	int pfd[2];
	char path[64];

	config_init(&cfg);
	log_set_level(LOG_WARN);
	if (host_parse(argc, argv, &h, &cfg) < 0 || !cfg.boot.kernel_image_path)
		return 2;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	h.rfd = pfd[0];
	/* the guest's serial output comes to us through a pipe, read on the
	 * vmm thread: the snapshot is taken from there, as the API would */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd[1]);
	cfg.serial_out_path = strdup(path);
	if (vmm_init(&h.vmm) < 0 || loop_add(&h.vmm.loop, h.rfd, EPOLLIN, host_on_serial, &h) < 0)
		return 1;
	if (vmm_start(&h.vmm, &cfg) < 0) {
		fprintf(stderr, "VM did not start\n");
		return 1;
	}
	int code = vmm_run(&h.vmm);
	vmm_destroy(&h.vmm);
	/* what the guest printed before it was paused and we did not read
	 * yet: every write end is closed now, so this ends at EOF */
	close(pfd[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(h.rfd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	config_free(&cfg);
	if (h.done < h.nr_shots) {
		fprintf(stderr, "the guest ended before every snapshot was taken\n");
		return 1;
	}
	return h.failed ? 1 : code;
}
