/* chain: how the net, vsock and rng devices see their virtqueues. The
 * transport pops a descriptor chain, checks every buffer with gm_ptr and
 * hands it over as host iovecs; the device pushes it back used. Keeping
 * devices on this small table lets their logic be unit tested with fake
 * queues, and keeps them off the ring layout. */
#ifndef HUSK_VIRTIO_CHAIN_H
#define HUSK_VIRTIO_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* Descriptors one chain may have (the longest a queue allows). */
#define VCHAIN_MAX_IOV 256
/* Chains a device takes from one queue per round: a guest that refills a
 * queue as fast as it is drained must not hold the vmm thread (API,
 * timers, pause, snapshot) forever. The rest waits for the next round
 * (ops->requeue). */
#define VCHAIN_BUDGET 64

struct vchain {
	uint16_t head;
	int nread;   /* device-readable buffers: iov[0 .. nread) */
	int nwrite;  /* device-writable ones follow: iov[nread .. nread+nwrite) */
	struct iovec iov[VCHAIN_MAX_IOV];
};

struct vchain_ops {
	/* 1: got a chain, 0: none available, <0: the queue is broken (the
	 * transport has flagged the device for reset; stop using it) */
	int (*pop)(void *q, struct vchain *c);
	/* give back the last n chains popped, unused (available again) */
	void (*unpop)(void *q, int n);
	/* record a used entry; nothing is visible to the guest yet */
	void (*push)(void *q, uint16_t head, uint32_t len);
	/* publish the used entries recorded so far and interrupt if needed */
	void (*publish)(void *q);
	/* optional: the driver broke the rules; flag the device for reset */
	void (*broken)(void *q);
	/* optional: the budget ran out with chains left: come back to this
	 * queue on the next round of the loop */
	void (*requeue)(void *q);
};


struct vchain_queue {
	const struct vchain_ops *ops;
	void *q;
};

/* Pop within this round's budget (start it at VCHAIN_BUDGET): once it is
 * spent, 0, and the rest is handed to the next round. */
static inline int vchain_pop_budget(const struct vchain_queue *vq, struct vchain *c, unsigned *budget)
{
	if (*budget == 0) {
		if (vq->ops->requeue)
			vq->ops->requeue(vq->q);
		return 0;
	}
	(*budget)--;
	return vq->ops->pop(vq->q, c);
}

/* ---- over the virtio-mmio transport (chain.c) ---- */

#include "devices/virtio/queue.h"

struct virtio_mmio;

/* One queue of a transport as a vchain_queue. A malformed chain is
 * answered empty and the device put in NEEDS_RESET (pop returns -EIO);
 * so is a broken ring. */
struct vchain_vq {
	struct virtio_mmio *t;
	unsigned q;
	uint64_t malformed;
	struct virtq_chain scratch;
};

extern const struct vchain_ops vchain_vq_ops;
struct vchain_queue vchain_vq_init(struct vchain_vq *a, struct virtio_mmio *t, unsigned q);
/* virtio_mmio_lock/unlock with void pointers, for the devices' loop
 * handlers (tap, vsock sockets) */
void vchain_vq_lock(void *t);
void vchain_vq_unlock(void *t);

static inline size_t vchain_iov_len(const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Copy len bytes into an iovec list starting at byte off; returns the
 * bytes copied (fewer when the list is too short). */
static inline size_t vchain_iov_write(const struct iovec *iov, int n, size_t off,
                                      const void *src, size_t len)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t done = 0;
	for (int i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t room = iov[i].iov_len - off;
		size_t k = len - done < room ? len - done : room;
		memcpy((uint8_t *)iov[i].iov_base + off, s + done, k);
		done += k;
		off = 0;
	}
	return done;
}

/* Copy out of an iovec list the same way. */
static inline size_t vchain_iov_read(const struct iovec *iov, int n, size_t off,
                                     void *dst, size_t len)
{
	uint8_t *d = (uint8_t *)dst;
	size_t done = 0;
	for (int i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t room = iov[i].iov_len - off;
		size_t k = len - done < room ? len - done : room;
		memcpy(d + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

/* The part of an iovec list from byte off on, as a new list (pointing
 * into the same buffers). Returns its length in entries. */
static inline int vchain_iov_skip(const struct iovec *iov, int n, size_t off,
                                  struct iovec *out, int max)
{
	int k = 0;
	for (int i = 0; i < n && k < max; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = iov[i].iov_len - off;
		k++;
		off = 0;
	}
	return k;
}

#endif
