/* loader: arm64 Image and initrd placement. */
#include "vmm/arch/aarch64/loader.h"

#include <errno.h>
#include <string.h>

#include "vmm/errmsg.h"

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
/* flags bit 0 (booting.rst): the kernel's endianness, 1 for big-endian */
#define IMAGE_FLAG_BE 1ULL

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

/* The header's own checks: -ENOEXEC with the reason in err. Sets
 * *text_offset and *size (with image_size 0, a pre-3.17 kernel's). */
static int image_header_check(const uint8_t *img, size_t len, uint64_t *text_offset, uint64_t *size,
                              char *err, size_t errlen)
{
	struct image_header h;
	if (len < sizeof(h))
		return errmsg_set(err, errlen, -ENOEXEC, "%zu bytes, shorter than an arm64 Image's %d-byte header",
		                  len, IMAGE_HEADER_SIZE);
	memcpy(&h, img, sizeof(h));
	if (h.magic != IMAGE_MAGIC)
		return errmsg_set(err, errlen, -ENOEXEC, "not an arm64 Image (no \"ARM\\x64\" magic at offset 56)");
	/* an image_size of 0 predates the flags field too: no endianness */
	if (h.image_size && (h.flags & IMAGE_FLAG_BE))
		return errmsg_set(err, errlen, -ENOEXEC,
		                  "a big-endian arm64 Image (header flags bit 0); husk boots little-endian kernels only");
	*text_offset = h.text_offset;
	*size = h.image_size;
	if (*size == 0) {
		*text_offset = IMAGE_LEGACY_TEXT_OFFSET;
		*size = len;
	}
	/* booting.rst: the Image must be at least as large as the file; a
	 * text_offset beyond the 2 MiB block would overlap the next one */
	if (*text_offset >= LAYOUT_KERNEL_ALIGN || (*text_offset & 0xfff))
		return errmsg_set(err, errlen, -ENOEXEC, "text_offset 0x%llx is not page-aligned below 2 MiB",
		                  (unsigned long long)*text_offset);
	if (*size < len)
		return errmsg_set(err, errlen, -ENOEXEC, "image_size 0x%llx is smaller than the file (%zu bytes)",
		                  (unsigned long long)*size, len);
	return 0;
}

int a64_load_image(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi,
                   char *err, size_t errlen)
{
	uint64_t text_offset = 0, size = 0;
	int ret = image_header_check(img, len, &text_offset, &size, err, errlen);
	if (ret < 0)
		return ret;
	uint64_t entry = LAYOUT_RAM_BASE + text_offset;
	bi->fdt_addr = a64_fdt_addr(gm);
	if (bi->fdt_addr < entry || size > bi->fdt_addr - entry || gm_write(gm, entry, img, len) < 0)
		return errmsg_set(err, errlen, -ENOMEM, "image_size 0x%llx does not fit in guest memory below the "
		                  "device tree at 0x%llx", (unsigned long long)size, (unsigned long long)bi->fdt_addr);
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
