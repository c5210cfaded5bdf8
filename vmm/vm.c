/* vm: create the KVM VM, its memory and interrupt controllers. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/arch/arch.h"
#include "vmm/log.h"


struct kvm_cap_need {
	int cap;
	const char *name;
};

/* What husk cannot run without; each missing one is named in the error. */
static const struct kvm_cap_need caps_needed[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
#if defined(__x86_64__)
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
#elif defined(__aarch64__)
	{ KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2" },
	{ KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL" },
	{ KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG" },
#endif
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
};

/* Log a vm_create failure and keep its text in vm->error. */
#define vm_fail(vm, fmt, ...)                                                                 \
	do {                                                                                  \
		snprintf((vm)->error, sizeof((vm)->error), fmt, ##__VA_ARGS__);               \
		log_err("%s", (vm)->error);                                                   \
	} while (0)

static int vm_check_kvm(struct vm *vm)
{
	int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		vm_fail(vm, "/dev/kvm: API version %d, need %d", version, KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(caps_needed) / sizeof(caps_needed[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps_needed[i].cap) <= 0) {
			vm_fail(vm, "/dev/kvm lacks %s", caps_needed[i].name);
			return -ENOTSUP;
		}
	}
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->nr_vcpus > (unsigned)max) {
		vm_fail(vm, "%u vCPUs requested, KVM allows %d", vm->nr_vcpus, max);
		return -EINVAL;
	}
	return 0;
}

/* HugePages_Free of /proc/meminfo, or -1. */
static long vm_free_huge_pages(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/meminfo", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

static int vm_map_memory(struct vm *vm, uint64_t mem_mib, bool huge_2m)
{
	int ret = huge_2m ? gm_init_huge(&vm->gm, mem_mib << 20, LAYOUT_MMIO_GAP_START)
	                  : gm_init(&vm->gm, mem_mib << 20, LAYOUT_MMIO_GAP_START);
	if (ret == 0)
		ret = gm_set_base(&vm->gm, LAYOUT_RAM_BASE);
	if (ret == -ENOMEM && huge_2m) {
		vm_fail(vm, "huge_pages 2M: %llu MiB of guest memory need %llu free 2 MiB huge pages, "
		        "the host has %ld (vm.nr_hugepages)", (unsigned long long)mem_mib,
		        (unsigned long long)mem_mib / 2, vm_free_huge_pages());
		return ret;
	}
	if (ret < 0) {
		vm_fail(vm, "cannot map %llu MiB of guest memory%s: %s", (unsigned long long)mem_mib,
		        huge_2m ? " in 2 MiB huge pages" : "", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < vm->gm.nr_regions; i++) {
		const struct gm_region *r = &vm->gm.region[i];
		struct kvm_userspace_memory_region mr = {
			.slot = (uint32_t)i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
			ret = -errno;
			log_err("KVM_SET_USER_MEMORY_REGION slot %d: %s", i, strerror(errno));
			return ret;
		}
	}
	return 0;
}

int vm_create(struct vm *vm, uint64_t mem_mib, unsigned nr_vcpus, bool huge_2m)
{
	int ret;
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->exit_efd = -1;
	vm->nr_vcpus = nr_vcpus;
	pthread_mutex_init(&vm->exit_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");

	if (mem_mib == 0 || mem_mib > LAYOUT_MAX_RAM_MIB) {
		vm_fail(vm, "memory size %llu MiB out of range 1..%llu",
		        (unsigned long long)mem_mib, LAYOUT_MAX_RAM_MIB);
		return -EINVAL;
	}
	/* the absolute origin of every "phase: X at N us", so a launcher can
	 * add the exec cost it measured (tools/bench) */
	log_info("start: monotonic %llu us", log_now_us() - log_uptime_us());
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		vm_fail(vm, "cannot open /dev/kvm: %s", strerror(errno));
		return ret;
	}
	ret = vm_check_kvm(vm);
	if (ret < 0)
		return ret;
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -ENOTSUP;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		vm_fail(vm, "KVM_CREATE_VM: %s", strerror(errno));
		return ret;
	}
	log_info("phase: KVM VM created at %llu us", log_uptime_us());
	/* memory before the in-kernel irqchip: on the PVM hypervisor a
	 * memslot added after KVM_CREATE_IRQCHIP costs 4-8 ms, before it
	 * 0.1 ms (measured with a bare KVM program); Firecracker keeps the
	 * same order */
	ret = vm_map_memory(vm, mem_mib, huge_2m);
	if (ret < 0)
		return ret;
	log_info("phase: memory mapped at %llu us", log_uptime_us());
	ret = arch_vm_init(vm);
	if (ret < 0)
		return ret;
	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0)
		return -errno;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	/* unmapped only after the VM fd is gone: KVM no longer references it */
	gm_destroy(&vm->gm);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	arch_vm_destroy(vm);
	vm->vm_fd = vm->kvm_fd = vm->exit_efd = -1;
	pthread_mutex_destroy(&vm->exit_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
}

int vm_irqfd(struct vm *vm, int efd, unsigned gsi)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = gsi };
	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t len,
                 uint64_t datamatch, bool mmio)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (mmio ? 0 : KVM_IOEVENTFD_FLAG_PIO),
	};
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->exit_lock);
	if (!atomic_load(&vm->exiting)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
		va_end(ap);
		vm->exit_code = code;
		atomic_store(&vm->exiting, true);
		uint64_t one = 1;
		ssize_t r = write(vm->exit_efd, &one, sizeof(one));
		(void)r; /* an eventfd write only fails on counter overflow */
	}
	pthread_mutex_unlock(&vm->exit_lock);
}
