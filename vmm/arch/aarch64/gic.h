/* gic: the in-kernel interrupt controller (vGIC): GICv3, or GICv2 where
 * the host cannot emulate a v3. */
#ifndef HUSK_AARCH64_GIC_H
#define HUSK_AARCH64_GIC_H

#include <stdint.h>

struct vm;

/* Create the vGIC and place its registers (layout.h); before the vCPUs. */
int gic_create(struct vm *vm);
/* Initialise it once every vCPU exists (KVM_DEV_ARM_VGIC_CTRL_INIT): KVM
 * takes irqfds only after this. */
int gic_finalize(struct vm *vm);
/* Where the redistributors of nr_vcpus vCPUs start (GICv3). */
uint64_t gic_redist_base(unsigned nr_vcpus);

#endif
