/* The working-set file's header and range table (working_set_file.c):
 * ranges built from pagemap entries, and every way a file can be wrong
 * refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/snapshot/crc64.h"
#include "vmm/snapshot/working_set.h"

#define PRESENT (1ull << 63)
#define SWAPPED (1ull << 62)
#define MAP (64ull * 4096)

static const struct ws_expect expect = {
	.page_size = 4096, .map_size = MAP,
	.mem_id = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 },
};

static const struct ws_range three[] = { { 0, 2 }, { 5 * 4096, 1 }, { 63 * 4096, 1 } };

static uint64_t size_of(const struct ws_header *h)
{
	return ws_data_offset(h) + h->nr_pages * h->page_size;
}

static void test_ranges_from_pagemap(void **state)
{
	(void)state;
	uint64_t e[64] = { 0 };
	e[0] = e[1] = PRESENT | 123; /* pfn bits do not matter */
	e[5] = SWAPPED;
	e[63] = PRESENT;
	e[7] = 0x7fffffffffffffull; /* neither present nor swapped */
	struct ws_range *r;
	uint32_t n;
	uint64_t pages;
	assert_int_equal(ws_ranges_from_pagemap(e, 64, 4096, &r, &n, &pages), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pages, 4);
	assert_memory_equal(r, three, sizeof(three));
	free(r);
}

static void test_ranges_in_huge_pages(void **state)
{
	(void)state;
	/* 4 huge pages = 2048 entries; a huge page counts by its first entry */
	uint64_t *e = calloc(2048, sizeof(*e));
	assert_non_null(e);
	e[512] = PRESENT;
	e[1536] = PRESENT;
	e[1537] = PRESENT;
	struct ws_range *r;
	uint32_t n;
	uint64_t pages;
	assert_int_equal(ws_ranges_from_pagemap(e, 2048, 2u << 20, &r, &n, &pages), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pages, 2);
	assert_int_equal(r[0].offset, 2u << 20);
	assert_int_equal(r[1].offset, 6u << 20);
	free(r);
	free(e);
}

static void test_nothing_touched_is_an_empty_table(void **state)
{
	(void)state;
	uint64_t e[8] = { 0 };
	struct ws_range *r;
	uint32_t n = 9;
	uint64_t pages = 9;
	assert_int_equal(ws_ranges_from_pagemap(e, 8, 4096, &r, &n, &pages), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pages, 0);
	struct ws_header h;
	ws_header_init(&h, &expect, r, 0);
	char err[200];
	assert_int_equal(ws_header_check(&h, size_of(&h), &expect, err, sizeof(err)), 0);
	assert_int_equal(ws_ranges_check(&h, r, size_of(&h), err, sizeof(err)), 0);
	free(r);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct ws_header h;
	ws_header_init(&h, &expect, three, 3);
	assert_memory_equal(h.magic, WS_MAGIC, 8);
	assert_int_equal(h.nr_pages, 4);
	assert_int_equal(ws_data_offset(&h), 64 + 3 * 16);
	char err[200] = "";
	assert_int_equal(ws_header_check(&h, size_of(&h), &expect, err, sizeof(err)), 0);
	assert_int_equal(ws_ranges_check(&h, three, size_of(&h), err, sizeof(err)), 0);
}

/* header checks: each refusal names its reason */
static void expect_header_refused(const struct ws_header *h, uint64_t size, const struct ws_expect *e,
                                  int code, const char *why)
{
	char err[200] = "";
	assert_int_equal(ws_header_check(h, size, e, err, sizeof(err)), code);
	assert_non_null(strstr(err, why));
}

