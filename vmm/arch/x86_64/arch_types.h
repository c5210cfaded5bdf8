/* arch_types: what x86_64 gives vmm/arch/arch.h: its memory map, struct
 * boot_info and its per-VM data. */
#ifndef HUSK_X86_ARCH_TYPES_H
#define HUSK_X86_ARCH_TYPES_H

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

struct kvm_cpuid2;
struct cpu_config;

struct arch_vm {
	/* KVM_GET_SUPPORTED_CPUID, queried once (cpuid.h x86_supported_cpuid) */
	struct kvm_cpuid2 *supported_cpuid;
	/* the above with the host CPU's own bits added, built once for the
	 * restore's check (cpuid.h x86_host_cpuid) */
	struct kvm_cpuid2 *host_cpuid;
	/* the CPU template every vCPU gets (cpu_template.h); NULL: none */
	const struct cpu_config *cpu_template;
};

#endif
