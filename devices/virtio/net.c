/* net: virtio-net frame logic and the device over a tap. */
#include "devices/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/net_tap.h"
#include "vmm/cli.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

#define BIT(n) (1ULL << (n))

static int net_gso_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t f)
{
	uint8_t type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	int need;
	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return ecn ? -EINVAL : 0;
	case VIRTIO_NET_HDR_GSO_TCPV4: need = VIRTIO_NET_F_HOST_TSO4; break;
	case VIRTIO_NET_HDR_GSO_TCPV6: need = VIRTIO_NET_F_HOST_TSO6; break;
	case VIRTIO_NET_HDR_GSO_UDP: need = VIRTIO_NET_F_HOST_UFO; break;
	default: return -EINVAL;
	}
	if (!(f & BIT(need)))
		return -EINVAL;
	if (ecn && (type == VIRTIO_NET_HDR_GSO_UDP || !(f & BIT(VIRTIO_NET_F_HOST_ECN))))
		return -EINVAL;
	/* segmentation needs a segment size and a partial checksum to fill */
	if (le16toh(h->gso_size) == 0 || !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return -EINVAL;
	if (le16toh(h->hdr_len) > frame_len)
		return -EINVAL;
	return 0;
}

int net_tx_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t f)
{
	if (frame_len < NET_ETH_HLEN || frame_len > NET_MAX_FRAME)
		return -EINVAL;
	/* DATA_VALID is for the receive side only */
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return -EINVAL;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(f & BIT(VIRTIO_NET_F_CSUM)))
			return -EINVAL;
		size_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
		if (start + off + 2 > frame_len)
			return -EINVAL;
	}
	return net_gso_check(h, frame_len, f);
}

int net_tx_gather(const struct iovec *chain, int n, uint64_t features,
                  struct virtio_net_hdr_v1 *hdr, struct iovec *out, int max_out,
                  size_t *frame_len)
{
	size_t total = vchain_iov_len(chain, n);
	if (total < (size_t)NET_HDR_LEN)
		return -EINVAL;
	if (total > NET_MAX_PKT)
		return -EMSGSIZE;
	if (max_out < 1)
		return -EMSGSIZE;
	/* copy the header out once: the guest may change it behind us */
	vchain_iov_read(chain, n, 0, hdr, NET_HDR_LEN);
	*frame_len = total - NET_HDR_LEN;
	if (net_tx_hdr_check(hdr, *frame_len, features) < 0)
		return -EINVAL;
	hdr->num_buffers = 0; /* the tap ignores it; do not leak guest bytes */
	out[0] = (struct iovec){ .iov_base = hdr, .iov_len = NET_HDR_LEN };
	int k = vchain_iov_slice(chain, n, NET_HDR_LEN, SIZE_MAX, out + 1, max_out - 1, NULL);
	return k < 0 ? k : k + 1;
}

int net_rx_len_check(size_t len)
{
	if (len < (size_t)NET_HDR_LEN + NET_ETH_HLEN || len > NET_MAX_PKT)
		return -EINVAL;
	return 0;
}

/* With MRG_RXBUF a 64 KiB packet in the smallest legal buffers (a header's
 * worth each would be absurd; Linux posts at least 1.5 KiB) stays well
 * under this many chains; past it the packet is dropped. */
#define NET_RX_MAX_CHAINS 256

struct net_rx_state {
	struct vchain first, cur; /* 4 KiB each: kept off the stack */
	uint16_t head[NET_RX_MAX_CHAINS];
	uint32_t len[NET_RX_MAX_CHAINS];
};

