#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/limits.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_full_bucket_then_refill(void **state)
{
	(void)state;
	struct token_bucket tb;
	token_bucket_init(&tb, 1000, 0, 100, 0); /* 1000 tokens per 100 ms */
	assert_true(token_bucket_reduce(&tb, 600, 0));
	assert_true(token_bucket_reduce(&tb, 400, 0));
	assert_false(token_bucket_reduce(&tb, 1, 0));
	/* 10 ms earn 100 tokens */
	assert_int_equal(token_bucket_wait_ns(&tb, 100, 0), 10 * MS);
	assert_false(token_bucket_reduce(&tb, 101, 10 * MS));
	assert_true(token_bucket_reduce(&tb, 100, 10 * MS));
	assert_int_equal(tb.budget, 0);
	/* an idle second does not save up more than size */
	token_bucket_refill(&tb, 10 * S);
	assert_int_equal(tb.budget, 1000);
}

static void test_fractions_not_lost(void **state)
{
	(void)state;
	struct token_bucket tb;
	/* 3 tokens per 10 ms: one token every 3.33 ms */
	token_bucket_init(&tb, 3, 0, 10, 0);
	assert_true(token_bucket_reduce(&tb, 3, 0));
	uint64_t got = 0;
	/* refill every 1 ms for a second: floor per step would earn nothing */
	for (uint64_t t = 1; t <= 1000; t++)
		if (token_bucket_reduce(&tb, 1, t * MS))
			got++;
	assert_int_equal(got, 300);
}

static void test_one_time_burst(void **state)
{
	(void)state;
	struct token_bucket tb;
	token_bucket_init(&tb, 100, 250, 1000, 0);
	assert_true(token_bucket_reduce(&tb, 200, 0)); /* burst only */
	assert_int_equal(tb.budget, 100);
	assert_true(token_bucket_reduce(&tb, 100, 0)); /* 50 burst + 50 budget */
	assert_int_equal(tb.one_time_burst, 0);
	assert_int_equal(tb.budget, 50);
	/* the burst never comes back */
	token_bucket_refill(&tb, 100 * S);
	assert_int_equal(tb.one_time_burst, 0);
	assert_int_equal(tb.budget, 100);
}

static void test_oversized_request_makes_debt(void **state)
{
	(void)state;
	struct token_bucket tb;
	token_bucket_init(&tb, 100, 0, 100, 0); /* 1000 tokens/s */
	assert_true(token_bucket_reduce(&tb, 250, 0)); /* full bucket: passes */
	assert_int_equal(tb.debt, 150);
	/* the debt (150) and then a whole request's worth (100) must be earned */
	assert_int_equal(token_bucket_wait_ns(&tb, 1, 0), 151 * MS);
	assert_false(token_bucket_reduce(&tb, 1, 149 * MS));
	assert_true(token_bucket_reduce(&tb, 1, 151 * MS));
	/* a second oversized request waits for a full bucket */
	token_bucket_init(&tb, 100, 0, 100, 0);
	assert_true(token_bucket_reduce(&tb, 10, 0));
	assert_false(token_bucket_reduce(&tb, 500, 0));
	assert_int_equal(token_bucket_wait_ns(&tb, 500, 0), 10 * MS);
	assert_true(token_bucket_reduce(&tb, 500, 10 * MS));
}

static void test_zero_sizes_do_not_limit(void **state)
{
	(void)state;
	struct token_bucket tb;
	token_bucket_init(&tb, 0, 0, 100, 0);
	assert_false(token_bucket_enabled(&tb));
	assert_true(token_bucket_reduce(&tb, UINT64_MAX, 0));
	assert_int_equal(token_bucket_wait_ns(&tb, UINT64_MAX, 0), 0);
	token_bucket_init(&tb, 100, 0, 0, 0);
	assert_false(token_bucket_enabled(&tb));
	assert_true(token_bucket_reduce(&tb, 1000, 0));
	/* zero tokens always pass, even from an empty bucket */
	token_bucket_init(&tb, 10, 0, 100, 0);
	assert_true(token_bucket_reduce(&tb, 10, 0));
	assert_true(token_bucket_reduce(&tb, 0, 0));
}

