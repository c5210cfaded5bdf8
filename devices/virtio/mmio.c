/* mmio: virtio-mmio v2 registers, status state machine, notify and
 * interrupt plumbing (see mmio.h). */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/arch/arch.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm.h"

int virtio_mmio_cmdline_at(uint64_t base, unsigned gsi, char *buf, size_t len)
{
	int n = snprintf(buf, len, "virtio_mmio.device=4K@0x%" PRIx64 ":%u", base, gsi);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t len)
{
	return virtio_mmio_cmdline_at(t->base, t->gsi, buf, len);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_live(const struct virtio_mmio *t)
{
	return t->activated && !(t->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET));
}

static void virtio_mmio_pulse(struct virtio_mmio *t)
{
	t->irqs_sent++;
	if (t->irq_efd < 0)
		return;
	uint64_t one = 1;
	ssize_t r = write(t->irq_efd, &one, sizeof(one));
	(void)r; /* fails only if the counter is saturated: already pending */
}

void virtio_mmio_notify_used(struct virtio_mmio *t, unsigned q, bool force)
{
	if (q >= VIRTIO_MMIO_MAX_QUEUES)
		return;
	if (!force && !virtq_should_notify(&t->vq[q]))
		return;
	t->isr |= VIRTIO_INT_USED;
	virtio_mmio_pulse(t);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->config_generation++;
	if (t->status & VIRTIO_STATUS_DRIVER_OK) {
		t->isr |= VIRTIO_INT_CONFIG;
		virtio_mmio_pulse(t);
	}
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_guest_warn("virtio %s slot %u: device needs reset", t->ops->name, t->slot);
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (t->status & VIRTIO_STATUS_DRIVER_OK) {
		t->isr |= VIRTIO_INT_CONFIG;
		virtio_mmio_pulse(t);
	}
}

/* ---- lifecycle: activation and reset run on the vmm thread ----
 * A vCPU only records them: the register side changes at once (status
 * reads 0 after a reset, as the driver expects), and the device side,
 * which may wait for host I/O (blk drains io_uring) or touch host fds
 * (the tap's offloads, vsock's sockets), is done by the vmm thread in
 * order: a pending reset before a pending activation. Until then the
 * device is not live, and the queue ops push nothing, so a request that
 * completes in between never reaches a ring the driver took back. */

/* Lock held, vmm thread: the device gets its queues; kicks that came
 * while it was not live were dropped, so look at every queue once. */
static void virtio_mmio_bring_up(struct virtio_mmio *t)
{
	int ret = t->ops->activate ? t->ops->activate(t->dev) : 0;
	if (ret < 0) {
		log_guest_warn("virtio %s slot %u: activation failed: %s", t->ops->name, t->slot,
		               strerror(-ret));
		virtio_mmio_needs_reset(t);
		return;
	}
	for (unsigned q = 0; q < t->ops->nr_queues; q++)
		if (t->vq[q].active && virtq_pending(&t->vq[q]))
			virtio_mmio_requeue(t, q);
}

/* Lock held, vmm thread (or the caller's, without a loop). */
static void virtio_mmio_run_work_locked(struct virtio_mmio *t)
{
	if (t->reset_pending) {
		t->reset_pending = false;
		if (t->ops->reset)
			t->ops->reset(t->dev);
	}
	if (t->activate_pending) {
		t->activate_pending = false;
		bool any = false;
		for (unsigned q = 0; q < t->ops->nr_queues; q++)
			any |= t->vq[q].active;
		t->activated = true;
		if (any)
			virtio_mmio_bring_up(t);
		else
			virtio_mmio_needs_reset(t); /* DRIVER_OK without a queue */
	}
}

static void virtio_mmio_post_work(struct virtio_mmio *t)
{
	if (t->work_efd < 0) { /* no vmm thread (unit tests): right here */
		virtio_mmio_run_work_locked(t);
		return;
	}
	uint64_t one = 1;
	ssize_t r = write(t->work_efd, &one, sizeof(one));
	(void)r; /* fails only if the counter is saturated: already pending */
}

static void virtio_mmio_on_work(void *opaque, uint32_t events)
{
	struct virtio_mmio *t = opaque;
	uint64_t v;
	(void)events;
	if (read(t->work_efd, &v, sizeof(v)) != sizeof(v))
		return;
	virtio_mmio_lock(t);
	virtio_mmio_run_work_locked(t);
	virtio_mmio_unlock(t);
}

