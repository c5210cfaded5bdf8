/* log: level parsing and the per-call-site budget for guest-triggered lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/log.h"

static void test_level_parse(void **state)
{
	(void)state;
	enum log_level l;
	assert_int_equal(log_level_parse("warning", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("Debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse("trace", &l), 0);
	assert_int_equal(l, LOG_TRACE);
	assert_int_equal(log_level_parse("Off", &l), 0);
	assert_int_equal(l, LOG_OFF);
	assert_int_equal(log_level_parse("Verbose", &l), -EINVAL);
}

static void test_ratelimit_burst_then_count(void **state)
{
	(void)state;
	struct log_ratelimit rl = { 0 };
	unsigned dropped;
	for (int i = 0; i < LOG_RATELIMIT_BURST; i++) {
		assert_true(log_ratelimit_ok(&rl, &dropped));
		assert_int_equal(dropped, 0);
	}
	for (int i = 0; i < 1000; i++)
		assert_false(log_ratelimit_ok(&rl, &dropped));
	/* the window has passed: one more line, carrying the count */
	rl.window_start_us -= LOG_RATELIMIT_WINDOW_US;
	assert_true(log_ratelimit_ok(&rl, &dropped));
	assert_int_equal(dropped, 1000);
	assert_true(log_ratelimit_ok(&rl, &dropped));
	assert_int_equal(dropped, 0);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_level_parse),
	cmocka_unit_test(test_ratelimit_burst_then_count))
