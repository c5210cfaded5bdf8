/* chain: the vchain table over a virtio-mmio transport's split queue. */
#include "devices/virtio/chain.h"

#include <errno.h>

#include "devices/virtio/mmio.h"

_Static_assert(VCHAIN_MAX_IOV >= VIRTQ_MAX_SEGS, "a popped chain must fit a vchain");

static int vchain_vq_pop(void *q, struct vchain *c)
{
	struct vchain_vq *a = q;
	struct virtq *vq = &a->t->vq[a->q];
	if (!virtio_mmio_live(a->t) || !vq->active)
		return -EIO;
	int r = virtq_pop(vq, &a->scratch);
	if (r == -EBADMSG) {
		/* answer it empty, then stop: a later unpop could otherwise
		 * hand the guest back a chain it already got */
		a->malformed++;
		virtq_add_used(vq, a->scratch.head, 0);
		virtq_publish_used(vq);
		virtio_mmio_needs_reset(a->t);
		return -EIO;
	}
	if (r < 0) {
		virtio_mmio_needs_reset(a->t);
		return r;
	}
	if (r == 0)
		return 0;
	c->head = a->scratch.head;
	c->nread = (int)a->scratch.nr_out;
	c->nwrite = (int)(a->scratch.nr - a->scratch.nr_out);
	for (unsigned i = 0; i < a->scratch.nr; i++)
		c->iov[i] = a->scratch.iov[i];
	return 1;
}

static void vchain_vq_unpop(void *q, int n)
{
	struct vchain_vq *a = q;
	if (n > 0)
		virtq_unpop(&a->t->vq[a->q], (uint16_t)n);
}

/* After a reset the rings belong to the driver again: a request that
 * completes late (blk's I/O in flight until the vmm thread drains it)
 * is dropped here, not written into them. */
static bool vchain_vq_ours(const struct vchain_vq *a)
{
	return a->t->activated && a->t->vq[a->q].active;
}

static void vchain_vq_push(void *q, uint16_t head, uint32_t len)
{
	struct vchain_vq *a = q;
	if (vchain_vq_ours(a))
		virtq_add_used(&a->t->vq[a->q], head, len);
}

static void vchain_vq_publish(void *q)
{
	struct vchain_vq *a = q;
	if (!vchain_vq_ours(a))
		return;
	virtq_publish_used(&a->t->vq[a->q]);
	virtio_mmio_notify_used(a->t, a->q, false);
}

static void vchain_vq_requeue(void *q)
{
	struct vchain_vq *a = q;
	virtio_mmio_requeue(a->t, a->q);
}

static void vchain_vq_broken(void *q)
{
	struct vchain_vq *a = q;
	a->malformed++;
	virtio_mmio_needs_reset(a->t);
}

const struct vchain_ops vchain_vq_ops = {
	.pop = vchain_vq_pop,
	.unpop = vchain_vq_unpop,
	.push = vchain_vq_push,
	.publish = vchain_vq_publish,
	.broken = vchain_vq_broken,
	.requeue = vchain_vq_requeue,
};

struct vchain_queue vchain_vq_init(struct vchain_vq *a, struct virtio_mmio *t, unsigned q)
{
	a->t = t;
	a->q = q;
	a->malformed = 0;
	return (struct vchain_queue){ .ops = &vchain_vq_ops, .q = a };
}

void vchain_vq_lock(void *t)
{
	virtio_mmio_lock(t);
}

void vchain_vq_unlock(void *t)
{
	virtio_mmio_unlock(t);
}
