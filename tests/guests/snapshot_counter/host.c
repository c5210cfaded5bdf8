/* snapshot_counter_host: drive the counting guest through snapshot and
 * restore without the API, with the same snapshot_save/snapshot_restore
 * calls the API makes. Actions run in order on one "current" VM:
 *
 *   --vcpus N               the next --boot makes N vCPUs (the others than
 *                           vCPU 0 stay in their reset state, as APs do)
 *   --boot GUEST MIB        new VM with MIB MiB and the flat guest at 0x1000
 *   --track-dirty           dirty-page logging on (track_dirty_pages)
 *   --lines N               run until the guest printed N more lines
 *   --full STATE MEM        Full snapshot of the (stopped) VM
 *   --diff STATE MEM        Diff snapshot
 *   --enable-diff           the next restore sets enable_diff_snapshots
 *   --restore-file STATE MEM   drop the current VM, restore into a new one
 *   --restore-uffd STATE SOCK  the same with the Uffd backend
 *   --device                every later VM registers a small test device
 *                           (its blob: magic + generation), so device
 *                           state goes through the registry too
 *
 * Guest lines are printed as they come; actions print "restored",
 * "refused: WHY", "snapshot ok" or "snapshot failed: WHY". A refused
 * restore leaves no VM and the process goes on with the next action,
 * which is what "the process stays usable" means here. Exit status 1 only
 * for a broken run (KVM error, --lines with no VM). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define GUEST_LOAD 0x1000
#define COM1 0x3f8

#define TESTDEV_MAGIC 0x56454454u /* "TDEV" */

struct testdev {
	uint32_t generation; /* bumped on every restore */
};

struct testdev_blob {
	uint32_t magic;
	uint32_t generation;
};

static int testdev_save(void *opaque, void **blob, size_t *len)
{
	struct testdev *d = opaque;
	struct testdev_blob *b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	*b = (struct testdev_blob){ TESTDEV_MAGIC, d->generation };
	*blob = b;
	*len = sizeof(*b);
	return 0;
}

static int testdev_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct testdev_blob b;
	(void)opaque;
	if (len != sizeof(b)) {
		snprintf(err, errlen, "blob is %zu bytes, expected %zu", len, sizeof(b));
		return -EINVAL;
	}
	memcpy(&b, blob, sizeof(b));
	if (b.magic != TESTDEV_MAGIC) {
		snprintf(err, errlen, "bad magic 0x%x", b.magic);
		return -EINVAL;
	}
	return 0;
}

static int testdev_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct testdev *d = opaque;
	struct testdev_blob b;
	memcpy(&b, blob, len < sizeof(b) ? len : sizeof(b));
	d->generation = b.generation + 1;
	return 0;
}

static const struct snapshot_dev_ops testdev_ops = {
	.save = testdev_save, .check = testdev_check, .restore = testdev_restore,
};

struct host {
	struct vm vm;
	bool with_device;
	unsigned nr_vcpus;
	struct testdev dev;
	bool have_vm;
	struct snapshot_state snap;
	bool enable_diff;
	char line[128];
	size_t line_len;
};

static int host_vcpus_create(struct vm *vm)
{
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->id = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0)
			return -errno;
		v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return -errno;
		}
	}
	return 0;
}

static void host_drop_vm(struct host *h)
{
	if (!h->have_vm)
		return;
	for (unsigned i = 0; h->vm.vcpus && i < h->vm.nr_vcpus; i++) {
		struct vcpu *v = &h->vm.vcpus[i];
		if (v->run)
			munmap(v->run, (size_t)h->vm.run_size);
		if (v->fd > 0)
			close(v->fd);
	}
	free(h->vm.vcpus);
	vm_destroy(&h->vm);
	snapshot_state_destroy(&h->snap);
	snapshot_state_init(&h->snap);
	h->have_vm = false;
}

static int host_register_devices(struct host *h)
{
	h->dev.generation = 0;
	if (!h->with_device)
		return 0;
	return snapshot_device_register(&h->snap, "testdev0", &testdev_ops, &h->dev);
}

