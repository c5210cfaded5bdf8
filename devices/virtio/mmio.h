/* mmio: the virtio-mmio transport, version 2 (virtio 1.x, 4.2.2).
 *
 * One struct virtio_mmio per device, registered on the MMIO bus in a 4 KiB
 * slot. Register accesses arrive on vCPU threads; queue work happens on the
 * vmm thread's loop, woken by one ioeventfd per queue (a write of the queue
 * index to QueueNotify); so do activation and reset, handed over by the
 * vCPU that wrote the status. Interrupts go out through one irqfd eventfd. A
 * per-device mutex serialises the two: every device op is called with it
 * held, and a device's own loop handlers take it with virtio_mmio_lock.
 *
 * The transport does not know about struct vm: it gets guest memory, the
 * loop and two callbacks (virtio_env), which keeps it testable without KVM. */
#ifndef HUSK_VIRTIO_MMIO_H
#define HUSK_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "vmm/bus.h"
#include "vmm/guest_mem.h"
#include "vmm/loop.h"

#define VIRTIO_MMIO_MAX_QUEUES 8

/* feature bits the transport knows */
#define VIRTIO_FEATURE(bit) (1ull << (bit))
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

/* register offsets */
enum {
	VMMIO_MAGIC = 0x000, VMMIO_VERSION = 0x004, VMMIO_DEVICE_ID = 0x008,
	VMMIO_VENDOR_ID = 0x00c, VMMIO_DEVICE_FEATURES = 0x010,
	VMMIO_DEVICE_FEATURES_SEL = 0x014, VMMIO_DRIVER_FEATURES = 0x020,
	VMMIO_DRIVER_FEATURES_SEL = 0x024, VMMIO_QUEUE_SEL = 0x030,
	VMMIO_QUEUE_NUM_MAX = 0x034, VMMIO_QUEUE_NUM = 0x038,
	VMMIO_QUEUE_READY = 0x044, VMMIO_QUEUE_NOTIFY = 0x050,
	VMMIO_INTERRUPT_STATUS = 0x060, VMMIO_INTERRUPT_ACK = 0x064,
	VMMIO_STATUS = 0x070, VMMIO_QUEUE_DESC_LOW = 0x080,
	VMMIO_QUEUE_DESC_HIGH = 0x084, VMMIO_QUEUE_AVAIL_LOW = 0x090,
	VMMIO_QUEUE_AVAIL_HIGH = 0x094, VMMIO_QUEUE_USED_LOW = 0x0a0,
	VMMIO_QUEUE_USED_HIGH = 0x0a4, VMMIO_SHM_SEL = 0x0ac,
	VMMIO_SHM_LEN_LOW = 0x0b0, VMMIO_SHM_LEN_HIGH = 0x0b4,
	VMMIO_SHM_BASE_LOW = 0x0b8, VMMIO_SHM_BASE_HIGH = 0x0bc,
	VMMIO_CONFIG_GENERATION = 0x0fc,
	VMMIO_CONFIG = 0x100,
};
#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_SLOT_SIZE 0x1000ull  /* one device's register page */
#define VIRTIO_MMIO_VENDOR 0x4b535548 /* "HUSK" */

struct virtio_mmio;

/* What a device kind plugs into the transport. All calls hold the lock. */
struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	unsigned nr_queues;
	/* feature bits offered (the transport adds VERSION_1) */
	uint64_t (*features)(void *dev);
	/* config space, off relative to 0x100; reads past the end give 0 */
	void (*config_read)(void *dev, uint64_t off, void *data, uint32_t len);
	void (*config_write)(void *dev, uint64_t off, const void *data, uint32_t len);
	/* DRIVER_OK with every ready queue activated; non-zero -> NEEDS_RESET.
	 * On the vmm thread, like every op below but config_read/write. */
	int (*activate)(void *dev);
	/* the driver kicked queue q */
	void (*queue_notify)(void *dev, unsigned q);
	/* back to the initial state; no request may touch guest memory after
	 * (it may wait for I/O in flight). The rings are already gone: the
	 * queue ops push nothing until the next activation. */
	void (*reset)(void *dev);
	/* snapshots, through virtio_mmio_snapshot_ops (all optional): who the
	 * device is, checked on restore so one drive's state never lands on
	 * another (default: its name); before save, finish what is in flight
	 * so the rings hold the whole state; after restore, tell the guest
	 * what it must know (vsock: TRANSPORT_RESET) */
	void (*identity)(void *dev, char *buf, size_t len);
	void (*quiesce)(void *dev);
	void (*restored)(void *dev);
};

/* How a transport reaches the VM. Callbacks may be NULL (unit tests): then
 * notify writes arrive through the bus and are forwarded to the queue's
 * eventfd, and the interrupt eventfd is just not wired to a GSI. */
