/* vm: one KVM VM: its fds, guest RAM, irqchip, the two buses and the
 * devices every VM has. */
#ifndef HUSK_VM_H
#define HUSK_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "vmm/arch/arch.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/guest_mem.h"
#include "vmm/loop.h"

struct vcpu;
struct kvm_cpuid2;

struct vm {
	int kvm_fd;
	int vm_fd;
	int run_size; /* size of each vCPU's kvm_run mapping */
	struct guest_mem gm;
	struct bus pio;
	struct bus mmio;
	struct arch_vm arch;

	unsigned nr_vcpus;
	struct vcpu *vcpus;

	/* Pause: vCPU threads park on pause_cond while pause_requested;
	 * nr_parked counts them so the pauser knows when all are out. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_requested;
	unsigned nr_parked;

	/* Any thread may ask the VM to end; the vmm thread sees exit_efd. */
	int exit_efd;
	atomic_bool exiting;
	int exit_code;
	char exit_reason[128];
	pthread_mutex_t exit_lock;

	/* why vm_create failed, for the one line the user sees (the API's
	 * fault_message, husk's last line) */
	char error[256];
};

/* Open /dev/kvm, check the API version and every capability we need,
 * create the VM, map mem_mib MiB and register it, create the irqchip and
 * PIT. Errors are logged with the reason. */
/* huge_2m: guest RAM in 2 MiB huge pages (mem_mib even); too few free
 * ones fail with the number needed in vm->error. */
int vm_create(struct vm *vm, uint64_t mem_mib, unsigned nr_vcpus, bool huge_2m);
void vm_destroy(struct vm *vm);

/* Pulse a GSI from the eventfd efd (KVM_IRQFD). */
int vm_irqfd(struct vm *vm, int efd, unsigned gsi);
/* Let a guest write of datamatch at addr signal efd without an exit. */
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t len,
                 uint64_t datamatch, bool mmio);

/* Ask the VM to end with code (0 = guest reset/poweroff) and a reason.
 * Thread-safe; only the first call's code and reason are kept. */
void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
