/* vm_state: an aarch64 VM's KVM state in a snapshot: the GICv3's
 * distributor, each vCPU's redistributor and CPU interface, as a list of
 * (group, attr, value) device attributes (arm-vgic-v3.rst), restored in
 * the order saved. The arch timer is in each vCPU's registers. A GICv2 VM
 * cannot be saved (no host here has one to test it on). */
#include "vmm/arch/arch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/arch/aarch64/fdt.h"
#include "vmm/arch/aarch64/regs.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/format.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* One vGIC register as saved. */
struct a64_vgic_reg {
	uint32_t group; /* KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST}_REGS or _CPU_SYSREGS */
	uint32_t pad;
	uint64_t attr;
	uint64_t value;
};
_Static_assert(sizeof(struct a64_vgic_reg) == 24, "a64_vgic_reg is on disk");

/* a register range: first offset, how many, bytes apart, 64-bit or not */
struct vgic_range {
	uint32_t offset, count, stride;
	bool is64;
};

/* SPIs only (32..32+LAYOUT_GIC_NR_IRQS): SGIs and PPIs live in the
 * redistributors. Only the "set" registers: the target GIC is fresh, all
 * clear, so writing the set bits restores exactly. */
#define NR_SPI LAYOUT_GIC_NR_IRQS
static const struct vgic_range dist_ranges[] = {
	{ 0x0000, 1, 4, false },                       /* GICD_CTLR */
	{ 0x0080 + 4, NR_SPI / 32, 4, false },         /* GICD_IGROUPR */
	{ 0x0400 + 32, NR_SPI / 4, 4, false },         /* GICD_IPRIORITYR */
	{ 0x0c00 + 8, NR_SPI / 16, 4, false },         /* GICD_ICFGR */
	{ 0x6000 + 8 * 32, 2 * NR_SPI, 4, false },     /* GICD_IROUTER, in 32-bit halves */
	{ 0x0100 + 4, NR_SPI / 32, 4, false },         /* GICD_ISENABLER */
	{ 0x0200 + 4, NR_SPI / 32, 4, false },         /* GICD_ISPENDR */
	{ 0x0300 + 4, NR_SPI / 32, 4, false },         /* GICD_ISACTIVER */
};

#define SGI_BASE 0x10000
static const struct vgic_range redist_ranges[] = {
	{ 0x0014, 1, 4, false },                       /* GICR_WAKER */
	{ SGI_BASE + 0x0080, 1, 4, false },            /* GICR_IGROUPR0 */
	{ SGI_BASE + 0x0400, 8, 4, false },            /* GICR_IPRIORITYR0..7 */
	{ SGI_BASE + 0x0c00, 2, 4, false },            /* GICR_ICFGR0..1 */
	{ SGI_BASE + 0x0100, 1, 4, false },            /* GICR_ISENABLER0 */
	{ SGI_BASE + 0x0200, 1, 4, false },            /* GICR_ISPENDR0 */
	{ SGI_BASE + 0x0300, 1, 4, false },            /* GICR_ISACTIVER0 */
};

#define SYSREG(op0, op1, crn, crm, op2) \
	((uint64_t)(op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))
/* the CPU interface, SRE and CTLR first; the active-priority registers
 * beyond the first exist only with more priority bits (optional) */
static const struct { uint64_t reg; bool optional; } cpu_sysregs[] = {
	{ SYSREG(3, 0, 12, 12, 5), false }, /* ICC_SRE_EL1 */
	{ SYSREG(3, 0, 12, 12, 4), false }, /* ICC_CTLR_EL1 */
	{ SYSREG(3, 0, 4, 6, 0), false },   /* ICC_PMR_EL1 */
	{ SYSREG(3, 0, 12, 8, 3), false },  /* ICC_BPR0_EL1 */
	{ SYSREG(3, 0, 12, 12, 3), false }, /* ICC_BPR1_EL1 */
	{ SYSREG(3, 0, 12, 8, 4), false },  /* ICC_AP0R0_EL1 */
	{ SYSREG(3, 0, 12, 8, 5), true },   /* ICC_AP0R1_EL1 */
	{ SYSREG(3, 0, 12, 8, 6), true },
	{ SYSREG(3, 0, 12, 8, 7), true },
	{ SYSREG(3, 0, 12, 9, 0), false },  /* ICC_AP1R0_EL1 */
	{ SYSREG(3, 0, 12, 9, 1), true },
	{ SYSREG(3, 0, 12, 9, 2), true },
	{ SYSREG(3, 0, 12, 9, 3), true },
	{ SYSREG(3, 0, 12, 12, 6), false }, /* ICC_IGRPEN0_EL1 */
	{ SYSREG(3, 0, 12, 12, 7), false }, /* ICC_IGRPEN1_EL1 */
};

#define NR_CPU_SYSREGS (sizeof(cpu_sysregs) / sizeof(cpu_sysregs[0]))
#define VGIC_MAX_REGS 65536

/* the redistributor and CPU interface attributes name a vCPU by its
 * affinity, Aff3..Aff0 in bits 63..32 */
static uint64_t vgic_vcpu_attr(unsigned vcpu)
{
	uint64_t mpidr = fdt_vcpu_mpidr(vcpu);
	return ((mpidr & 0xff) | (mpidr & 0xff00) | (mpidr & 0xff0000)) << 32;
}

struct vgic_list {
	struct a64_vgic_reg *regs;
	size_t n, cap;
};

