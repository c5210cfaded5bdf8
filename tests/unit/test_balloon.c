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
#include <unistd.h>
#include <cmocka.h>

#include "api/resource.h"
#include "devices/virtio/balloon.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/snapshot.h"
#include "fakeq.h"

#define GAP 0xd0000000ULL
#define RAM (4u << 20) /* 1024 pages */
#define PAT 0x5a

struct fx {
	struct guest_mem gm;
	struct balloon_dev bd;
	struct dq q[5]; /* inflate, deflate, stats, reporting; or hinting, reporting */
	int config_changes;
};

static void fx_config_changed(void *ctx) { ((struct fx *)ctx)->config_changes++; }

static struct vchain_queue fx_queue(void *ctx, unsigned i) { return dq_queue(&((struct fx *)ctx)->q[i]); }

static int fx_setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_init(&f.gm, RAM, GAP), 0);
	memset(f.gm.base, PAT, RAM);
	assert_int_equal(balloon_dev_init(&f.bd, &f.gm), 0);
	f.bd.config_changed = fx_config_changed;
	f.bd.ctx = &f;
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

static bool vmm_dirty(const struct fx *f, uint32_t pfn)
{
	return f->gm.vmm_dirty[pfn / 64] >> (pfn % 64) & 1;
}

/* After a File restore guest RAM is a private mapping of the memory file:
 * an inflated or reported page must read zeros, not the file's page
 * again, and count as written for the next Diff. */
static void test_file_backed_pages_read_zero(void **state)
{
	struct fx *f = *state;
	int fd = memfd_create("balloon-mem", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->gm.base, RAM), (ssize_t)RAM);
	assert_int_equal(mem_file_map(&f->gm, fd), 0);
	close(fd);
	f->gm.vmm_dirty = calloc(1, mem_vmm_dirty_bytes(&f->gm));
	assert_non_null(f->gm.vmm_dirty);
	assert_true(page_is(f, 5, PAT));
	uint32_t pfns[1] = { htole32(5) };
	dq_add(&f->q[0], false, pfns, sizeof(pfns));
	balloon_dev_notify(&f->bd, 0);
	dq_add(&f->q[3], true, f->gm.base + 20 * BALLOON_PAGE, 4 * BALLOON_PAGE);
	balloon_dev_notify(&f->bd, 3);
	assert_int_equal(f->bd.nr_in, 1);
	assert_int_equal(f->bd.n.report_freed, 4 * BALLOON_PAGE);
	assert_int_equal(f->bd.n.discard_fails, 0);
	assert_true(page_is(f, 5, 0) && page_is(f, 20, 0) && page_is(f, 23, 0));
	/* the neighbours are still the file's */
	assert_true(page_is(f, 4, PAT) && page_is(f, 6, PAT) && page_is(f, 24, PAT));
	assert_true(vmm_dirty(f, 5) && vmm_dirty(f, 20) && vmm_dirty(f, 23));
	assert_false(vmm_dirty(f, 6) || vmm_dirty(f, 24));
	free(f->gm.vmm_dirty);
	f->gm.vmm_dirty = NULL;
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

/* The hinting queue follows the stats queue, reporting comes after it. */
static void hint_setup(struct fx *f)
{
	balloon_dev_reset(&f->bd);
	uint64_t acked = (1ull << BALLOON_F_STATS_VQ) | (1ull << BALLOON_F_FREE_PAGE_HINT) | (1ull << BALLOON_F_REPORTING);
	balloon_dev_activate(&f->bd, acked, fx_queue, f);
	assert_int_equal(f->bd.hint_q, 3);
	assert_int_equal(f->bd.report_q, 4);
}

static uint32_t config_cmd_id(const struct fx *f)
{
	uint32_t v = 0;
	balloon_dev_config_read(&f->bd, 8, &v, 4);
	return le32toh(v);
}

/* the driver's command id, a chain of its own as Linux sends it */
static void hint_cmd(struct fx *f, uint32_t *cell, uint32_t cmd)
{
	*cell = htole32(cmd);
	dq_add(&f->q[3], false, cell, sizeof(*cell));
	balloon_dev_notify(&f->bd, 3);
}

static void hint_range(struct fx *f, uint32_t pfn, uint32_t pages)
{
	dq_add(&f->q[3], true, f->gm.base + (uint64_t)pfn * BALLOON_PAGE, (size_t)pages * BALLOON_PAGE);
	balloon_dev_notify(&f->bd, 3);
}

