/* gic: create and initialise the in-kernel vGIC. */
#include "vmm/arch/aarch64/gic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/vm.h"

uint64_t gic_redist_base(unsigned nr_vcpus)
{
	return LAYOUT_GIC_DIST - (uint64_t)nr_vcpus * LAYOUT_GIC_REDIST_SIZE;
}

static int gic_set_attr(int fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };
	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0) {
		int ret = -errno;
		log_err("vGIC: setting %s: %s", what, strerror(errno));
		return ret;
	}
	return 0;
}

static int gic_place_v3(struct vm *vm)
{
	uint64_t dist = LAYOUT_GIC_DIST, redist = gic_redist_base(vm->nr_vcpus);
	int ret = gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
	                       &dist, "the distributor address");
	if (ret == 0)
		ret = gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
		                   KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "the redistributor address");
	return ret;
}

static int gic_place_v2(struct vm *vm)
{
	uint64_t dist = LAYOUT_GIC_DIST, cpu = LAYOUT_GIC_V2_CPU;
	int ret = gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST,
	                       &dist, "the distributor address");
	if (ret == 0)
		ret = gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU,
		                   &cpu, "the CPU interface address");
	return ret;
}

int gic_vcpus_check(int gic_version, unsigned nr_vcpus, char *err, size_t errlen)
{
	if (gic_version != 2 || nr_vcpus <= GIC_V2_MAX_VCPUS)
		return 0;
	return errmsg_set(err, errlen, -EINVAL,
	                  "%u vCPUs: this host's KVM has only a GICv2, which takes at most %d (no GICv3 emulation)",
	                  nr_vcpus, GIC_V2_MAX_VCPUS);
}

int gic_create(struct vm *vm)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	vm->arch.gic_version = 3;
	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		log_info("vGIC: no GICv3 emulation (%s), trying GICv2", strerror(errno));
		cd = (struct kvm_create_device){ .type = KVM_DEV_TYPE_ARM_VGIC_V2 };
		vm->arch.gic_version = 2;
		if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
			int ret = -errno;
			snprintf(vm->error, sizeof(vm->error), "KVM cannot create a GICv3 or GICv2: %s",
			         strerror(errno));
			log_err("%s", vm->error);
			vm->arch.gic_version = 0; /* no fd for arch_vm_destroy to close */
			return ret;
		}
	}
	vm->arch.gic_fd = (int)cd.fd;
	/* where KVM_CAP_MAX_VCPUS says 8 (a host with only a GICv2) vm.c
	 * has refused already; a KVM that says more would refuse the ninth
	 * vCPU later, with a bare EINVAL */
	int ret = gic_vcpus_check(vm->arch.gic_version, vm->nr_vcpus, vm->error, sizeof(vm->error));
	if (ret < 0) {
		log_err("%s", vm->error);
		return ret;
	}
	ret = vm->arch.gic_version == 3 ? gic_place_v3(vm) : gic_place_v2(vm);
	uint32_t nr_irqs = 32 + LAYOUT_GIC_NR_IRQS;
	if (ret == 0)
		ret = gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
		                   "the number of interrupts");
	return ret;
}

int gic_finalize(struct vm *vm)
{
	return gic_set_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT,
	                    NULL, "CTRL_INIT");
}