/* Read one attribute onto the list; optional ones KVM lacks are left out. */
static int vgic_get(int fd, struct vgic_list *l, uint32_t group, uint64_t attr, bool is64, bool optional)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct a64_vgic_reg *r = realloc(l->regs, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->regs = r;
		l->cap = cap;
	}
	struct a64_vgic_reg *r = &l->regs[l->n];
	uint32_t v32 = 0;
	*r = (struct a64_vgic_reg){ .group = group, .attr = attr };
	struct kvm_device_attr a = { .group = group, .attr = attr,
	                             .addr = (uint64_t)(uintptr_t)(is64 ? (void *)&r->value : (void *)&v32) };
	if (ioctl(fd, KVM_GET_DEVICE_ATTR, &a) < 0) {
		if (optional)
			return 0;
		log_err("vGIC: reading group %u attr 0x%llx: %s", group, (unsigned long long)attr, strerror(errno));
		return -errno;
	}
	if (!is64)
		r->value = v32;
	l->n++;
	return 0;
}

static int vgic_get_ranges(int fd, struct vgic_list *l, uint32_t group, uint64_t base,
                           const struct vgic_range *ranges, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		for (uint32_t j = 0; j < ranges[i].count; j++) {
			int ret = vgic_get(fd, l, group, base | (ranges[i].offset + j * ranges[i].stride),
			                   ranges[i].is64, false);
			if (ret < 0)
				return ret;
		}
	return 0;
}

static int vgic_save_all(const struct vm *vm, struct vgic_list *l)
{
	int fd = vm->arch.gic_fd;
	int ret = vgic_get_ranges(fd, l, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0, dist_ranges,
	                          sizeof(dist_ranges) / sizeof(dist_ranges[0]));
	for (unsigned c = 0; ret == 0 && c < vm->nr_vcpus; c++)
		ret = vgic_get_ranges(fd, l, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, vgic_vcpu_attr(c), redist_ranges,
		                      sizeof(redist_ranges) / sizeof(redist_ranges[0]));
	for (unsigned c = 0; ret == 0 && c < vm->nr_vcpus; c++)
		for (size_t i = 0; ret == 0 && i < NR_CPU_SYSREGS; i++)
			ret = vgic_get(fd, l, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
			               vgic_vcpu_attr(c) | cpu_sysregs[i].reg, true, cpu_sysregs[i].optional);
	return ret;
}

int vm_state_save(const struct vm *vm, struct snap_writer *w)
{
	if (vm->arch.gic_version != 3) {
		log_err("snapshots of an aarch64 VM with a GICv2 are not supported");
		return -ENOTSUP;
	}
	struct vgic_list l = { 0 };
	int ret = vgic_save_all(vm, &l);
	if (ret == 0)
		ret = snap_writer_add(w, SNAP_SEC_VM_VGIC_V3, 0, l.regs, l.n * sizeof(*l.regs));
	free(l.regs);
	return ret;
}

int vm_state_check(const struct snap_file *f, char *err, size_t errlen)
{
	const struct snap_section *s = snap_find(f, SNAP_SEC_VM_VGIC_V3, 0);
	if (!s || s->len == 0 || s->len % sizeof(struct a64_vgic_reg) ||
	    s->len / sizeof(struct a64_vgic_reg) > VGIC_MAX_REGS)
		return errmsg_set(err, errlen, -EINVAL, "GICv3 state missing or malformed");
	for (uint64_t off = 0; off < s->len; off += sizeof(struct a64_vgic_reg)) {
		struct a64_vgic_reg r;
		memcpy(&r, s->data + off, sizeof(r));
		if (r.group != KVM_DEV_ARM_VGIC_GRP_DIST_REGS && r.group != KVM_DEV_ARM_VGIC_GRP_REDIST_REGS &&
		    r.group != KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS)
			return errmsg_set(err, errlen, -EINVAL, "GICv3 state names attribute group %u", r.group);
	}
	return 0;
}

static int vgic_apply(const struct vm *vm, const struct snap_section *s, char *err, size_t errlen)
{
	for (uint64_t off = 0; off < s->len; off += sizeof(struct a64_vgic_reg)) {
		struct a64_vgic_reg r;
		memcpy(&r, s->data + off, sizeof(r));
		uint32_t v32 = (uint32_t)r.value;
		/* the distributor and redistributor are read in 32-bit words */
		bool is64 = r.group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
		struct kvm_device_attr a = { .group = r.group, .attr = r.attr,
		                             .addr = (uint64_t)(uintptr_t)(is64 ? (void *)&r.value : (void *)&v32) };
		if (ioctl(vm->arch.gic_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
			return errmsg_set(err, errlen, -errno, "GICv3 state: group %u attr 0x%llx: %s", r.group,
			                  (unsigned long long)r.attr, strerror(errno));
	}
	return 0;
}

/* The vCPUs are initialised here, first: KVM_ARM_VCPU_INIT must precede
 * both their registers (vcpu_state_apply) and their CPU interface's. */
int vm_state_apply(const struct vm *vm, const struct snap_file *f, bool clock_realtime, char *err,
                   size_t errlen)
{
	if (clock_realtime)
		return errmsg_set(err, errlen, -EINVAL, "clock_realtime: aarch64 has no kvmclock; the "
		                  "guest's counter resumes where it was saved");
	if (vm->arch.gic_version != 3)
		return errmsg_set(err, errlen, -ENOTSUP, "this host's GIC is a v2, the snapshot's a v3");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int ret = regs_vcpu_init(vm, vm->vcpus[i].fd, false);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "vCPU %u: KVM_ARM_VCPU_INIT: %s", i, strerror(-ret));
	}
	return vgic_apply(vm, snap_find(f, SNAP_SEC_VM_VGIC_V3, 0), err, errlen);
}
