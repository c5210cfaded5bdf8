/* gic: the in-kernel interrupt controller (vGIC): GICv3, or GICv2 where
 * the host cannot emulate a v3. */
#ifndef HUSK_AARCH64_GIC_H
#define HUSK_AARCH64_GIC_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Create the vGIC and place its registers (layout.h); before the vCPUs. */
int gic_create(struct vm *vm);
/* Initialise it once every vCPU exists (KVM_DEV_ARM_VGIC_CTRL_INIT): KVM
 * takes irqfds only after this. */
int gic_finalize(struct vm *vm);
/* A GICv2 routes interrupts to at most 8 CPUs (its target lists are a
 * byte); KVM's vgic-v2 takes no more vCPUs. */
#define GIC_V2_MAX_VCPUS 8
/* Whether a VM with this GIC can have nr_vcpus vCPUs: -EINVAL with the
 * reason in err. */
int gic_vcpus_check(int gic_version, unsigned nr_vcpus, char *err, size_t errlen);
/* Where the redistributors of nr_vcpus vCPUs start (GICv3). */
uint64_t gic_redist_base(unsigned nr_vcpus);

#endif
