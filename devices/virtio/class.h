/* class: what the VMM needs to attach one kind of virtio device. Each kind
 * exports one (blk_class, net_class, vsock_class, rng_class) beside its
 * code; vmm/device.c gives it a virtio-mmio slot and its GSI, adds its
 * kernel cmdline entry, registers its state for snapshots under
 * "<name>:<id>" (virtio_mmio_snapshot_ops on its transport) and tears it
 * down. A new kind is one file plus one class. */
#ifndef HUSK_VIRTIO_CLASS_H
#define HUSK_VIRTIO_CLASS_H

#include <stddef.h>

struct snapshot_dev_ops;
struct virtio_env;
struct virtio_mmio;

/* A class is its own identity: the VMM finds devices of a kind by the
 * class's address, so a new kind edits no shared enum. */
struct virtio_class {
	const char *name; /* "virtio-blk": the snapshot key's first part */
	/* cfg is the kind's own configuration (struct drive_config, ...);
	 * *dev is malloc'd */
	int (*create)(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot);
	void (*destroy)(void *dev); /* NULL is fine */
	/* where in the device its virtio-mmio transport is (offsetof): the
	 * snapshot (virtio_mmio_snapshot_ops) and the default cmdline entry
	 * go through it (virtio_class_transport) */
	size_t transport_at;
	/* optional: a cmdline entry of its own (blk adds root=); the length,
	 * or -ENOSPC */
	int (*cmdline)(const void *dev, char *buf, size_t len);
	/* optional: device state beyond its queues (the balloon's pages),
	 * saved under "<name>:<id>/state" with the device as opaque */
	const struct snapshot_dev_ops *state_ops;
};

/* dev's virtio-mmio transport */
static inline struct virtio_mmio *virtio_class_transport(const struct virtio_class *cls, void *dev)
{
	return (struct virtio_mmio *)((char *)dev + cls->transport_at);
}

#endif