static void virtio_mmio_reset(struct virtio_mmio *t)
{
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		virtq_reset(&t->vq[q]);
	t->driver_features = 0;
	t->device_features_sel = t->driver_features_sel = 0;
	t->queue_sel = 0;
	t->status = 0;
	t->isr = 0;
	t->activated = false;
	t->activate_pending = false;
	t->reset_pending = true;
	virtio_mmio_post_work(t);
}

static void virtio_mmio_activate(struct virtio_mmio *t)
{
	t->activate_pending = true;
	virtio_mmio_post_work(t);
}

static void virtio_mmio_write_status(struct virtio_mmio *t, uint32_t v)
{
	if (v == 0) {
		virtio_mmio_reset(t);
		return;
	}
	v &= 0xff;
	uint32_t keep = t->status & VIRTIO_STATUS_NEEDS_RESET;
	if (t->status & ~(v | VIRTIO_STATUS_NEEDS_RESET)) {
		/* only reset may clear bits (3.1.1) */
		log_guest_warn("virtio %s slot %u: status 0x%x -> 0x%x ignored", t->ops->name, t->slot,
		         t->status, v);
		return;
	}
	uint32_t added = v & ~t->status;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		bool ok = (t->driver_features & VIRTIO_FEATURE(VIRTIO_F_VERSION_1)) &&
		          !(t->driver_features & ~t->device_features);
		if (!ok) {
			log_guest_warn("virtio %s slot %u: features 0x%" PRIx64 " refused", t->ops->name,
			         t->slot, t->driver_features);
			v &= ~VIRTIO_STATUS_FEATURES_OK;
			added &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK)) {
		v &= ~VIRTIO_STATUS_DRIVER_OK;
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	t->status = v | keep;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FAILED))
		virtio_mmio_activate(t);
}

static struct virtq *virtio_mmio_cur_vq(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->nr_queues ? &t->vq[t->queue_sel] : NULL;
}

static uint32_t virtio_mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *vq = virtio_mmio_cur_vq(t);
	switch (off) {
	case VMMIO_MAGIC: return VIRTIO_MMIO_MAGIC;
	case VMMIO_VERSION: return 2;
	case VMMIO_DEVICE_ID: return t->ops->device_id;
	case VMMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VMMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->device_features_sel));
	case VMMIO_QUEUE_NUM_MAX: return vq ? VIRTQ_MAX_SIZE : 0;
	case VMMIO_QUEUE_READY: return vq ? vq->active : 0;
	case VMMIO_INTERRUPT_STATUS: return t->isr;
	case VMMIO_STATUS: return t->status;
	case VMMIO_CONFIG_GENERATION: return t->config_generation;
	case VMMIO_SHM_LEN_LOW: case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW: case VMMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions (4.2.2: length -1) */
	default: return 0;
	}
}

static void virtio_mmio_set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffull) | val;
}

/* Queue registers: only between FEATURES_OK and DRIVER_OK, only while
 * the selected queue is not ready (4.2.3.2). */
