/* balloon: the virtio-balloon queues, apart from the transport so the unit
 * tests drive them with fake queues (balloon_mmio.c plugs them in). */
#include "devices/virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"

size_t balloon_dev_bitmap_bytes(const struct guest_mem *gm)
{
	return (gm->map_size / BALLOON_PAGE + 63) / 64 * sizeof(uint64_t);
}

int balloon_dev_init(struct balloon_dev *bd, const struct guest_mem *gm)
{
	bd->gm = gm;
	bd->in = calloc(1, balloon_dev_bitmap_bytes(gm) + sizeof(uint64_t));
	return bd->in ? 0 : -ENOMEM;
}

void balloon_dev_fini(struct balloon_dev *bd)
{
	free(bd->in);
	bd->in = NULL;
}

void balloon_dev_activate(struct balloon_dev *bd, uint64_t acked, struct vchain_queue (*queue)(void *, unsigned),
                          void *ctx)
{
	unsigned q = 0;
	bd->inflate = queue(ctx, q++);
	bd->deflate = queue(ctx, q++);
	bd->has_stats = acked & (1ull << BALLOON_F_STATS_VQ);
	bd->has_report = acked & (1ull << BALLOON_F_REPORTING);
	/* a queue the driver did not negotiate takes no index (virtio 5.5.2) */
	bd->stats_q = bd->has_stats ? q++ : ~0u;
	if (bd->has_stats)
		bd->stats = queue(ctx, bd->stats_q);
	bd->has_hint = acked & (1ull << BALLOON_F_FREE_PAGE_HINT);
	bd->hint_q = bd->has_hint ? q++ : ~0u;
	if (bd->has_hint)
		bd->hintq = queue(ctx, bd->hint_q);
	bd->report_q = bd->has_report ? q++ : ~0u;
	if (bd->has_report)
		bd->report = queue(ctx, bd->report_q);
	bd->stats_held = false;
	bd->active = true;
}

void balloon_dev_reset(struct balloon_dev *bd)
{
	/* a reset driver starts with every page of its own again */
	bd->active = false;
	bd->stats_held = false;
	bd->actual_pages = 0;
	bd->nr_in = 0;
	memset(bd->in, 0, balloon_dev_bitmap_bytes(bd->gm));
	memset(&bd->hint, 0, sizeof(bd->hint)); /* no run: the driver frees what it held */
}

/* Drop [p, p + len) from the process: the next guest touch gets a zero
 * page (gm_discard, whether RAM is anonymous or a restored memory file).
 * Huge pages cannot go back one 4 KiB page at a time: kept. */
int balloon_dev_discard(struct balloon_dev *bd, uint8_t *p, size_t len)
{
	if (bd->gm->page_size != BALLOON_PAGE)
		return 0;
	int ret = gm_discard(bd->gm, p, len);
	if (ret < 0)
		bd->n.discard_fails++;
	return ret;
}

bool balloon_dev_in(const struct balloon_dev *bd, uint64_t i)
{
	return bd->in[i / 64] & (1ull << (i % 64));
}

int balloon_dev_page(struct balloon_dev *bd, uint32_t pfn, bool inflate)
{
	uint8_t *p = gm_ptr(bd->gm, (uint64_t)pfn * BALLOON_PAGE, BALLOON_PAGE);
	if (!p) {
		bd->n.refused++;
		return -ERANGE;
	}
	uint64_t i = (uint64_t)(p - bd->gm->base) / BALLOON_PAGE;
	if (balloon_dev_in(bd, i) == inflate) {
		bd->n.refused++;
		return -EALREADY;
	}
	if (inflate) {
		int ret = balloon_dev_discard(bd, p, BALLOON_PAGE);
		if (ret < 0)
			return ret;
		bd->nr_in++;
	} else {
		bd->nr_in--; /* nothing on the host: the next touch faults a page in */
	}
	bd->in[i / 64] ^= 1ull << (i % 64);
	return 0;
}

/* One inflate or deflate chain: little-endian 32-bit page numbers. */
static void balloon_pages(struct balloon_dev *bd, const struct vchain *c, bool inflate)
{
	uint32_t pfn[256];
	size_t len = vchain_iov_len(c->iov, c->nread);
	for (size_t off = 0; off + sizeof(pfn[0]) <= len;) {
		size_t got = vchain_iov_read(c->iov, c->nread, off, pfn, sizeof(pfn)) / sizeof(pfn[0]);
		for (size_t k = 0; k < got; k++)
			balloon_dev_page(bd, le32toh(pfn[k]), inflate);
		off += got * sizeof(pfn[0]);
		if (!got)
			break;
	}
}

/* One stats buffer: packed { le16 tag; le64 value } entries. Unknown tags
 * are skipped (newer drivers send more). */