int net_rx_deliver(const struct vchain_queue *rxq, bool mrg, uint8_t *pkt, size_t len)
{
	const struct vchain_ops *ops = rxq->ops;
	void *q = rxq->q;
	static __thread struct net_rx_state st;
	size_t done = 0;
	int nbuf = 0;
	int ret;

	if (len < (size_t)NET_HDR_LEN)
		return -EINVAL;
	while (done < len) {
		struct vchain *c = nbuf == 0 ? &st.first : &st.cur;
		ret = ops->pop(q, c);
		if (ret < 0)
			goto undo;
		if (ret == 0) {
			ret = -EAGAIN;
			goto undo;
		}
		nbuf++;
		size_t cap = vchain_iov_len(c->iov, c->nwrite);
		/* every chain must at least hold a header (virtio 1.1 5.1.6.3.1)
		 * and be writable: anything else is a driver bug, not a size */
		if (c->nread || cap < (size_t)NET_HDR_LEN) {
			ret = -EINVAL;
			goto undo;
		}
		if ((!mrg && cap < len) || nbuf > NET_RX_MAX_CHAINS) {
			ret = -EMSGSIZE;
			goto undo;
		}
		size_t k = vchain_iov_write(c->iov, c->nwrite, 0, pkt + done, len - done);
		st.head[nbuf - 1] = c->head;
		st.len[nbuf - 1] = (uint32_t)k;
		done += k;
	}
	/* num_buffers is known only now; the tap leaves those bytes unwritten */
	uint16_t nb = htole16((uint16_t)nbuf);
	vchain_iov_write(st.first.iov, st.first.nwrite,
	                 offsetof(struct virtio_net_hdr_v1, num_buffers), &nb, sizeof(nb));
	for (int i = 0; i < nbuf; i++)
		ops->push(q, st.head[i], st.len[i]);
	return 0;
undo:
	ops->unpop(q, nbuf);
	return ret;
}

/* ---- the device ---- */

#define VIRTIO_F_VERSION_1 32

uint64_t net_dev_features(const struct net_dev *nd)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_CSUM) |
	             BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
	             BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_UFO) |
	             BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
	             BIT(VIRTIO_NET_F_HOST_UFO) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
	             BIT(VIRTIO_NET_F_STATUS);
	if (nd->has_mac)
		f |= BIT(VIRTIO_NET_F_MAC);
	if (nd->mtu)
		f |= BIT(VIRTIO_NET_F_MTU);
	return f;
}

static void net_warn_drop(struct net_dev *nd, const char *what)
{
	/* the first few, then one in a thousand: a guest must not flood the log */
	uint64_t n = ++nd->logged_drops;
	if (n <= 10 || n % 1000 == 0)
		log_warn("net %s: dropped %s (%llu so far)", nd->name, what, (unsigned long long)n);
}

/* The next frame MMDS has for the guest, held as one read from the tap
 * would be (a plain header: its checksums are complete). */
static bool net_mmds_next(struct net_dev *nd)
{
	size_t len = nd->mmds ? mmds_stack_pop(nd->mmds, nd->rx_pkt + NET_HDR_LEN) : 0;
	if (!len)
		return false;
	memset(nd->rx_pkt, 0, NET_HDR_LEN);
	nd->rx_len = NET_HDR_LEN + len;
	nd->rx_pending = true;
	nd->rx_paid = false;
	return true;
}

/* A guest frame for the MMDS address goes to MMDS and never to the tap;
 * true when it was taken. One that needs segmenting or is larger than
 * MMDS's MSS allows is no request MMDS can take: dropped, counted. */
static bool net_mmds_detour(struct net_dev *nd, const struct virtio_net_hdr_v1 *hdr, const struct iovec *out,
                            int n, size_t flen)
{
	static __thread uint8_t f[MMDS_FRAME_MAX];
	if (!nd->mmds)
		return false;
	size_t len = flen < sizeof(f) ? flen : sizeof(f);
	vchain_iov_read(out + 1, n - 1, 0, f, len);
	if (!mmds_stack_claims(nd->mmds, f, len))
		return false;
	if (flen > sizeof(f) || hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		nd->mmds->stats.rx_oversized++;
	else
		mmds_stack_input(nd->mmds, f, len, hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	return true;
}

/* One frame from the tap into rx_pkt: 1 read (rx_pending), 0 nothing
 * usable yet (a malformed frame dropped, or EINTR: read again), -1 the
 * tap is empty or failed. */
static int net_rx_read_tap(struct net_dev *nd)
{
	ssize_t n = read(nd->tap_fd, nd->rx_pkt, NET_MAX_PKT);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			nd->stats.rx_dropped++;
			log_warn("net %s: tap read: %s", nd->name, strerror(errno));
		}
		nd->tap_ready = false; /* the next frame brings an edge */
		return -1;
	}
	if (net_rx_len_check((size_t)n) < 0) {
		nd->stats.rx_malformed++;
		net_warn_drop(nd, "malformed frame from the tap");
		return 0;
	}
	nd->rx_len = (size_t)n;
	nd->rx_pending = true;
	nd->rx_paid = false;
	return 1;
}

