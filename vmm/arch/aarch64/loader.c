/* loader: arm64 Image and initrd placement. */
#include "vmm/arch/aarch64/loader.h"

#include <errno.h>
#include <string.h>

struct image_header {
	uint32_t code0, code1;
	uint64_t text_offset; /* little-endian, like everything here */
	uint64_t image_size;  /* 0: a kernel older than 3.17, text_offset is 0x80000 */
	uint64_t flags;
	uint64_t res2, res3, res4;
	uint32_t magic;
	uint32_t res5;
};
_Static_assert(sizeof(struct image_header) == IMAGE_HEADER_SIZE, "arm64 Image header is 64 bytes");

#define IMAGE_LEGACY_TEXT_OFFSET 0x80000ULL

static uint64_t ram_end(const struct guest_mem *gm)
{
	return LAYOUT_RAM_BASE + gm->ram_size;
}

uint64_t a64_fdt_addr(const struct guest_mem *gm)
{
	if (gm->ram_size <= LAYOUT_FDT_MAX_SIZE)
		return LAYOUT_RAM_BASE;
	return (ram_end(gm) - LAYOUT_FDT_MAX_SIZE) & ~(LAYOUT_FDT_MAX_SIZE - 1);
}

int a64_load_image(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	struct image_header h;
	if (len < sizeof(h))
		return -ENOEXEC;
	memcpy(&h, img, sizeof(h));
	if (h.magic != IMAGE_MAGIC)
		return -ENOEXEC;
	uint64_t text_offset = h.text_offset, size = h.image_size;
	if (size == 0) {
		text_offset = IMAGE_LEGACY_TEXT_OFFSET;
		size = len;
	}
	/* booting.rst: the Image must be at least as large as the file; a
	 * text_offset beyond the 2 MiB block would overlap the next one */
	if (size < len || text_offset >= LAYOUT_KERNEL_ALIGN || (text_offset & 0xfff))
		return -ENOEXEC;
	uint64_t entry = LAYOUT_RAM_BASE + text_offset;
	bi->fdt_addr = a64_fdt_addr(gm);
	if (bi->fdt_addr < entry || size > bi->fdt_addr - entry)
		return -ENOMEM;
	int ret = gm_write(gm, entry, img, len);
	if (ret < 0)
		return -ENOMEM;
	bi->entry = entry;
	bi->kernel_end = entry + size;
	return 0;
}

int a64_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	uint64_t top = a64_fdt_addr(gm);
	if (len > top - bi->kernel_end)
		return -ENOMEM;
	uint64_t addr = (top - len) & ~0xfffULL;
	if (addr < bi->kernel_end || gm_write(gm, addr, img, len) < 0)
		return -ENOMEM;
	bi->initrd_addr = addr;
	bi->initrd_size = len;
	return 0;
}