/* A run as Linux drives it: the host's new id, the driver's answer with
 * it, free ranges, STOP; acknowledge_on_stop answers DONE. */
static void test_hinting_run(void **state)
{
	struct fx *f = *state;
	uint32_t cells[2];
	hint_setup(f);
	assert_int_equal(config_cmd_id(f), BALLOON_HINT_STOP);
	assert_int_equal(balloon_dev_hint_start(&f->bd, true), 0);
	assert_int_equal(config_cmd_id(f), 2);
	assert_int_equal(f->config_changes, 1);
	hint_cmd(f, &cells[0], 2);
	hint_range(f, 50, 8);
	assert_int_equal(f->q[3].pushed, 2);
	assert_false(resident(f, 50));
	assert_true(page_is(f, 50, 0) && page_is(f, 57, 0));
	assert_true(page_is(f, 49, PAT) && page_is(f, 58, PAT));
	assert_int_equal(f->bd.n.hint_count, 1);
	assert_int_equal(f->bd.n.hint_freed, 8 * BALLOON_PAGE);
	assert_int_equal(f->bd.n.refused, 0);
	assert_int_equal(f->bd.nr_in, 0); /* lent for the run, not in the balloon */
	hint_cmd(f, &cells[1], BALLOON_HINT_STOP);
	assert_int_equal(config_cmd_id(f), BALLOON_HINT_DONE);
	assert_int_equal(f->config_changes, 2);
	assert_true(f->bd.hint.guest_seen);
	assert_int_equal(f->bd.hint.guest_cmd, BALLOON_HINT_STOP);
	/* the next run takes the next id; without the ack it stays open */
	assert_int_equal(balloon_dev_hint_start(&f->bd, false), 0);
	assert_int_equal(config_cmd_id(f), 3);
	hint_cmd(f, &cells[0], 3);
	hint_cmd(f, &cells[1], BALLOON_HINT_STOP);
	assert_int_equal(config_cmd_id(f), 3);
	assert_int_equal(balloon_dev_hint_stop(&f->bd), 0);
	assert_int_equal(config_cmd_id(f), BALLOON_HINT_DONE);
	/* ids wrap past 0 and 1, which are the spec's */
	f->bd.hint.last_cmd = UINT32_MAX;
	assert_int_equal(balloon_dev_hint_start(&f->bd, true), 0);
	assert_int_equal(config_cmd_id(f), 2);
	/* a reset driver starts with no run */
	balloon_dev_reset(&f->bd);
	assert_int_equal(config_cmd_id(f), BALLOON_HINT_STOP);
	assert_int_equal(balloon_dev_hint_start(&f->bd, true), -ENODEV);
	balloon_dev_activate(&f->bd, 1ull << BALLOON_F_REPORTING, fx_queue, f);
	assert_int_equal(balloon_dev_hint_start(&f->bd, true), -EOPNOTSUPP);
	assert_int_equal(balloon_dev_hint_stop(&f->bd), -EOPNOTSUPP);
}

/* A lying driver: ranges before it named the run, under another run's
 * id, after the host said DONE are left alone; pages past RAM or in the
 * balloon are refused one by one and counted, the rest of the range
 * still goes. Nothing else in guest memory changes. */
static void test_hinting_hostile(void **state)
{
	struct fx *f = *state;
	uint32_t cells[3];
	hint_setup(f);
	assert_int_equal(f->gm.map_size, RAM);
	assert_int_equal(balloon_dev_page(&f->bd, 60, true), 0);
	assert_int_equal(balloon_dev_hint_start(&f->bd, true), 0);
	hint_range(f, 10, 2); /* no id yet */
	hint_cmd(f, &cells[0], 7); /* not the host's run */
	hint_range(f, 12, 2);
	assert_int_equal(f->bd.n.hint_count, 0);
	assert_true(resident(f, 10) && resident(f, 12));
	hint_cmd(f, &cells[1], 2);
	hint_range(f, 58, 5); /* 60 is in the balloon */
	assert_int_equal(f->bd.n.refused, 1);
	assert_int_equal(f->bd.n.hint_freed, 4 * BALLOON_PAGE);
	/* the last page of RAM and two past it */
	hint_range(f, RAM / BALLOON_PAGE - 1, 3);
	assert_int_equal(f->bd.n.refused, 3);
	assert_int_equal(f->bd.n.hint_freed, 5 * BALLOON_PAGE);
	assert_int_equal(f->bd.n.hint_count, 2);
	/* the host said DONE: ranges still in flight are the guest's again */
	assert_int_equal(balloon_dev_hint_stop(&f->bd), 0);
	hint_range(f, 20, 2);
	assert_int_equal(f->bd.n.hint_count, 2);
	for (uint32_t p = 0; p < RAM / BALLOON_PAGE; p++) {
		bool dropped = (p >= 58 && p <= 62) || p == RAM / BALLOON_PAGE - 1;
		assert_true(page_is(f, p, dropped ? 0 : PAT));
	}
	assert_int_equal(f->q[3].pushed, 7); /* every chain comes back */
}

