#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/guest_mem.h"

#define GAP 0xd0000000ULL

static void test_small_ram_one_region(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 128 << 20, GAP), 0);
	assert_int_equal(gm.nr_regions, 1);
	assert_int_equal(gm_low_end(&gm), 128 << 20);
	assert_non_null(gm_ptr(&gm, 0, 1));
	assert_non_null(gm_ptr(&gm, (128 << 20) - 8, 8));
	assert_null(gm_ptr(&gm, (128 << 20) - 7, 8));
	assert_null(gm_ptr(&gm, 128 << 20, 1));
	/* lengths that would wrap the address space */
	assert_null(gm_ptr(&gm, 16, UINT64_MAX));
	assert_null(gm_ptr(&gm, UINT64_MAX, 2));
	uint32_t v = 0xdeadbeef, back = 0;
	assert_int_equal(gm_write(&gm, 0x1000, &v, 4), 0);
	memcpy(&back, gm_ptr(&gm, 0x1000, 4), 4);
	assert_int_equal(back, v);
	assert_int_equal(gm_write(&gm, (128 << 20) - 2, &v, 4), -EFAULT);
	gm_destroy(&gm);
}

static void test_split_around_gap(void **state)
{
	(void)state;
	struct guest_mem gm;
	uint64_t size = 4ULL << 30; /* NORESERVE: costs nothing until touched */
	assert_int_equal(gm_init(&gm, size, GAP), 0);
	assert_int_equal(gm.nr_regions, 2);
	assert_int_equal(gm_low_end(&gm), GAP);
	assert_null(gm_ptr(&gm, GAP, 1));
	assert_null(gm_ptr(&gm, GAP - 4, 8)); /* crosses into the gap */
	assert_non_null(gm_ptr(&gm, 0x100000000ULL, 8));
	uint64_t high_size = size - GAP;
	assert_non_null(gm_ptr(&gm, 0x100000000ULL + high_size - 1, 1));
	assert_null(gm_ptr(&gm, 0x100000000ULL + high_size, 1));
	/* the high region maps right after the low one in the host mapping */
	assert_ptr_equal(gm_ptr(&gm, 0x100000000ULL, 1), gm.base + GAP);
	gm_destroy(&gm);
}

static void test_bad_sizes(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 0, GAP), -EINVAL);
	assert_int_equal(gm_init(&gm, 4097, GAP), -EINVAL);
}

/* aarch64's RAM from 2 GiB: the whole layout moves, nothing below it */
static void test_set_base(void **state)
{
	(void)state;
	struct guest_mem gm;
	uint64_t size = 6ULL << 30, base = 0x80000000ULL;
	assert_int_equal(gm_init(&gm, size, 0x100000000ULL), 0);
	assert_int_equal(gm_set_base(&gm, base), 0);
	assert_null(gm_ptr(&gm, base - 1, 1));
	assert_ptr_equal(gm_ptr(&gm, base, 1), gm.base);
	/* the split at 4 GiB stays unbroken for the guest */
	assert_ptr_equal(gm_ptr(&gm, base + (4ULL << 30), 1), gm.base + (4ULL << 30));
	assert_non_null(gm_ptr(&gm, base + size - 1, 1));
	assert_null(gm_ptr(&gm, base + size, 1));
	assert_int_equal(gm_set_base(&gm, UINT64_MAX - (1ULL << 30)), -EINVAL);
	assert_ptr_equal(gm_ptr(&gm, base, 1), gm.base); /* a refused move changes nothing */
	gm_destroy(&gm);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_small_ram_one_region),
	cmocka_unit_test(test_split_around_gap),
	cmocka_unit_test(test_set_base),
	cmocka_unit_test(test_bad_sizes))
