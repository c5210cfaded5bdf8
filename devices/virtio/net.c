/* net: virtio-net frame logic and the device over a tap. */
#include "devices/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"

#define BIT(n) (1ULL << (n))

size_t net_iov_len(const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

size_t net_iov_write(const struct iovec *iov, int n, size_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
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

size_t net_iov_read(const struct iovec *iov, int n, size_t off, void *dst, size_t len)
{
	uint8_t *d = dst;
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
	size_t total = net_iov_len(chain, n);
	if (total < (size_t)NET_HDR_LEN)
		return -EINVAL;
	if (total > NET_MAX_PKT)
		return -EMSGSIZE;
	if (max_out < 1)
		return -EMSGSIZE;
	/* copy the header out once: the guest may change it behind us */
	net_iov_read(chain, n, 0, hdr, NET_HDR_LEN);
	*frame_len = total - NET_HDR_LEN;
	if (net_tx_hdr_check(hdr, *frame_len, features) < 0)
		return -EINVAL;
	hdr->num_buffers = 0; /* the tap ignores it; do not leak guest bytes */
	int k = 0;
	out[k++] = (struct iovec){ .iov_base = hdr, .iov_len = NET_HDR_LEN };
	size_t skip = NET_HDR_LEN;
	for (int i = 0; i < n; i++) {
		size_t l = chain[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (k == max_out)
			return -EMSGSIZE;
		out[k++] = (struct iovec){ .iov_base = (uint8_t *)chain[i].iov_base + skip,
		                           .iov_len = l - skip };
		skip = 0;
	}
	return k;
}

int net_rx_pkt_check(const uint8_t *pkt, size_t len)
{
	(void)pkt;
	if (len < (size_t)NET_HDR_LEN + NET_ETH_HLEN || len > NET_MAX_PKT)
		return -EINVAL;
	return 0;
}

/* With MRG_RXBUF a 64 KiB packet in the smallest legal buffers (a header's
 * worth each would be absurd; Linux posts at least 1.5 KiB) stays well
 * under this many chains; past it the packet is dropped. */
#define NET_RX_MAX_CHAINS 256

struct net_rx_state {
	struct net_chain first, cur; /* 4 KiB each: kept off the stack */
	uint16_t head[NET_RX_MAX_CHAINS];
	uint32_t len[NET_RX_MAX_CHAINS];
};

int net_rx_deliver(const struct net_rx_ops *ops, void *q, bool mrg,
                   uint8_t *pkt, size_t len)
{
	static __thread struct net_rx_state st;
	size_t done = 0;
	int nbuf = 0;
	int ret;

	if (len < (size_t)NET_HDR_LEN)
		return -EINVAL;
	while (done < len) {
		struct net_chain *c = nbuf == 0 ? &st.first : &st.cur;
		ret = ops->pop(q, c);
		if (ret < 0)
			goto undo;
		if (ret == 0) {
			ret = -EAGAIN;
			goto undo;
		}
		nbuf++;
		size_t cap = net_iov_len(c->iov, c->niov);
		/* every chain must at least hold a header (virtio 1.1 5.1.6.3.1) */
		if (cap < (size_t)NET_HDR_LEN || (!mrg && cap < len) || nbuf > NET_RX_MAX_CHAINS) {
			ret = -EMSGSIZE;
			goto undo;
		}
		size_t k = net_iov_write(c->iov, c->niov, 0, pkt + done, len - done);
		st.head[nbuf - 1] = c->head;
		st.len[nbuf - 1] = (uint32_t)k;
		done += k;
	}
	/* num_buffers is known only now; the tap leaves those bytes unwritten */
	uint16_t nb = htole16((uint16_t)nbuf);
	net_iov_write(st.first.iov, st.first.niov,
	              offsetof(struct virtio_net_hdr_v1, num_buffers), &nb, sizeof(nb));
	for (int i = 0; i < nbuf; i++)
		ops->push(q, st.head[i], st.len[i]);
	return 0;
undo:
	ops->unpop(q, nbuf);
	return ret;
}

int net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (!s || strlen(s) != 17)
		return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
	           &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	/* a multicast source address would be dropped by every switch */
	if (mac[0] & 1)
		return -EINVAL;
	return 0;
}

int net_parse_cli(const char *arg, struct net_config *out, const char **what)
{
	char *dup = strdup(arg ? arg : "");
	int ret = -EINVAL;
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
		} else {
			*what = "--net: unknown or repeated key (tap, mac, id)";
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
