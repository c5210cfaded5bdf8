/* vmm: InstanceStart as a declared list of steps, then the event loop. */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/resource.h"
#include "vmm/arch/arch.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/snapshot/snapshot_vmm.h"
#include "vmm/vcpu.h"

#define KBD_IRQ 1

static void vmm_on_exit_event(void *opaque, uint32_t events)
{
	struct vmm *vmm = opaque;
	(void)events;
	uint64_t v;
	ssize_t r = read(vmm->vm.exit_efd, &v, sizeof(v));
	(void)r; /* nonblocking eventfd: a spurious wake just reads nothing */
	loop_stop(&vmm->loop);
}

static void vmm_on_signal(void *opaque, uint32_t events)
{
	struct vmm *vmm = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(vmm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	/* only a started VM listens on exit_efd: after a start that failed
	 * half-way (no /dev/kvm, ...) the VM exists but nothing would see it */
	if (vmm->vm_created && vmm->state != VMM_NOT_STARTED)
		vm_request_exit(&vmm->vm, 128 + (int)si.ssi_signo, "stopped by signal %u", si.ssi_signo);
	else
		loop_stop(&vmm->loop);
}

int vmm_init(struct vmm *vmm)
{
	memset(vmm, 0, sizeof(*vmm));
	vmm->serial_irq_efd = vmm->kbd_irq_efd = vmm->signal_fd = -1;
	vmm->vmgenid_irq_efd = -1;
	console_init(&vmm->console);
	vmm->serial_out_fd = STDOUT_FILENO;
	vmm->vm.kvm_fd = vmm->vm.vm_fd = vmm->vm.exit_efd = -1;
	snapshot_state_init(&vmm->snap);
	mmds_init(&vmm->mmds, 0);
	int ret = loop_init(&vmm->loop);
	if (ret < 0)
		return ret;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* blocked in every thread created from here on; the loop reads them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	vmm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vmm->signal_fd < 0)
		return -errno;
	/* a console reader that went away must not kill us */
	signal(SIGPIPE, SIG_IGN);
	return loop_add(&vmm->loop, vmm->signal_fd, EPOLLIN, vmm_on_signal, vmm);
}

/* ---- InstanceStart steps ---- */

static int step_create_vm(struct vmm *vmm)
{
	const struct machine_config *m = &vmm->cfg->machine;
	int ret = vm_create(&vmm->vm, m->mem_size_mib, m->vcpu_count, m->huge_pages_2m);
	vmm->vm_created = true; /* partially created state is torn down too */
	if (ret < 0)
		return ret;
	if (m->track_dirty_pages) {
		ret = snapshot_dirty_log_enable(&vmm->snap, &vmm->vm);
		if (ret < 0)
			return ret;
	}
	return loop_add(&vmm->loop, vmm->vm.exit_efd, EPOLLIN, vmm_on_exit_event, vmm);
}

static int vmm_irq_eventfd(struct vmm *vmm, unsigned gsi, int *efd)
{
	*efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*efd < 0)
		return -errno;
	return vm_irqfd(&vmm->vm, *efd, gsi);
}

#ifdef LAYOUT_I8042
static void vmm_on_guest_reset(void *opaque)
{
	struct vmm *vmm = opaque;
	vm_request_exit(&vmm->vm, 0, "guest reset via i8042");
}
#endif

static int vmm_open_serial_out(struct vmm *vmm)
{
	const char *path = vmm->cfg->serial_out_path;
	if (path) {
		vmm->serial_out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (vmm->serial_out_fd < 0) {
			int ret = -errno;
			log_err("cannot open serial output %s: %s", path, strerror(errno));
			return ret;
		}
	}
	return 0;
}

#ifdef LAYOUT_I8042
/* x86: the i8042's keyboard interrupt and its reset line (aarch64 resets
 * through PSCI, in KVM) */
static int vmm_i8042(struct vmm *vmm)
{
	int ret = vmm_irq_eventfd(vmm, KBD_IRQ, &vmm->kbd_irq_efd);
	if (ret < 0)
		return ret;
	i8042_init(&vmm->i8042, vmm->kbd_irq_efd, vmm_on_guest_reset, vmm);
	ret = bus_register(&vmm->vm.pio, LAYOUT_I8042, 5, "i8042", &i8042_ops, &vmm->i8042);
	if (ret == 0)
		ret = snapshot_device_register(&vmm->snap, "i8042", &snapshot_plain_ops, &vmm->i8042.snap);
	return ret;
}
#endif

/* the 16550: x86's COM1 port, or the MMIO page the aarch64 device tree
 * names */
