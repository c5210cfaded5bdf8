/* vm_state: the VM-wide KVM state of an x86_64 VM as snapshot sections:
 * PIT2, kvmclock, PIC master and slave, IOAPIC.
 *
 * Applied before any vCPU: the irqchips first (so interrupts routed while
 * the rest is put back see the saved pins), then the PIT, then the clock
 * last so the guest's clock continues from the value it had when paused
 * (KVM_SET_CLOCK with no flags: the time the VM spent saved is not seen). */
#ifndef HUSK_X86_VM_STATE_H
#define HUSK_X86_VM_STATE_H

#include <stddef.h>

#include "vmm/arch/arch.h"
#include "vmm/snapshot/format.h"

struct vm;


#endif
