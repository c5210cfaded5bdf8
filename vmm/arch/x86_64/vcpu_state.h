/* vcpu_state: save and restore everything KVM holds for one x86_64 vCPU,
 * as snapshot sections (format.h) with id = the vCPU index.
 *
 * Saved: mp_state (first: reading it lets KVM accept pending INIT/SIPI
 * events, which changes the rest), regs, sregs, XSAVE (KVM_GET_XSAVE2 when
 * the VM has KVM_CAP_XSAVE2, else KVM_GET_XSAVE; kvm_fpu without XSAVE),
 * xcrs, MSRs (the list KVM_GET_MSR_INDEX_LIST reports, minus those
 * KVM_GET_MSRS refuses: never a fixed table), LAPIC, vcpu_events,
 * debugregs, cpuid as set (KVM_GET_CPUID2), TSC kHz.
 *
 * Applied in this order, each for a reason:
 *   1. TSC kHz     so MSR_IA32_TSC and the TSC deadline are read at the
 *                  rate they were saved at
 *   2. CPUID       KVM checks XSAVE features, MSRs and the LAPIC against it
 *   3. mp_state
 *   4. regs        KVM_SET_REGS drops a pending exception, so before events
 *   5. sregs       restores EFER, CR* and the APIC base MSR
 *   6. XSAVE/FPU, 7. xcrs (XCR0 must agree with the XSAVE features)
 *   8. debugregs
 *   9. LAPIC       after sregs: setting the APIC base resets the LAPIC
 *  10. MSRs        after the LAPIC: the TSC deadline MSR needs its mode
 *  11. vcpu_events last: everything above may clear a pending exception,
 *                  NMI or interrupt shadow, which this puts back. */
#ifndef HUSK_X86_VCPU_STATE_H
#define HUSK_X86_VCPU_STATE_H

/* The functions are declared in vmm/arch/arch.h (vcpu_state_*). */
#include "vmm/arch/arch.h"
#include "vmm/snapshot/format.h"

#endif
