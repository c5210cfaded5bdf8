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
/* A snapshot's MSRs, made ready to restore: TSC_DEADLINE is taken out of m
 * (the rest keep their order) into *deadline, to be set after the others,
 * as KVM arms the timer against the TSC at the time of the write. A
 * deadline of 0 becomes m's TSC: that is a timer KVM fired and cleared
 * whose interrupt may not have reached the guest before the snapshot, and
 * restored as 0 an idle guest waiting for it sleeps for good; the saved
 * TSC fires it at once (a guest with no timer armed takes one spurious
 * tick). Firecracker met and fixed it the same way (its
 * fix_zero_tsc_deadline_msr). False if m has no TSC_DEADLINE. */
struct kvm_msrs;
struct kvm_msr_entry;
bool msrs_take_tsc_deadline(struct kvm_msrs *m, struct kvm_msr_entry *deadline);

#endif