static int vmm_serial_register(struct vmm *vmm)
{
#ifdef LAYOUT_SERIAL_MMIO
	return bus_register(&vmm->vm.mmio, LAYOUT_SERIAL_MMIO, 8, "serial", &serial_ops, &vmm->serial);
#else
	return bus_register(&vmm->vm.pio, LAYOUT_COM1, 8, "serial", &serial_ops, &vmm->serial);
#endif
}

/* the boot timer: MMIO up to the virtio slots, and x86's port too */
static int vmm_boottimer(struct vmm *vmm)
{
	boottimer_init(&vmm->boottimer);
	int ret = bus_register(&vmm->vm.mmio, LAYOUT_BOOTTIMER_MMIO,
	                       LAYOUT_VIRTIO_MMIO_BASE - LAYOUT_BOOTTIMER_MMIO, "boottimer",
	                       &boottimer_ops, &vmm->boottimer);
#ifdef LAYOUT_BOOTTIMER_PIO
	if (ret == 0)
		ret = bus_register(&vmm->vm.pio, LAYOUT_BOOTTIMER_PIO, 1, "boottimer", &boottimer_ops,
		                   &vmm->boottimer);
#endif
	return ret;
}

static int step_legacy_devices(struct vmm *vmm)
{
	int ret = vmm_open_serial_out(vmm);
	if (ret == 0)
		ret = vmm_irq_eventfd(vmm, LAYOUT_COM1_IRQ, &vmm->serial_irq_efd);
	if (ret < 0)
		return ret;
	serial_init(&vmm->serial, vmm->serial_out_fd, vmm->serial_irq_efd);
	serial_set_out_limit(&vmm->serial, vmm->cfg->serial_out_limit);
	serial_set_out_rate(&vmm->serial, &vmm->cfg->serial_rate_limiter);
	ret = console_open(&vmm->console, &vmm->loop, &vmm->serial);
	if (ret == 0)
		ret = vmm_serial_register(vmm);
	if (ret == 0)
		ret = snapshot_device_register(&vmm->snap, "serial0", &snapshot_plain_ops, &vmm->serial.snap);
#ifdef LAYOUT_I8042
	if (ret == 0)
		ret = vmm_i8042(vmm);
#endif
	if (ret == 0)
		ret = vmm_boottimer(vmm);
	return ret;
}

