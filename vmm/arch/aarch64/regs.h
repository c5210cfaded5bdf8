/* regs: a vCPU's KVM_ARM_VCPU_INIT and boot registers. */
#ifndef HUSK_AARCH64_REGS_H
#define HUSK_AARCH64_REGS_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct boot_info;

/* KVM_ARM_VCPU_INIT with the host's preferred target and PSCI 0.2;
 * secondaries (powered_off) wait for the guest's PSCI CPU_ON. */
int regs_vcpu_init(const struct vm *vm, int vcpu_fd, bool powered_off);
/* The boot vCPU's entry state (booting.rst): PC at the Image, x0 the FDT,
 * EL1h with every exception masked. */
int regs_setup_boot(int vcpu_fd, const struct boot_info *bi);
int regs_get(int vcpu_fd, uint64_t id, uint64_t *val);
int regs_set(int vcpu_fd, uint64_t id, uint64_t val);

#endif
