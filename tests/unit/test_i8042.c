#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"
#include <sys/eventfd.h>
#include <unistd.h>

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

static uint64_t irqs(int efd)
{
	uint64_t n = 0;
	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void test_interrupt_per_queued_byte(void **state)
{
	(void)state;
	struct i8042 k;
	int efd = eventfd(0, EFD_NONBLOCK);
	assert_true(efd >= 0);
	i8042_init(&k, efd, NULL, NULL);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(irqs(efd), 1);
	/* a guest that reads one byte per interrupt gets an interrupt for each
	 * byte still queued, none once the buffer is empty */
	static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	for (size_t i = 0; i < sizeof(seq); i++) {
		assert_int_equal(in8(&k, 0), seq[i]);
		assert_int_equal(irqs(efd), i + 1 < sizeof(seq) ? 1 : 0);
	}
	assert_false(in8(&k, 4) & 0x01);
	assert_int_equal(in8(&k, 0), 0);
	assert_int_equal(irqs(efd), 0);
	/* with the keyboard interrupt off in the control byte: none at all */
	out8(&k, 4, 0x60);
	out8(&k, 0, 0x00);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(in8(&k, 0), 0x1d);
	assert_int_equal(irqs(efd), 0);
	i8042_destroy(&k);
	close(efd);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_reset_command),
	cmocka_unit_test(test_control_byte),
	cmocka_unit_test(test_ctrl_alt_del_bounded),
	cmocka_unit_test(test_interrupt_per_queued_byte))
