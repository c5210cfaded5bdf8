/* boot: what the kernel loaders produce and the vCPU set-up consumes. */
#ifndef HUSK_X86_BOOT_H
#define HUSK_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

enum boot_mode {
	BOOT_PVH,     /* 32-bit protected mode, %ebx = start_info */
	BOOT_LINUX64, /* 64-bit long mode, %rsi = boot_params (zero page) */
};

struct boot_info {
	enum boot_mode mode;
	uint64_t entry;      /* guest physical entry point */
	uint64_t kernel_end; /* first byte after the loaded kernel */
	uint64_t initrd_addr;
	uint64_t initrd_size;
	/* bzImage only: its setup header, copied into the zero page */
	uint8_t setup_header[0x290 - 0x1f1];
	int has_setup_header;
	/* set by arch_write_boot_tables: the ACPI RSDP, 0 without ACPI */
	uint64_t rsdp_addr;
};

/* Load a kernel image from memory into guest RAM: ELF vmlinux (PVH note ->
 * BOOT_PVH, else BOOT_LINUX64) or bzImage (protocol >= 2.10, 64-bit entry).
 * Every size and offset from the image is checked: -ENOEXEC for a malformed
 * or unsupported image, -ENOMEM if it does not fit guest RAM. */
int loader_load_kernel(const struct guest_mem *gm, const uint8_t *img,
                       size_t len, struct boot_info *bi);
/* Place the initrd high in low RAM (page aligned, below the MMIO gap and
 * above the kernel). */
int loader_load_initrd(const struct guest_mem *gm, const uint8_t *img,
                       size_t len, struct boot_info *bi);
/* Write the cmdline (NUL-terminated, < LAYOUT_CMDLINE_MAX) at LAYOUT_CMDLINE. */
int loader_load_cmdline(const struct guest_mem *gm, const char *cmdline);

/* Write the zero page (BOOT_LINUX64) or PVH start_info + memmap (BOOT_PVH),
 * both with the e820 map of gm. */
int bootparams_write(const struct guest_mem *gm, const struct boot_info *bi,
                     size_t cmdline_len);

/* MP table at LAYOUT_MPTABLE for nr_cpus CPUs, one IOAPIC, ISA IRQs 0-15
 * and the virtio GSIs. */
int mptable_write(const struct guest_mem *gm, unsigned nr_cpus);

#endif
