/* x86_64 guest physical layout (DESIGN.md; Firecracker-compatible where a
 * guest can see it). */
#ifndef HUSK_X86_LAYOUT_H
#define HUSK_X86_LAYOUT_H

#define LAYOUT_RAM_BASE 0x0ULL /* guest_mem.c: RAM from here to the MMIO gap */
#define LAYOUT_GDT 0x500ULL
#define LAYOUT_IDT 0x520ULL
#define LAYOUT_PVH_START_INFO 0x6000ULL
#define LAYOUT_ZERO_PAGE 0x7000ULL
#define LAYOUT_BOOT_STACK 0x8ff0ULL
#define LAYOUT_PML4 0x9000ULL
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 2048ULL
#define LAYOUT_MPTABLE 0x9fc00ULL
#define LAYOUT_EBDA_START 0x9fc00ULL /* first byte not usable low RAM */
/* ACPI tables: the RSDP first, where Linux scans for it (and the zero page
 * or PVH start_info point at it), then the others; the BIOS area is RAM in
 * KVM's first slot but not in the guest's e820 map, so no guest reuses it. */
#define LAYOUT_ACPI_START 0xe0000ULL
#define LAYOUT_ACPI_END 0x100000ULL
#define LAYOUT_HIMEM_START 0x100000ULL /* 1 MiB: kernel load address */
#define LAYOUT_MMIO_GAP_START 0xd0000000ULL
#define LAYOUT_MMIO_GAP_END 0x100000000ULL
#define LAYOUT_BOOTTIMER_MMIO 0xd0000000ULL
#define LAYOUT_BOOTTIMER_PIO 0x3f0ULL
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0001000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ULL
#define LAYOUT_VIRTIO_GSI_BASE 5
#define LAYOUT_VIRTIO_MAX_DEVICES 16
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
/* KVM needs 3 pages for the TSS and 1 for the identity map, inside the gap. */
#define LAYOUT_KVM_TSS 0xfffbd000ULL
#define LAYOUT_KVM_IDENTITY_MAP 0xfffbc000ULL
#define LAYOUT_COM1 0x3f8ULL
#define LAYOUT_COM1_IRQ 4
#define LAYOUT_I8042 0x60ULL
#define LAYOUT_I8042_IRQ 1
#define LAYOUT_MAX_RAM_MIB (1024ULL * 1024) /* 1 TiB */

#endif
