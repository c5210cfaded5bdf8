/* vsock: virtio-vsock queues <-> the connection mux. */
#include "devices/virtio/vsock.h"
#include "vmm/config.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/cli.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

#define VIRTIO_F_VERSION_1 32

static void vsock_dev_rx_process(struct vsock_dev *vd);

/* The mux calls this only once its handler has let go of every
 * connection, so RX processing (which frees them) may run right here. */
static void vsock_dev_kick(void *opaque)
{
	struct vsock_dev *vd = opaque;
	vd->kicked = true;
	if (!vd->busy)
		vsock_dev_rx_process(vd);
}

int vsock_dev_init(struct vsock_dev *vd, uint64_t guest_cid, const char *uds_path,
                   struct loop *loop)
{
	memset(vd, 0, sizeof(*vd));
	return vsock_mux_init(&vd->mux, guest_cid, uds_path, loop, vsock_dev_kick, vd);
}

void vsock_dev_destroy(struct vsock_dev *vd)
{
	vsock_mux_destroy(&vd->mux);
}

uint64_t vsock_dev_features(void)
{
	return 1ULL << VIRTIO_F_VERSION_1;
}

void vsock_dev_config_read(const struct vsock_dev *vd, uint64_t off, void *data, uint32_t len)
{
	uint64_t cid = htole64(vd->mux.guest_cid);
	memset(data, 0, len);
	if (off < sizeof(cid))
		memcpy(data, (uint8_t *)&cid + off, len < sizeof(cid) - off ? len : sizeof(cid) - off);
}

int vsock_dev_activate(struct vsock_dev *vd, uint64_t acked, struct vchain_queue rxq,
                       struct vchain_queue txq, struct vchain_queue evq)
{
	(void)acked;
	vd->rxq = rxq;
	vd->txq = txq;
	vd->evq = evq;
	vd->active = true;
	/* packets that waited for the driver go out on its first RX notify
	 * (the transport looks at each queue once after activation) */
	return 0;
}

/* Fill guest RX buffers while the mux has packets and the guest has room;
 * what does not fit waits in the mux (host sockets are then not read). */
static void vsock_dev_rx_process(struct vsock_dev *vd)
{
	static __thread struct vchain c;
	static __thread struct iovec payload[VCHAIN_MAX_IOV];
	bool used = false;
	if (!vd->active)
		return;
	vd->busy = true;
	do {
		vd->kicked = false;
		while (vsock_mux_has_rx(&vd->mux)) {
			int r = vd->rxq.ops->pop(vd->rxq.q, &c);
			if (r <= 0)
				break;
			struct iovec *w = c.iov + c.nread;
			if (c.nread || vchain_iov_len(w, c.nwrite) < (size_t)VSOCK_HDR_LEN) {
				/* not a receive buffer: give it back empty */
				vd->malformed++;
				vd->rxq.ops->push(vd->rxq.q, c.head, 0);
				used = true;
				continue;
			}
			int n = vchain_iov_slice(w, c.nwrite, VSOCK_HDR_LEN, SIZE_MAX, payload,
			                         VCHAIN_MAX_IOV, NULL);
			struct vsock_hdr h;
			if (!vsock_mux_guest_rx(&vd->mux, &h, payload, n)) {
				vd->rxq.ops->unpop(vd->rxq.q, 1);
				break;
			}
			vchain_iov_write(w, c.nwrite, 0, &h, VSOCK_HDR_LEN);
			vd->rxq.ops->push(vd->rxq.q, c.head, VSOCK_HDR_LEN + le32toh(h.len));
			used = true;
		}
	} while (vd->kicked);
	vd->busy = false;
	if (used)
		vd->rxq.ops->publish(vd->rxq.q);
}

void vsock_dev_rx_notify(struct vsock_dev *vd)
{
	if (!vd->busy)
		vsock_dev_rx_process(vd);
}

void vsock_dev_tx_notify(struct vsock_dev *vd)
{
	static __thread struct vchain c;
	static __thread struct iovec payload[VCHAIN_MAX_IOV];
	bool used = false;
	if (!vd->active || vd->busy)
		return;
	vd->busy = true;
	unsigned budget = VCHAIN_BUDGET;
	for (;;) {
		int r = vchain_pop_budget(&vd->txq, &c, &budget);
		if (r <= 0)
			break;
		struct vsock_hdr h;
		if (c.nwrite || vchain_iov_read(c.iov, c.nread, 0, &h, VSOCK_HDR_LEN) !=
		                    (size_t)VSOCK_HDR_LEN) {
			vd->malformed++;
		} else {
			int n = vchain_iov_slice(c.iov, c.nread, VSOCK_HDR_LEN, SIZE_MAX, payload,
			                         VCHAIN_MAX_IOV, NULL);
			vsock_mux_guest_tx(&vd->mux, &h, payload, n);
		}
		vd->txq.ops->push(vd->txq.q, c.head, 0);
		used = true;
	}
	if (used)
		vd->txq.ops->publish(vd->txq.q);
	vd->busy = false;
	/* answers (RESPONSE, RST, credit) the packets asked for */
	if (vd->kicked)
		vsock_dev_rx_process(vd);
}

int vsock_dev_transport_reset(struct vsock_dev *vd)
{
	static __thread struct vchain c;
	uint32_t ev = htole32(VSOCK_EVENT_TRANSPORT_RESET);
	if (!vd->active)
		return -EAGAIN;
	int r = vd->evq.ops->pop(vd->evq.q, &c);
	if (r <= 0)
		return r < 0 ? r : -ENOSPC;
	if (c.nread || vchain_iov_write(c.iov, c.nwrite, 0, &ev, sizeof(ev)) != sizeof(ev)) {
		vd->evq.ops->push(vd->evq.q, c.head, 0);
		vd->evq.ops->publish(vd->evq.q);
		return -EINVAL;
	}
	vd->evq.ops->push(vd->evq.q, c.head, sizeof(ev));
	vd->evq.ops->publish(vd->evq.q);
	vsock_mux_reset(&vd->mux);
	return 0;
}

