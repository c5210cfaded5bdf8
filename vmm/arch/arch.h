/* arch: the one door from the rest of husk into the architecture. Code
 * outside vmm/arch/ includes this header and never one under
 * vmm/arch/<arch>/; each architecture implements what it declares.
 *
 * What an architecture provides:
 *   - its memory map (LAYOUT_*: RAM limits and the MMIO hole, the
 *     virtio-mmio window and GSIs, the legacy devices' addresses),
 *     struct boot_info (what its loaders found) and struct arch_vm (its
 *     per-VM data), from its own arch_types.h;
 *   - VM and vCPU set-up, kernel/initrd loading and the boot tables;
 *   - the snapshot of its VM-wide and per-vCPU KVM state. */
#ifndef HUSK_ARCH_H
#define HUSK_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include "vmm/arch/x86_64/arch_types.h"
#elif defined(__aarch64__)
#include "vmm/arch/aarch64/arch_types.h"
#else
#error "husk has no vmm/arch/ for this architecture"
#endif

#include "vmm/config.h"

struct guest_mem;
struct snap_file;
struct snap_writer;
struct vcpu;
struct vm;

/* ---- the VM ---- */

/* After KVM_CREATE_VM: the in-kernel interrupt controller and timers and
 * whatever else the architecture needs before vCPUs exist. */
int arch_vm_init(struct vm *vm);
void arch_vm_destroy(struct vm *vm);

/* ---- vCPUs ---- */

/* Once every vCPU exists (KVM_CREATE_VCPU), before any is initialised or
 * restored and before devices take interrupts (aarch64: the vGIC is
 * initialised here, and KVM takes irqfds only after that). */
int arch_vcpus_created(struct vm *vm);

/* A fresh vCPU's state before its first KVM_RUN (not after a restore,
 * which brings all of it); the boot vCPU also gets the entry state. */
int arch_vcpu_init(struct vcpu *vcpu, const struct boot_info *bi);

/* ---- CPU templates (Firecracker's cpu_template and cpu-config) ---- */

/* Whether static template t can run on this host (each is made for one
 * CPU vendor; an architecture without templates refuses all but None):
 * -EINVAL with the reason in err. */
int arch_cpu_template_check(enum cpu_template t, char *err, size_t errlen);
/* Whether this architecture takes a custom template with these kinds of
 * modifiers (x86: CPUID and MSRs): -EINVAL with the reason in err. */
int arch_cpu_config_check(const struct cpu_config *c, char *err, size_t errlen);
/* Whether the vCPUs may be presented as SMT siblings (machine-config's
 * smt): -EINVAL with the reason in err where the architecture cannot
 * (aarch64, as in Firecracker). */
int arch_smt_check(bool smt, char *err, size_t errlen);
/* Before the vCPUs of a booting (not restoring) VM exist: what every
 * vCPU gets -- custom when set, else static t -- checked against what
 * the host's KVM can give (-EINVAL naming leaf, subleaf, register and
 * bits in err). custom must outlive the VM. */
int arch_vm_cpu_template(struct vm *vm, enum cpu_template t, const struct cpu_config *custom, char *err,
                         size_t errlen);

/* ---- booting ---- */

/* Load a kernel image into guest RAM and say how to enter it. */
int arch_load_kernel(const struct guest_mem *gm, const uint8_t *img, size_t len, const char *path,
                     struct boot_info *bi);
int arch_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi);
/* A device on the MMIO bus that the boot tables describe: its registers
 * and its interrupt. size 0: no such device. */
struct arch_mmio_dev {
	uint64_t base;
	uint64_t size;
	unsigned gsi;
};

/* What the boot tables announce besides the CPUs and the fixed legacy
 * devices (x86: in the ACPI DSDT). */
struct arch_devices {
	bool acpi; /* false: no ACPI tables (x86: the MP table and the cmdline only) */
	unsigned nr_virtio;
	struct arch_mmio_dev virtio[LAYOUT_VIRTIO_MAX_DEVICES]; /* in slot order */
	struct arch_mmio_dev vmgenid;                          /* 16-byte generation id */
};

/* After the kernel and initrd: the cmdline and every table the guest reads
 * at boot (x86: zero page or PVH start_info, MP table, ACPI tables, page
 * tables). */
int arch_write_boot_tables(const struct vm *vm, const struct boot_info *bi, const char *cmdline,
                           const struct arch_devices *devs);

/* ---- snapshots ---- */

/* The architecture's id in a snapshot file (format.h SNAP_ARCH_*). */
uint32_t arch_snapshot_id(void);
/* VM-wide KVM state (interrupt controllers, timers, clock). */
int vm_state_save(const struct vm *vm, struct snap_writer *w);
int vm_state_check(const struct snap_file *f, char *err, size_t errlen);
/* clock_realtime: the guest clock moves on by the host's realtime since
 * the save; -EINVAL, said in err, where the saved clock has no realtime
 * reference to do it with. */
int vm_state_apply(const struct vm *vm, const struct snap_file *f, bool clock_realtime, char *err,
                   size_t errlen);
/* One vCPU's KVM state. The vCPU must be out of KVM_RUN for save; apply
 * goes to a freshly created (not initialised) vCPU. */
int vcpu_state_save(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w);
int vcpu_state_check(const struct vm *vm, const struct snap_file *f, unsigned index, char *err,
                     size_t errlen);
int vcpu_state_apply(const struct vm *vm, int vcpu_fd, const struct snap_file *f, unsigned index,
                     char *err, size_t errlen);

#endif