/* Read the tap into guest buffers until it is empty, the guest has no
 * buffers (then hold the packet and stop reading: back-pressure), the
 * limiter says stop, or the budget is spent. */
static void net_rx_process(struct net_dev *nd)
{
	bool mrg = nd->features & BIT(VIRTIO_NET_F_MRG_RXBUF);
	bool delivered = false;
	if (nd->rx_broken)
		return;
	/* no budget: with an edge-triggered tap we must read to EAGAIN, and
	 * the guest's ring (at most 256 buffers) bounds the work anyway */
	for (;;) {
		if (!nd->rx_pending && !net_mmds_next(nd)) {
			int r = net_rx_read_tap(nd);
			if (r < 0)
				break;
			if (r == 0)
				continue;
		}
		if (!nd->rx_paid && !vchain_charge(&nd->rx_limit, 1, nd->rx_len - NET_HDR_LEN)) {
			nd->rx_throttled = true;
			break;
		}
		nd->rx_paid = true;
		int ret = net_rx_deliver(&nd->rxq, mrg, nd->rx_pkt, nd->rx_len);
		if (ret == -EAGAIN) {
			nd->stats.rx_no_buffers++;
			break;
		}
		nd->rx_pending = false;
		if (ret == 0) {
			nd->stats.rx_packets++;
			nd->stats.rx_bytes += nd->rx_len - NET_HDR_LEN;
			delivered = true;
			continue;
		}
		nd->stats.rx_dropped++;
		net_warn_drop(nd, ret == -EMSGSIZE ? "frame larger than the guest's buffer"
		                                   : "frame: receive queue broken");
		if (ret != -EMSGSIZE) {
			/* a buffer no packet can use, or a broken ring: stop
			 * receiving until the driver resets the device */
			nd->rx_broken = true;
			if (nd->rxq.ops->broken)
				nd->rxq.ops->broken(nd->rxq.q);
			break;
		}
	}
	if (delivered)
		nd->rxq.ops->publish(nd->rxq.q);
}

static void net_tap_event(void *opaque, uint32_t events)
{
	struct net_dev *nd = opaque;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* reported whatever we ask for: leave the loop or it spins */
		log_err("net %s: tap error, receive stopped", nd->name);
		loop_del(nd->loop, nd->tap_fd);
		nd->tap_dead = true;
		return;
	}
	if (nd->lock)
		nd->lock(nd->lock_ctx);
	nd->tap_ready = true;
	if (nd->active && !nd->rx_throttled)
		net_rx_process(nd);
	if (nd->unlock)
		nd->unlock(nd->lock_ctx);
}