/* Read a whole file into a private read-only mapping. */
static int vmm_map_file(const char *what, const char *path, uint8_t **data, size_t *len)
{
	int ret = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		log_err("cannot read %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = -EINVAL;
		log_err("%s %s is not a non-empty regular file", what, path);
		goto out;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		log_err("cannot map %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	*data = p;
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* VMGenID: an MMIO page after the virtio slots, its GSI after theirs
 * (devices/vmgenid.h; the ACPI tables describe both). */
static int vmm_vmgenid(struct vmm *vmm)
{
	const uint64_t base = LAYOUT_VIRTIO_MMIO_BASE + LAYOUT_VIRTIO_MAX_DEVICES * LAYOUT_VIRTIO_MMIO_SIZE;
	const unsigned gsi = LAYOUT_VIRTIO_GSI_BASE + LAYOUT_VIRTIO_MAX_DEVICES;
	int ret = vmm_irq_eventfd(vmm, gsi, &vmm->vmgenid_irq_efd);
	if (ret == 0)
		ret = vmgenid_init(&vmm->vmgenid, base, gsi, vmm->vmgenid_irq_efd);
	if (ret == 0)
		ret = bus_register(&vmm->vm.mmio, base, VMGENID_MMIO_SIZE, "vmgenid", &vmgenid_ops, &vmm->vmgenid);
	if (ret == 0)
		ret = snapshot_device_register(&vmm->snap, "vmgenid", &vmgenid_snapshot_ops, &vmm->vmgenid);
	if (ret == 0) {
		char *cmd = vmm->devices.cmdline;
		size_t l = strlen(cmd);
		int n = vmgenid_cmdline(&vmm->vmgenid, cmd + l, sizeof(vmm->devices.cmdline) - l);
		ret = n < 0 ? n : 0;
	}
	return ret;
}

static int step_virtio_devices(struct vmm *vmm)
{
	/* the kinds whose resource attaches them (api/resource.h) */
	int ret = api_resources_attach(vmm, vmm->cfg);
	if (ret == 0)
		ret = vmm_vmgenid(vmm);
	return ret;
}

#ifdef LAYOUT_DEVICES_IN_FDT
/* The devices' cmdline entries but their virtio_mmio.device= ones: the
 * device tree lists those devices, and a second listing would make Linux
 * probe each twice. A root drive's root= stays. dst has src's size. */
static void vmm_drop_mmio_entries(char *dst, const char *src)
{
	static const char mmio[] = "virtio_mmio.device=";
	size_t n = 0;
	while (*src) {
		size_t len = strcspn(src, " ");
		if (len && strncmp(src, mmio, sizeof(mmio) - 1) != 0) {
			memcpy(dst + n, src, len);
			n += len;
			dst[n++] = ' ';
		}
		src += len;
		src += strspn(src, " ");
	}
	dst[n] = '\0';
}
#endif

static int vmm_build_cmdline(struct vmm *vmm)
{
	const char *base = vmm->cfg->boot.boot_args ? vmm->cfg->boot.boot_args : CONFIG_DEFAULT_CMDLINE;
#ifdef LAYOUT_DEVICES_IN_FDT
	char devices[sizeof(vmm->devices.cmdline) + 1];
	vmm_drop_mmio_entries(devices, vmm->devices.cmdline);
#else
	const char *devices = vmm->devices.cmdline;
#endif
	/* the devices' entries are the kernel's: before the init args */
	int at = (int)boot_args_init_at(base);
	int n = snprintf(vmm->cmdline, sizeof(vmm->cmdline), "%.*s %s%s", at, base, devices, base + at);
	if (n < 0 || (size_t)n >= sizeof(vmm->cmdline)) {
		log_err("kernel command line longer than %zu bytes", sizeof(vmm->cmdline) - 1);
		return -E2BIG;
	}
	return 0;
}

static int step_load_kernel(struct vmm *vmm)
{
	const struct boot_config *b = &vmm->cfg->boot;
	struct boot_info *bi = &vmm->boot;
	uint8_t *img = NULL, *initrd = NULL;
	size_t img_len = 0, initrd_len = 0;
	int ret;

	memset(bi, 0, sizeof(*bi));
	if (vmm->restore)
		return 0; /* guest RAM comes from the snapshot */
	if (!b->kernel_image_path) {
		log_err("no kernel image given");
		return -EINVAL;
	}
	ret = vmm_map_file("kernel", b->kernel_image_path, &img, &img_len);
	if (ret < 0)
		goto out;
	ret = arch_load_kernel(&vmm->vm.gm, img, img_len, b->kernel_image_path, bi);
	if (ret < 0)
		goto out;
	if (b->initrd_path) {
		ret = vmm_map_file("initrd", b->initrd_path, &initrd, &initrd_len);
		if (ret < 0)
			goto out;
		ret = arch_load_initrd(&vmm->vm.gm, initrd, initrd_len, bi);
		if (ret < 0) {
			log_err("initrd %s does not fit in guest memory", b->initrd_path);
			goto out;
		}
	}
	struct arch_devices devs = {
		.acpi = !vmm->cfg->no_acpi,
		.vmgenid = { vmm->vmgenid.base, VMGENID_MMIO_SIZE, vmm->vmgenid.gsi },
	};
	vmm_devices_describe(vmm, &devs);
	ret = vmm_build_cmdline(vmm);
	if (ret == 0)
		ret = arch_write_boot_tables(&vmm->vm, bi, vmm->cmdline, &devs);
	if (ret < 0) {
		log_err("cannot write boot tables: %s", strerror(-ret));
		goto out;
	}
	log_info("phase: kernel loaded at %llu us", log_uptime_us());
out:
	if (img)
		munmap(img, img_len);
	if (initrd)
		munmap(initrd, initrd_len);
	return ret;
}

/* Right after the VM: the vCPUs exist before any device takes an
 * interrupt (arch_vcpus_created). */
static int step_create_vcpus(struct vmm *vmm)
{
	struct vm *vm = &vmm->vm;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	/* a restored VM's CPUID comes with its snapshot (and is checked there) */
	if (!vmm->restore) {
		int ret = arch_vm_cpu_template(vm, vmm->cfg->machine.cpu_template, &vmm->cfg->cpu_config,
		                               vm->error, sizeof(vm->error));
		if (ret < 0) {
			log_err("%s", vm->error);
			return ret;
		}
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_create(&vm->vcpus[i], vm, i);
		if (ret < 0)
			return ret;
	}
	return arch_vcpus_created(vm);
}

/* After the kernel: the boot vCPU's entry state comes from its loader. A
 * restored vCPU gets all its state from the snapshot instead. */
static int step_init_vcpus(struct vmm *vmm)
{
	struct vm *vm = &vmm->vm;
	for (unsigned i = 0; i < vm->nr_vcpus && !vmm->restore; i++) {
		int ret = arch_vcpu_init(&vm->vcpus[i], &vmm->boot);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int step_start_vcpus(struct vmm *vmm)
{
	for (unsigned i = 0; i < vmm->vm.nr_vcpus; i++) {
		int ret = vcpu_start(&vmm->vm.vcpus[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Last: the vCPU threads exist (a filter is inherited by threads created
 * after it, and they have their own), and the vmm thread has not yet
 * handled anything the guest wrote. */
static int step_seccomp(struct vmm *vmm)
{
	(void)vmm;
	return seccomp_install(SECCOMP_THREAD_VMM);
}

/* InstanceStart, in order. A failing step leaves the rest undone; the
 * caller tears down what was built with vmm_destroy. */
static const struct {
	const char *name;
	int (*run)(struct vmm *vmm);
} start_steps[] = {
	{ "create VM", step_create_vm },
	{ "create vCPUs", step_create_vcpus },
	{ "legacy devices", step_legacy_devices },
	{ "virtio devices", step_virtio_devices },
	{ "load kernel", step_load_kernel },
	{ "initialise vCPUs", step_init_vcpus },
	{ "restore snapshot", snapshot_restore_step }, /* only in snapshot_load */
	{ "start vCPUs", step_start_vcpus },
	{ "seccomp", step_seccomp },
};

int vmm_start(struct vmm *vmm, const struct vm_config *cfg)
{
	const char *what = NULL;
	if (vmm->state != VMM_NOT_STARTED)
		return -EBUSY;
	/* a snapshot brings its own machine and has no kernel to check */
	if (!vmm->restore && config_validate(cfg, &what) < 0) {
		log_err("invalid configuration: %s", what);
		return -EINVAL;
	}
	vmm->cfg = cfg;
	for (size_t i = 0; i < sizeof(start_steps) / sizeof(start_steps[0]); i++) {
		int ret = start_steps[i].run(vmm);
		if (ret < 0) {
			log_debug("InstanceStart failed at step '%s': %s", start_steps[i].name,
			          strerror(-ret));
			return ret;
		}
	}
	vmm->state = VMM_RUNNING;
	return 0;
}

int vmm_run(struct vmm *vmm)
{
	int ret = loop_run(&vmm->loop);
	if (ret < 0) {
		log_err("event loop failed: %s", strerror(-ret));
		return 1;
	}
	if (!vmm->vm_created || !atomic_load(&vmm->vm.exiting))
		return 0;
	return vmm->vm.exit_code;
}

int vmm_pause(struct vmm *vmm)
{
	if (vmm->state == VMM_NOT_STARTED)
		return -EINVAL;
	if (vmm->state == VMM_RUNNING)
		vcpus_pause(&vmm->vm);
	vmm->state = VMM_PAUSED;
	return 0;
}

int vmm_resume(struct vmm *vmm)
{
	if (vmm->state == VMM_NOT_STARTED)
		return -EINVAL;
	if (vmm->state == VMM_PAUSED)
		vcpus_resume(&vmm->vm);
	vmm->state = VMM_RUNNING;
	return 0;
}

const char *vmm_exit_reason(const struct vmm *vmm)
{
	return vmm->vm_created ? vmm->vm.exit_reason : "";
}

const char *vmm_start_error(const struct vmm *vmm)
{
	return vmm->vm_created && vmm->vm.error[0] ? vmm->vm.error : NULL;
}

static void vmm_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vmm_destroy(struct vmm *vmm)
{
	struct vm *vm = &vmm->vm;
	if (vmm->vm_created) {
		/* every vCPU leaves KVM_RUN for good before anything is freed */
		atomic_store(&vm->exiting, true);
		vcpus_resume(vm);
		for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
		vmm_detach_all(vmm);
		serial_destroy(&vmm->serial);
		i8042_destroy(&vmm->i8042);
		vmgenid_destroy(&vmm->vmgenid);
		vm_destroy(vm);
	}
	snapshot_state_destroy(&vmm->snap);
	mmds_destroy(&vmm->mmds);
	loop_destroy(&vmm->loop);
	vmm_close_fd(&vmm->serial_irq_efd);
	console_close(&vmm->console);
	vmm_close_fd(&vmm->kbd_irq_efd);
	vmm_close_fd(&vmm->vmgenid_irq_efd);
	vmm_close_fd(&vmm->signal_fd);
	if (vmm->serial_out_fd != STDOUT_FILENO)
		vmm_close_fd(&vmm->serial_out_fd);
	vmm->vm_created = false;
}