static void balloon_stats_parse(struct balloon_dev *bd, const struct vchain *c)
{
	uint8_t e[10];
	size_t len = vchain_iov_len(c->iov, c->nread);
	if (c->nwrite || len % sizeof(e)) {
		bd->n.stats_fails++;
		return;
	}
	for (size_t off = 0; off < len; off += sizeof(e)) {
		uint16_t tag;
		uint64_t v;
		vchain_iov_read(c->iov, c->nread, off, e, sizeof(e));
		memcpy(&tag, e, 2);
		memcpy(&v, e + 2, 8);
		tag = le16toh(tag);
		if (tag < BSTAT_COUNT) {
			bd->st.v[tag] = le64toh(v);
			bd->st.have |= 1u << tag;
		}
	}
	bd->n.stats_updates++;
}

/* Reported free ranges: the transport already checked them against guest
 * RAM; only whole host pages inside each can go. */
static void balloon_report(struct balloon_dev *bd, const struct vchain *c)
{
	for (int k = 0; k < c->nread + c->nwrite; k++) {
		uintptr_t a = (uintptr_t)c->iov[k].iov_base;
		uintptr_t s = (a + BALLOON_PAGE - 1) & ~(uintptr_t)(BALLOON_PAGE - 1);
		uintptr_t e = (a + c->iov[k].iov_len) & ~(uintptr_t)(BALLOON_PAGE - 1);
		if (e <= s)
			continue;
		if (balloon_dev_discard(bd, (uint8_t *)s, e - s) < 0)
			bd->n.report_fails++;
		else
			bd->n.report_freed += e - s;
	}
	bd->n.report_count++;
}

enum balloon_role { ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT };

/* A stats buffer is kept until the device wants new numbers (only the
 * newest: an older one goes back now); true if one went back. */
static bool balloon_hold_stats(struct balloon_dev *bd, const struct vchain *c)
{
	bool pushed = bd->stats_held;
	if (pushed)
		bd->stats.ops->push(bd->stats.q, bd->stats_head, 0);
	balloon_stats_parse(bd, c);
	bd->stats_head = c->head;
	bd->stats_held = true;
	return pushed;
}

/* Pop the queue within this round's budget; every chain but a stats
 * buffer goes back at once, with nothing written. */
static void balloon_drain(struct balloon_dev *bd, struct vchain_queue *q, enum balloon_role role)
{
	static __thread struct vchain c;
	unsigned budget = VCHAIN_BUDGET;
	bool used = false;
	while (vchain_pop_budget(q, &c, &budget) == 1) {
		if (role == ROLE_STATS) {
			used |= balloon_hold_stats(bd, &c);
			continue;
		}
		if (role == ROLE_REPORT) {
			balloon_report(bd, &c);
		} else {
			balloon_pages(bd, &c, role == ROLE_INFLATE);
			if (role == ROLE_INFLATE)
				bd->n.inflate_count++;
			else
				bd->n.deflate_count++;
		}
		q->ops->push(q->q, c.head, 0);
		used = true;
	}
	if (used)
		q->ops->publish(q->q);
}

void balloon_dev_notify(struct balloon_dev *bd, unsigned q)
{
	if (!bd->active)
		return;
	if (q == 0)
		balloon_drain(bd, &bd->inflate, ROLE_INFLATE);
	else if (q == 1)
		balloon_drain(bd, &bd->deflate, ROLE_DEFLATE);
	else if (q == bd->stats_q)
		balloon_drain(bd, &bd->stats, ROLE_STATS);
	else if (q == bd->hint_q)
		balloon_dev_hint_drain(bd);
	else if (q == bd->report_q)
		balloon_drain(bd, &bd->report, ROLE_REPORT);
}

void balloon_dev_poll_stats(struct balloon_dev *bd)
{
	if (!bd->active || !bd->stats_held)
		return;
	bd->stats_held = false;
	bd->stats.ops->push(bd->stats.q, bd->stats_head, 0);
	bd->stats.ops->publish(bd->stats.q);
}

/* config space: le32 num_pages (ours), le32 actual (the driver's), le32
 * free_page_hint_cmd_id (ours), le32 poison_val (no PAGE_POISON: 0) */
void balloon_dev_config_read(const struct balloon_dev *bd, uint64_t off, void *data, uint32_t len)
{
	uint32_t cfg[4] = { htole32(bd->target_pages), htole32(bd->actual_pages), htole32(bd->hint.host_cmd), 0 };
	if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
		memcpy(data, (uint8_t *)cfg + off, len);
}

void balloon_dev_config_write(struct balloon_dev *bd, uint64_t off, const void *data, uint32_t len)
{
	uint32_t v;
	if (off != 4 || len != sizeof(v))
		return; /* only actual is the driver's to write */
	memcpy(&v, data, sizeof(v));
	bd->actual_pages = le32toh(v);
}