static void net_tx_process(struct net_dev *nd)
{
	static __thread struct vchain c;
	static __thread struct iovec out[VCHAIN_MAX_IOV + 1];
	bool used = false, to_mmds = false;
	unsigned budget = VCHAIN_BUDGET;
	for (;;) {
		int r = vchain_pop_budget(&nd->txq, &c, &budget);
		if (r <= 0)
			break;
		struct virtio_net_hdr_v1 hdr;
		size_t flen = 0;
		int n = c.nwrite ? -EINVAL
		                 : net_tx_gather(c.iov, c.nread, nd->features, &hdr, out,
		                                 VCHAIN_MAX_IOV + 1, &flen);
		if (n >= 0 && !vchain_charge(&nd->tx_limit, 1, flen)) {
			nd->txq.ops->unpop(nd->txq.q, 1);
			nd->tx_throttled = true;
			break;
		}
		if (n < 0) {
			nd->stats.tx_malformed++;
			net_warn_drop(nd, "malformed frame from the guest");
		} else if (net_mmds_detour(nd, &hdr, out, n, flen)) {
			to_mmds = true;
		} else if (writev(nd->tap_fd, out, n) < 0) {
			/* the tap refused it (its own checks, or full): drop */
			nd->stats.tx_dropped++;
			net_warn_drop(nd, "frame the tap refused");
		} else {
			nd->stats.tx_packets++;
			nd->stats.tx_bytes += flen;
		}
		nd->txq.ops->push(nd->txq.q, c.head, 0);
		used = true;
	}
	if (used)
		nd->txq.ops->publish(nd->txq.q);
	/* MMDS's answers (and data an ACK let out) go to the guest now */
	if (to_mmds && nd->active && !nd->rx_throttled && mmds_stack_has_output(nd->mmds))
		net_rx_process(nd);
}

int net_dev_init(struct net_dev *nd, const struct net_config *cfg, int tap_fd,
                 struct loop *loop)
{
	int ret;
	memset(nd, 0, sizeof(*nd));
	nd->loop = loop;
	nd->tap_fd = -1;
	if (tap_fd >= 0) {
		ret = tap_setup_fd(tap_fd, NET_HDR_LEN);
		if (ret < 0)
			return ret;
		nd->tap_fd = tap_fd;
	} else {
		if (!cfg || !cfg->host_dev_name)
			return -EINVAL;
		ret = tap_open(cfg->host_dev_name, NET_HDR_LEN);
		if (ret < 0)
			return ret;
		nd->tap_fd = ret;
		nd->own_fd = true;
	}
	if (tap_get_name(nd->tap_fd, nd->name) < 0)
		snprintf(nd->name, sizeof(nd->name), "fd%d", nd->tap_fd);
	if (cfg && cfg->has_mac) {
		memcpy(nd->mac, cfg->guest_mac, 6);
		nd->has_mac = true;
	}
	if (cfg)
		nd->mtu = cfg->mtu;
	nd->rx_pkt = malloc(NET_MAX_PKT);
	if (!nd->rx_pkt) {
		ret = -ENOMEM;
		goto out;
	}
	/* once, edge-triggered (see tap_ready); frames before activation wait */
	nd->tap_ready = true;
	ret = loop_add(loop, nd->tap_fd, EPOLLIN | EPOLLET, net_tap_event, nd);
	if (ret < 0)
		goto out;
	return 0;
out:
	free(nd->rx_pkt);
	nd->rx_pkt = NULL;
	if (nd->own_fd)
		close(nd->tap_fd);
	nd->tap_fd = -1;
	return ret;
}

void net_dev_destroy(struct net_dev *nd)
{
	if (nd->tap_fd >= 0) {
		if (!nd->tap_dead)
			loop_del(nd->loop, nd->tap_fd);
		if (nd->own_fd)
			close(nd->tap_fd);
	}
	nd->tap_fd = -1;
	free(nd->rx_pkt);
	nd->rx_pkt = NULL;
	mmds_stack_free(nd->mmds);
	nd->mmds = NULL;
}

void net_dev_config_read(const struct net_dev *nd, uint64_t off, void *data, uint32_t len)
{
	/* virtio_net_config: mac, status, max_virtqueue_pairs (no multiqueue:
	 * 0), mtu */
	uint8_t cfg[12] = { 0 };
	memcpy(cfg, nd->mac, 6);
	uint16_t status = htole16(VIRTIO_NET_S_LINK_UP), mtu = htole16(nd->mtu);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 10, &mtu, 2);
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

