/* arch: aarch64's side of vmm/arch/arch.h. */
#include "vmm/arch/arch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/arch/aarch64/fdt.h"
#include "vmm/arch/aarch64/gic.h"
#include "vmm/arch/aarch64/loader.h"
#include "vmm/arch/aarch64/regs.h"
#include "vmm/log.h"
#include "vmm/snapshot/format.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* ---- the VM ---- */

/* A guest MMIO access without an instruction syndrome (a load/store pair,
 * writeback): KVM cannot emulate it, and without this KVM_RUN just fails
 * with ENOSYS. With it the vCPU exits with KVM_EXIT_ARM_NISV and husk says
 * which address. Optional: older hosts keep the ENOSYS. */
static void a64_enable_nisv_exit(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_NISV_TO_USER };
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0 &&
	    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		log_warn("KVM_CAP_ARM_NISV_TO_USER: %s", strerror(errno));
}

int arch_vm_init(struct vm *vm)
{
	a64_enable_nisv_exit(vm);
	return gic_create(vm);
}

int arch_vcpus_created(struct vm *vm)
{
	return gic_finalize(vm);
}

void arch_vm_destroy(struct vm *vm)
{
	if (vm->arch.gic_version)
		close(vm->arch.gic_fd);
	vm->arch.gic_version = 0;
}

/* ---- vCPUs ---- */

int arch_vcpu_init(struct vcpu *vcpu, const struct boot_info *bi)
{
	const char *step = "KVM_ARM_VCPU_INIT";
	int ret = regs_vcpu_init(vcpu->vm, vcpu->fd, vcpu->id != 0);
	if (ret == 0 && vcpu->id == 0) {
		step = "boot registers";
		ret = regs_setup_boot(vcpu->fd, bi);
	}
	if (ret < 0)
		log_err("vCPU %u: %s failed: %s", vcpu->id, step, strerror(-ret));
	return ret;
}

/* ---- booting ---- */

int arch_load_kernel(const struct guest_mem *gm, const uint8_t *img, size_t len, const char *path,
                     struct boot_info *bi)
{
	char why[160];
	int ret = a64_load_image(gm, img, len, bi, why, sizeof(why));
	if (ret < 0) {
		log_err("kernel %s: %s", path, why);
		return ret;
	}
	log_info("kernel %s: arm64 Image at 0x%llx, FDT at 0x%llx", path, (unsigned long long)bi->entry,
	         (unsigned long long)bi->fdt_addr);
	return 0;
}

int arch_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	return a64_load_initrd(gm, img, len, bi);
}

int arch_write_boot_tables(const struct vm *vm, const struct boot_info *bi, const char *cmdline,
                           const struct arch_devices *devs)
{
	/* the arm64 kernel copies bootargs into COMMAND_LINE_SIZE (2048)
	 * bytes with their NUL and silently cuts the rest */
	size_t len = strlen(cmdline);
	if (len >= LAYOUT_CMDLINE_MAX) {
		log_err("kernel command line is %zu bytes; an arm64 kernel takes at most %llu", len,
		        LAYOUT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	struct fdt_machine m = {
		.nr_vcpus = vm->nr_vcpus,
		.gic_version = vm->arch.gic_version,
		.ram_size = vm->gm.ram_size,
		.cmdline = cmdline,
		.initrd_addr = bi->initrd_addr,
		.initrd_size = bi->initrd_size,
		.devs = devs,
	};
	uint64_t room = LAYOUT_RAM_BASE + vm->gm.ram_size - bi->fdt_addr;
	size_t size = room < LAYOUT_FDT_MAX_SIZE ? (size_t)room : LAYOUT_FDT_MAX_SIZE;
	void *buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	int ret = fdt_build(buf, size, &m);
	if (ret == 0)
		ret = gm_write(&vm->gm, bi->fdt_addr, buf, size);
	if (ret < 0)
		log_err("device tree: %s", strerror(-ret));
	free(buf);
	return ret;
}

uint32_t arch_snapshot_id(void)
{
	return SNAP_ARCH_AARCH64;
}
