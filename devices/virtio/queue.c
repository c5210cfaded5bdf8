/* queue: split virtqueue walker, bounds checked (see queue.h). */
#include "devices/virtio/queue.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"

/* avail: flags, idx, ring[size], used_event (all u16) */
#define AVAIL_IDX 1
#define AVAIL_RING(i) (2 + (i))
/* used: flags(u16), idx(u16), ring[size] of 8 bytes, avail_event(u16) */
#define USED_IDX 1

static uint64_t avail_bytes(uint16_t size) { return 6 + 2ull * size; }
static uint64_t used_bytes(uint16_t size) { return 6 + 8ull * size; }

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_activate(struct virtq *vq, const struct guest_mem *gm)
{
	uint16_t n = vq->size;
	vq->active = false;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	/* alignments of virtio 1.x 2.7.2 */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EFAULT;
	void *d = gm_ptr(gm, vq->desc_gpa, 16ull * n);
	void *a = gm_ptr(gm, vq->avail_gpa, avail_bytes(n));
	void *u = gm_ptr(gm, vq->used_gpa, used_bytes(n));
	if (!d || !a || !u)
		return -EFAULT;
	vq->gm = gm;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->active = true;
	return 0;
}

static uint16_t avail_idx(const struct virtq *vq)
{
	/* acquire: the ring entries and descriptors the driver wrote before
	 * bumping idx are visible once we see the new idx */
	return __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
}

uint16_t virtq_pending(const struct virtq *vq)
{
	if (!vq->active)
		return 0;
	return (uint16_t)(avail_idx(vq) - vq->last_avail);
}

static void set_avail_event(struct virtq *vq, uint16_t v)
{
	volatile uint16_t *ev = (volatile uint16_t *)((volatile uint8_t *)vq->used + 4 + 8ull * vq->size);
	*ev = v;
	gm_mark_dirty(vq->gm, (const void *)ev, sizeof(*ev));
}

/* Copy one descriptor out of guest memory; the copy is what we check. */
static void desc_read(const struct virtq_desc *table, uint16_t i, struct virtq_desc *out)
{
	memcpy(out, (const void *)&table[i], sizeof(*out));
}

struct walk {
	struct virtq_chain *c;
	bool seen_write;
};

/* Add one buffer to the chain, checking direction and RAM bounds. */
static int walk_add(const struct virtq *vq, struct walk *w, const struct virtq_desc *d)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	if (!write && w->seen_write)
		return -EBADMSG; /* readable after writable */
	if (write)
		w->seen_write = true;
	if (d->len == 0)
		return 0;
	struct virtq_chain *c = w->c;
	if (c->nr >= VIRTQ_MAX_SEGS)
		return -EBADMSG;
	void *p = gm_ptr(vq->gm, d->addr, d->len);
	if (!p)
		return -EBADMSG;
	c->iov[c->nr].iov_base = p;
	c->iov[c->nr].iov_len = d->len;
	c->nr++;
	if (write) {
		c->in_len += d->len;
	} else {
		c->nr_out++;
		c->out_len += d->len;
	}
	return 0;
}

/* Walk an indirect table: its own descriptors, chained by index within it. */
static int walk_indirect(const struct virtq *vq, struct walk *w, const struct virtq_desc *ind)
{
	if (!vq->indirect)
		return -EBADMSG;
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return -EBADMSG; /* spec: INDIRECT and NEXT never together */
	if (ind->len == 0 || ind->len % sizeof(struct virtq_desc))
		return -EBADMSG;
	uint32_t n = ind->len / sizeof(struct virtq_desc);
	if (n > VIRTQ_MAX_SEGS)
		return -EBADMSG;
	const struct virtq_desc *table = gm_ptr(vq->gm, ind->addr, ind->len);
	if (!table)
		return -EBADMSG;
	uint16_t i = 0;
	for (uint32_t steps = 0;; steps++) {
		if (steps >= n)
			return -EBADMSG; /* longer than the table: a loop */
		struct virtq_desc d;
		desc_read(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return -EBADMSG; /* indirect inside indirect */
		int ret = walk_add(vq, w, &d);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return -EBADMSG;
		i = d.next;
	}
}

static int walk_chain(const struct virtq *vq, struct virtq_chain *c, uint16_t head)
{
	struct walk w = { .c = c };
	uint16_t i = head;
	for (uint32_t steps = 0;; steps++) {
		if (steps >= vq->size)
			return -EBADMSG; /* longer than the queue: a loop */
		struct virtq_desc d;
		desc_read(vq->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(vq, &w, &d);
		int ret = walk_add(vq, &w, &d);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return -EBADMSG;
		i = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	if (!vq->active)
		return 0;
	uint16_t idx = avail_idx(vq);
	if (idx == vq->last_avail && vq->event_idx) {
		/* ask for a notify on the next buffer, then look once more: the
		 * driver may have added one before it saw our avail_event */
		set_avail_event(vq, vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		idx = avail_idx(vq);
	}
	if (idx == vq->last_avail)
		return 0;
	if ((uint16_t)(idx - vq->last_avail) > vq->size) {
		log_guest_warn("virtq: avail idx %u ran %u ahead of %u (size %u)", idx,
		         (uint16_t)(idx - vq->last_avail), vq->last_avail, vq->size);
		return -EIO;
	}
	uint16_t head = vq->avail[AVAIL_RING(vq->last_avail % vq->size)];
	if (head >= vq->size) {
		log_guest_warn("virtq: head %u out of range (size %u)", head, vq->size);
		return -EIO;
	}
	vq->last_avail++;
	memset(c, 0, offsetof(struct virtq_chain, iov));
	c->head = head;
	int ret = walk_chain(vq, c, head);
	if (ret < 0) {
		log_debug("virtq: malformed descriptor chain at head %u", head);
		c->nr = c->nr_out = 0;
		c->in_len = c->out_len = 0;
		return ret;
	}
	/* what the device will write into: a Diff snapshot must carry it
	 * (marked now, written before any snapshot: devices drain first) */
	for (unsigned i = c->nr_out; i < c->nr; i++)
		gm_mark_dirty(vq->gm, c->iov[i].iov_base, c->iov[i].iov_len);
	return 1;
}

void virtq_add_used(struct virtq *vq, uint16_t head, uint32_t len)
{
	if (!vq->active)
		return;
	volatile struct virtq_used_elem *ring =
		(volatile struct virtq_used_elem *)((volatile uint8_t *)vq->used + 4);
	volatile struct virtq_used_elem *e = &ring[vq->used_idx % vq->size];
	e->id = head;
	e->len = len;
	vq->used_idx++;
}

void virtq_publish_used(struct virtq *vq)
{
	if (!vq->active)
		return;
	/* release: the elements (and the data in the buffers) before the idx */
	__atomic_store_n(&vq->used[USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
	gm_mark_dirty(vq->gm, (const void *)vq->used, used_bytes(vq->size));
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail -= n;
}

bool virtq_should_notify(struct virtq *vq)
{
	if (!vq->active)
		return false;
	/* our used idx store must be visible before we read the driver's
	 * used_event/flags, or we could miss its request for an interrupt */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	vq->signalled_used = new;
	if (vq->event_idx) {
		uint16_t used_event = vq->avail[AVAIL_RING(vq->size)];
		/* vring_need_event of the spec: used_event in [old, new) */
		return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
	}
	if (old == new)
		return false;
	return !(vq->avail[0] & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