static void virtio_mmio_write_queue(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *vq = virtio_mmio_cur_vq(t);
	if (!vq || !(t->status & VIRTIO_STATUS_FEATURES_OK) || (t->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (off == VMMIO_QUEUE_READY) {
		if (v == 0) {
			vq->active = false;
			return;
		}
		vq->event_idx = t->driver_features & VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX);
		vq->indirect = t->driver_features & VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
		int ret = virtq_activate(vq, t->env.gm);
		if (ret < 0)
			log_guest_warn("virtio %s slot %u: queue %u refused (size %u desc 0x%" PRIx64
			         " avail 0x%" PRIx64 " used 0x%" PRIx64 ")", t->ops->name, t->slot,
			         t->queue_sel, vq->size, vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
		return;
	}
	if (vq->active)
		return;
	switch (off) {
	case VMMIO_QUEUE_NUM: vq->size = v > 0xffff ? 0 : (uint16_t)v; break;
	case VMMIO_QUEUE_DESC_LOW: virtio_mmio_set_half(&vq->desc_gpa, false, v); break;
	case VMMIO_QUEUE_DESC_HIGH: virtio_mmio_set_half(&vq->desc_gpa, true, v); break;
	case VMMIO_QUEUE_AVAIL_LOW: virtio_mmio_set_half(&vq->avail_gpa, false, v); break;
	case VMMIO_QUEUE_AVAIL_HIGH: virtio_mmio_set_half(&vq->avail_gpa, true, v); break;
	case VMMIO_QUEUE_USED_LOW: virtio_mmio_set_half(&vq->used_gpa, false, v); break;
	case VMMIO_QUEUE_USED_HIGH: virtio_mmio_set_half(&vq->used_gpa, true, v); break;
	}
}

void virtio_mmio_requeue(struct virtio_mmio *t, uint32_t q)
{
	/* the same eventfd a guest notify trips: the vmm thread comes back
	 * to the queue on its next round */
	if (q >= t->ops->nr_queues || t->notify_efd[q] < 0)
		return;
	uint64_t one = 1;
	ssize_t r = write(t->notify_efd[q], &one, sizeof(one));
	(void)r;
}

static void virtio_mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	switch (off) {
	case VMMIO_DEVICE_FEATURES_SEL: t->device_features_sel = v; break;
	case VMMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = v; break;
	case VMMIO_DRIVER_FEATURES:
		if (t->driver_features_sel > 1 || (t->status & VIRTIO_STATUS_FEATURES_OK))
			break;
		virtio_mmio_set_half(&t->driver_features, t->driver_features_sel == 1, v);
		break;
	case VMMIO_QUEUE_SEL: t->queue_sel = v; break;
	case VMMIO_QUEUE_NUM: case VMMIO_QUEUE_READY:
	case VMMIO_QUEUE_DESC_LOW: case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_AVAIL_LOW: case VMMIO_QUEUE_AVAIL_HIGH:
	case VMMIO_QUEUE_USED_LOW: case VMMIO_QUEUE_USED_HIGH:
		virtio_mmio_write_queue(t, off, v);
		break;
	case VMMIO_QUEUE_NOTIFY:
		/* the ioeventfd did not catch this write (no KVM, or an odd
		 * width): hand it to the vmm thread the same way */
		virtio_mmio_requeue(t, v);
		break;
	case VMMIO_INTERRUPT_ACK: t->isr &= ~v; break;
	case VMMIO_STATUS: virtio_mmio_write_status(t, v); break;
	default: break; /* read-only or unknown: ignored */
	}
}

static void virtio_mmio_bus_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	memset(data, 0, len);
	virtio_mmio_lock(t);
	if (off >= VMMIO_CONFIG) {
		if (t->ops->config_read)
			t->ops->config_read(t->dev, off - VMMIO_CONFIG, data, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = virtio_mmio_read_reg(t, off);
		memcpy(data, &v, 4);
	}
	virtio_mmio_unlock(t);
}

static void virtio_mmio_bus_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	virtio_mmio_lock(t);
	if (off >= VMMIO_CONFIG) {
		if (t->ops->config_write)
			t->ops->config_write(t->dev, off - VMMIO_CONFIG, data, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		memcpy(&v, data, 4);
		virtio_mmio_write_reg(t, off, v);
	}
	virtio_mmio_unlock(t);
}

const struct bus_ops virtio_mmio_ops = {
	.read = virtio_mmio_bus_read,
	.write = virtio_mmio_bus_write,
};

void virtio_mmio_handle_notify(struct virtio_mmio *t, unsigned q)
{
	virtio_mmio_lock(t);
	if (q < t->ops->nr_queues && virtio_mmio_live(t) && t->vq[q].active && t->ops->queue_notify)
		t->ops->queue_notify(t->dev, q);
	virtio_mmio_unlock(t);
}

static void virtio_mmio_on_notify(void *opaque, uint32_t events)
{
	struct virtio_mmio_notify *n = opaque;
	uint64_t v;
	(void)events;
	if (read(n->t->notify_efd[n->q], &v, sizeof(v)) != sizeof(v))
		return; /* spurious: nothing to do */
	virtio_mmio_handle_notify(n->t, n->q);
}

static int virtio_mmio_wire_queue(struct virtio_mmio *t, unsigned q)
{
	const struct virtio_env *env = &t->env;
	t->notify_efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->notify_efd[q] < 0)
		return -errno;
	t->notify_ctx[q] = (struct virtio_mmio_notify){ .t = t, .q = q };
	int ret = 0;
	if (env->ioeventfd)
		ret = env->ioeventfd(env->ctx, t->notify_efd[q], t->base + VMMIO_QUEUE_NOTIFY, 4, q);
	if (ret == 0 && env->loop)
		ret = loop_add(env->loop, t->notify_efd[q], EPOLLIN, virtio_mmio_on_notify,
		               &t->notify_ctx[q]);
	return ret;
}

