/* MP table: signatures, checksums and one entry per CPU, as Linux parses it. */
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

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s += *p++;
	return s;
}

static void check_table(const struct guest_mem *gm, unsigned nr_cpus)
{
	const uint8_t *mpf = gm_ptr(gm, LAYOUT_MPTABLE, 16);
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(sum(mpf, 16), 0);
	uint32_t phys;
	memcpy(&phys, mpf + 4, 4);
	const uint8_t *mpc = gm_ptr(gm, phys, 44);
	assert_non_null(mpc);
	assert_memory_equal(mpc, "PCMP", 4);
	uint16_t len, count;
	memcpy(&len, mpc + 4, 2);
	memcpy(&count, mpc + 34, 2);
	assert_non_null(gm_ptr(gm, phys, len));
	assert_true(phys + len <= 0xa0000);
	assert_int_equal(sum(mpc, len), 0);
	/* walk the entries like Linux's smp_read_mpc */
	const uint8_t *p = mpc + 44, *end = mpc + len;
	unsigned cpus = 0, bsp = 0, ioapics = 0, entries = 0;
	while (p < end) {
		entries++;
		switch (p[0]) {
		case 0:
			assert_int_equal(p[1], cpus); /* APIC id */
			assert_true(p[3] & 1);
			bsp += (p[3] & 2) != 0;
			cpus++;
			p += 20;
			break;
		case 2:
			ioapics++;
			assert_int_equal(p[1], nr_cpus); /* id clear of the CPUs */
			p += 8;
			break;
		case 1: case 3: case 4:
			p += 8;
			break;
		default:
			fail_msg("bad MP entry type %u", p[0]);
		}
	}
	assert_ptr_equal(p, end);
	assert_int_equal(cpus, nr_cpus);
	assert_int_equal(bsp, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(entries, count);
}

static void test_mptable_sizes(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 32ULL << 20, LAYOUT_MMIO_GAP_START), 0);
	unsigned sizes[] = { 1, 2, 4, 32 };
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(mptable_write(&gm, sizes[i]), 0);
		check_table(&gm, sizes[i]);
	}
	assert_int_equal(mptable_write(&gm, 0), -EINVAL);
	assert_int_equal(mptable_write(&gm, 200), -E2BIG); /* would run into the VGA hole */
	gm_destroy(&gm);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_mptable_sizes))
