/* The arm64 Image loader and the initrd/FDT placement against crafted
 * headers, good and hostile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/arch/aarch64/loader.h"

#define RAM (64ULL << 20)
#define MIB (1ULL << 20)

static uint8_t img[8192];

/* A header with text_offset and image_size, the body a pattern. */
static void make_image(uint64_t text_offset, uint64_t image_size, uint32_t magic)
{
	memset(img, 0, sizeof(img));
	for (size_t i = IMAGE_HEADER_SIZE; i < sizeof(img); i++)
		img[i] = (uint8_t)i;
	memcpy(img + 8, &text_offset, 8);
	memcpy(img + 16, &image_size, 8);
	memcpy(img + 56, &magic, 4);
}

static int setup(void **state)
{
	static struct guest_mem gm;
	if (gm_init(&gm, RAM, LAYOUT_MMIO_GAP_START) < 0 || gm_set_base(&gm, LAYOUT_RAM_BASE) < 0)
		return -1;
	*state = &gm;
	return 0;
}

static int teardown(void **state)
{
	gm_destroy(*state);
	return 0;
}

static void test_ram_starts_at_2g(void **state)
{
	struct guest_mem *gm = *state;
	assert_int_equal(gm->nr_regions, 1);
	assert_null(gm_ptr(gm, LAYOUT_RAM_BASE - 1, 1));
	assert_non_null(gm_ptr(gm, LAYOUT_RAM_BASE, RAM));
	assert_null(gm_ptr(gm, LAYOUT_RAM_BASE + RAM, 1));
}

static void test_text_offset_honoured(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0x80000, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), 0);
	assert_int_equal(bi.entry, LAYOUT_RAM_BASE + 0x80000);
	assert_int_equal(bi.kernel_end, LAYOUT_RAM_BASE + 0x180000);
	assert_memory_equal(gm_ptr(gm, bi.entry, sizeof(img)), img, sizeof(img));
	/* the FDT: the last 2 MiB block of RAM */
	assert_int_equal(bi.fdt_addr, LAYOUT_RAM_BASE + RAM - 2 * MIB);
	assert_int_equal(bi.fdt_addr % (2 * MIB), 0);
}

static void test_legacy_image_size_zero(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0, IMAGE_MAGIC); /* pre-3.17: text_offset is 0x80000 */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), 0);
	assert_int_equal(bi.entry, LAYOUT_RAM_BASE + 0x80000);
	assert_int_equal(bi.kernel_end, bi.entry + sizeof(img));
}

static void test_bad_headers(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0x100000, 0x7f454c46); /* an ELF's magic, not ARM\x64 */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOEXEC);
	make_image(0, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, IMAGE_HEADER_SIZE - 1, &bi), -ENOEXEC);
	make_image(2 * MIB, 0x100000, IMAGE_MAGIC); /* past its 2 MiB block */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOEXEC);
	make_image(0x123, 0x100000, IMAGE_MAGIC); /* not page aligned */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOEXEC);
	make_image(0, 16, IMAGE_MAGIC); /* image_size smaller than the file */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOEXEC);
}

static void test_too_big(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	/* image_size (with its bss) reaching into the FDT's block */
	make_image(0, RAM - 2 * MIB + 1, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOMEM);
	make_image(0, UINT64_MAX, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), -ENOMEM);
}

static void test_initrd_below_fdt(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi), 0);
	assert_int_equal(a64_load_initrd(gm, img, 5000, &bi), 0);
	assert_int_equal(bi.initrd_addr % 4096, 0);
	assert_true(bi.initrd_addr + bi.initrd_size <= bi.fdt_addr);
	assert_true(bi.initrd_addr >= bi.kernel_end);
	assert_memory_equal(gm_ptr(gm, bi.initrd_addr, 5000), img, 5000);
	/* no room between the kernel and the FDT */
	assert_int_equal(a64_load_initrd(gm, img, sizeof(img), &(struct boot_info){
		.kernel_end = bi.fdt_addr - 4096, .fdt_addr = bi.fdt_addr }), -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_starts_at_2g),
		cmocka_unit_test(test_text_offset_honoured),
		cmocka_unit_test(test_legacy_image_size_zero),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_initrd_below_fdt),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