static void test_overflow_and_huge_values(void **state)
{
	(void)state;
	struct token_bucket tb;
	/* size and elapsed both near 2^64: elapsed*size needs 128 bits */
	token_bucket_init(&tb, UINT64_MAX, 0, 1, 0);
	assert_true(token_bucket_reduce(&tb, UINT64_MAX, 0));
	assert_int_equal(tb.budget, 0);
	token_bucket_refill(&tb, UINT64_MAX);
	assert_int_equal(tb.budget, UINT64_MAX);
	/* huge refill time: nothing earned in a year, the wait saturates */
	token_bucket_init(&tb, 1000, 0, UINT64_MAX, 0);
	assert_true(token_bucket_reduce(&tb, 1000, 0));
	token_bucket_refill(&tb, 365ull * 24 * 3600 * S);
	assert_int_equal(tb.budget, 0);
	assert_int_equal(token_bucket_wait_ns(&tb, 1000, 0), UINT64_MAX);
	/* debt near 2^64 with a tiny bucket */
	token_bucket_init(&tb, 1, 0, 1000, 0);
	assert_true(token_bucket_reduce(&tb, UINT64_MAX, 0));
	assert_int_equal(tb.debt, UINT64_MAX - 1);
	assert_int_equal(token_bucket_wait_ns(&tb, 1, 0), UINT64_MAX);
	/* burst of 2^64-1 then a normal bucket */
	token_bucket_init(&tb, 10, UINT64_MAX, 1000, 0);
	assert_true(token_bucket_reduce(&tb, UINT64_MAX, 0));
	assert_int_equal(tb.budget, 10);
	/* a clock going backwards earns nothing and breaks nothing */
	token_bucket_init(&tb, 10, 0, 1000, 5 * S);
	assert_true(token_bucket_reduce(&tb, 10, 5 * S));
	token_bucket_refill(&tb, 1 * S);
	assert_int_equal(tb.budget, 0);
	assert_int_equal(tb.last_update_ns, 5 * S);
}

static void test_refund(void **state)
{
	(void)state;
	struct token_bucket tb;
	token_bucket_init(&tb, 100, 0, 100, 0);
	assert_true(token_bucket_reduce(&tb, 60, 0));
	token_bucket_refund(&tb, 1000);
	assert_int_equal(tb.budget, 100); /* never past size */
	assert_true(token_bucket_reduce(&tb, 300, 0));
	assert_int_equal(tb.debt, 200);
	token_bucket_refund(&tb, 250); /* pays the debt first */
	assert_int_equal(tb.debt, 0);
	assert_int_equal(tb.budget, 50);
}

static struct rate_limiter_config cfg_of(uint64_t bw_size, uint64_t ops_size, uint64_t ms)
{
	struct rate_limiter_config c;
	memset(&c, 0, sizeof(c));
	c.bandwidth = (struct token_bucket_config){ .set = bw_size != 0, .size = bw_size,
	                                            .refill_time_ms = ms };
	c.ops = (struct token_bucket_config){ .set = ops_size != 0, .size = ops_size, .refill_time_ms = ms };
	return c;
}

static void test_limiter_both_or_neither(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = cfg_of(1000, 2, 100);
	uint64_t wait;
	assert_int_equal(rate_limiter_init(&rl, &c), 0);
	uint64_t t = rl.bw.last_update_ns;
	assert_true(rate_limiter_consume_at(&rl, 800, 1, t, &wait));
	/* bytes missing: the op taken for it is given back */
	assert_false(rate_limiter_consume_at(&rl, 800, 1, t, &wait));
	assert_int_equal(rl.ops.budget, 1);
	assert_int_equal(wait, 60 * MS);
	/* ops missing: no bytes are taken */
	assert_true(rate_limiter_consume_at(&rl, 100, 1, t, &wait));
	assert_false(rate_limiter_consume_at(&rl, 10, 1, t, &wait));
	assert_int_equal(rl.bw.budget, 100);
	assert_int_equal(wait, 50 * MS);
	rate_limiter_destroy(&rl);
}

