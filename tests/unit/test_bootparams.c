/* Zero page and PVH start_info: the RAM map a guest sees. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

static uint32_t rd32(const struct guest_mem *gm, uint64_t gpa)
{
	uint32_t v = 0;
	const void *p = gm_ptr(gm, gpa, 4);
	assert_non_null(p);
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const struct guest_mem *gm, uint64_t gpa)
{
	uint64_t v = 0;
	const void *p = gm_ptr(gm, gpa, 8);
	assert_non_null(p);
	memcpy(&v, p, 8);
	return v;
}

static void test_zero_page_small(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 128ULL << 20, LAYOUT_MMIO_GAP_START), 0);
	struct boot_info bi = { .mode = BOOT_LINUX64, .initrd_addr = 0x7000000, .initrd_size = 0x1234 };
	assert_int_equal(bootparams_write(&gm, &bi, 20), 0);
	uint64_t zp = LAYOUT_ZERO_PAGE;
	uint8_t n = *(uint8_t *)gm_ptr(&gm, zp + 0x1e8, 1);
	assert_int_equal(n, 2);
	assert_int_equal(rd64(&gm, zp + 0x2d0), 0);
	assert_int_equal(rd64(&gm, zp + 0x2d8), LAYOUT_EBDA_START);
	assert_int_equal(rd32(&gm, zp + 0x2e0), 1);
	assert_int_equal(rd64(&gm, zp + 0x2e4), LAYOUT_HIMEM_START);
	assert_int_equal(rd64(&gm, zp + 0x2ec), (128ULL << 20) - LAYOUT_HIMEM_START);
	assert_int_equal(rd32(&gm, zp + 0x228), LAYOUT_CMDLINE);
	assert_int_equal(rd32(&gm, zp + 0x238), 20);
	assert_int_equal(rd32(&gm, zp + 0x218), 0x7000000);
	assert_int_equal(rd32(&gm, zp + 0x21c), 0x1234);
	assert_int_equal(rd32(&gm, zp + 0x202), 0x53726448);
	assert_int_equal(bootparams_write(&gm, &bi, LAYOUT_CMDLINE_MAX), -EINVAL);
	gm_destroy(&gm);
}

static void test_pvh_above_4g(void **state)
{
	(void)state;
	struct guest_mem gm;
	uint64_t size = 4ULL << 30;
	assert_int_equal(gm_init(&gm, size, LAYOUT_MMIO_GAP_START), 0);
	struct boot_info bi = { .mode = BOOT_PVH, .initrd_addr = 0x8000000, .initrd_size = 4096 };
	assert_int_equal(bootparams_write(&gm, &bi, 10), 0);
	uint64_t si = LAYOUT_PVH_START_INFO;
	assert_int_equal(rd32(&gm, si), 0x336ec578);
	assert_int_equal(rd32(&gm, si + 4), 1);
	assert_int_equal(rd32(&gm, si + 12), 1); /* one module: the initrd */
	uint64_t mod = rd64(&gm, si + 16);
	assert_int_equal(rd64(&gm, mod), 0x8000000);
	assert_int_equal(rd64(&gm, mod + 8), 4096);
	assert_int_equal(rd64(&gm, si + 24), LAYOUT_CMDLINE);
	uint64_t map = rd64(&gm, si + 40);
	uint32_t n = rd32(&gm, si + 48);
	assert_int_equal(n, 3);
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(rd32(&gm, map + i * 24 + 16), 1);
		total += rd64(&gm, map + i * 24 + 8);
	}
	/* all RAM but the 384 KiB hole below 1 MiB is described */
	assert_int_equal(total, size - (LAYOUT_HIMEM_START - LAYOUT_EBDA_START));
	assert_int_equal(rd64(&gm, map + 2 * 24), 1ULL << 32);
	gm_destroy(&gm);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_zero_page_small),
	cmocka_unit_test(test_pvh_above_4g))
