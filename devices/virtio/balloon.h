/* balloon: virtio-balloon (device id 5). The guest hands pages to the
 * host on the inflate queue (the host drops them with MADV_DONTNEED),
 * takes them back on the deflate queue, reports its memory statistics on
 * the stats queue when the host asks (the polling timer gives the held
 * buffer back) and, with free page reporting, lends free ranges on the
 * reporting queue. Every page number is checked against guest RAM; a
 * page outside it, or one already in the balloon, is refused and
 * counted, so a lying guest can only lose its own memory. */
#ifndef HUSK_VIRTIO_BALLOON_H
#define HUSK_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/chain.h"
#include "vmm/guest_mem.h"

#define VIRTIO_ID_BALLOON 5
#define BALLOON_PAGE 4096u /* the protocol's page, whatever the host's */

/* feature bits (virtio 1.2, 5.5.3) */
#define BALLOON_F_MUST_TELL_HOST 0
#define BALLOON_F_STATS_VQ 1
#define BALLOON_F_DEFLATE_ON_OOM 2
#define BALLOON_F_REPORTING 5

/* The statistics tags the guest sends (virtio 5.5.6.3). */
enum balloon_stat {
	BSTAT_SWAP_IN, BSTAT_SWAP_OUT, BSTAT_MAJFLT, BSTAT_MINFLT, BSTAT_MEMFREE,
	BSTAT_MEMTOT, BSTAT_AVAIL, BSTAT_CACHES, BSTAT_HTLB_PGALLOC, BSTAT_HTLB_PGFAIL,
	BSTAT_OOM_KILL, BSTAT_ALLOC_STALL, BSTAT_ASYNC_SCAN, BSTAT_DIRECT_SCAN,
	BSTAT_ASYNC_RECLAIM, BSTAT_DIRECT_RECLAIM, BSTAT_COUNT
};

struct balloon_stats {
	uint32_t have; /* bit i: the guest sent tag i */
	uint64_t v[BSTAT_COUNT];
};

/* The device's own counters (metrics, GET /balloon/statistics). */
struct balloon_counts {
	uint64_t inflate_count, deflate_count;       /* chains */
	uint64_t refused;                            /* pages refused */
	uint64_t stats_updates, stats_fails;
	uint64_t report_count, report_freed, report_fails; /* freed: bytes */
	uint64_t madvise_fails;
};

struct balloon_dev {
	const struct guest_mem *gm;
	struct vchain_queue inflate, deflate, stats, report;
	bool active, has_stats, has_report;
	unsigned stats_q, report_q; /* their indices: present queues are numbered in order */
	uint32_t target_pages, actual_pages; /* config space: ours, the driver's */
	uint64_t *in;                       /* bit per 4 KiB page of gm: in the balloon */
	uint64_t nr_in;
	bool stats_held;                    /* a stats buffer waits for the next poll */
	uint16_t stats_head;
	struct balloon_stats st;
	struct balloon_counts n;
};

/* bytes of the bitmap: a bit per 4 KiB page of gm's mapping */
size_t balloon_dev_bitmap_bytes(const struct guest_mem *gm);
/* bd zeroed; gm's pages get a bitmap. -ENOMEM. */
int balloon_dev_init(struct balloon_dev *bd, const struct guest_mem *gm);
void balloon_dev_fini(struct balloon_dev *bd);
/* acked: the driver's features; queue(i) the i-th present queue */
void balloon_dev_activate(struct balloon_dev *bd, uint64_t acked, struct vchain_queue (*queue)(void *, unsigned),
                          void *ctx);
void balloon_dev_reset(struct balloon_dev *bd);
/* the driver kicked queue q */
void balloon_dev_notify(struct balloon_dev *bd, unsigned q);
/* the polling timer: give the held stats buffer back for fresh numbers */
void balloon_dev_poll_stats(struct balloon_dev *bd);
/* 0: page taken (inflate) or given back (deflate); -ERANGE outside RAM,
 * -EALREADY already in (or not in) the balloon. Counted when refused. */
int balloon_dev_page(struct balloon_dev *bd, uint32_t pfn, bool inflate);
void balloon_dev_config_read(const struct balloon_dev *bd, uint64_t off, void *data, uint32_t len);
void balloon_dev_config_write(struct balloon_dev *bd, uint64_t off, const void *data, uint32_t len);

/* ---- on the virtio-mmio transport ---- */

#include "devices/virtio/class.h"
#include "devices/virtio/mmio.h"

#include "vmm/config.h" /* struct balloon_config */

struct balloon {
	struct virtio_mmio t;
	struct balloon_dev dev;
	struct vchain_vq qa[4];
	struct balloon_config cfg;
	int timer_fd; /* the stats polling interval */
};

/* What the API reads, taken under the device's lock. */
struct balloon_view {
	uint32_t target_pages, actual_pages;
	struct balloon_stats st;
	struct balloon_counts n;
};

/* PATCH /balloon: the new target, and tell the driver. */
void balloon_set_target(struct balloon *b, uint32_t amount_mib);
/* PATCH /balloon/statistics: the polling interval (not 0: stats were on) */
int balloon_set_interval(struct balloon *b, uint32_t seconds);
void balloon_view(struct balloon *b, struct balloon_view *v);

/* For vmm_attach: cfg is a struct balloon_config. */
extern const struct virtio_class balloon_class;
/* husk run --balloon=amount_mib=N[,deflate_on_oom][,stats=S][,reporting] */
extern const struct cli_opt balloon_cli_opt;

#endif
