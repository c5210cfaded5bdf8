/* aarch64 guest physical layout: Firecracker's aarch64 map where a guest
 * can see it (RAM at 2 GiB, the GIC just below 1 GiB, devices from 1 GiB
 * up). The device tree tells the guest all of it. */
#ifndef HUSK_AARCH64_LAYOUT_H
#define HUSK_AARCH64_LAYOUT_H

/* RAM: one region from 2 GiB, no hole (guest_mem.c) */
#define LAYOUT_RAM_BASE 0x80000000ULL
#define LAYOUT_MAX_RAM_MIB (1022ULL * 1024) /* up to 1 TiB */
/* guest_mem's 32-bit MMIO gap is an x86 notion: here the MMIO is below
 * RAM, so RAM's 32-bit part runs to 4 GiB and goes on above it, no hole */
#define LAYOUT_MMIO_GAP_START 0x100000000ULL

/* the GIC: the distributor ends at 1 GiB, the redistributors (GICv3, 128
 * KiB per vCPU) or the CPU interface (GICv2) below it */
#define LAYOUT_GIC_DIST 0x3fff0000ULL
#define LAYOUT_GIC_DIST_SIZE 0x10000ULL
#define LAYOUT_GIC_REDIST_SIZE 0x20000ULL /* per vCPU */
#define LAYOUT_GIC_V2_CPU 0x3ffe0000ULL
#define LAYOUT_GIC_V2_CPU_SIZE 0x2000ULL
#define LAYOUT_GIC_V2_DIST_SIZE 0x1000ULL
/* SPIs the VM has: GSI n (irqfd) is SPI n, interrupt id 32 + n */
#define LAYOUT_GIC_NR_IRQS 128

/* devices, 4 KiB each, from 1 GiB */
#define LAYOUT_BOOTTIMER_MMIO 0x40000000ULL
#define LAYOUT_VIRTIO_MMIO_BASE 0x40001000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ULL
#define LAYOUT_VIRTIO_GSI_BASE 5
#define LAYOUT_VIRTIO_MAX_DEVICES 16
/* after the virtio slots and the VMGenID page (vmm.c puts that right
 * after them): the 16550 UART, byte-wide registers */
#define LAYOUT_SERIAL_MMIO 0x40020000ULL
#define LAYOUT_SERIAL_SIZE 0x1000ULL
#define LAYOUT_COM1_IRQ 4
/* the device tree describes every device: no virtio_mmio.device= on the
 * kernel cmdline (devices/virtio/mmio.c); a root drive's root= stays */
#define LAYOUT_DEVICES_IN_FDT 1 /* the serial port's GSI, as on x86 */
/* 1.8432 MHz, the classic 16550 clock: Linux computes its divisor from it */
#define LAYOUT_SERIAL_CLOCK 1843200

/* the FDT: in the last 2 MiB of RAM (2 MiB aligned), the initrd below it */
#define LAYOUT_FDT_MAX_SIZE 0x200000ULL
#define LAYOUT_CMDLINE_MAX 2048ULL
/* arm64 Image: loaded at a 2 MiB aligned base plus its text_offset */
#define LAYOUT_KERNEL_ALIGN 0x200000ULL

#endif