static void test_limiter_timer_fires(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = cfg_of(0, 1, 20); /* one op per 20 ms */
	assert_int_equal(rate_limiter_init(&rl, &c), 0);
	assert_true(rate_limiter_consume(&rl, 4096, 1));
	assert_false(rate_limiter_consume(&rl, 4096, 1));
	assert_true(rate_limiter_blocked(&rl));
	assert_int_equal(rl.throttled, 1);
	struct pollfd p = { .fd = rate_limiter_fd(&rl), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	rate_limiter_on_timer(&rl);
	assert_false(rate_limiter_blocked(&rl));
	assert_true(rate_limiter_consume(&rl, 4096, 1));
	/* PATCH the ops limit away: everything passes */
	struct rate_limiter_config off = cfg_of(0, 0, 0);
	off.ops.set = true;
	rate_limiter_update(&rl, &off);
	for (int i = 0; i < 100; i++)
		assert_true(rate_limiter_consume(&rl, 4096, 1));
	assert_false(rate_limiter_enabled(&rl));
	rate_limiter_destroy(&rl);
}

static void test_update_unblocks(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = cfg_of(10, 0, 100000); /* 10 bytes per 100 s */
	assert_int_equal(rate_limiter_init(&rl, &c), 0);
	assert_true(rate_limiter_consume(&rl, 10, 1));
	assert_false(rate_limiter_consume(&rl, 10, 1));
	struct rate_limiter_config more = cfg_of(1 << 20, 0, 100);
	rate_limiter_update(&rl, &more);
	/* the re-armed timer fires at once, not in 100 s */
	struct pollfd p = { .fd = rate_limiter_fd(&rl), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	rate_limiter_on_timer(&rl);
	assert_true(rate_limiter_consume(&rl, 1000, 1));
	rate_limiter_destroy(&rl);
}

/* A PATCH replaces the buckets it gives, keeps the others, and a given
 * bucket of size 0 lifts its limit (Firecracker's semantics). */
static void test_config_merge(void **state)
{
	(void)state;
	struct rate_limiter_config cfg = cfg_of(1000, 10, 100), patch = { 0 };
	patch.ops = (struct token_bucket_config){ .set = true, .size = 0, .refill_time_ms = 100 };
	rate_limiter_config_merge(&cfg, &patch);
	assert_true(token_bucket_config_in_force(&cfg.bandwidth));
	assert_int_equal(cfg.bandwidth.size, 1000);
	assert_false(token_bucket_config_in_force(&cfg.ops));
	/* and the limiter built from it limits bytes only */
	struct rate_limiter rl;
	assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
	for (int i = 0; i < 50; i++)
		assert_true(rate_limiter_consume(&rl, 1, 1));
	assert_false(rate_limiter_consume(&rl, 1000, 1));
	rate_limiter_destroy(&rl);
}

static void test_cli_rate(void **state)
{
	(void)state;
	struct token_bucket_config b;
	assert_int_equal(rate_limiter_parse_rate("4M/s", true, &b), 0);
	assert_int_equal(b.size * 1000 / b.refill_time_ms, (4u << 20) / 10 * 10);
	assert_int_equal(rate_limiter_parse_rate("200/s", false, &b), 0);
	assert_int_equal(b.size * 1000 / b.refill_time_ms, 200);
	assert_int_equal(rate_limiter_parse_rate("3", false, &b), 0);
	assert_int_equal(b.size, 3);
	assert_int_equal(b.refill_time_ms, 1000);
	assert_int_equal(rate_limiter_parse_rate("0/s", false, &b), -EINVAL);
	assert_int_equal(rate_limiter_parse_rate("4M/s", false, &b), -EINVAL); /* no suffix for ops */
	assert_int_equal(rate_limiter_parse_rate("-1", true, &b), -EINVAL);
	assert_int_equal(rate_limiter_parse_rate("99999999999999999999", true, &b), -EINVAL);
	assert_int_equal(rate_limiter_parse_rate("17179869184G", true, &b), -EINVAL); /* 2^64 */
	assert_int_equal(rate_limiter_parse_rate("5x", true, &b), -EINVAL);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_full_bucket_then_refill),
	cmocka_unit_test(test_fractions_not_lost),
	cmocka_unit_test(test_one_time_burst),
	cmocka_unit_test(test_oversized_request_makes_debt),
	cmocka_unit_test(test_zero_sizes_do_not_limit),
	cmocka_unit_test(test_overflow_and_huge_values),
	cmocka_unit_test(test_refund),
	cmocka_unit_test(test_limiter_both_or_neither),
	cmocka_unit_test(test_limiter_timer_fires),
	cmocka_unit_test(test_update_unblocks),
	cmocka_unit_test(test_config_merge),
	cmocka_unit_test(test_cli_rate))
