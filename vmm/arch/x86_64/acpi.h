/* acpi: the ACPI tables of an x86 guest (ACPI 6.5): RSDP, XSDT, a
 * hardware-reduced FADT, the MADT (local APICs, the IOAPIC, interrupt
 * overrides, LINT1 NMI) and a DSDT describing COM1, the i8042, every
 * virtio-mmio device (LNRO0005, as Linux's virtio_mmio driver matches and
 * Firecracker describes them), the VMGenID device (the ADDR package Linux's
 * drivers/virt/vmgenid.c reads) and a Generic Event Device (ACPI0013)
 * whose interrupt runs _EVT, which notifies VMGenID: husk raises that
 * interrupt after every snapshot restore. */
#ifndef HUSK_X86_ACPI_H
#define HUSK_X86_ACPI_H

#include <stdint.h>

#include "vmm/arch/arch.h"

/* Write every table into [LAYOUT_ACPI_START, LAYOUT_ACPI_END), the RSDP at
 * the start; *rsdp gets its address. 0, -EINVAL for a bad device list,
 * -ENOSPC if the tables do not fit, -ENOMEM if that range is not RAM. */
int acpi_write(const struct guest_mem *gm, unsigned nr_cpus, const struct arch_devices *devs,
               uint64_t *rsdp);

#endif
