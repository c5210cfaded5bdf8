/* arch_types: what aarch64 gives vmm/arch/arch.h: its memory map, struct
 * boot_info and its per-VM data. */
#ifndef HUSK_AARCH64_ARCH_TYPES_H
#define HUSK_AARCH64_ARCH_TYPES_H

#include <stdint.h>

#include "vmm/arch/aarch64/layout.h"

struct boot_info {
	uint64_t entry;      /* guest physical address of the Image's first byte */
	uint64_t kernel_end; /* first byte after the Image's image_size */
	uint64_t initrd_addr;
	uint64_t initrd_size;
	uint64_t fdt_addr;   /* where arch_write_boot_tables puts the FDT; x0 */
};

struct arch_vm {
	int gic_fd;      /* the in-kernel vGIC device, -1 before arch_vm_init */
	int gic_version; /* 3, or 2 where the host has no GICv3 emulation */
};

#endif