int net_dev_activate(struct net_dev *nd, uint64_t acked, struct vchain_queue rxq,
                     struct vchain_queue txq)
{
	nd->features = acked & net_dev_features(nd);
	unsigned want = tap_offload_from_features(nd->features), got = 0;
	int ret = tap_set_offload(nd->tap_fd, want, &got);
	if (ret < 0 || got != want)
		/* without them the tap hands us plain frames: still correct */
		log_warn("net %s: tap offloads 0x%x of 0x%x: %s", nd->name, got, want,
		         ret < 0 ? strerror(-ret) : "partly refused");
	nd->rxq = rxq;
	nd->txq = txq;
	nd->active = true;
	nd->rx_pending = false;
	nd->rx_throttled = nd->tx_throttled = false;
	nd->rx_broken = false;
	nd->tap_ready = true; /* read on the guest's first RX notify */
	return 0;
}

void net_dev_reset(struct net_dev *nd)
{
	nd->active = false;
	nd->rx_pending = false;
	nd->rx_broken = false;
	nd->features = 0;
	tap_set_offload(nd->tap_fd, 0, NULL);
}

void net_dev_rx_notify(struct net_dev *nd)
{
	/* while nothing is held and the tap was read dry, epoll says when */
	if (nd->active && !nd->rx_throttled &&
	    (nd->rx_pending || nd->tap_ready || (nd->mmds && mmds_stack_has_output(nd->mmds))))
		net_rx_process(nd);
}

void net_dev_tx_notify(struct net_dev *nd)
{
	if (nd->active && !nd->tx_throttled)
		net_tx_process(nd);
}

void net_dev_rx_resume(struct net_dev *nd)
{
	nd->rx_throttled = false;
	if (nd->active)
		net_rx_process(nd);
}

void net_dev_tx_resume(struct net_dev *nd)
{
	nd->tx_throttled = false;
	net_dev_tx_notify(nd);
}

/* ---- on the virtio-mmio transport ---- */

static uint64_t net_features(void *dev)
{
	struct net *n = dev;
	return net_dev_features(&n->dev) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	       VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
}

static void net_config_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct net *n = dev;
	net_dev_config_read(&n->dev, off, data, len);
}

static int net_activate(void *dev)
{
	struct net *n = dev;
	return net_dev_activate(&n->dev, n->t.driver_features,
	                        vchain_vq_init(&n->rxa, &n->t, NET_QUEUE_RX),
	                        vchain_vq_init(&n->txa, &n->t, NET_QUEUE_TX));
}

static void net_queue_notify(void *dev, unsigned q)
{
	struct net *n = dev;
	if (q == NET_QUEUE_RX)
		net_dev_rx_notify(&n->dev);
	else if (q == NET_QUEUE_TX)
		net_dev_tx_notify(&n->dev);
}

static void net_reset(void *dev)
{
	struct net *n = dev;
	net_dev_reset(&n->dev);
}

static void net_identity(void *dev, char *buf, size_t len);

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.features = net_features,
	.config_read = net_config_read,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.identity = net_identity,
};

static void net_on_rx_timer(void *opaque, uint32_t events)
{
	struct net *n = opaque;
	(void)events;
	n->dev.lock(n->dev.lock_ctx);
	rate_limiter_on_timer(&n->rx_rl);
	net_dev_rx_resume(&n->dev);
	n->dev.unlock(n->dev.lock_ctx);
}

static void net_on_tx_timer(void *opaque, uint32_t events)
{
	struct net *n = opaque;
	(void)events;
	n->dev.lock(n->dev.lock_ctx);
	rate_limiter_on_timer(&n->tx_rl);
	net_dev_tx_resume(&n->dev);
	n->dev.unlock(n->dev.lock_ctx);
}

/* Both limiters exist (and their timerfds are on the loop) even without
 * limits, so a PATCH can add some. */