/* The device state beyond the queues goes through a snapshot: the pages
 * in the balloon and actual come back; a blob whose count disagrees with
 * its bitmap, or made for another memory size, is refused. */
static void test_snapshot_state(void **state)
{
	struct fx *f = *state;
	const struct balloon_config cfg = { .amount_mib = 2 };
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
	ba->dev.hint = (struct balloon_hint){ .host_cmd = 5, .last_cmd = 5, .guest_cmd = 5, .guest_seen = true,
		                              .ack_on_stop = true };
	assert_int_equal(ops->save(a, &blob, &len), 0);
	assert_int_equal(ops->check(b, blob, len, err, sizeof(err)), 0);
	assert_int_equal(ops->restore(b, blob, len), 0);
	assert_int_equal(bb->dev.nr_in, 2);
	assert_int_equal(bb->dev.actual_pages, 2);
	assert_int_equal(bb->dev.target_pages, 512);
	assert_memory_equal(&bb->dev.hint, &ba->dev.hint, sizeof(bb->dev.hint));
	/* restored into a running driver, the run ends: it takes its pages back */
	balloon_dev_activate(&bb->dev, 1ull << BALLOON_F_FREE_PAGE_HINT, fx_queue, f);
	assert_int_equal(ops->restore(b, blob, len), 0);
	assert_int_equal(bb->dev.hint.host_cmd, BALLOON_HINT_DONE);
	assert_int_equal(bb->dev.hint.last_cmd, 5);
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
	const struct balloon_config *bc = r.device_config;
	assert_int_equal(bc->amount_mib, 64);
	assert_true(bc->deflate_on_oom);
	assert_int_equal(bc->stats_polling_interval_s, 2);
	api_request_free(&r);
	assert_int_equal(parse("{\"amount_mib\": 64}", api_resource_by_path("/balloon")->put, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "deflate_on_oom"));
	api_request_free(&r);
	assert_int_equal(parse("{\"amount_mib\": -1, \"deflate_on_oom\": true}", api_resource_by_path("/balloon")->put, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "amount_mib"));
	api_request_free(&r);
	assert_int_equal(parse("{\"amount_mib\": 1, \"deflate_on_oom\": true, \"x\": 1}", api_resource_by_path("/balloon")->put, &r, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "x"));
	api_request_free(&r);
	assert_int_equal(parse("{\"amount_mib\": 8}", api_resource_by_path("/balloon")->patch, &r, &e), 0);
	assert_int_equal(r.number, 8);
	assert_int_equal(parse("{}", api_resource_by_path("/balloon/statistics")->patch, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "stats_polling_interval_s"));
	assert_int_equal(parse("{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_hinting\": true}",
	                       api_resource_by_path("/balloon")->put, &r, &e), 0);
	bc = r.device_config;
	assert_true(bc->free_page_hinting && !bc->free_page_reporting);
	api_request_free(&r);
	assert_int_equal(parse("{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_hinting\": 1}",
	                       api_resource_by_path("/balloon")->put, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "free_page_hinting"));
	api_request_free(&r);
	const struct api_method *start = api_resource_by_path("/balloon/hinting/start")->patch;
	assert_int_equal(parse("{}", start, &r, &e), 0);
	assert_true(r.flag); /* acknowledge_on_stop: Firecracker's default */
	assert_int_equal(parse("{\"acknowledge_on_stop\": false}", start, &r, &e), 0);
	assert_false(r.flag);
	assert_int_equal(parse("{\"acknowledge_on_stop\": \"no\"}", start, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "acknowledge_on_stop"));
	assert_int_equal(parse("{\"cmd\": 3}", api_resource_by_path("/balloon/hinting/stop")->patch, &r, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "cmd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inflate_frees_pages, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_file_backed_pages_read_zero, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_pfns_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_more_pages_than_ram, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stats_parsed_and_polled, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stats_malformed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reporting_frees_ranges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_space, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_numbering, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hinting_run, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hinting_hostile, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_state, fx_setup, fx_teardown),
		cmocka_unit_test(test_api_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