static int virtio_mmio_wire_work(struct virtio_mmio *t)
{
	t->work_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->work_efd < 0)
		return -errno;
	return loop_add(t->env.loop, t->work_efd, EPOLLIN, virtio_mmio_on_work, t);
}

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_env *env, unsigned slot,
                     const struct virtio_dev_ops *ops, void *dev)
{
	int ret = -EINVAL;
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->irq_efd = -1;
	t->work_efd = -1;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->notify_efd[q] = -1;
	t->ops = ops;
	t->dev = dev;
	t->env = *env;
	t->slot = slot;
	t->base = env->mmio_base + slot * VIRTIO_MMIO_SLOT_SIZE;
	t->gsi = env->gsi_base + slot;
	if (slot >= env->nr_slots || ops->nr_queues == 0 ||
	    ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES)
		goto out;
	t->device_features = (ops->features ? ops->features(dev) : 0) |
	                     VIRTIO_FEATURE(VIRTIO_F_VERSION_1);
	t->irq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_efd < 0) {
		ret = -errno;
		goto out;
	}
	ret = env->irqfd ? env->irqfd(env->ctx, t->irq_efd, t->gsi) : 0;
	if (ret == 0 && env->loop)
		ret = virtio_mmio_wire_work(t);
	for (unsigned q = 0; ret == 0 && q < ops->nr_queues; q++)
		ret = virtio_mmio_wire_queue(t, q);
	if (ret == 0 && env->mmio_bus)
		ret = bus_register(env->mmio_bus, t->base, VIRTIO_MMIO_SLOT_SIZE, ops->name,
		                   &virtio_mmio_ops, t);
out:
	if (ret < 0) {
		log_err("virtio %s slot %u: transport set-up failed: %s", ops->name, slot,
		        strerror(-ret));
		virtio_mmio_destroy(t);
	}
	return ret;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		if (t->notify_efd[q] < 0)
			continue;
		if (t->env.loop)
			loop_del(t->env.loop, t->notify_efd[q]);
		close(t->notify_efd[q]);
		t->notify_efd[q] = -1;
	}
	if (t->work_efd >= 0) {
		if (t->env.loop)
			loop_del(t->env.loop, t->work_efd);
		close(t->work_efd);
		t->work_efd = -1;
	}
	if (t->irq_efd >= 0)
		close(t->irq_efd);
	t->irq_efd = -1;
	pthread_mutex_destroy(&t->lock);
}

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s)
{
	memset(s, 0, sizeof(*s));
	virtio_mmio_lock(t);
	s->device_id = t->ops->device_id;
	s->nr_queues = t->ops->nr_queues;
	s->device_features = t->device_features;
	s->driver_features = t->driver_features;
	s->device_features_sel = t->device_features_sel;
	s->driver_features_sel = t->driver_features_sel;
	s->queue_sel = t->queue_sel;
	s->status = t->status;
	s->isr = t->isr;
	s->config_generation = t->config_generation;
	s->activated = t->activated;
	for (unsigned q = 0; q < t->ops->nr_queues; q++) {
		const struct virtq *vq = &t->vq[q];
		s->q[q] = (struct virtq_state){
			.desc = vq->desc_gpa, .avail = vq->avail_gpa, .used = vq->used_gpa,
			.size = vq->size, .last_avail = vq->last_avail, .used_idx = vq->used_idx,
			.signalled_used = vq->signalled_used, .ready = vq->active,
			.event_idx = vq->event_idx, .indirect = vq->indirect,
		};
	}
	virtio_mmio_unlock(t);
}

