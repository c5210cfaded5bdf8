/* loader: the arm64 Image and the initrd into guest RAM
 * (Documentation/arch/arm64/booting.rst). */
#ifndef HUSK_AARCH64_LOADER_H
#define HUSK_AARCH64_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/arch/aarch64/arch_types.h"
#include "vmm/guest_mem.h"

/* The 64-byte header at the start of every arm64 Image. */
#define IMAGE_MAGIC 0x644d5241u /* "ARM\x64" */
#define IMAGE_HEADER_SIZE 64

/* Load an Image at RAM's 2 MiB aligned base plus its text_offset: -ENOEXEC
 * for a header that is not a little-endian arm64 Image's, -ENOMEM if it
 * does not fit below the FDT, the reason in err. Sets bi->entry,
 * kernel_end and fdt_addr. */
int a64_load_image(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi,
                   char *err, size_t errlen);
/* Page-aligned just below the FDT, above the kernel; -ENOMEM if no room. */
int a64_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi);
/* The FDT's guest address: the last 2 MiB aligned block of RAM, or RAM's
 * start when RAM is smaller than that. */
uint64_t a64_fdt_addr(const struct guest_mem *gm);

#endif
