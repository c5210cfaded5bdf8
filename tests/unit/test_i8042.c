#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "devices/i8042.h"

static int resets;
static void on_reset(void *opaque) { (void)opaque; resets++; }

static void out8(struct i8042 *k, uint64_t off, uint8_t v) { i8042_ops.write(k, off, &v, 1); }
static uint8_t in8(struct i8042 *k, uint64_t off)
{
	uint8_t v = 0;
	i8042_ops.read(k, off, &v, 1);
	return v;
}

static void test_reset_command(void **state)
{
	(void)state;
	struct i8042 k;
	resets = 0;
	i8042_init(&k, -1, on_reset, NULL);
	out8(&k, 4, 0xaa);
	assert_true(in8(&k, 4) & 0x01);
	assert_int_equal(in8(&k, 0), 0x55);
	assert_false(in8(&k, 4) & 0x01);
	assert_int_equal(resets, 0);
	out8(&k, 4, 0xfe);
	assert_int_equal(resets, 1);
	/* 0xfe on the data port is not a reset */
	out8(&k, 0, 0xfe);
	assert_int_equal(resets, 1);
	i8042_destroy(&k);
}

static void test_control_byte(void **state)
{
	(void)state;
	struct i8042 k;
	i8042_init(&k, -1, NULL, NULL);
	out8(&k, 4, 0x60);
	out8(&k, 0, 0x47);
	out8(&k, 4, 0x20);
	assert_int_equal(in8(&k, 0), 0x47);
	i8042_destroy(&k);
}

static void test_ctrl_alt_del_bounded(void **state)
{
	(void)state;
	struct i8042 k;
	i8042_init(&k, -1, NULL, NULL);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(in8(&k, 0), 0x1d);
	assert_int_equal(in8(&k, 0), 0x38);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	/* 6 + 8 queued now: no room for another 8 */
	assert_int_equal(i8042_send_ctrl_alt_del(&k), -ENOSPC);
	i8042_destroy(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_command),
		cmocka_unit_test(test_control_byte),
		cmocka_unit_test(test_ctrl_alt_del_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
