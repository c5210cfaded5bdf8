/* working_set: husk-only working-set prefetch for snapshot restores
 * (REAP, Ustiugov et al., ASPLOS'21). PUT /snapshot/load may carry
 *
 *   "working_set": {"file": PATH, "record_ms": N}   learn
 *   "working_set": {"file": PATH}                   prefetch
 *
 * Learn: N ms after the restore, the guest pages present in husk's
 * mapping of guest RAM (/proc/self/pagemap: what the guest, KVM or a
 * device touched since the restore; with Uffd exactly the pages the
 * handler installed, with File the pages faulted in plus the kernel's
 * fault-around neighbours) are written to PATH with their contents as
 * the snapshot's memory file has them (never as the guest has changed
 * them since). Prefetch: the next restore from the same snapshot reads
 * PATH and installs those pages before the vCPUs start: with Uffd,
 * UFFDIO_COPY from one read of the file's page data, before the handler
 * gets the userfaultfd (so it never races them); with File,
 * MADV_POPULATE_READ of those ranges of the private mapping (what
 * MAP_POPULATE does for a whole mapping: page tables filled, so the guest
 * takes no host fault on them). Every other page stays lazy.
 *
 * File (all little-endian, native x86_64 layout):
 *   struct ws_header, 64 bytes
 *   struct ws_range[nr_ranges]  sorted, disjoint, in page_size units
 *   page data: the ranges' pages in table order, nr_pages * page_size
 * The header's CRC-64 covers the header (crc zero) and the range table:
 * those decide where bytes go. The page data is not summed (the memory
 * file is not either): a corrupt page can only hurt the guest it is for.
 * A file for another snapshot (mem_id), another memory size or another
 * page size, a truncated or padded one, bad ranges: refused before the
 * restore changes anything, the load answers 400 naming the reason. */
#ifndef HUSK_SNAPSHOT_WORKING_SET_H
#define HUSK_SNAPSHOT_WORKING_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define WS_MAGIC "HUSKWS01"
#define WS_VERSION 1u
#define WS_MAX_RECORD_MS 600000u

struct ws_header {
	char magic[8];
	uint32_t version;
	uint32_t nr_ranges;
	uint64_t page_size;
	uint64_t map_size; /* the guest mapping the offsets are in */
	uint64_t nr_pages; /* sum of the ranges' pages */
	uint8_t mem_id[16]; /* the snapshot's memory-file id (zeros: none) */
	uint64_t crc;
};

struct ws_range {
	uint64_t offset; /* bytes into the guest mapping = the memory file */
	uint64_t pages;
};

/* What the restore asked for (snapshot_load_params.ws). */
struct ws_params {
	const char *file;          /* NULL: no working set */
	uint32_t record_ms;        /* 0: prefetch from file, else learn into it */
	const char *mem_file_path; /* learning under Uffd: the handler's memory file */
};

/* What the file must match: the snapshot being restored. */
struct ws_expect {
	uint64_t page_size;
	uint64_t map_size;
	uint8_t mem_id[16];
};

/* Figures for the log and the metrics (husk.working_set). */
struct ws_stats {
	uint64_t recorded_pages;
	uint64_t prefetched_pages;
	uint64_t prefetch_us;
};

/* ---- the file format (working_set_file.c, no I/O) ---- */

/* Ranges of the pages of size page_size whose first 4 KiB pagemap entry
 * (entries[], one per 4 KiB of the mapping, /proc/self/pagemap) is
 * present or swapped. *range is malloc'd. 0 or -ENOMEM. */
int ws_ranges_from_pagemap(const uint64_t *entries, uint64_t nr_entries, uint64_t page_size,
                           struct ws_range **range, uint32_t *nr_ranges, uint64_t *nr_pages);
/* A header for these ranges, its CRC set. */
void ws_header_init(struct ws_header *h, const struct ws_expect *e, const struct ws_range *range,
                    uint32_t nr_ranges);
/* Bytes before the page data. */
uint64_t ws_data_offset(const struct ws_header *h);
/* Check a header on its own (magic, version, what it must match, a
 * table size that fits file_size): done before the table is read. */
int ws_header_check(const struct ws_header *h, uint64_t file_size, const struct ws_expect *e,
                    char *err, size_t errlen);
/* Check the table against the header (CRC, order, bounds, page count,
 * the file's exact size). */
int ws_ranges_check(const struct ws_header *h, const struct ws_range *range, uint64_t file_size,
                    char *err, size_t errlen);

/* ---- learn and prefetch (working_set.c) ---- */

/* A working-set file opened and checked, ready to prefetch. */
struct ws_index {
	int fd;
	struct ws_header h;
	struct ws_range *range;
};

int ws_open(const char *path, const struct ws_expect *e, struct ws_index *ix, char *err, size_t errlen);
void ws_close(struct ws_index *ix);
/* Install every page of the file into guest RAM registered with uffd. */
int ws_prefetch_uffd(const struct ws_index *ix, int uffd, const struct guest_mem *gm,
                     struct ws_stats *st, char *err, size_t errlen);
/* Populate the file's ranges of guest RAM mapped privately from the
 * memory file. */
int ws_prefetch_file(const struct ws_index *ix, const struct guest_mem *gm, struct ws_stats *st,
                     char *err, size_t errlen);

struct loop;

/* Learning in progress: opened at the restore (before seccomp), written
 * from the vmm loop when its timer fires. */
struct ws_recorder {
	int timer_fd, pagemap_fd, mem_fd;
	struct loop *loop;
	const struct guest_mem *gm;
	struct ws_expect e;
	char *path;
	struct ws_stats *st;
};

void ws_recorder_init(struct ws_recorder *r);
/* Open what learning needs (the restore's check phase): the memory file
 * mem_file must be the snapshot's (its id trailer is checked when it has
 * one), /proc/self/pagemap, the timer. */
int ws_record_open(struct ws_recorder *r, const struct guest_mem *gm, const struct ws_expect *e,
                   bool has_mem_id, const char *file, const char *mem_file, struct ws_stats *st,
                   char *err, size_t errlen);
/* Start the clock: the file is written ms from now, from the loop. */
int ws_record_arm(struct ws_recorder *r, struct loop *loop, uint32_t ms);
/* Write the file now (the timer's handler; exposed for tests). */
int ws_record_write(struct ws_recorder *r);
void ws_recorder_stop(struct ws_recorder *r);

#endif