/* ---- on the virtio-mmio transport ---- */

static uint64_t vsock_features(void *dev)
{
	(void)dev;
	return vsock_dev_features() | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	       VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
}

static void vsock_config_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct vsock *v = dev;
	vsock_dev_config_read(&v->dev, off, data, len);
}

static int vsock_activate(void *dev)
{
	struct vsock *v = dev;
	int ret = vsock_dev_activate(&v->dev, v->t.driver_features,
	                             vchain_vq_init(&v->rxa, &v->t, VSOCK_QUEUE_RX),
	                             vchain_vq_init(&v->txa, &v->t, VSOCK_QUEUE_TX),
	                             vchain_vq_init(&v->eva, &v->t, VSOCK_QUEUE_EVENT));
	/* what waited is delivered when the transport looks at the RX queue */
	return ret;
}

static void vsock_queue_notify(void *dev, unsigned q)
{
	struct vsock *v = dev;
	if (q == VSOCK_QUEUE_RX)
		vsock_dev_rx_notify(&v->dev);
	else if (q == VSOCK_QUEUE_TX)
		vsock_dev_tx_notify(&v->dev);
	/* event queue buffers are kept for transport resets (snapshots) */
}

static void vsock_reset(void *dev)
{
	struct vsock *v = dev;
	v->dev.active = false;
	vsock_mux_reset(&v->dev.mux);
}

static void vsock_identity(void *dev, char *buf, size_t len);
static void vsock_restored(void *dev);

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.nr_queues = VSOCK_NUM_QUEUES,
	.features = vsock_features,
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.identity = vsock_identity,
	.restored = vsock_restored,
};

int vsock_create(struct vsock **out, const struct virtio_env *env, uint64_t guest_cid,
                 const char *uds_path, unsigned slot)
{
	struct vsock *v = calloc(1, sizeof(*v));
	int ret;
	*out = NULL;
	if (!v)
		return -ENOMEM;
	if (!env->loop) {
		ret = -EINVAL;
		goto out;
	}
	ret = vsock_dev_init(&v->dev, guest_cid, uds_path, env->loop);
	if (ret < 0) {
		log_err("vsock: %s: %s", uds_path, strerror(-ret));
		goto out;
	}
	v->dev.mux.lock = vchain_vq_lock;
	v->dev.mux.unlock = vchain_vq_unlock;
	v->dev.mux.lock_ctx = &v->t;
	ret = virtio_mmio_init(&v->t, env, slot, &vsock_ops, v);
	if (ret < 0)
		goto out_dev;
	log_info("vsock: cid %llu on %s in slot %u", (unsigned long long)guest_cid, uds_path, slot);
	*out = v;
	return 0;
out_dev:
	vsock_dev_destroy(&v->dev);
out:
	free(v);
	return ret;
}

void vsock_destroy(struct vsock *v)
{
	if (!v)
		return;
	virtio_mmio_destroy(&v->t);
	vsock_dev_destroy(&v->dev);
	free(v);
}

/* ---- snapshot: transport + queues, identity = the guest CID ----
 * Host connections do not survive a snapshot: after restore the guest is
 * told (TRANSPORT_RESET on the event queue), as on Firecracker. */

static void vsock_identity(void *dev, char *buf, size_t len)
{
	const struct vsock *v = dev;
	snprintf(buf, len, "vsock cid=%llu", (unsigned long long)v->dev.mux.guest_cid);
}

/* Called with the transport's state restored; the connections the guest
 * had are gone, and the event says so. */
static void vsock_restored(void *dev)
{
	struct vsock *v = dev;
	virtio_mmio_lock(&v->t);
	if (virtio_mmio_live(&v->t)) {
		int r = vsock_dev_transport_reset(&v->dev);
		if (r == 0)
			virtio_mmio_notify_used(&v->t, VSOCK_QUEUE_EVENT, true);
		else
			log_warn("vsock: no transport reset event after restore: %s", strerror(-r));
	}
	virtio_mmio_unlock(&v->t);
}

/* ---- the class vmm_attach uses ---- */

static int vsock_class_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	const struct vsock_config *c = cfg;
	return vsock_create((struct vsock **)dev, env, c->guest_cid, c->uds_path, slot);
}

static void vsock_class_destroy(void *dev) { vsock_destroy(dev); }

const struct virtio_class vsock_class = {
	.name = "virtio-vsock",
	.create = vsock_class_create,
	.destroy = vsock_class_destroy,
	.transport_at = offsetof(struct vsock, t),
};

/* ---- husk run --vsock ---- */

static int vsock_cli_apply(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	const char *what = NULL;
	struct vsock_config *v = NULL;
	int ret = 0;
	if (vsock_config_of(cfg))
		return errmsg_set(err, errlen, -EEXIST, "--vsock: only one");
	v = calloc(1, sizeof(*v));
	if (!v || vsock_parse_cli(arg, &v->guest_cid, &v->uds_path, &what) < 0) {
		ret = errmsg_set(err, errlen, -EINVAL, "%s", what ? what : "--vsock: out of memory");
		goto out;
	}
	ret = vsock_config_set(cfg, v);
	if (ret < 0)
		errmsg_set(err, errlen, ret, "--vsock: too many device kinds");
out:
	if (ret < 0)
		vsock_config_free(v);
	return ret;
}

const struct cli_opt vsock_cli_opt = { "vsock", required_argument, "[--vsock cid=N,uds=PATH]", vsock_cli_apply };
