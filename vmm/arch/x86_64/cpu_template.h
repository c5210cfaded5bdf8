/* cpu_template: CPU templates on x86_64 -- Firecracker's static ones
 * (cpu_template_tables.c) and custom ones (struct cpu_config) -- applied
 * to a vCPU's CPUID and MSRs, and checked against what the host's KVM
 * can give a guest. */
#ifndef HUSK_X86_CPU_TEMPLATE_H
#define HUSK_X86_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>

#include "vmm/config.h"

/* The static template's modifiers; NULL for CPU_TEMPLATE_NONE. */
const struct cpu_config *cpu_template_static(enum cpu_template t);
/* Whether t is made for AMD hosts (else for Intel). */
bool cpu_template_for_amd(enum cpu_template t);

/* vendor: CPUID leaf 0's EBX, EDX, ECX ("GenuineIntel", "AuthenticAMD").
 * -EINVAL with the reason in err when t is made for another vendor. */
int cpu_template_vendor_check(enum cpu_template t, const char vendor[12], char *err, size_t errlen);

/* Every leaf in which t forces a bit on must be in supported, and every
 * bit it forces on in a feature register must be one KVM supports:
 * -EINVAL with leaf, subleaf, register and bits in err. */
int cpu_template_check_cpuid(const struct cpu_config *t, const struct kvm_cpuid2 *supported, char *err,
                             size_t errlen);
/* Apply t's CPUID modifiers to c (leaves c lacks were refused by the check). */
void cpu_template_apply_cpuid(const struct cpu_config *t, struct kvm_cpuid2 *c);

/* After KVM_SET_CPUID2: every bit t sets or clears must read back so
 * through KVM_GET_CPUID2 (got), but for bits KVM rewrites at run time;
 * else the vCPU would not show the template: -ENOTSUP naming the bits. */
int cpu_template_check_taken(const struct cpu_config *t, const struct kvm_cpuid2 *got, char *err,
                             size_t errlen);

/* A vCPU's whole CPUID (a snapshot's): every feature bit it shows must be
 * one KVM supports, but for those KVM itself or husk sets per vCPU. */
int cpuid_check_supported(const struct kvm_cpuid2 *c, const struct kvm_cpuid2 *supported, char *err,
                          size_t errlen);

/* Every MSR t modifies must be one KVM saves and restores; of a feature
 * MSR (KVM_GET_MSR_FEATURE_INDEX_LIST) only the bits KVM reports may be
 * forced on. -EINVAL with the MSR and bits in err. */
int cpu_template_check_msrs(const struct cpu_config *t, int kvm_fd, char *err, size_t errlen);
/* After the boot MSRs: read, modify and write back t's MSRs. */
int cpu_template_apply_msrs(const struct cpu_config *t, int vcpu_fd);

#endif
