/* frame: MMDS's header parsing and building (see frame.h). */
#include "devices/mmds/frame.h"

#include <errno.h>
#include <string.h>

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

uint16_t frame_csum(const uint8_t *buf, size_t len, uint32_t sum)
{
	uint64_t s = sum;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += get16(buf + i);
	if (len & 1)
		s += (uint32_t)buf[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The TCP pseudo-header's sum (RFC 793), not yet folded. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, size_t tcp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + (uint32_t)tcp_len;
}

enum frame_kind frame_classify(const uint8_t *f, size_t len, uint32_t ip)
{
	if (len < ETH_HLEN_ + 20)
		return FRAME_OTHER;
	uint16_t type = get16(f + 12);
	if (type == ETHERTYPE_ARP && len >= ARP_FRAME_LEN && get32(f + ETH_HLEN_ + 24) == ip)
		return FRAME_ARP_FOR;
	if (type == ETHERTYPE_IPV4 && get32(f + ETH_HLEN_ + 16) == ip)
		return FRAME_IPV4_TO;
	return FRAME_OTHER;
}

int frame_arp_reply(const uint8_t *f, size_t len, uint32_t ip, const uint8_t mac[6], uint8_t *out)
{
	const uint8_t *a = f + ETH_HLEN_;
	/* Ethernet/IPv4 (htype 1, ptype 0x0800, 6 and 4 byte addresses), a
	 * request (1) for ip from a unicast sender */
	if (len < ARP_FRAME_LEN || get16(f + 12) != ETHERTYPE_ARP || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 ||
	    a[4] != 6 || a[5] != 4 || get16(a + 6) != 1 || get32(a + 24) != ip || (a[8] & 1))
		return -EINVAL;
	memcpy(out, a + 8, 6); /* to the sender */
	memcpy(out + 6, mac, 6);
	put16(out + 12, ETHERTYPE_ARP);
	uint8_t *r = out + ETH_HLEN_;
	memcpy(r, a, 6); /* htype, ptype, hlen, plen */
	put16(r + 6, 2);
	memcpy(r + 8, mac, 6);
	put32(r + 14, ip);
	memcpy(r + 18, a + 8, 10); /* the sender's MAC and IP become the target */
	return 0;
}

/* The IPv4 header: version, lengths, checksum, no fragments, TCP. The
 * TCP part's offset and length into *off, *tcp_len. */
static int ipv4_check(const uint8_t *f, size_t len, struct tcp_seg *s, size_t *off, size_t *tcp_len)
{
	const uint8_t *ip = f + ETH_HLEN_;
	if (len < ETH_HLEN_ + IPV4_HLEN || get16(f + 12) != ETHERTYPE_IPV4 || ip[0] >> 4 != 4)
		return -EINVAL;
	size_t ihl = (size_t)(ip[0] & 15) * 4, total = get16(ip + 2);
	/* the frame may be padded past the packet, never cut short of it */
	if (ihl < IPV4_HLEN || total < ihl + TCP_HLEN || total > len - ETH_HLEN_)
		return -EINVAL;
	if (frame_csum(ip, ihl, 0) != 0)
		return -EBADMSG;
	if (get16(ip + 6) & 0x3fff) /* more fragments, or an offset */
		return -EOPNOTSUPP;
	if (ip[9] != 6)
		return -EOPNOTSUPP;
	s->src_ip = get32(ip + 12);
	s->dst_ip = get32(ip + 16);
	/* a reply to these would go nowhere or everywhere */
	if (s->src_ip == 0 || s->src_ip == 0xffffffff || (s->src_ip >> 28) == 0xe)
		return -EINVAL;
	*off = ETH_HLEN_ + ihl;
	*tcp_len = total - ihl;
	return 0;
}

int frame_tcp_parse(const uint8_t *f, size_t len, bool csum_partial, struct tcp_seg *s)
{
	size_t off, tlen;
	memset(s, 0, sizeof(*s));
	int ret = ipv4_check(f, len, s, &off, &tlen);
	if (ret < 0)
		return ret;
	const uint8_t *t = f + off;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > tlen)
		return -EINVAL;
	if (!csum_partial && frame_csum(t, tlen, pseudo_sum(s->src_ip, s->dst_ip, tlen)) != 0)
		return -EBADMSG;
	memcpy(s->src_mac, f + 6, 6);
	if (s->src_mac[0] & 1) /* a multicast sender cannot be answered */
		return -EINVAL;
	s->src_port = get16(t);
	s->dst_port = get16(t + 2);
	s->seq = get32(t + 4);
	s->ack = get32(t + 8);
	s->flags = t[13] & 0x3f;
	s->win = get16(t + 14);
	s->data = t + doff;
	s->len = tlen - doff;
	return 0;
}

size_t frame_tcp_build(const struct tcp_seg *s, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                       uint16_t ip_id, uint8_t *out)
{
	size_t opt = (s->flags & TCP_SYN) ? 4 : 0, tlen = TCP_HLEN + opt + s->len;
	uint8_t *ip = out + ETH_HLEN_, *t = ip + IPV4_HLEN;
	memcpy(out, dst_mac, 6);
	memcpy(out + 6, src_mac, 6);
	put16(out + 12, ETHERTYPE_IPV4);
	memset(ip, 0, IPV4_HLEN + TCP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IPV4_HLEN + tlen));
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, s->src_ip);
	put32(ip + 16, s->dst_ip);
	put16(ip + 10, frame_csum(ip, IPV4_HLEN, 0));
	put16(t, s->src_port);
	put16(t + 2, s->dst_port);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(((TCP_HLEN + opt) / 4) << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (opt) {
		t[20] = 2; /* MSS */
		t[21] = 4;
		put16(t + 22, MMDS_MSS);
	}
	if (s->len)
		memcpy(t + TCP_HLEN + opt, s->data, s->len);
	put16(t + 16, frame_csum(t, tlen, pseudo_sum(s->src_ip, s->dst_ip, tlen)));
	return ETH_HLEN_ + IPV4_HLEN + tlen;
}
