/* regs: the boot-time CPU state of a vCPU (registers, segments, paging,
 * FPU, LAPIC) and the boot MSRs. */
#ifndef HUSK_X86_REGS_H
#define HUSK_X86_REGS_H

#include <stdbool.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/guest_mem.h"

/* GDT, IDT and identity page tables in guest memory (once per VM). */
int regs_write_tables(const struct guest_mem *gm, const struct boot_info *bi);
/* BSP: general and segment registers for the boot mode. */
int regs_setup_bsp(int vcpu_fd, const struct boot_info *bi);
int regs_setup_fpu(int vcpu_fd);
/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as on a PC. */
int regs_setup_lapic(int vcpu_fd);
/* Boot MSRs, only those KVM lists as supported. */
int msrs_setup_boot(int kvm_fd, int vcpu_fd);
struct kvm_msr_list;
/* KVM's list of MSRs, req KVM_GET_MSR_INDEX_LIST (what a vCPU saves and
 * restores) or KVM_GET_MSR_FEATURE_INDEX_LIST (the feature MSRs whose
 * supported values the system fd reports); malloc'd, NULL on failure. */
struct kvm_msr_list *msrs_list(int kvm_fd, unsigned long req);
bool msr_listed(const struct kvm_msr_list *list, uint32_t index);

#endif
