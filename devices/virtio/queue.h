/* queue: the split virtqueue (virtio 1.x, 2.7) as the device sees it.
 *
 * Every guest address goes through gm_ptr: the ring addresses once, when the
 * queue is activated, and every descriptor's buffer when its chain is popped.
 * Descriptors are copied out of guest memory before they are checked, so a
 * guest changing them under us cannot make a checked value unchecked.
 *
 * Errors come in two kinds, and the device picks what to do:
 *   -EBADMSG  the chain at the head is malformed (loop, too long, buffer
 *             outside RAM, bad indirect table, readable after writable).
 *             Its head has been consumed and is in chain->head, so the device
 *             can still complete it (e.g. used length 0) or go NEEDS_RESET.
 *   -EIO      the ring itself is broken (avail idx ran ahead by more than the
 *             queue size, a head index out of range): only NEEDS_RESET helps.
 * Neither leaves any state pointing outside guest RAM. Host is little-endian
 * (x86_64, aarch64), as virtio 1.x rings are. */
#ifndef HUSK_VIRTIO_QUEUE_H
#define HUSK_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/guest_mem.h"

#define VIRTQ_MAX_SIZE 256
/* Most buffers one chain may have (direct + indirect together). */
#define VIRTQ_MAX_SEGS 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct virtq {
	/* set by the transport from the driver's register writes */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

	/* valid after virtq_activate */
	bool active;
	const struct guest_mem *gm;
	struct virtq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;  /* flags, idx, then elems, avail_event */
	uint16_t last_avail;      /* next avail entry we consume */
	uint16_t used_idx;        /* next used entry we fill */
	uint16_t signalled_used;  /* used_idx when we last decided on an interrupt */
};

/* A popped chain: iov[0..nr_out) are device-readable, iov[nr_out..nr)
 * device-writable (the spec's order; anything else is refused). Zero-length
 * descriptors are dropped. out_len/in_len are the byte totals. */
struct virtq_chain {
	uint16_t head;
	unsigned nr, nr_out;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Forget everything (device reset). */
void virtq_reset(struct virtq *vq);
/* Check the ring addresses (alignment, inside RAM) and start using them.
 * -EINVAL if the size is not a power of two in 1..VIRTQ_MAX_SIZE, -EFAULT
 * if a ring is not fully inside guest RAM or misaligned. */
int virtq_activate(struct virtq *vq, const struct guest_mem *gm);
/* 1: a chain was popped into *c; 0: the queue is empty; -EBADMSG, -EIO:
 * see above. With EVENT_IDX, an empty queue publishes avail_event so the
 * driver notifies on its next buffer. */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);
/* Return a chain to the driver with len bytes written to it, in two
 * halves so devices can batch: record a used element (invisible to the
 * driver), then publish every recorded one. */
void virtq_add_used(struct virtq *vq, uint16_t head, uint32_t len);
void virtq_publish_used(struct virtq *vq);
/* Give back the last n chains popped (available again, e.g. no room yet). */
void virtq_unpop(struct virtq *vq, uint16_t n);
/* After one or more pushes: does the driver want an interrupt now?
 * (EVENT_IDX used_event, else the NO_INTERRUPT flag.) */
bool virtq_should_notify(struct virtq *vq);
/* Chains the driver has made available that we have not popped. */
uint16_t virtq_pending(const struct virtq *vq);


#endif
