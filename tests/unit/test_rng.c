/* virtio-rng: filling guest buffers from getrandom. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "devices/virtio/rng.h"

static void test_fill_spans_iovecs(void **state)
{
	(void)state;
	uint8_t a[100], b[300];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	assert_int_equal(rng_fill(v, 2, 1 << 20), 400);
	/* 300 zero bytes from a working generator: odds of 2^-2400 */
	int nonzero = 0;
	for (size_t i = 0; i < sizeof(b); i++)
		nonzero += b[i] != 0;
	assert_true(nonzero > 200);
}

static void test_fill_respects_max(void **state)
{
	(void)state;
	uint8_t a[64], b[64];
	memset(a, 0, sizeof(a));
	memset(b, 0xab, sizeof(b));
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	assert_int_equal(rng_fill(v, 2, 70), 70);
	/* bytes past max are untouched */
	for (size_t i = 6; i < sizeof(b); i++)
		assert_int_equal(b[i], 0xab);
	assert_int_equal(rng_fill(v, 0, 70), 0);
	assert_int_equal(rng_fill(v, 2, 0), 0);
}

static void test_two_fills_differ(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	struct iovec va = { a, sizeof(a) }, vb = { b, sizeof(b) };
	assert_int_equal(rng_fill(&va, 1, 32), 32);
	assert_int_equal(rng_fill(&vb, 1, 32), 32);
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_spans_iovecs),
		cmocka_unit_test(test_fill_respects_max),
		cmocka_unit_test(test_two_fills_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
