#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/bus.h"

struct rec {
	uint64_t off;
	uint32_t len;
	uint8_t last_write;
	int writes;
};

static void rec_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	memset(data, 0x5a, len);
}

static void rec_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	r->last_write = *(const uint8_t *)data;
	r->writes++;
}

static const struct bus_ops rec_ops = { .read = rec_read, .write = rec_write };

static void test_overlaps_refused(void **state)
{
	(void)state;
	struct bus bus;
	struct rec r = { 0 };
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, "com1", &rec_ops, &r), 0);
	assert_int_equal(bus_register(&bus, 0x3f8, 8, "dup", &rec_ops, &r), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3f0, 9, "tail", &rec_ops, &r), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3ff, 1, "head", &rec_ops, &r), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3f0, 0x20, "cover", &rec_ops, &r), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3fa, 2, "inside", &rec_ops, &r), -EEXIST);
	/* touching neighbours are fine */
	assert_int_equal(bus_register(&bus, 0x3f0, 8, "below", &rec_ops, &r), 0);
	assert_int_equal(bus_register(&bus, 0x400, 1, "above", &rec_ops, &r), 0);
	assert_int_equal(bus.nr, 3);
	bus_destroy(&bus);
}

static void test_bad_ranges(void **state)
{
	(void)state;
	struct bus bus;
	struct rec r = { 0 };
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 0, "empty", &rec_ops, &r), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 4, "wrap", &rec_ops, &r), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, "last", &rec_ops, &r), 0);
	assert_int_equal(bus_register(&bus, 0x1000, 1, "noops", NULL, &r), -EINVAL);
	bus_destroy(&bus);
}

static void test_dispatch(void **state)
{
	(void)state;
	struct bus bus;
	struct rec a = { 0 }, b = { 0 };
	bus_init(&bus, "mmio");
	/* registered out of order: lookup must still find each */
	assert_int_equal(bus_register(&bus, 0xd0002000, 0x1000, "b", &rec_ops, &b), 0);
	assert_int_equal(bus_register(&bus, 0xd0000000, 0x1000, "a", &rec_ops, &a), 0);
	uint8_t v = 7;
	assert_true(bus_access(&bus, 0xd0000010, &v, 1, true));
	assert_int_equal(a.off, 0x10);
	assert_int_equal(a.last_write, 7);
	uint32_t word = 0;
	assert_true(bus_access(&bus, 0xd0002ffc, &word, 4, false));
	assert_int_equal(b.off, 0xffc);
	assert_int_equal(word, 0x5a5a5a5a);
	/* straddling the end of a range, or in a hole: unclaimed */
	word = 0;
	assert_false(bus_access(&bus, 0xd0002ffe, &word, 4, false));
	assert_int_equal(word, 0xffffffff);
	assert_false(bus_access(&bus, 0xd0001000, &v, 1, true));
	assert_int_equal(a.writes + b.writes, 1);
	assert_null(bus_find(&bus, 0xcfffffff));
	assert_null(bus_find(&bus, 0xd0003000));
	bus_destroy(&bus);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_overlaps_refused),
	cmocka_unit_test(test_bad_ranges),
	cmocka_unit_test(test_dispatch))