static int virtio_mmio_restore_queue(struct virtio_mmio *t, struct virtq *vq,
                                     const struct virtq_state *qs)
{
	memset(vq, 0, sizeof(*vq));
	vq->size = qs->size;
	vq->desc_gpa = qs->desc;
	vq->avail_gpa = qs->avail;
	vq->used_gpa = qs->used;
	vq->event_idx = qs->event_idx;
	vq->indirect = qs->indirect;
	if (qs->ready > 1 || qs->event_idx > 1 || qs->indirect > 1)
		return -EINVAL;
	if (!qs->ready)
		return 0;
	int ret = virtq_activate(vq, t->env.gm);
	if (ret < 0)
		return ret;
	/* chains popped and not yet used can be at most a ring's worth */
	if ((uint16_t)(qs->last_avail - qs->used_idx) > qs->size)
		return -EINVAL;
	vq->last_avail = qs->last_avail;
	vq->used_idx = qs->used_idx;
	vq->signalled_used = qs->signalled_used;
	return 0;
}

/* Check s against this transport and build its queues in vq[]; nothing in
 * t changes. */
static int virtio_mmio_prepare(struct virtio_mmio *t, const struct virtio_mmio_state *s,
                               struct virtq *vq, const char **why)
{
	*why = NULL;
	if (s->device_id != t->ops->device_id || s->nr_queues != t->ops->nr_queues)
		*why = "device kind or queue count differs";
	else if (s->device_features != t->device_features)
		*why = "offered features differ";
	else if (s->driver_features & ~t->device_features)
		*why = "driver features not offered";
	else if ((s->status & ~0xffu) || s->activated > 1 ||
	         (s->activated && !(s->status & VIRTIO_STATUS_DRIVER_OK)))
		*why = "status inconsistent";
	if (*why)
		return -EINVAL;
	for (unsigned q = 0; q < s->nr_queues; q++) {
		const struct virtq_state *qs = &s->q[q];
		if ((qs->event_idx && !(s->driver_features & VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX))) ||
		    (qs->indirect && !(s->driver_features & VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC)))) {
			*why = "queue uses a ring feature not negotiated";
			return -EINVAL;
		}
		if (virtio_mmio_restore_queue(t, &vq[q], qs) < 0) {
			*why = "queue size, ring address or index out of range";
			return -EINVAL;
		}
	}
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s)
{
	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	const char *why;
	if (virtio_mmio_prepare(t, s, vq, &why) < 0)
		return -EINVAL;
	virtio_mmio_lock(t);
	memcpy(t->vq, vq, sizeof(vq[0]) * s->nr_queues);
	t->driver_features = s->driver_features;
	t->device_features_sel = s->device_features_sel;
	t->driver_features_sel = s->driver_features_sel;
	t->queue_sel = s->queue_sel;
	t->status = s->status;
	t->isr = s->isr;
	t->config_generation = s->config_generation;
	t->activated = s->activated;
	virtio_mmio_unlock(t);
	return 0;
}

/* ---- the snapshot blob: transport state, then the backend identity ---- */

#define VIRTIO_SNAP_MAGIC 0x50414e53u /* "SNAP" */
#define VIRTIO_SNAP_VERSION 1
#define VIRTIO_SNAP_MAX_IDENT 1024

struct virtio_snap_hdr {
	uint32_t magic, version, ident_len, pad;
	struct virtio_mmio_state st;
	/* then ident_len bytes of identity, no NUL */
};

int virtio_mmio_snapshot_save(struct virtio_mmio *t, const char *ident, void **blob, size_t *len)
{
	size_t il = strlen(ident);
	if (il > VIRTIO_SNAP_MAX_IDENT)
		return -ENAMETOOLONG;
	struct virtio_snap_hdr *h = calloc(1, sizeof(*h) + il);
	if (!h)
		return -ENOMEM;
	h->magic = VIRTIO_SNAP_MAGIC;
	h->version = VIRTIO_SNAP_VERSION;
	h->ident_len = (uint32_t)il;
	virtio_mmio_save(t, &h->st);
	memcpy(h + 1, ident, il);
	*blob = h;
	*len = sizeof(*h) + il;
	return 0;
}

