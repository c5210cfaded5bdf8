/* fakeq: a device's queue without a transport, for the device unit tests:
 * chains the test lays out, and what the device pushed back. With endless
 * set it plays a guest that refills the queue as fast as it is drained:
 * after the last chain it hands out the first again, forever. */
#ifndef HUSK_TEST_FAKEQ_H
#define HUSK_TEST_FAKEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/chain.h"

#define DQ_MAX 16
#define DQ_HEAD0 20 /* chain i has head DQ_HEAD0 + i */

struct dq {
	int n, next;
	struct vchain chain[DQ_MAX];
	bool endless;
	unsigned popped, requeued;
	int pushed, published, broken;
	uint16_t push_head[DQ_MAX]; /* the last DQ_MAX pushes, by push count */
	uint32_t push_len[DQ_MAX];
};

static inline int dq_pop(void *q, struct vchain *c)
{
	struct dq *d = q;
	if (d->next >= d->n && d->endless && d->n)
		d->next = 0;
	if (d->next >= d->n)
		return 0;
	*c = d->chain[d->next++];
	d->popped++;
	return 1;
}

static inline void dq_unpop(void *q, int k)
{
	struct dq *d = q;
	d->next -= k;
	while (d->next < 0) /* an endless queue may have wrapped */
		d->next += d->n;
	d->popped -= (unsigned)k;
}

static inline void dq_push(void *q, uint16_t head, uint32_t len)
{
	struct dq *d = q;
	d->push_head[d->pushed % DQ_MAX] = head;
	d->push_len[d->pushed++ % DQ_MAX] = len;
}

static inline void dq_publish(void *q) { ((struct dq *)q)->published++; }
static inline void dq_broken(void *q) { ((struct dq *)q)->broken++; }
static inline void dq_requeue(void *q) { ((struct dq *)q)->requeued++; }

static const struct vchain_ops dq_ops = { .pop = dq_pop, .unpop = dq_unpop, .push = dq_push,
                                         .publish = dq_publish, .broken = dq_broken,
                                         .requeue = dq_requeue };

static inline struct vchain_queue dq_queue(struct dq *d)
{
	return (struct vchain_queue){ &dq_ops, d };
}

/* a chain of one or two buffers (e.g. a header alone, then the payload) */
static inline void dq_add2(struct dq *d, bool writable, void *a, size_t la, void *b, size_t lb)
{
	struct vchain *c = &d->chain[d->n];
	*c = (struct vchain){ .head = (uint16_t)(DQ_HEAD0 + d->n) };
	int k = 0;
	c->iov[k++] = (struct iovec){ a, la };
	if (b)
		c->iov[k++] = (struct iovec){ b, lb };
	if (writable)
		c->nwrite = k;
	else
		c->nread = k;
	d->n++;
}

static inline void dq_add(struct dq *d, bool writable, void *buf, size_t len)
{
	dq_add2(d, writable, buf, len, NULL, 0);
}

#endif