static int host_boot(struct host *h, const char *guest, uint64_t mib)
{
	host_drop_vm(h);
	int ret = vm_create(&h->vm, mib, h->nr_vcpus ? h->nr_vcpus : 1, false);
	h->have_vm = true;
	if (ret == 0)
		ret = host_register_devices(h);
	if (ret == 0)
		ret = host_vcpus_create(&h->vm);
	if (ret < 0)
		return ret;
	int fd = open(guest, O_RDONLY);
	void *dst = gm_ptr(&h->vm.gm, GUEST_LOAD, 4096);
	ssize_t n = fd >= 0 && dst ? read(fd, dst, 4096) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -EIO;
	for (unsigned i = 0; i < h->vm.nr_vcpus; i++)
		if (ioctl(h->vm.vcpus[i].fd, KVM_SET_CPUID2, x86_supported_cpuid(&h->vm)) < 0)
			return -errno;
	int vfd = h->vm.vcpus[0].fd;
	struct kvm_sregs sregs;
	if (ioctl(vfd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	struct kvm_regs regs = { .rip = GUEST_LOAD, .rflags = 2 };
	if (ioctl(vfd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vfd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* Run vCPU 0 until n more complete lines came out of COM1. */
static int host_lines(struct host *h, long n)
{
	struct vcpu *v = &h->vm.vcpus[0];
	while (n > 0) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
		struct kvm_run *run = v->run;
		if (run->exit_reason != KVM_EXIT_IO || run->io.port != COM1 ||
		    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1) {
			fprintf(stderr, "unexpected exit %u (port 0x%x)\n", run->exit_reason,
			        run->exit_reason == KVM_EXIT_IO ? run->io.port : 0);
			return -1;
		}
		const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
		for (uint32_t i = 0; i < run->io.count; i++) {
			char c = (char)data[i];
			if (c == '\n') {
				h->line[h->line_len] = '\0';
				printf("%s\n", h->line);
				h->line_len = 0;
				n--;
			} else if (h->line_len < sizeof(h->line) - 1) {
				h->line[h->line_len++] = c;
			}
		}
	}
	fflush(stdout);
	return 0;
}

static void host_snapshot(struct host *h, enum snapshot_type type, const char *state, const char *mem)
{
	char err[512] = "";
	struct snapshot_create_params p = { .type = type, .snapshot_path = state, .mem_file_path = mem };
	struct machine_config mc = { .vcpu_count = 1, .track_dirty_pages = h->snap.dirty_log };
	if (!h->have_vm)
		printf("snapshot failed: no VM\n");
	else if (snapshot_save(&h->snap, &h->vm, &mc, &p, err, sizeof(err)) < 0)
		printf("snapshot failed: %s\n", err);
	else
		printf("snapshot ok\n");
	fflush(stdout);
}

static void host_restore(struct host *h, enum snapshot_mem_backend backend, const char *state,
                         const char *path)
{
	struct snapshot_image img;
	struct snapshot_load_params p = {
		.snapshot_path = state, .mem_backend = backend, .backend_path = path,
		.enable_diff_snapshots = h->enable_diff, .resume_vm = true,
	};
	char err[512] = "";
	int ret;
	h->enable_diff = false;
	host_drop_vm(h);
	ret = snapshot_image_open(state, &img, err, sizeof(err));
	if (ret < 0)
		goto out;
	ret = vm_create(&h->vm, img.machine.mem_size_mib, img.machine.vcpu_count, false);
	h->have_vm = true;
	if (ret == 0)
		ret = host_vcpus_create(&h->vm);
	if (ret == 0)
		ret = host_register_devices(h);
	if (ret < 0)
		snprintf(err, sizeof(err), "creating the VM: %s", strerror(-ret));
	if (ret == 0)
		ret = snapshot_restore(&h->snap, &h->vm, &img, &p, err, sizeof(err));
	snapshot_image_close(&img);
out:
	if (ret < 0) {
		printf("refused: %s\n", err);
		host_drop_vm(h);
	} else if (h->with_device) {
		printf("restored testdev generation %u\n", h->dev.generation);
	} else {
		printf("restored\n");
	}
	h->line_len = 0;
	fflush(stdout);
}

static int need(int argc, int i, int n, const char *opt)
{
	if (i + n >= argc) {
		fprintf(stderr, "%s needs %d argument(s)\n", opt, n);
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct host h;
	memset(&h, 0, sizeof(h));
	snapshot_state_init(&h.snap);
	log_set_level(LOG_WARN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int ret = 0;
		if (!strcmp(a, "--boot") && !need(argc, i, 2, a)) {
			ret = host_boot(&h, argv[i + 1], strtoull(argv[i + 2], NULL, 10));
			i += 2;
			if (ret < 0) {
				fprintf(stderr, "boot: %s\n", strerror(-ret));
				return 1;
			}
		} else if (!strcmp(a, "--track-dirty")) {
			if (!h.have_vm || snapshot_dirty_log_enable(&h.snap, &h.vm) < 0)
				return 1;
		} else if (!strcmp(a, "--vcpus") && !need(argc, i, 1, a)) {
			h.nr_vcpus = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--device")) {
			h.with_device = true;
		} else if (!strcmp(a, "--enable-diff")) {
			h.enable_diff = true;
		} else if (!strcmp(a, "--lines") && !need(argc, i, 1, a)) {
			if (!h.have_vm || host_lines(&h, strtol(argv[++i], NULL, 10)) < 0)
				return 1;
		} else if ((!strcmp(a, "--full") || !strcmp(a, "--diff")) && !need(argc, i, 2, a)) {
			host_snapshot(&h, a[2] == 'f' ? SNAPSHOT_FULL : SNAPSHOT_DIFF, argv[i + 1], argv[i + 2]);
			i += 2;
		} else if ((!strcmp(a, "--restore-file") || !strcmp(a, "--restore-uffd")) &&
		           !need(argc, i, 2, a)) {
			host_restore(&h, a[10] == 'f' ? SNAPSHOT_MEM_FILE : SNAPSHOT_MEM_UFFD, argv[i + 1],
			             argv[i + 2]);
			i += 2;
		} else {
			fprintf(stderr, "unknown action %s\n", a);
			return 2;
		}
	}
	host_drop_vm(&h);
	return 0;
}
