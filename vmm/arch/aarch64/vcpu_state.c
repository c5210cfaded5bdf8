/* vcpu_state: an aarch64 vCPU in a snapshot: every register KVM lists
 * (KVM_GET_REG_LIST: the core and FP/SIMD registers, the system registers,
 * the arch timer's, PSCI's firmware registers) through KVM_GET/SET_ONE_REG,
 * and the power state (secondaries still off stay off). */
#include "vmm/arch/arch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/format.h"
#include "vmm/vm.h"

/* One register as saved: its KVM id and up to 128 bits of value. */
struct a64_one_reg {
	uint64_t id;
	uint8_t value[16];
};
_Static_assert(sizeof(struct a64_one_reg) == 24, "a64_one_reg is on disk");

#define VS_MAX_REGS 4096

static size_t vs_reg_size(uint64_t id)
{
	return (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

static int vs_reg_list(int vcpu_fd, struct kvm_reg_list **out)
{
	struct kvm_reg_list probe = { .n = 0 };
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	if (probe.n > VS_MAX_REGS)
		return -E2BIG;
	struct kvm_reg_list *l = calloc(1, sizeof(*l) + probe.n * sizeof(l->reg[0]));
	if (!l)
		return -ENOMEM;
	l->n = probe.n;
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, l) < 0) {
		int ret = -errno;
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

static int vs_save_regs(int vcpu_fd, unsigned index, struct snap_writer *w)
{
	struct kvm_reg_list *l = NULL;
	struct a64_one_reg *regs = NULL;
	int ret = vs_reg_list(vcpu_fd, &l);
	if (ret < 0) {
		log_err("vCPU %u: KVM_GET_REG_LIST: %s", index, strerror(-ret));
		return ret;
	}
	regs = calloc(l->n ? l->n : 1, sizeof(*regs));
	if (!regs) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < l->n; i++) {
		regs[i].id = l->reg[i];
		struct kvm_one_reg r = { .id = l->reg[i], .addr = (uint64_t)(uintptr_t)regs[i].value };
		if (vs_reg_size(l->reg[i]) > sizeof(regs[i].value)) {
			ret = -E2BIG; /* SVE's 2048-bit registers: husk never enables SVE */
			log_err("vCPU %u: register 0x%llx wider than 128 bits", index, (unsigned long long)r.id);
			goto out;
		}
		if (ioctl(vcpu_fd, KVM_GET_ONE_REG, &r) < 0) {
			ret = -errno;
			log_err("vCPU %u: KVM_GET_ONE_REG 0x%llx: %s", index, (unsigned long long)r.id,
			        strerror(errno));
			goto out;
		}
	}
	ret = snap_writer_add(w, SNAP_SEC_VCPU_ONE_REGS, index, regs, l->n * sizeof(*regs));
out:
	free(regs);
	free(l);
	return ret;
}

int vcpu_state_save(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	(void)vm;
	struct kvm_mp_state mp = { 0 };
	if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp) < 0) {
		int ret = -errno;
		log_err("vCPU %u: KVM_GET_MP_STATE: %s", index, strerror(errno));
		return ret;
	}
	int ret = snap_writer_add(w, SNAP_SEC_VCPU_MP_STATE, index, &mp, sizeof(mp));
	return ret < 0 ? ret : vs_save_regs(vcpu_fd, index, w);
}

int vcpu_state_check(const struct vm *vm, const struct snap_file *f, unsigned index, char *err,
                     size_t errlen)
{
	(void)vm;
	struct kvm_mp_state mp;
	if (snap_get(f, SNAP_SEC_VCPU_MP_STATE, index, &mp, sizeof(mp)) < 0)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: power state missing or of the wrong size",
		                  index);
	const struct snap_section *s = snap_find(f, SNAP_SEC_VCPU_ONE_REGS, index);
	if (!s || s->len == 0 || s->len % sizeof(struct a64_one_reg) ||
	    s->len / sizeof(struct a64_one_reg) > VS_MAX_REGS)
		return errmsg_set(err, errlen, -EINVAL, "vCPU %u: registers missing or malformed", index);
	for (uint64_t off = 0; off < s->len; off += sizeof(struct a64_one_reg)) {
		uint64_t id;
		memcpy(&id, s->data + off, sizeof(id));
		if ((id & KVM_REG_ARCH_MASK) != KVM_REG_ARM64 || vs_reg_size(id) > 16)
			return errmsg_set(err, errlen, -EINVAL, "vCPU %u: register id 0x%llx is not an "
			                  "aarch64 one", index, (unsigned long long)id);
	}
	return 0;
}

/* The vCPU was initialised by vm_state_apply (vm_state.c); every saved
 * register goes back in KVM's own list order. */
int vcpu_state_apply(const struct vm *vm, int vcpu_fd, const struct snap_file *f, unsigned index,
                     char *err, size_t errlen)
{
	(void)vm;
	const struct snap_section *s = snap_find(f, SNAP_SEC_VCPU_ONE_REGS, index);
	for (uint64_t off = 0; off < s->len; off += sizeof(struct a64_one_reg)) {
		struct a64_one_reg reg;
		memcpy(&reg, s->data + off, sizeof(reg));
		struct kvm_one_reg r = { .id = reg.id, .addr = (uint64_t)(uintptr_t)reg.value };
		if (ioctl(vcpu_fd, KVM_SET_ONE_REG, &r) < 0)
			return errmsg_set(err, errlen, -errno, "vCPU %u: KVM_SET_ONE_REG 0x%llx: %s", index,
			                  (unsigned long long)reg.id, strerror(errno));
	}
	struct kvm_mp_state mp;
	snap_get(f, SNAP_SEC_VCPU_MP_STATE, index, &mp, sizeof(mp));
	if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &mp) < 0)
		return errmsg_set(err, errlen, -errno, "vCPU %u: KVM_SET_MP_STATE: %s", index, strerror(errno));
	return 0;
}
