/* virtio-rng: filling guest buffers from getrandom. */
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "devices/virtio/rng.h"
#include "vmm/loop.h"
#include "fakeq.h"
#include "vdrv.h"

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

/* ---- the device over a fake queue ---- */

static bool budget(void *bucket, uint64_t ops, uint64_t bytes)
{
	uint64_t *left = bucket;
	(void)ops;
	if (bytes > *left)
		return false;
	*left -= bytes;
	return true;
}

static void test_dev_endless_queue_yields_each_round(void **state)
{
	(void)state;
	struct rng_dev rd = { 0 };
	struct dq q = { .endless = true };
	static uint8_t buf[8];
	dq_add(&q, true, buf, sizeof(buf));
	rng_dev_activate(&rd, rng_dev_features(), dq_queue(&q));
	/* returns (the test would hang otherwise) after one round's budget,
	 * everything it took answered and the rest handed to the next round */
	rng_dev_notify(&rd);
	assert_int_equal(q.popped, VCHAIN_BUDGET);
	assert_int_equal(q.pushed, VCHAIN_BUDGET);
	assert_int_equal(q.published, 1);
	assert_int_equal(q.requeued, 1);
	rng_dev_notify(&rd);
	assert_int_equal(q.popped, 2 * VCHAIN_BUDGET);
	assert_int_equal(q.requeued, 2);
}

static void test_dev_serves_requests(void **state)
{
	(void)state;
	struct rng_dev rd = { 0 };
	struct dq q = { 0 };
	static uint8_t a[16], b[RNG_MAX_REQUEST + 100], r[8];
	memset(b, 0, sizeof(b));
	dq_add(&q, true, a, sizeof(a));
	dq_add(&q, true, b, sizeof(b));
	dq_add(&q, false, r, sizeof(r)); /* readable: not a request */
	rng_dev_notify(&rd);             /* before activation: nothing */
	assert_int_equal(q.pushed, 0);
	assert_true(rng_dev_features() & (1ULL << 32));
	rng_dev_activate(&rd, rng_dev_features(), dq_queue(&q));
	rng_dev_notify(&rd);
	assert_int_equal(q.pushed, 3);
	assert_int_equal(q.published, 1);
	assert_int_equal(q.push_len[0], 16);
	assert_int_equal(q.push_len[1], RNG_MAX_REQUEST); /* capped */
	assert_int_equal(q.push_len[2], 0);
	assert_int_equal(rd.malformed, 1);
	assert_int_equal(rd.bytes, 16 + RNG_MAX_REQUEST);
	for (size_t i = RNG_MAX_REQUEST; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
}

static void test_dev_rate_limited(void **state)
{
	(void)state;
	struct rng_dev rd = { 0 };
	struct dq q = { 0 };
	uint64_t left = 100;
	static uint8_t a[64], b[64];
	rd.limit = (struct vchain_limit){ budget, &left };
	dq_add(&q, true, a, sizeof(a));
	dq_add(&q, true, b, sizeof(b));
	rng_dev_activate(&rd, 0, dq_queue(&q));
	rng_dev_notify(&rd);
	assert_int_equal(q.pushed, 1);  /* 64 of 100 bytes; the next 64 must wait */
	assert_true(rd.throttled);
	assert_int_equal(q.next, 1);
	rng_dev_notify(&rd);            /* a notify does not bypass the limiter */
	assert_int_equal(q.pushed, 1);
	left = 1000;
	rng_dev_resume(&rd);
	assert_int_equal(q.pushed, 2);
	assert_false(rd.throttled);
}

static void test_virtio_rng_through_transport(void **state)
{
	(void)state;
	struct loop loop;
	assert_int_equal(loop_init(&loop), 0);
	struct vdrv d;
	vdrv_mem_init(&d);
	struct virtio_env env = { .gm = &d.gm, .loop = &loop, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	struct rng *r;
	assert_int_equal(rng_create(&r, &env, 2), 0);
	d.t = &r->t;
	assert_int_equal(vdrv_rd(&d, VMMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_true(vdrv_negotiate(&d, 1ULL << 32) & VIRTIO_STATUS_FEATURES_OK);
	vdrv_queue(&d, 0, 0x10000);
	vdrv_driver_ok(&d);
	assert_int_equal(loop_run_once(&loop, 5000), 1); /* activation */
	struct vdrv_buf b = { 0x40000, 64, true };
	vdrv_add(&d, 0, &b, 1);
	vdrv_kick(&d, 0);
	assert_int_equal(loop_run_once(&loop, 5000), 1);
	uint32_t id, len;
	assert_true(vdrv_used(&d, 0, &id, &len));
	assert_int_equal(len, 64);
	int nonzero = 0;
	for (int i = 0; i < 64; i++)
		nonzero += d.ram[0x40000 + i] != 0;
	assert_true(nonzero > 32);
	/* a readable buffer is not a request: answered empty */
	struct vdrv_buf rb = { 0x41000, 16, false };
	vdrv_add(&d, 0, &rb, 1);
	vdrv_kick(&d, 0);
	assert_int_equal(loop_run_once(&loop, 5000), 1);
	assert_true(vdrv_used(&d, 0, &id, &len));
	assert_int_equal(len, 0);
	assert_int_equal(r->dev.malformed, 1);
	rng_destroy(r);
	loop_destroy(&loop);
	free(d.ram);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_fill_spans_iovecs),
	cmocka_unit_test(test_fill_respects_max),
	cmocka_unit_test(test_two_fills_differ),
	cmocka_unit_test(test_dev_serves_requests),
	cmocka_unit_test(test_dev_rate_limited),
	cmocka_unit_test(test_dev_endless_queue_yields_each_round),
	cmocka_unit_test(test_virtio_rng_through_transport))