struct virtio_env {
	const struct guest_mem *gm;
	struct loop *loop;      /* the vmm thread's loop; NULL: caller polls */
	struct bus *mmio_bus;   /* NULL: caller routes accesses itself */
	int (*ioeventfd)(void *ctx, int efd, uint64_t addr, uint32_t len, uint64_t datamatch);
	int (*irqfd)(void *ctx, int efd, unsigned gsi);
	void *ctx;
	/* the machine's slots (an arch fact, so the caller's): slot i is at
	 * mmio_base + i * 4 KiB with interrupt gsi_base + i */
	uint64_t mmio_base;
	unsigned gsi_base;
	unsigned nr_slots;
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *dev;
	struct virtio_env env;
	unsigned slot;
	uint64_t base;
	unsigned gsi;

	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t isr;
	uint32_t config_generation;
	bool activated;
	/* asked for by the driver on a vCPU, carried out by the vmm thread
	 * (work_efd): activation and reset never wait on a vCPU */
	bool reset_pending, activate_pending;
	int work_efd;

	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	int notify_efd[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_notify {
		struct virtio_mmio *t;
		unsigned q;
	} notify_ctx[VIRTIO_MMIO_MAX_QUEUES];
	int irq_efd;
	unsigned long long irqs_sent;
};

extern const struct bus_ops virtio_mmio_ops;

/* Set up a transport for device dev in slot (0-based, < env->nr_slots):
 * eventfds, loop handlers, ioeventfds, irqfd, bus registration at
 * env->mmio_base + slot * 4 KiB with GSI env->gsi_base + slot.
 * Returns 0 or -errno (everything undone). */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_env *env, unsigned slot,
                     const struct virtio_dev_ops *ops, void *dev);
/* Undo init's fds and loop handlers (the bus range stays: buses never
 * shrink; call only when the VM goes away). */
void virtio_mmio_destroy(struct virtio_mmio *t);

void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
/* Have the vmm thread look at queue q again on its next round, as if the
 * driver had notified (a device whose per-round budget ran out). */
void virtio_mmio_requeue(struct virtio_mmio *t, uint32_t q);
/* With the lock held: raise the used-buffer interrupt (if the queue wants
 * one: pass force to skip the check) / mark the device broken. */
void virtio_mmio_notify_used(struct virtio_mmio *t, unsigned q, bool force);
void virtio_mmio_needs_reset(struct virtio_mmio *t);
/* With the lock held: the config space changed (generation + interrupt). */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* True while the driver has the device live (DRIVER_OK, not failed/reset). */
bool virtio_mmio_live(const struct virtio_mmio *t);

/* The kernel cmdline fragment announcing a device at base with gsi, e.g.
 * "virtio_mmio.device=4K@0xd0001000:5" (x86; aarch64 uses the device tree).
 * Returns the length, or -ENOSPC if it did not fit. */
int virtio_mmio_cmdline_at(uint64_t base, unsigned gsi, char *buf, size_t len);
int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t len);

/* Handle the vmm-thread side of a notify eventfd (for tests without a loop). */
void virtio_mmio_handle_notify(struct virtio_mmio *t, unsigned q);

/* Snapshot: everything the transport and its queues hold, as plain data
 * (little-endian host layout; the snapshot file format wraps it). Take it
 * with the vCPUs paused and the device's I/O drained (blk_quiesce). */
struct virtq_state {
	uint64_t desc, avail, used;
	uint16_t size, last_avail, used_idx, signalled_used;
	uint8_t ready, event_idx, indirect, pad;
};

struct virtio_mmio_state {
	uint32_t device_id, nr_queues;
	uint64_t device_features, driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t status, isr, config_generation;
	uint8_t activated, pad[7];
	struct virtq_state q[VIRTIO_MMIO_MAX_QUEUES];
};

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s);
/* Apply a saved state to a freshly initialised transport of the same
 * device kind. Every value is checked (device id, queue count, features a
 * subset of what the device offers, ring addresses inside guest RAM) and
 * nothing is applied unless all pass: -EINVAL. */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s);

/* The snapshot blob of a virtio-mmio device (what its snapshot ops
 * save): the transport state above plus ident, the device's backend
 * identity (e.g. drive id and path), which must match on restore.
 * save/check/restore with the vCPUs paused and the device drained. check
 * changes nothing; restore re-activates a live device (its queues go back
 * to the device as on DRIVER_OK). */
int virtio_mmio_snapshot_save(struct virtio_mmio *t, const char *ident, void **blob, size_t *len);
int virtio_mmio_snapshot_check(struct virtio_mmio *t, const char *ident, const uint8_t *blob,
                               size_t len, char *err, size_t errlen);
int virtio_mmio_snapshot_restore(struct virtio_mmio *t, const uint8_t *blob, size_t len);
/* The snapshot ops of every virtio device (opaque: its transport): the
 * transport and queue state above, with the device's identity, quiesce
 * and restored hooks. */
extern const struct snapshot_dev_ops virtio_mmio_snapshot_ops;

struct vm;
/* A virtio_env for a real VM (KVM ioeventfds and irqfds, the slots of
 * the x86_64 layout: the one place this directory knows the layout). */
void virtio_env_for_vm(struct virtio_env *env, struct vm *vm, struct loop *loop);

#endif