static int net_limiters_init(struct net *n, const struct net_config *cfg, struct loop *loop)
{
	static const struct rate_limiter_config none;
	int ret = rate_limiter_init(&n->rx_rl, cfg ? &cfg->rx_rate_limiter : &none);
	if (ret == 0)
		ret = rate_limiter_init(&n->tx_rl, cfg ? &cfg->tx_rate_limiter : &none);
	if (ret == 0)
		ret = loop_add(loop, rate_limiter_fd(&n->rx_rl), EPOLLIN, net_on_rx_timer, n);
	if (ret == 0)
		ret = loop_add(loop, rate_limiter_fd(&n->tx_rl), EPOLLIN, net_on_tx_timer, n);
	if (ret < 0)
		return ret;
	n->dev.rx_limit = (struct vchain_limit){ rate_limiter_consume_hook, &n->rx_rl };
	n->dev.tx_limit = (struct vchain_limit){ rate_limiter_consume_hook, &n->tx_rl };
	return 0;
}

static void net_limiters_destroy(struct net *n, struct loop *loop)
{
	struct rate_limiter *rls[2] = { &n->rx_rl, &n->tx_rl };
	for (int i = 0; i < 2; i++) {
		if (rate_limiter_fd(rls[i]) < 0)
			continue;
		if (loop)
			loop_del(loop, rate_limiter_fd(rls[i]));
		rate_limiter_destroy(rls[i]);
	}
}

void net_update_rate_limiters(struct net *n, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx)
{
	n->dev.lock(n->dev.lock_ctx);
	if (rx)
		rate_limiter_update(&n->rx_rl, rx);
	if (tx)
		rate_limiter_update(&n->tx_rl, tx);
	n->dev.unlock(n->dev.lock_ctx);
}

int net_create(struct net **out, const struct virtio_env *env, const struct net_config *cfg,
               int tap_fd, unsigned slot)
{
	struct net *n = calloc(1, sizeof(*n));
	int ret;
	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->rx_rl.timer_fd = n->tx_rl.timer_fd = -1;
	if (!env->loop) {
		ret = -EINVAL;
		goto out;
	}
	/* the device first: the transport asks for its features at init */
	ret = net_dev_init(&n->dev, cfg, tap_fd, env->loop);
	if (ret < 0) {
		log_err("net %s: %s", cfg && cfg->host_dev_name ? cfg->host_dev_name : "(fd)",
		        strerror(-ret));
		goto out;
	}
	n->dev.lock = vchain_vq_lock;
	n->dev.unlock = vchain_vq_unlock;
	n->dev.lock_ctx = &n->t;
	ret = net_limiters_init(n, cfg, env->loop);
	if (ret < 0) {
		net_limiters_destroy(n, env->loop);
		net_dev_destroy(&n->dev);
		goto out;
	}
	ret = virtio_mmio_init(&n->t, env, slot, &net_ops, n);
	if (ret < 0) {
		net_limiters_destroy(n, env->loop);
		net_dev_destroy(&n->dev);
		goto out;
	}
	log_info("net %s: virtio-net in slot %u%s", n->dev.name, slot,
	         n->dev.has_mac ? "" : " (guest picks its MAC)");
	*out = n;
	return 0;
out:
	free(n);
	return ret;
}

void net_destroy(struct net *n)
{
	if (!n)
		return;
	const struct net_stats *st = &n->dev.stats;
	log_info("net %s: rx %llu pkts %llu bytes (%llu dropped, %llu malformed, %llu waits), "
	         "tx %llu pkts %llu bytes (%llu dropped, %llu malformed)", n->dev.name,
	         (unsigned long long)st->rx_packets, (unsigned long long)st->rx_bytes,
	         (unsigned long long)st->rx_dropped, (unsigned long long)st->rx_malformed,
	         (unsigned long long)st->rx_no_buffers, (unsigned long long)st->tx_packets,
	         (unsigned long long)st->tx_bytes, (unsigned long long)st->tx_dropped,
	         (unsigned long long)st->tx_malformed);
	net_limiters_destroy(n, n->dev.loop);
	virtio_mmio_destroy(&n->t);
	net_dev_destroy(&n->dev);
	free(n);
}

