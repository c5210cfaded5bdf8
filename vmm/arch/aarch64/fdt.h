/* fdt: the flattened device tree an arm64 guest boots with, built with
 * libfdt's sequential-write API. */
#ifndef HUSK_AARCH64_FDT_H
#define HUSK_AARCH64_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/arch/arch.h"

/* Everything the tree describes. */
struct fdt_machine {
	unsigned nr_vcpus;
	int gic_version; /* 3 or 2 */
	uint64_t ram_size;
	const char *cmdline;
	uint64_t initrd_addr, initrd_size; /* size 0: no initrd */
	const struct arch_devices *devs;
};

/* The GIC's phandle, every interrupt's parent. */
#define FDT_GIC_PHANDLE 1

/* Build the tree into buf (size bytes): 0, or a negative errno (-ENOSPC
 * when it does not fit). */
int fdt_build(void *buf, size_t size, const struct fdt_machine *m);
/* The MPIDR KVM gives vCPU id (its affinity fields), the cpu node's reg
 * and PSCI CPU_ON's target. */
uint64_t fdt_vcpu_mpidr(unsigned id);

#endif