static void test_header_refusals(void **state)
{
	(void)state;
	struct ws_header good, h;
	ws_header_init(&good, &expect, three, 3);
	uint64_t size = size_of(&good);
	h = good;
	h.magic[0] = 'X';
	expect_header_refused(&h, size, &expect, -EINVAL, "not a husk working-set file");
	expect_header_refused(&good, 10, &expect, -EINVAL, "not a husk working-set file");
	h = good;
	h.version = 2;
	expect_header_refused(&h, size, &expect, -EINVAL, "version 2");
	struct ws_expect other = expect;
	other.mem_id[0] ^= 1;
	expect_header_refused(&good, size, &other, -ESTALE, "another snapshot");
	other = expect;
	other.map_size = 2 * MAP;
	expect_header_refused(&good, size, &other, -EINVAL, "mapping");
	other = expect;
	other.page_size = 2u << 20;
	expect_header_refused(&good, size, &other, -EINVAL, "pages");
	h = good;
	h.nr_ranges = 0xffffffffu; /* a table bigger than any guest could need */
	expect_header_refused(&h, size, &expect, -EINVAL, "truncated");
	expect_header_refused(&good, 64 + 16, &expect, -EINVAL, "truncated");
}

static void expect_ranges_refused(const struct ws_range *r, uint32_t n, bool recrc, uint64_t size_delta,
                                  const char *why)
{
	struct ws_header h;
	ws_header_init(&h, &expect, three, 3);
	uint64_t size = size_of(&h) + size_delta;
	if (recrc)
		ws_header_init(&h, &expect, r, n);
	char err[200] = "";
	assert_int_equal(ws_ranges_check(&h, r, size, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, why));
}

static void test_range_refusals(void **state)
{
	(void)state;
	struct ws_range r[3];
	memcpy(r, three, sizeof(r));
	r[1].pages = 2; /* changed under an unchanged CRC */
	expect_ranges_refused(r, 3, false, 0, "CRC");
	/* the rest with a matching CRC: only the checks can catch them */
	const struct ws_range overlap[] = { { 0, 2 }, { 4096, 1 }, { 63 * 4096, 1 } };
	expect_ranges_refused(overlap, 3, true, 0, "out of order");
	const struct ws_range unaligned[] = { { 0, 2 }, { 5 * 4096 + 1, 1 }, { 63 * 4096, 1 } };
	expect_ranges_refused(unaligned, 3, true, 0, "out of order");
	const struct ws_range beyond[] = { { 0, 2 }, { 5 * 4096, 1 }, { 63 * 4096, 2 } };
	expect_ranges_refused(beyond, 3, true, 0, "outside guest memory");
	const struct ws_range far[] = { { 0, 2 }, { 5 * 4096, 1 }, { UINT64_MAX - 4095, 1 } };
	expect_ranges_refused(far, 3, true, 0, "outside guest memory");
	const struct ws_range empty[] = { { 0, 2 }, { 5 * 4096, 0 }, { 63 * 4096, 2 } };
	expect_ranges_refused(empty, 3, true, 0, "out of order");
	/* right table, wrong file length: a page short, or bytes past the end */
	expect_ranges_refused(three, 3, false, (uint64_t)-1, "need");
	expect_ranges_refused(three, 3, false, 4096, "need");
}

static void test_page_count_must_match(void **state)
{
	(void)state;
	struct ws_header h;
	ws_header_init(&h, &expect, three, 3);
	uint64_t size = size_of(&h);
	/* a header that lies about its page count under a CRC made over the lie */
	h.nr_pages = 3;
	h.crc = 0;
	h.crc = crc64_update(crc64_update(0, &h, sizeof(h)), three, sizeof(three));
	char err[200] = "";
	assert_int_equal(ws_ranges_check(&h, three, size, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "says 3 pages, its ranges 4"));
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_ranges_from_pagemap),
	cmocka_unit_test(test_ranges_in_huge_pages),
	cmocka_unit_test(test_nothing_touched_is_an_empty_table),
	cmocka_unit_test(test_round_trip),
	cmocka_unit_test(test_header_refusals),
	cmocka_unit_test(test_range_refusals),
	cmocka_unit_test(test_page_count_must_match))