int net_parse_cli(const char *arg, struct net_config *out, const char **what)
{
	char *dup = strdup(arg ? arg : "");
	int ret = -EINVAL, rl;
	char *save = NULL;
	*what = NULL;
	if (!dup)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		if (!val) {
			*what = "--net: expected key=value";
			goto out;
		}
		*val++ = '\0';
		if (!strcmp(kv, "tap") && !out->host_dev_name) {
			if (!*val || strlen(val) >= 16) {
				*what = "--net: tap name must be 1..15 characters";
				goto out;
			}
			out->host_dev_name = strdup(val);
		} else if (!strcmp(kv, "mac") && !out->has_mac) {
			if (net_parse_mac(val, out->guest_mac) < 0) {
				*what = "--net: mac must be a unicast aa:bb:cc:dd:ee:ff";
				goto out;
			}
			out->has_mac = true;
		} else if (!strcmp(kv, "id") && !out->iface_id) {
			out->iface_id = strdup(val);
		} else if ((!strncmp(kv, "rx_", 3) || !strncmp(kv, "tx_", 3)) &&
		           (rl = rate_limiter_parse_cli_key(kv + 3, val, kv[0] == 'r' ? &out->rx_rate_limiter
		                                                                      : &out->tx_rate_limiter)) != 0) {
			if (rl < 0) {
				*what = "--net: rx_bw/tx_bw must be BYTES/s (K, M, G), rx_ops/tx_ops N/s, more than 0";
				goto out;
			}
		} else {
			*what = "--net: unknown or repeated key (tap, mac, id, rx_bw, rx_ops, tx_bw, tx_ops)";
			goto out;
		}
	}
	if (!out->host_dev_name) {
		*what = "--net: tap=NAME is required";
		goto out;
	}
	if (!out->iface_id)
		out->iface_id = strdup("eth0");
	ret = (out->host_dev_name && out->iface_id) ? 0 : -ENOMEM;
out:
	if (ret < 0) {
		free(out->host_dev_name);
		free(out->iface_id);
		memset(out, 0, sizeof(*out));
	}
	free(dup);
	return ret;
}

/* ---- snapshot: transport + queues, identity = the guest-visible MAC ----
 * The tap is not part of the identity: a clone gets another one
 * (network_overrides). A packet held for want of RX buffers is dropped,
 * as a network may. */

static void net_identity(void *dev, char *buf, size_t len)
{
	const struct net *n = dev;
	char mac[NET_MAC_STR_LEN];
	net_format_mac(n->dev.mac, mac);
	if (n->dev.has_mac)
		snprintf(buf, len, "net mac=%s", mac);
	else
		snprintf(buf, len, "net mac=none");
}

/* ---- the class vmm_attach uses ---- */

static int net_class_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	return net_create((struct net **)dev, env, cfg, -1, slot);
}

static void net_class_destroy(void *dev) { net_destroy(dev); }

const struct virtio_class net_class = {
	.name = "virtio-net",
	.create = net_class_create,
	.destroy = net_class_destroy,
	.transport_at = offsetof(struct net, t),
};

/* ---- husk run --net ---- */

static int net_cli_apply(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	const char *what = NULL;
	struct net_configs *nets = net_configs_in(cfg);
	if (!nets)
		return errmsg_set(err, errlen, -ENOMEM, "--net: out of memory");
	if (nets->nr >= NET_MAX_IFACES)
		return errmsg_set(err, errlen, -E2BIG, "--net: too many interfaces (at most %d)", NET_MAX_IFACES);
	if (net_parse_cli(arg, &nets->items[nets->nr], &what) < 0)
		return errmsg_set(err, errlen, -EINVAL, "%s", what ? what : "--net: out of memory");
	nets->nr++;
	return 0;
}

const struct cli_opt net_cli_opt = {
	"net", required_argument,
	"[--net tap=NAME[,mac=MAC][,rx_bw=RATE][,rx_ops=RATE][,tx_bw=RATE][,tx_ops=RATE]]...", net_cli_apply,
};
