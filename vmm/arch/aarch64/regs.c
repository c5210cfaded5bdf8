/* regs: aarch64 vCPU initialisation and the boot register state. */
#include "vmm/arch/aarch64/regs.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/arch/arch.h"
#include "vmm/vm.h"

#define CORE_REG(field) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))

/* PSTATE: EL1 with SP_EL1, Debug, SError, IRQ and FIQ masked */
#define PSTATE_EL1H 0x5ULL
#define PSTATE_DAIF (0xfULL << 6)

int regs_get(int vcpu_fd, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)val };
	return ioctl(vcpu_fd, KVM_GET_ONE_REG, &r) < 0 ? -errno : 0;
}

int regs_set(int vcpu_fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&val };
	return ioctl(vcpu_fd, KVM_SET_ONE_REG, &r) < 0 ? -errno : 0;
}

int regs_vcpu_init(const struct vm *vm, int vcpu_fd, bool powered_off)
{
	struct kvm_vcpu_init init = { 0 };
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return -errno;
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (powered_off)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	return ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0 ? -errno : 0;
}

int regs_setup_boot(int vcpu_fd, const struct boot_info *bi)
{
	int ret = regs_set(vcpu_fd, CORE_REG(regs.pstate), PSTATE_EL1H | PSTATE_DAIF);
	if (ret == 0)
		ret = regs_set(vcpu_fd, CORE_REG(regs.pc), bi->entry);
	if (ret == 0)
		ret = regs_set(vcpu_fd, CORE_REG(regs.regs[0]), bi->fdt_addr);
	/* x1..x3 are reserved and must be 0: KVM's reset state has them so */
	return ret;
}
