/* virtio-balloon: pages go back to the host, a lying guest is refused page
 * by page without touching memory outside its RAM, statistics are parsed
 * and polled, and the API's bodies are checked field by field. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "api/resource.h"
#include "devices/virtio/balloon.h"
#include "vmm/snapshot/snapshot.h"
#include "fakeq.h"

#define GAP 0xd0000000ULL
#define RAM (4u << 20) /* 1024 pages */
#define PAT 0x5a

struct fx {
	struct guest_mem gm;
	struct balloon_dev bd;
	struct dq q[4]; /* inflate, deflate, stats, reporting */
};

static struct vchain_queue fx_queue(void *ctx, unsigned i) { return dq_queue(&((struct fx *)ctx)->q[i]); }

static int fx_setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_init(&f.gm, RAM, GAP), 0);
	memset(f.gm.base, PAT, RAM);
	assert_int_equal(balloon_dev_init(&f.bd, &f.gm), 0);
	uint64_t acked = (1ull << BALLOON_F_STATS_VQ) | (1ull << BALLOON_F_REPORTING);
	balloon_dev_activate(&f.bd, acked, fx_queue, &f);
	*state = &f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	balloon_dev_fini(&f->bd);
	gm_destroy(&f->gm);
	return 0;
}

static bool page_is(const struct fx *f, uint32_t pfn, uint8_t v)
{
	const uint8_t *p = f->gm.base + (uint64_t)pfn * BALLOON_PAGE;
	for (unsigned i = 0; i < BALLOON_PAGE; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool resident(const struct fx *f, uint32_t pfn)
{
	unsigned char v = 0;
	assert_int_equal(mincore(f->gm.base + (uint64_t)pfn * BALLOON_PAGE, BALLOON_PAGE, &v), 0);
	return v & 1;
}

static void test_inflate_frees_pages(void **state)
{
	struct fx *f = *state;
	uint32_t pfns[3] = { htole32(5), htole32(6), htole32(100) };
	assert_true(resident(f, 5));
	dq_add(&f->q[0], false, pfns, sizeof(pfns));
	balloon_dev_notify(&f->bd, 0);
	assert_int_equal(f->q[0].pushed, 1);
	assert_int_equal(f->q[0].published, 1);
	assert_false(resident(f, 5));
	assert_false(resident(f, 100));
	assert_true(page_is(f, 5, 0) && page_is(f, 6, 0) && page_is(f, 100, 0));
	assert_true(page_is(f, 4, PAT) && page_is(f, 7, PAT));
	assert_int_equal(f->bd.nr_in, 3);
	assert_int_equal(f->bd.n.inflate_count, 1);
	assert_int_equal(f->bd.n.refused, 0);
	/* deflate gives them back to the guest: the count follows */
	uint32_t back[1] = { htole32(6) };
	dq_add(&f->q[1], false, back, sizeof(back));
	balloon_dev_notify(&f->bd, 1);
	assert_int_equal(f->bd.nr_in, 2);
	assert_int_equal(f->bd.n.deflate_count, 1);
}

static void test_hostile_pfns_refused(void **state)
{
	struct fx *f = *state;
	/* past RAM, in the MMIO gap, the largest PFN, twice the same page */
	uint32_t pfns[5] = { htole32(RAM / BALLOON_PAGE), htole32((uint32_t)(GAP >> 12)), htole32(UINT32_MAX),
		             htole32(9), htole32(9) };
	dq_add(&f->q[0], false, pfns, sizeof(pfns));
	balloon_dev_notify(&f->bd, 0);
	assert_int_equal(f->bd.n.refused, 4);
	assert_int_equal(f->bd.nr_in, 1);
	/* deflating a page never inflated is refused too */
	uint32_t back[2] = { htole32(10), htole32(UINT32_MAX) };
	dq_add(&f->q[1], false, back, sizeof(back));
	balloon_dev_notify(&f->bd, 1);
	assert_int_equal(f->bd.n.refused, 6);
	assert_int_equal(f->bd.nr_in, 1);
	/* nothing but page 9 changed */
	for (uint32_t p = 0; p < RAM / BALLOON_PAGE; p++)
		assert_true(page_is(f, p, p == 9 ? 0 : PAT));
	assert_int_equal(f->q[0].pushed, 1); /* the chain still comes back */
}

static void test_more_pages_than_ram(void **state)
{
	struct fx *f = *state;
	static uint32_t pfns[2048];
	/* every page twice: the second round is refused, the count stays at RAM */
	for (unsigned i = 0; i < 2048; i++)
		pfns[i] = htole32(i % (RAM / BALLOON_PAGE));
	dq_add(&f->q[0], false, pfns, sizeof(pfns));
	balloon_dev_notify(&f->bd, 0);
	assert_int_equal(f->bd.nr_in, RAM / BALLOON_PAGE);
	assert_int_equal(f->bd.n.refused, 1024);
}

static void stat_entry(uint8_t *e, uint16_t tag, uint64_t v)
{
	tag = htole16(tag);
	v = htole64(v);
	memcpy(e, &tag, 2);
	memcpy(e + 2, &v, 8);
}

static void test_stats_parsed_and_polled(void **state)
{
	struct fx *f = *state;
	uint8_t buf[30];
	stat_entry(buf, BSTAT_MEMFREE, 123456);
	stat_entry(buf + 10, BSTAT_MEMTOT, 999999);
	stat_entry(buf + 20, 200, 7); /* a tag from a newer driver: skipped */
	dq_add(&f->q[2], false, buf, sizeof(buf));
	balloon_dev_notify(&f->bd, 2);
	assert_int_equal(f->bd.n.stats_updates, 1);
	assert_int_equal(f->bd.st.v[BSTAT_MEMFREE], 123456);
	assert_int_equal(f->bd.st.v[BSTAT_MEMTOT], 999999);
	assert_int_equal(f->bd.st.have, (1u << BSTAT_MEMFREE) | (1u << BSTAT_MEMTOT));
	/* held until the device wants fresh numbers */
	assert_int_equal(f->q[2].pushed, 0);
	balloon_dev_poll_stats(&f->bd);
	assert_int_equal(f->q[2].pushed, 1);
	assert_int_equal(f->q[2].push_head[0], DQ_HEAD0);
	balloon_dev_poll_stats(&f->bd); /* nothing held: nothing pushed */
	assert_int_equal(f->q[2].pushed, 1);
	/* two buffers without a poll between: the older goes back at once */
	uint8_t b2[10], b3[10];
	stat_entry(b2, BSTAT_MEMFREE, 1);
	stat_entry(b3, BSTAT_MEMFREE, 2);
	dq_add(&f->q[2], false, b2, sizeof(b2));
	dq_add(&f->q[2], false, b3, sizeof(b3));
	balloon_dev_notify(&f->bd, 2);
	assert_int_equal(f->q[2].pushed, 2);
	assert_int_equal(f->q[2].push_head[1], DQ_HEAD0 + 1);
	assert_int_equal(f->bd.st.v[BSTAT_MEMFREE], 2);
	balloon_dev_poll_stats(&f->bd);
	assert_int_equal(f->q[2].push_head[2], DQ_HEAD0 + 2);
}

static void test_stats_malformed(void **state)
{
	struct fx *f = *state;
	uint8_t buf[15] = { 0 }; /* not a whole number of entries */
	dq_add(&f->q[2], false, buf, sizeof(buf));
	balloon_dev_notify(&f->bd, 2);
	assert_int_equal(f->bd.n.stats_fails, 1);
	assert_int_equal(f->bd.st.have, 0);
}

static void test_reporting_frees_ranges(void **state)
{
	struct fx *f = *state;
	/* pages 20..23, plus a ragged range whose partial pages stay */
	dq_add2(&f->q[3], true, f->gm.base + 20 * BALLOON_PAGE, 4 * BALLOON_PAGE,
	        f->gm.base + 40 * BALLOON_PAGE + 1, BALLOON_PAGE);
	balloon_dev_notify(&f->bd, 3);
	assert_int_equal(f->q[3].pushed, 1);
	assert_int_equal(f->bd.n.report_count, 1);
	assert_int_equal(f->bd.n.report_freed, 4 * BALLOON_PAGE);
	assert_false(resident(f, 21));
	assert_true(page_is(f, 23, 0) && page_is(f, 24, PAT));
	assert_true(page_is(f, 40, PAT) && page_is(f, 41, PAT));
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint32_t v = 0, actual = htole32(77);
	f->bd.target_pages = 512;
	balloon_dev_config_read(&f->bd, 0, &v, 4);
	assert_int_equal(le32toh(v), 512);
	balloon_dev_config_write(&f->bd, 0, &actual, 4); /* num_pages is the device's */
	balloon_dev_config_read(&f->bd, 0, &v, 4);
	assert_int_equal(le32toh(v), 512);
	balloon_dev_config_write(&f->bd, 4, &actual, 4);
	balloon_dev_config_read(&f->bd, 4, &v, 4);
	assert_int_equal(le32toh(v), 77);
	v = 0xffffffff;
	balloon_dev_config_read(&f->bd, 14, &v, 4); /* past the end: untouched */
	assert_int_equal(v, 0xffffffff);
}

/* without the stats feature the reporting queue is the third (index 2) */
static void test_queue_numbering(void **state)
{
	struct fx *f = *state;
	balloon_dev_reset(&f->bd);
	assert_int_equal(f->bd.nr_in, 0);
	balloon_dev_activate(&f->bd, 1ull << BALLOON_F_REPORTING, fx_queue, f);
	assert_int_equal(f->bd.report_q, 2);
	dq_add(&f->q[2], true, f->gm.base + 30 * BALLOON_PAGE, BALLOON_PAGE);
	balloon_dev_notify(&f->bd, 2);
	assert_int_equal(f->bd.n.report_count, 1);
	assert_int_equal(f->bd.n.stats_updates, 0);
}

/* The device state beyond the queues goes through a snapshot: the pages
 * in the balloon and actual come back; a blob whose count disagrees with
 * its bitmap, or made for another memory size, is refused. */
static void test_snapshot_state(void **state)
{
	struct fx *f = *state;
	const struct balloon_config cfg = { .set = true, .amount_mib = 2 };
	struct virtio_env env = { .gm = &f->gm, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 1 };
	void *a = NULL, *b = NULL, *blob = NULL;
	size_t len = 0;
	char err[128] = "";
	const struct snapshot_dev_ops *ops = balloon_class.state_ops;
	assert_non_null(ops);
	assert_int_equal(balloon_class.create(&a, &env, &cfg, 0), 0);
	assert_int_equal(balloon_class.create(&b, &env, &cfg, 0), 0);
	struct balloon *ba = a, *bb = b;
	assert_int_equal(balloon_dev_page(&ba->dev, 7, true), 0);
	assert_int_equal(balloon_dev_page(&ba->dev, 8, true), 0);
	ba->dev.actual_pages = 2;
	assert_int_equal(ops->save(a, &blob, &len), 0);
	assert_int_equal(ops->check(b, blob, len, err, sizeof(err)), 0);
	assert_int_equal(ops->restore(b, blob, len), 0);
	assert_int_equal(bb->dev.nr_in, 2);
	assert_int_equal(bb->dev.actual_pages, 2);
	assert_int_equal(bb->dev.target_pages, 512);
	assert_int_equal(balloon_dev_page(&bb->dev, 7, false), 0); /* it was in */
	assert_int_equal(balloon_dev_page(&bb->dev, 8, true), -EALREADY);
	/* a lying file: one more page counted than its bitmap holds */
	((uint64_t *)blob)[2]++; /* nr_in: after magic/version and target/actual */
	assert_int_equal(ops->check(b, blob, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "count"));
	assert_int_equal(ops->check(b, blob, len - 8, err, sizeof(err)), -EINVAL);
	free(blob);
	balloon_class.destroy(a);
	balloon_class.destroy(b);
}

static int parse(const char *text, const struct api_method *m, struct api_request *r, struct api_err *e)
{
	json_t *o = json_loads(text, 0, NULL);
	int ret = api_request_parse(m, o, NULL, r, e);
	json_decref(o);
	return ret;
}

static void test_api_bodies(void **state)
{
	(void)state;
	struct api_request r;
	struct api_err e = { .msg = "" };
	assert_int_equal(parse("{\"amount_mib\": 64, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 2}",
	                       api_resource_by_path("/balloon")->put, &r, &e), 0);
	assert_int_equal(r.balloon.amount_mib, 64);
	assert_true(r.balloon.deflate_on_oom && r.balloon.set);
	assert_int_equal(r.balloon.stats_polling_interval_s, 2);
	assert_int_equal(parse("{\"amount_mib\": 64}", api_resource_by_path("/balloon")->put, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "deflate_on_oom"));
	assert_int_equal(parse("{\"amount_mib\": -1, \"deflate_on_oom\": true}", api_resource_by_path("/balloon")->put, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "amount_mib"));
	assert_int_equal(parse("{\"amount_mib\": 1, \"deflate_on_oom\": true, \"x\": 1}", api_resource_by_path("/balloon")->put, &r, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "x"));
	assert_int_equal(parse("{\"amount_mib\": 8}", api_resource_by_path("/balloon")->patch, &r, &e), 0);
	assert_int_equal(r.balloon_amount_mib, 8);
	assert_int_equal(parse("{}", api_resource_by_path("/balloon/statistics")->patch, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "stats_polling_interval_s"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inflate_frees_pages, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_pfns_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_more_pages_than_ram, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stats_parsed_and_polled, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stats_malformed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reporting_frees_ranges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_space, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_numbering, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_state, fx_setup, fx_teardown),
		cmocka_unit_test(test_api_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
