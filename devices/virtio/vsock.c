/* vsock: virtio-vsock queues <-> the connection mux. */
#include "devices/virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "vmm/log.h"

#define VIRTIO_F_VERSION_1 32

static void vsock_dev_rx_process(struct vsock_dev *vd);

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
	vsock_dev_rx_process(vd);
	return 0;
}

void vsock_dev_reset(struct vsock_dev *vd)
{
	vd->active = false;
	vsock_mux_reset(&vd->mux);
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
			int n = vchain_iov_skip(w, c.nwrite, VSOCK_HDR_LEN, payload, VCHAIN_MAX_IOV);
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
	for (;;) {
		int r = vd->txq.ops->pop(vd->txq.q, &c);
		if (r <= 0)
			break;
		struct vsock_hdr h;
		if (c.nwrite || vchain_iov_read(c.iov, c.nread, 0, &h, VSOCK_HDR_LEN) !=
		                    (size_t)VSOCK_HDR_LEN) {
			vd->malformed++;
		} else {
			int n = vchain_iov_skip(c.iov, c.nread, VSOCK_HDR_LEN, payload, VCHAIN_MAX_IOV);
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
