/* cpuid: turn KVM_GET_SUPPORTED_CPUID into what one vCPU should see. */
#ifndef HUSK_X86_CPUID_H
#define HUSK_X86_CPUID_H

#include <stdbool.h>
#include <linux/kvm.h>

/* Normalise in place for vCPU vcpu_id of nr_vcpus: APIC ids (leaf 1 EBX,
 * leaf 0xB/0x1F x2APIC ids and topology), logical count, hypervisor bit
 * (leaf 1 ECX bit 31), cache topology leaf 4 sharing, and leave the
 * hypervisor leaves 0x40000000+ as KVM reports them. smt: 2 threads/core
 * when true. Pure function of its inputs; returns 0 or -EINVAL. */
int cpuid_normalize(struct kvm_cpuid2 *cpuid, unsigned vcpu_id,
                    unsigned nr_vcpus, bool smt);

struct vm;
/* KVM_GET_SUPPORTED_CPUID of vm's KVM, queried once on first use; NULL on
 * failure. */
const struct kvm_cpuid2 *x86_supported_cpuid(struct vm *vm);
/* What this host can give a vCPU: x86_supported_cpuid with the host
 * CPU's own bits added, built once on first use; NULL on failure. */
const struct kvm_cpuid2 *x86_host_cpuid(struct vm *vm);

#endif
