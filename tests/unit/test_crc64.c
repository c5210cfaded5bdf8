#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/snapshot/crc64.h"

/* the published check value of CRC-64/XZ */
static void test_check_value(void **state)
{
	(void)state;
	assert_true(crc64("123456789", 9) == 0x995DC9BBDF1939FAULL);
	assert_true(crc64("", 0) == 0);
}

static void test_incremental_equals_whole(void **state)
{
	(void)state;
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	uint64_t whole = crc64(buf, sizeof(buf));
	for (size_t split = 0; split <= sizeof(buf); split += 97) {
		uint64_t c = crc64_update(0, buf, split);
		c = crc64_update(c, buf + split, sizeof(buf) - split);
		assert_true(c == whole);
	}
}

static void test_every_single_bit_flip_detected(void **state)
{
	(void)state;
	uint8_t buf[256];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	uint64_t good = crc64(buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(crc64(buf, sizeof(buf)) != good);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_true(crc64(buf, sizeof(buf)) == good);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_check_value),
	cmocka_unit_test(test_incremental_equals_whole),
	cmocka_unit_test(test_every_single_bit_flip_detected))
