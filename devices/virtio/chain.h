/* chain: how the net, vsock and rng devices see their virtqueues. The
 * transport pops a descriptor chain, checks every buffer with gm_ptr and
 * hands it over as host iovecs; the device pushes it back used. Keeping
 * devices on this small table lets their logic be unit tested with fake
 * queues, and keeps them off the ring layout. */
#ifndef HUSK_VIRTIO_CHAIN_H
#define HUSK_VIRTIO_CHAIN_H

#include <stdint.h>
#include <sys/uio.h>

/* Descriptors one chain may have (the longest a queue allows). */
#define VCHAIN_MAX_IOV 256

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
};

struct vchain_queue {
	const struct vchain_ops *ops;
	void *q;
};

#endif
