/* chain: how the net, vsock and rng devices see their virtqueues. The
 * transport pops a descriptor chain, checks every buffer with gm_ptr and
 * hands it over as host iovecs; the device pushes it back used. Keeping
 * devices on this small table lets their logic be unit tested with fake
 * queues, and keeps them off the ring layout. */
#ifndef HUSK_VIRTIO_CHAIN_H
#define HUSK_VIRTIO_CHAIN_H

#include <stdbool.h>
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
 * spent, 0, and what is left is handed to the next round (one look
 * tells whether anything is: no wake-up for an empty queue). */
static inline int vchain_pop_budget(const struct vchain_queue *vq, struct vchain *c, unsigned *budget)
{
	if (*budget > 0) {
		(*budget)--;
		return vq->ops->pop(vq->q, c);
	}
	int r = vq->ops->pop(vq->q, c);
	if (r == 1) {
		vq->ops->unpop(vq->q, 1);
		if (vq->ops->requeue)
			vq->ops->requeue(vq->q);
	}
	return r < 0 ? r : 0;
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

/* The one iovec walker: hand each piece of bytes [off, off + len) of the
 * list to fn, in order, until fn returns false or the list ends. Returns
 * the bytes handed over. Every device copies, slices and gathers guest
 * buffers through it. */
typedef bool (*vchain_piece_fn)(void *ctx, uint8_t *base, size_t len);
size_t vchain_iov_walk(const struct iovec *iov, int n, size_t off, size_t len,
                       vchain_piece_fn fn, void *ctx);

/* Copy len bytes into an iovec list starting at byte off; returns the
 * bytes copied (fewer when the list is too short). */
size_t vchain_iov_write(const struct iovec *iov, int n, size_t off, const void *src, size_t len);
/* Copy out of an iovec list the same way. */
size_t vchain_iov_read(const struct iovec *iov, int n, size_t off, void *dst, size_t len);
/* Bytes [off, off + len) of an iovec list as a new list of at most max
 * entries, pointing into the same buffers (len SIZE_MAX: to the end).
 * Returns the entries, or -EMSGSIZE when max is too few; *got (if not
 * NULL) is the bytes the new list covers. */
int vchain_iov_slice(const struct iovec *iov, int n, size_t off, size_t len,
                     struct iovec *out, int max, size_t *got);

/* ---- rate limiting: every device charges the same way ---- */

/* consume(bucket, ops, bytes): false = throttled, the device keeps the
 * chain (unpop) and waits for its limiter's timer. vmm/limits.h provides
 * rate_limiter_consume_hook for a struct rate_limiter; the unit tests
 * plug in fakes. consume NULL: no limit. */
struct vchain_limit {
	bool (*consume)(void *bucket, uint64_t ops, uint64_t bytes);
	void *bucket;
};

static inline bool vchain_charge(const struct vchain_limit *l, uint64_t ops, uint64_t bytes)
{
	return !l->consume || l->consume(l->bucket, ops, bytes);
}

#endif
