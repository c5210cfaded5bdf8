/* working_set_file: the working-set file's header and range table, built
 * and checked without I/O (working_set.h). */
#include "vmm/snapshot/working_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/errmsg.h"
#include "vmm/snapshot/crc64.h"

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_ENTRY_BYTES 4096u

_Static_assert(sizeof(struct ws_header) == 64, "the header is 64 bytes on disk");
_Static_assert(sizeof(struct ws_range) == 16, "a range is 16 bytes on disk");

static bool ws_page_touched(const uint64_t *entries, uint64_t page, uint64_t per_page)
{
	return entries[page * per_page] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED);
}

int ws_ranges_from_pagemap(const uint64_t *entries, uint64_t nr_entries, uint64_t page_size,
                           struct ws_range **range, uint32_t *nr_ranges, uint64_t *nr_pages)
{
	uint64_t per_page = page_size / PAGEMAP_ENTRY_BYTES;
	uint64_t pages = nr_entries / per_page;
	uint32_t n = 0;
	*nr_pages = 0;
	/* two passes: count the ranges, then fill them */
	for (uint64_t i = 0; i < pages; i++)
		n += ws_page_touched(entries, i, per_page) && (i == 0 || !ws_page_touched(entries, i - 1, per_page));
	*range = calloc(n ? n : 1, sizeof(**range));
	if (!*range)
		return -ENOMEM;
	*nr_ranges = n;
	struct ws_range *r = *range - 1;
	for (uint64_t i = 0; i < pages; i++) {
		if (!ws_page_touched(entries, i, per_page))
			continue;
		if (i == 0 || !ws_page_touched(entries, i - 1, per_page))
			*++r = (struct ws_range){ .offset = i * page_size };
		r->pages++;
		(*nr_pages)++;
	}
	return 0;
}

static uint64_t ws_crc(const struct ws_header *h, const struct ws_range *range)
{
	struct ws_header copy = *h;
	copy.crc = 0;
	uint64_t crc = crc64_update(0, &copy, sizeof(copy));
	return crc64_update(crc, range, (size_t)h->nr_ranges * sizeof(*range));
}

void ws_header_init(struct ws_header *h, const struct ws_expect *e, const struct ws_range *range,
                    uint32_t nr_ranges)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, WS_MAGIC, sizeof(h->magic));
	h->version = WS_VERSION;
	h->nr_ranges = nr_ranges;
	h->page_size = e->page_size;
	h->map_size = e->map_size;
	memcpy(h->mem_id, e->mem_id, sizeof(h->mem_id));
	for (uint32_t i = 0; i < nr_ranges; i++)
		h->nr_pages += range[i].pages;
	h->crc = ws_crc(h, range);
}

uint64_t ws_data_offset(const struct ws_header *h)
{
	return sizeof(*h) + (uint64_t)h->nr_ranges * sizeof(struct ws_range);
}

int ws_header_check(const struct ws_header *h, uint64_t file_size, const struct ws_expect *e,
                    char *err, size_t errlen)
{
	if (file_size < sizeof(*h) || memcmp(h->magic, WS_MAGIC, sizeof(h->magic)) != 0)
		return errmsg_set(err, errlen, -EINVAL, "not a husk working-set file");
	if (h->version != WS_VERSION)
		return errmsg_set(err, errlen, -EINVAL, "working-set file version %u, this husk reads %u",
		                 h->version, WS_VERSION);
	if (memcmp(h->mem_id, e->mem_id, sizeof(h->mem_id)) != 0)
		return errmsg_set(err, errlen, -ESTALE, "the working-set file was learned from another snapshot");
	if (h->page_size != e->page_size || h->map_size != e->map_size)
		return errmsg_set(err, errlen, -EINVAL,
		                 "the working-set file is for %llu-byte pages of a %llu-byte mapping, "
		                 "the snapshot has %llu-byte pages of %llu bytes",
		                 (unsigned long long)h->page_size, (unsigned long long)h->map_size,
		                 (unsigned long long)e->page_size, (unsigned long long)e->map_size);
	/* at most every other page starts a range: bounds the table's size */
	if (h->nr_ranges > e->map_size / e->page_size / 2 + 1 || ws_data_offset(h) > file_size)
		return errmsg_set(err, errlen, -EINVAL, "working-set file truncated: %u ranges do not fit",
		                 h->nr_ranges);
	return 0;
}

int ws_ranges_check(const struct ws_header *h, const struct ws_range *range, uint64_t file_size,
                    char *err, size_t errlen)
{
	if (ws_crc(h, range) != h->crc)
		return errmsg_set(err, errlen, -EINVAL, "working-set file header or range table corrupt (CRC)");
	uint64_t end = 0, pages = 0, max_pages = h->map_size / h->page_size;
	for (uint32_t i = 0; i < h->nr_ranges; i++) {
		const struct ws_range *r = &range[i];
		if (r->offset % h->page_size || r->offset < end || r->pages == 0 ||
		    r->offset > h->map_size || r->pages > (h->map_size - r->offset) / h->page_size)
			return errmsg_set(err, errlen, -EINVAL, "working-set range %u is out of order or "
			                  "outside guest memory", i);
		end = r->offset + r->pages * h->page_size;
		pages += r->pages;
	}
	if (pages != h->nr_pages || pages > max_pages)
		return errmsg_set(err, errlen, -EINVAL, "working-set file says %llu pages, its ranges %llu",
		                 (unsigned long long)h->nr_pages, (unsigned long long)pages);
	if (file_size != ws_data_offset(h) + pages * h->page_size)
		return errmsg_set(err, errlen, -EINVAL, "working-set file is %llu bytes, its %llu pages need %llu",
		                 (unsigned long long)file_size, (unsigned long long)pages,
		                 (unsigned long long)(ws_data_offset(h) + pages * h->page_size));
	return 0;
}