int virtio_mmio_snapshot_check(struct virtio_mmio *t, const char *ident, const uint8_t *blob,
                               size_t len, char *err, size_t errlen)
{
	struct virtio_snap_hdr h;
	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	const char *why;
	if (len < sizeof(h)) {
		snprintf(err, errlen, "virtio state of %zu bytes is truncated", len);
		return -EINVAL;
	}
	memcpy(&h, blob, sizeof(h));
	if (h.magic != VIRTIO_SNAP_MAGIC || h.version != VIRTIO_SNAP_VERSION) {
		snprintf(err, errlen, "virtio state magic/version %#x/%u unknown", h.magic, h.version);
		return -EINVAL;
	}
	if (h.ident_len > VIRTIO_SNAP_MAX_IDENT || len != sizeof(h) + h.ident_len) {
		snprintf(err, errlen, "virtio state length %zu does not match its identity length", len);
		return -EINVAL;
	}
	size_t il = strlen(ident);
	if (il != h.ident_len || memcmp(blob + sizeof(h), ident, il) != 0) {
		snprintf(err, errlen, "backend is '%s', the snapshot's is '%.*s'", ident,
		         (int)h.ident_len, (const char *)blob + sizeof(h));
		return -EINVAL;
	}
	virtio_mmio_lock(t);
	int ret = virtio_mmio_prepare(t, &h.st, vq, &why);
	virtio_mmio_unlock(t);
	if (ret < 0)
		snprintf(err, errlen, "%s transport state: %s", t->ops->name, why);
	return ret;
}

int virtio_mmio_snapshot_restore(struct virtio_mmio *t, const uint8_t *blob, size_t len)
{
	struct virtio_snap_hdr h;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, blob, sizeof(h));
	int ret = virtio_mmio_restore(t, &h.st);
	if (ret < 0)
		return ret;
	/* the device side (queues handed to the device, tap offloads, RX)
	 * comes back the way the driver brought it up: by activation */
	/* (a kick the old VMM had not handled yet is gone with it: bring-up
	 * looks at every queue once) */
	virtio_mmio_lock(t);
	if (virtio_mmio_live(t))
		virtio_mmio_bring_up(t);
	virtio_mmio_unlock(t);
	return 0;
}

static int virtio_env_vm_ioeventfd(void *ctx, int efd, uint64_t addr, uint32_t len, uint64_t dm)
{
	return vm_ioeventfd(ctx, efd, addr, len, dm, true);
}

static int virtio_env_vm_irqfd(void *ctx, int efd, unsigned gsi)
{
	return vm_irqfd(ctx, efd, gsi);
}

void virtio_env_for_vm(struct virtio_env *env, struct vm *vm, struct loop *loop)
{
	*env = (struct virtio_env){
		.gm = &vm->gm,
		.loop = loop,
		.mmio_bus = &vm->mmio,
		.ioeventfd = virtio_env_vm_ioeventfd,
		.irqfd = virtio_env_vm_irqfd,
		.ctx = vm,
		.mmio_base = LAYOUT_VIRTIO_MMIO_BASE,
		.gsi_base = LAYOUT_VIRTIO_GSI_BASE,
		.nr_slots = LAYOUT_VIRTIO_MAX_DEVICES,
	};
}

/* ---- the snapshot ops every device registers ---- */

static void vmmio_identity(struct virtio_mmio *t, char *buf, size_t len)
{
	if (t->ops->identity)
		t->ops->identity(t->dev, buf, len);
	else
		snprintf(buf, len, "%s", t->ops->name);
}

static int vmmio_snap_save(void *opaque, void **blob, size_t *len)
{
	struct virtio_mmio *t = opaque;
	char ident[4200];
	/* a reset or activation the guest asked for is part of its state */
	virtio_mmio_lock(t);
	virtio_mmio_run_work_locked(t);
	virtio_mmio_unlock(t);
	if (t->ops->quiesce)
		t->ops->quiesce(t->dev);
	vmmio_identity(t, ident, sizeof(ident));
	return virtio_mmio_snapshot_save(t, ident, blob, len);
}

static int vmmio_snap_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct virtio_mmio *t = opaque;
	char ident[4200];
	vmmio_identity(t, ident, sizeof(ident));
	return virtio_mmio_snapshot_check(t, ident, blob, len, err, errlen);
}

static int vmmio_snap_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct virtio_mmio *t = opaque;
	int ret = virtio_mmio_snapshot_restore(t, blob, len);
	if (ret == 0 && t->ops->restored)
		t->ops->restored(t->dev);
	return ret;
}

const struct snapshot_dev_ops virtio_mmio_snapshot_ops = {
	.save = vmmio_snap_save,
	.check = vmmio_snap_check,
	.restore = vmmio_snap_restore,
};
