/* balloon: virtio-balloon (device id 5). The guest hands pages to the
 * host on the inflate queue (the host drops them: gm_discard),
 * takes them back on the deflate queue, reports its memory statistics on
 * the stats queue when the host asks (the polling timer gives the held
 * buffer back) and, with free page reporting, lends free ranges on the
 * reporting queue and, with free page hinting, hands over free ranges on
 * the hinting queue during a run the host starts (a new command id in
 * the config space) and ends (DONE, the driver takes them back). Every
 * page number is checked against guest RAM; a
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
#define BALLOON_F_FREE_PAGE_HINT 3
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

/* free_page_hint_cmd_id: 0 and 1 are the spec's; a run's ids start at 2 */
#define BALLOON_HINT_STOP 0u /* the host: no run yet; the driver: its run is over */
#define BALLOON_HINT_DONE 1u /* the host: the driver may take its hinted pages back */

/* One free page hinting run, as the host started it and the driver last
 * answered (GET /balloon/hinting/status). */
struct balloon_hint {
	uint32_t host_cmd;   /* in the config space */
	uint32_t last_cmd;   /* the last run's id: the next one is + 1 */
	uint32_t guest_cmd;  /* meaningful once guest_seen */
	bool guest_seen;
	bool ack_on_stop;    /* DONE as soon as the driver says STOP */
};

/* The device's own counters (metrics, GET /balloon/statistics). */
struct balloon_counts {
	uint64_t inflate_count, deflate_count;       /* chains */
	uint64_t refused;                            /* pages refused */
	uint64_t stats_updates, stats_fails;
	uint64_t report_count, report_freed, report_fails; /* freed: bytes */
	uint64_t hint_count, hint_freed, hint_fails; /* ranges; bytes; ranges */
	uint64_t discard_fails;
};

struct balloon_dev {
	const struct guest_mem *gm;
	struct vchain_queue inflate, deflate, stats, hintq, report;
	bool active, has_stats, has_hint, has_report;
	unsigned stats_q, hint_q, report_q; /* their indices: present queues are numbered in order */
	uint32_t target_pages, actual_pages; /* config space: ours, the driver's */
	uint64_t *in;                       /* bit per 4 KiB page of gm: in the balloon */
	uint64_t nr_in;
	bool stats_held;                    /* a stats buffer waits for the next poll */
	uint16_t stats_head;
	struct balloon_stats st;
	struct balloon_hint hint;
	struct balloon_counts n;
	/* the config space changed (a hinting command): tell the driver */
	void (*config_changed)(void *ctx);
	void *ctx;
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
/* ---- shared by balloon.c and balloon_hint.c ---- */
/* the 4 KiB page i of gm's mapping is in the balloon */
bool balloon_dev_in(const struct balloon_dev *bd, uint64_t i);
/* drop [p, p + len) (whole pages of gm) from the process, so the guest's
 * next touch reads zeros (gm_discard; huge pages are kept); -errno */
int balloon_dev_discard(struct balloon_dev *bd, uint8_t *p, size_t len);
/* the driver kicked the hinting queue */
void balloon_dev_hint_drain(struct balloon_dev *bd);

/* PATCH /balloon/hinting/start: a new run (the next command id);
 * /stop: DONE. -ENODEV before the driver is up, -EOPNOTSUPP when it
 * did not take the hinting queue. */
int balloon_dev_hint_start(struct balloon_dev *bd, bool ack_on_stop);
int balloon_dev_hint_stop(struct balloon_dev *bd);
void balloon_dev_config_read(const struct balloon_dev *bd, uint64_t off, void *data, uint32_t len);
void balloon_dev_config_write(struct balloon_dev *bd, uint64_t off, const void *data, uint32_t len);

/* ---- on the virtio-mmio transport ---- */

#include "devices/virtio/class.h"
#include "devices/virtio/mmio.h"

/* The device's configuration (PUT /balloon, the config file's "balloon",
 * --balloon), kept in a vm_config under balloon_class (config_device). */
struct balloon_config {
	uint32_t amount_mib;
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s; /* 0: no stats queue */
	bool free_page_reporting;
	bool free_page_hinting;
};

struct vm_config;
/* c's balloon, or NULL: none configured. */
const struct balloon_config *balloon_config_of(const struct vm_config *c);
/* Make b (malloc'd) c's balloon; -ENOSPC (b still the caller's) if c has no room. */
int balloon_config_set(struct vm_config *c, struct balloon_config *b);
/* Free b (NULL is fine). */
void balloon_config_free(void *b);

struct balloon {
	struct virtio_mmio t;
	struct balloon_dev dev;
	struct vchain_vq qa[5];
	struct balloon_config cfg;
	int timer_fd; /* the stats polling interval */
};

/* What the API reads, taken under the device's lock. */
struct balloon_view {
	uint32_t target_pages, actual_pages;
	struct balloon_hint hint;
	struct balloon_stats st;
	struct balloon_counts n;
};

/* PATCH /balloon: the new target, and tell the driver. */
void balloon_set_target(struct balloon *b, uint32_t amount_mib);
/* PATCH /balloon/statistics: the polling interval (not 0: stats were on) */
int balloon_set_interval(struct balloon *b, uint32_t seconds);
void balloon_view(struct balloon *b, struct balloon_view *v);

/* PATCH /balloon/hinting/start and /stop: balloon_dev_hint_* under the lock */
int balloon_hint_start(struct balloon *b, bool ack_on_stop);
int balloon_hint_stop(struct balloon *b);

/* For vmm_attach: cfg is a struct balloon_config. */
extern const struct virtio_class balloon_class;
/* husk run --balloon=amount_mib=N[,deflate_on_oom][,stats=S][,reporting][,hinting] */
extern const struct cli_opt balloon_cli_opt;

#endif
