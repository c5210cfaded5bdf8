/* vdrv: a minimal virtio-mmio driver for unit tests, playing the guest
 * against a real transport in plain memory (no KVM): status handshake,
 * split queues, chains, kicks and used-ring reads. */
#ifndef HUSK_TEST_VDRV_H
#define HUSK_TEST_VDRV_H

#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/mmio.h"
#include "vmm/guest_mem.h"

#define VDRV_RAM (1u << 20)
#define VDRV_QSIZE 16

struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct vdrv {
	uint8_t *ram;
	struct guest_mem gm;
	struct virtio_mmio *t;
	struct {
		uint64_t desc, avail, used;
		uint16_t avail_idx, used_seen, next_desc;
	} q[4];
};

static inline void vdrv_mem_init(struct vdrv *d)
{
	d->ram = aligned_alloc(4096, VDRV_RAM);
	memset(d->ram, 0, VDRV_RAM);
	gm_init_from(&d->gm, d->ram, VDRV_RAM, 0xd0000000ull);
}

static inline uint32_t vdrv_rd(struct vdrv *d, uint64_t off)
{
	uint32_t v = 0;
	virtio_mmio_ops.read(d->t, off, &v, 4);
	return v;
}

static inline void vdrv_wr(struct vdrv *d, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(d->t, off, &v, 4);
}

static inline uint8_t vdrv_cfg8(struct vdrv *d, uint64_t off)
{
	uint8_t v = 0;
	virtio_mmio_ops.read(d->t, VMMIO_CONFIG + off, &v, 1);
	return v;
}

/* ACK, DRIVER, features, FEATURES_OK; returns the status read back. */
static inline uint32_t vdrv_negotiate(struct vdrv *d, uint64_t features)
{
	vdrv_wr(d, VMMIO_STATUS, 0);
	vdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)features);
	vdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                         VIRTIO_STATUS_FEATURES_OK);
	return vdrv_rd(d, VMMIO_STATUS);
}

static inline uint64_t vdrv_device_features(struct vdrv *d)
{
	vdrv_wr(d, VMMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t f = vdrv_rd(d, VMMIO_DEVICE_FEATURES);
	vdrv_wr(d, VMMIO_DEVICE_FEATURES_SEL, 1);
	return f | (uint64_t)vdrv_rd(d, VMMIO_DEVICE_FEATURES) << 32;
}

/* queue q's rings at base (desc), base+0x400 (avail), base+0x800 (used) */
static inline void vdrv_queue(struct vdrv *d, unsigned q, uint64_t base)
{
	d->q[q].desc = base;
	d->q[q].avail = base + 0x400;
	d->q[q].used = base + 0x800;
	d->q[q].avail_idx = d->q[q].used_seen = d->q[q].next_desc = 0;
	vdrv_wr(d, VMMIO_QUEUE_SEL, q);
	vdrv_wr(d, VMMIO_QUEUE_NUM, VDRV_QSIZE);
	vdrv_wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)base);
	vdrv_wr(d, VMMIO_QUEUE_DESC_HIGH, 0);
	vdrv_wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)d->q[q].avail);
	vdrv_wr(d, VMMIO_QUEUE_AVAIL_HIGH, 0);
	vdrv_wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)d->q[q].used);
	vdrv_wr(d, VMMIO_QUEUE_USED_HIGH, 0);
	vdrv_wr(d, VMMIO_QUEUE_READY, 1);
}

static inline void vdrv_driver_ok(struct vdrv *d)
{
	vdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                         VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* Make a chain of n buffers available on queue q; returns its head. */
static inline uint16_t vdrv_add(struct vdrv *d, unsigned q, const struct vdrv_buf *b, int n)
{
	struct virtq_desc *desc = (struct virtq_desc *)(d->ram + d->q[q].desc);
	uint16_t head = d->q[q].next_desc;
	for (int i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((head + i) % VDRV_QSIZE);
		desc[k].addr = b[i].gpa;
		desc[k].len = b[i].len;
		desc[k].flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
		                           (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		desc[k].next = (uint16_t)((k + 1) % VDRV_QSIZE);
	}
	d->q[q].next_desc = (uint16_t)((head + n) % VDRV_QSIZE);
	uint16_t *avail = (uint16_t *)(d->ram + d->q[q].avail);
	avail[2 + d->q[q].avail_idx % VDRV_QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++d->q[q].avail_idx;
	return head;
}

static inline void vdrv_kick(struct vdrv *d, unsigned q)
{
	vdrv_wr(d, VMMIO_QUEUE_NOTIFY, q);
}

/* The next used element of queue q, if any. */
static inline bool vdrv_used(struct vdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	uint16_t *used = (uint16_t *)(d->ram + d->q[q].used);
	if (used[1] == d->q[q].used_seen)
		return false;
	struct virtq_used_elem *e = (struct virtq_used_elem *)(used + 2);
	*id = e[d->q[q].used_seen % VDRV_QSIZE].id;
	*len = e[d->q[q].used_seen % VDRV_QSIZE].len;
	d->q[q].used_seen++;
	return true;
}

#endif
