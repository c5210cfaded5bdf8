/* net_guest: a test guest for husk's virtio-net and virtio-vsock.
 *
 * It finds its virtio-mmio devices, brings them up by the virtio 1.x
 * rules (status handshake, feature negotiation, split queues) and then
 * polls (interrupts off, no IDT needed):
 *   - net: answers ARP requests and ICMP echo requests for its address;
 *   - vsock: accepts connections on its echo port and echoes every byte;
 *     with vsock_hello=P on the cmdline it also connects to host port P
 *     and sends "hello from guest\n", then echoes on that connection too.
 * Boots by PVH (own page tables, so it runs on husk and QEMU microvm
 * alike); devices from the cmdline's virtio_mmio.device= entries.
 *   - mmds=PATH: before "ready", a minimal TCP/HTTP client asks the
 *     metadata service at 169.254.169.254 (ARP, then one connection a
 *     request) for PATH and prints the answer; with mmds_token it first
 *     asks without a token, then for a V2 token, then with it.
 * Cmdline: ip=A.B.C.D (default 172.16.0.2), vsock_port=N
 * (default 1234), vsock_hello=P. It reports on COM1: "net-guest: ..."
 * lines the integration tests wait for. Loops stay short: this code is
 * emulated at a few million instructions per second on a PVM host. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../poll_lib.h"

#define MMIO_BASE 0xd0001000ULL
#define MMIO_STRIDE 0x1000
#define MMIO_SLOTS 8

/* ---- more serial and cmdline than poll_lib.h has ---- */

static void puthex8(uint8_t v)
{
	const char *d = "0123456789abcdef";
	putc_(d[v >> 4]);
	putc_(d[v & 15]);
}

static void cmd_ip(uint8_t ip[4])
{
	const char *p = cmd_find("ip=");
	uint8_t v[4] = { 172, 16, 0, 2 };
	if (p) {
		for (int i = 0; i < 4; i++) {
			unsigned n = 0;
			while (*p >= '0' && *p <= '9')
				n = n * 10 + (unsigned)(*p++ - '0');
			v[i] = (uint8_t)n;
			if (*p == '.')
				p++;
		}
	}
	memcpy(ip, v, 4);
}

/* ---- virtio-mmio ---- */

#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEV_FEATURES 0x010
#define VM_DEV_FEATURES_SEL 0x014
#define VM_DRV_FEATURES 0x020
#define VM_DRV_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LO 0x080
#define VM_QUEUE_DESC_HI 0x084
#define VM_QUEUE_AVAIL_LO 0x090
#define VM_QUEUE_AVAIL_HI 0x094
#define VM_QUEUE_USED_LO 0x0a0
#define VM_QUEUE_USED_HI 0x0a4
#define VM_CONFIG 0x100

#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8

#define F_VERSION_1 32
#define NET_F_MTU 3
#define NET_F_MAC 5
#define NET_F_MRG_RXBUF 15
#define NET_F_STATUS 16

static uint32_t rd32(uint64_t base, uint32_t off)
{
	return *(volatile uint32_t *)(base + off);
}

static void wr32(uint64_t base, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(base + off) = v;
}

static uint8_t rd8(uint64_t base, uint32_t off)
{
	return *(volatile uint8_t *)(base + off);
}

#define QN 16 /* entries per queue */

struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vavail { uint16_t flags, idx, ring[QN], used_event; };
struct vused_elem { uint32_t id, len; };
struct vused { uint16_t flags, idx; struct vused_elem ring[QN]; uint16_t avail_event; };

#define VD_NEXT 1
#define VD_WRITE 2

struct vq {
	struct vdesc desc[QN] __attribute__((aligned(4096)));
	struct vavail avail __attribute__((aligned(64)));
	struct vused used __attribute__((aligned(4096)));
	uint16_t last_used;
	uint64_t base;
	uint16_t index;
};

static void vq_setup(struct vq *q, uint64_t base, uint16_t index)
{
	q->base = base;
	q->index = index;
	q->last_used = 0;
	q->avail.flags = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT: we poll */
	wr32(base, VM_QUEUE_SEL, index);
	uint32_t max = rd32(base, VM_QUEUE_NUM_MAX);
	if (max < QN) {
		puts_("net-guest: queue too small\n");
		return;
	}
	wr32(base, VM_QUEUE_NUM, QN);
	uint64_t d = (uint64_t)q->desc, a = (uint64_t)&q->avail, u = (uint64_t)&q->used;
	wr32(base, VM_QUEUE_DESC_LO, (uint32_t)d);
	wr32(base, VM_QUEUE_DESC_HI, (uint32_t)(d >> 32));
	wr32(base, VM_QUEUE_AVAIL_LO, (uint32_t)a);
	wr32(base, VM_QUEUE_AVAIL_HI, (uint32_t)(a >> 32));
	wr32(base, VM_QUEUE_USED_LO, (uint32_t)u);
	wr32(base, VM_QUEUE_USED_HI, (uint32_t)(u >> 32));
	wr32(base, VM_QUEUE_READY, 1);
}

static void vq_give(struct vq *q, uint16_t id)
{
	q->avail.ring[q->avail.idx % QN] = id;
	mb();
	q->avail.idx++;
	mb();
}

static void vq_notify(struct vq *q) { wr32(q->base, VM_QUEUE_NOTIFY, q->index); }

/* next used element, or false */
static bool vq_used(struct vq *q, struct vused_elem *e)
{
	mb();
	if (*(volatile uint16_t *)&q->used.idx == q->last_used)
		return false;
	mb();
	*e = q->used.ring[q->last_used % QN];
	q->last_used++;
	return true;
}

/* Status handshake up to FEATURES_OK; returns false if the device refused. */
static bool vdev_begin(uint64_t base, uint64_t want, uint64_t *got)
{
	wr32(base, VM_STATUS, 0);
	wr32(base, VM_STATUS, ST_ACK);
	wr32(base, VM_STATUS, ST_ACK | ST_DRIVER);
	wr32(base, VM_DEV_FEATURES_SEL, 0);
	uint64_t f = rd32(base, VM_DEV_FEATURES);
	wr32(base, VM_DEV_FEATURES_SEL, 1);
	f |= (uint64_t)rd32(base, VM_DEV_FEATURES) << 32;
	f &= want;
	*got = f;
	wr32(base, VM_DRV_FEATURES_SEL, 0);
	wr32(base, VM_DRV_FEATURES, (uint32_t)f);
	wr32(base, VM_DRV_FEATURES_SEL, 1);
	wr32(base, VM_DRV_FEATURES, (uint32_t)(f >> 32));
	wr32(base, VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	return (rd32(base, VM_STATUS) & ST_FEATURES_OK) && (f >> F_VERSION_1 & 1);
}

/* ---- net ---- */

#define NET_HDR 12
#define RXBUF 2048

static struct vq net_rx, net_tx;
static uint8_t net_rxbuf[QN][RXBUF] __attribute__((aligned(64)));
static uint8_t net_txbuf[QN][RXBUF] __attribute__((aligned(64)));
static uint16_t net_tx_next; /* avail count; a slot is free once used */
static uint16_t net_tx_done;
static uint8_t my_mac[6], my_ip[4];
static uint64_t net_dev;
static uint64_t arp_replies, ping_replies;

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void net_reclaim(void)
{
	struct vused_elem e;
	while (vq_used(&net_tx, &e))
		net_tx_done++;
}

static uint8_t *net_tx_slot(uint16_t *slot)
{
	while ((uint16_t)(net_tx_next - net_tx_done) >= QN)
		net_reclaim();
	*slot = net_tx_next % QN;
	return net_txbuf[*slot];
}

static void net_send(uint16_t slot, size_t frame_len)
{
	memset(net_txbuf[slot], 0, NET_HDR);
	net_tx.desc[slot] = (struct vdesc){ (uint64_t)net_txbuf[slot],
	                                    (uint32_t)(NET_HDR + frame_len), 0, 0 };
	vq_give(&net_tx, slot);
	net_tx_next++;
	vq_notify(&net_tx);
}

static void net_arp(const uint8_t *f, size_t len)
{
	const uint8_t *a = f + 14;
	if (len < 14 + 28 || be16(a) != 1 || be16(a + 2) != 0x0800 || be16(a + 6) != 1 ||
	    !memeq(a + 24, my_ip, 4))
		return;
	uint16_t slot;
	uint8_t *o = net_tx_slot(&slot) + NET_HDR;
	memcpy(o, f + 6, 6);        /* to the asker */
	memcpy(o + 6, my_mac, 6);
	put_be16(o + 12, 0x0806);
	uint8_t *r = o + 14;
	memcpy(r, a, 6);            /* htype, ptype, hlen, plen */
	put_be16(r + 6, 2);          /* reply */
	memcpy(r + 8, my_mac, 6);
	memcpy(r + 14, my_ip, 4);
	memcpy(r + 18, a + 8, 10);  /* sha + spa of the request */
	net_send(slot, 14 + 28);
	arp_replies++;
}

static void net_udp(const uint8_t *f, const uint8_t *ip, size_t ihl, size_t tot);

static void net_ipv4(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	if (len < 14 + 20 || (ip[0] >> 4) != 4)
		return;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = be16(ip + 2);
	if (ihl < 20 || tot < ihl + 8 || 14 + tot > len || tot > RXBUF - NET_HDR - 14 ||
	    !memeq(ip + 16, my_ip, 4))
		return;
	if (ip[9] == 17) {
		net_udp(f, ip, ihl, tot);
		return;
	}
	if (ip[9] != 1 || ip[ihl] != 8)
		return;
	uint16_t slot;
	uint8_t *o = net_tx_slot(&slot) + NET_HDR;
	memcpy(o, f + 6, 6);
	memcpy(o + 6, my_mac, 6);
	put_be16(o + 12, 0x0800);
	uint8_t *r = o + 14;
	memcpy(r, ip, tot);
	memcpy(r + 12, ip + 16, 4); /* swap addresses */
	memcpy(r + 16, ip + 12, 4);
	r[8] = 64;
	r[10] = r[11] = 0;
	put_be16(r + 10, csum(r, ihl));
	uint8_t *icmp = r + ihl;
	icmp[0] = 0; /* echo reply */
	icmp[2] = icmp[3] = 0;
	put_be16(icmp + 2, csum(icmp, tot - ihl));
	net_send(slot, 14 + tot);
	ping_replies++;
}

/* ---- UDP: a discard sink on port 9 and a control port 7 for the
 * benchmark: "blast N LEN" sends N UDP datagrams of LEN bytes back to the
 * asker as fast as the ring allows; "count" answers "rx <datagrams>". */

static uint64_t udp_sink_pkts;

static size_t udp_build(uint8_t *o, const uint8_t *f, const uint8_t *ip, const uint8_t *udp,
                        size_t payload)
{
	memcpy(o, f + 6, 6);
	memcpy(o + 6, my_mac, 6);
	put_be16(o + 12, 0x0800);
	uint8_t *r = o + 14;
	memset(r, 0, 28);
	r[0] = 0x45;
	put_be16(r + 2, (uint16_t)(28 + payload));
	r[8] = 64;
	r[9] = 17;
	memcpy(r + 12, my_ip, 4);
	memcpy(r + 16, ip + 12, 4);
	put_be16(r + 10, csum(r, 20));
	memcpy(r + 20, udp + 2, 2);      /* from the port it came to */
	memcpy(r + 22, udp, 2);          /* to the port it came from */
	put_be16(r + 24, (uint16_t)(8 + payload));
	/* UDP checksum 0: none (legal for IPv4) */
	return 14 + 28 + payload;
}

static uint32_t parse_u32(const uint8_t **p, const uint8_t *end)
{
	uint32_t v = 0;
	while (*p < end && **p == ' ')
		(*p)++;
	while (*p < end && **p >= '0' && **p <= '9')
		v = v * 10 + (uint32_t)(*(*p)++ - '0');
	return v;
}

static void net_blast(const uint8_t *f, const uint8_t *ip, const uint8_t *udp, uint32_t n,
                      uint32_t len)
{
	if (len < 1 || len > 1472)
		len = 1472;
	/* one frame, built once; every descriptor points at it */
	uint16_t slot;
	uint8_t *b = net_tx_slot(&slot);
	memset(b, 0, NET_HDR);
	size_t fl = udp_build(b + NET_HDR, f, ip, udp, len);
	uint64_t addr = (uint64_t)b;
	uint32_t dl = (uint32_t)(NET_HDR + fl);
	for (uint32_t i = 0; i < n; i++) {
		while ((uint16_t)(net_tx_next - net_tx_done) >= QN)
			net_reclaim();
		uint16_t s2 = net_tx_next % QN;
		net_tx.desc[s2] = (struct vdesc){ addr, dl, 0, 0 };
		net_tx.avail.ring[net_tx.avail.idx % QN] = s2;
		net_tx.avail.idx++;
		net_tx_next++;
		if ((uint16_t)(net_tx_next - net_tx_done) == QN || i + 1 == n) {
			mb();
			vq_notify(&net_tx);
		}
	}
}

static void net_udp(const uint8_t *f, const uint8_t *ip, size_t ihl, size_t tot)
{
	const uint8_t *udp = ip + ihl;
	uint16_t dport = be16(udp + 2);
	if (dport == 9) {
		udp_sink_pkts++;
		return;
	}
	if (dport != 7)
		return;
	const uint8_t *p = udp + 8, *end = ip + tot;
	if (end - p >= 5 && memeq(p, "blast", 5)) {
		p += 5;
		uint32_t n = parse_u32(&p, end);
		uint32_t len = parse_u32(&p, end);
		net_blast(f, ip, udp, n, len);
	} else if (end - p >= 5 && memeq(p, "count", 5)) {
		uint16_t slot;
		uint8_t *b = net_tx_slot(&slot);
		char msg[32] = "rx ";
		int k = 3;
		char d[24];
		int nd = 0;
		uint64_t v = udp_sink_pkts;
		do {
			d[nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (nd)
			msg[k++] = d[--nd];
		size_t fl = udp_build(b + NET_HDR, f, ip, udp, (size_t)k);
		memcpy(b + NET_HDR + 14 + 28, msg, (size_t)k);
		net_send(slot, fl);
	}
}

static bool mmds_rx(const uint8_t *f, size_t len);
static bool mmds_active;

static void net_poll(void)
{
	struct vused_elem e;
	while (vq_used(&net_rx, &e)) {
		uint16_t id = (uint16_t)e.id;
		if (id < QN && e.len > NET_HDR && e.len <= RXBUF) {
			const uint8_t *f = net_rxbuf[id] + NET_HDR;
			size_t len = e.len - NET_HDR;
			if (mmds_active && mmds_rx(f, len))
				;
			else if (len >= 14 && be16(f + 12) == 0x0806)
				net_arp(f, len);
			else if (len >= 14 && be16(f + 12) == 0x0800)
				net_ipv4(f, len);
		}
		if (id < QN) {
			vq_give(&net_rx, id);
			vq_notify(&net_rx);
		}
	}
	net_reclaim();
}

static bool net_init(uint64_t base)
{
	uint64_t f;
	uint64_t want = 1ULL << F_VERSION_1 | 1ULL << NET_F_MAC | 1ULL << NET_F_MRG_RXBUF |
	                1ULL << NET_F_STATUS | 1ULL << NET_F_MTU;
	if (!vdev_begin(base, want, &f))
		return false;
	for (int i = 0; i < 6; i++)
		my_mac[i] = (f >> NET_F_MAC & 1) ? rd8(base, VM_CONFIG + i) : (uint8_t)(i == 0 ? 2 : i);
	vq_setup(&net_rx, base, 0);
	vq_setup(&net_tx, base, 1);
	for (uint16_t i = 0; i < QN; i++) {
		net_rx.desc[i] = (struct vdesc){ (uint64_t)net_rxbuf[i], RXBUF, VD_WRITE, 0 };
		vq_give(&net_rx, i);
	}
	wr32(base, VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vq_notify(&net_rx);
	net_dev = base;
	puts_("net-guest: net up mac=");
	for (int i = 0; i < 6; i++) {
		puthex8(my_mac[i]);
		if (i < 5)
			putc_(':');
	}
	puts_(" ip=");
	for (int i = 0; i < 4; i++) {
		putu(my_ip[i]);
		if (i < 3)
			putc_('.');
	}
	puts_(" mrg=");
	putu(f >> NET_F_MRG_RXBUF & 1);
	puts_(" link=");
	putu((f >> NET_F_STATUS & 1) ? (rd8(base, VM_CONFIG + 6) & 1) : 1);
	if (f >> NET_F_MTU & 1) {
		puts_(" mtu=");
		putu((uint64_t)rd8(base, VM_CONFIG + 10) | (uint64_t)rd8(base, VM_CONFIG + 11) << 8);
	}
	putc_('\n');
	return true;
}

/* ---- vsock ---- */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };

#define VS_BUF 4096
#define VS_ALLOC (64 * 1024)
#define VS_CONNS 8

struct vconn {
	bool used, established;
	uint32_t local, peer;
	uint32_t fwd_cnt, tx_cnt, peer_alloc, peer_fwd;
	bool hello;
};

static struct vq vs_rx, vs_tx, vs_ev;
static uint8_t vs_rxbuf[QN][sizeof(struct vsock_hdr) + VS_BUF] __attribute__((aligned(64)));
static uint8_t vs_txbuf[QN][sizeof(struct vsock_hdr) + VS_BUF] __attribute__((aligned(64)));
static uint8_t vs_evbuf[QN][8];
static uint16_t vs_tx_next, vs_tx_done;
static uint64_t my_cid;
static uint32_t echo_port;
static struct vconn conns[VS_CONNS];
static uint64_t vs_echoed;

static void vs_reclaim(void)
{
	struct vused_elem e;
	while (vq_used(&vs_tx, &e))
		vs_tx_done++;
}

static void vs_send(struct vconn *c, uint32_t local, uint32_t peer, uint16_t op,
                    uint32_t flags, const uint8_t *data, uint32_t len)
{
	while ((uint16_t)(vs_tx_next - vs_tx_done) >= QN)
		vs_reclaim();
	uint16_t slot = vs_tx_next % QN;
	struct vsock_hdr *h = (struct vsock_hdr *)vs_txbuf[slot];
	*h = (struct vsock_hdr){ .src_cid = my_cid, .dst_cid = 2, .src_port = local,
	                         .dst_port = peer, .len = len, .type = 1, .op = op,
	                         .flags = flags, .buf_alloc = VS_ALLOC,
	                         .fwd_cnt = c ? c->fwd_cnt : 0 };
	if (len)
		memcpy(h + 1, data, len);
	if (c)
		c->tx_cnt += len;
	vs_tx.desc[slot] = (struct vdesc){ (uint64_t)h, (uint32_t)(sizeof(*h) + len), 0, 0 };
	vq_give(&vs_tx, slot);
	vs_tx_next++;
	vq_notify(&vs_tx);
}

static struct vconn *vs_find(uint32_t local, uint32_t peer)
{
	for (int i = 0; i < VS_CONNS; i++)
		if (conns[i].used && conns[i].local == local && conns[i].peer == peer)
			return &conns[i];
	return NULL;
}

static struct vconn *vs_new(uint32_t local, uint32_t peer)
{
	for (int i = 0; i < VS_CONNS; i++)
		if (!conns[i].used) {
			conns[i] = (struct vconn){ .used = true, .local = local, .peer = peer };
			return &conns[i];
		}
	return NULL;
}

static const char hello[] = "hello from guest\n";

static void vs_packet(const struct vsock_hdr *h, const uint8_t *data, uint32_t avail)
{
	if (h->dst_cid != my_cid || h->src_cid != 2 || h->type != 1)
		return;
	struct vconn *c = vs_find(h->dst_port, h->src_port);
	if (c) {
		c->peer_alloc = h->buf_alloc;
		c->peer_fwd = h->fwd_cnt;
	}
	switch (h->op) {
	case OP_REQUEST:
		if (c || h->dst_port != echo_port || !(c = vs_new(h->dst_port, h->src_port))) {
			vs_send(NULL, h->dst_port, h->src_port, OP_RST, 0, NULL, 0);
			return;
		}
		c->peer_alloc = h->buf_alloc;
		c->peer_fwd = h->fwd_cnt;
		c->established = true;
		vs_send(c, c->local, c->peer, OP_RESPONSE, 0, NULL, 0);
		puts_("net-guest: vsock accepted port ");
		putu(c->local);
		putc_('\n');
		return;
	case OP_RESPONSE:
		if (c && !c->established && c->hello) {
			c->established = true;
			vs_send(c, c->local, c->peer, OP_RW, 0, (const uint8_t *)hello,
			        sizeof(hello) - 1);
			puts_("net-guest: vsock hello sent\n");
		}
		return;
	case OP_RW: {
		if (!c || !c->established || h->len > avail)
			return;
		c->fwd_cnt += h->len; /* consumed as soon as echoed */
		uint32_t room = c->peer_alloc - (c->tx_cnt - c->peer_fwd);
		uint32_t n = h->len < room ? h->len : room;
		vs_send(c, c->local, c->peer, OP_RW, 0, data, n);
		vs_echoed += n;
		return;
	}
	case OP_CREDIT_REQUEST:
		if (c)
			vs_send(c, c->local, c->peer, OP_CREDIT_UPDATE, 0, NULL, 0);
		return;
	case OP_SHUTDOWN:
		if (c) {
			vs_send(c, c->local, c->peer, OP_RST, 0, NULL, 0);
			c->used = false;
		}
		return;
	case OP_RST:
		if (c) {
			if (c->hello && !c->established)
				puts_("net-guest: vsock hello refused\n");
			c->used = false;
		}
		return;
	default:
		return;
	}
}

static void vs_poll(void)
{
	struct vused_elem e;
	while (vq_used(&vs_rx, &e)) {
		uint16_t id = (uint16_t)e.id;
		if (id < QN && e.len >= sizeof(struct vsock_hdr) && e.len <= sizeof(vs_rxbuf[0])) {
			const struct vsock_hdr *h = (const struct vsock_hdr *)vs_rxbuf[id];
			vs_packet(h, (const uint8_t *)(h + 1), e.len - (uint32_t)sizeof(*h));
		}
		if (id < QN) {
			vq_give(&vs_rx, id);
			vq_notify(&vs_rx);
		}
	}
	vs_reclaim();
}

static bool vs_init(uint64_t base)
{
	uint64_t f;
	if (!vdev_begin(base, 1ULL << F_VERSION_1, &f))
		return false;
	my_cid = rd32(base, VM_CONFIG) | (uint64_t)rd32(base, VM_CONFIG + 4) << 32;
	vq_setup(&vs_rx, base, 0);
	vq_setup(&vs_tx, base, 1);
	vq_setup(&vs_ev, base, 2);
	for (uint16_t i = 0; i < QN; i++) {
		vs_rx.desc[i] = (struct vdesc){ (uint64_t)vs_rxbuf[i], sizeof(vs_rxbuf[0]), VD_WRITE, 0 };
		vq_give(&vs_rx, i);
		vs_ev.desc[i] = (struct vdesc){ (uint64_t)vs_evbuf[i], sizeof(vs_evbuf[0]), VD_WRITE, 0 };
		vq_give(&vs_ev, i);
	}
	wr32(base, VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vq_notify(&vs_rx);
	vq_notify(&vs_ev);
	echo_port = cmd_u32("vsock_port=", 1234);
	puts_("net-guest: vsock up cid=");
	putu(my_cid);
	puts_(" port=");
	putu(echo_port);
	putc_('\n');
	uint32_t hp = cmd_u32("vsock_hello=", 0);
	if (hp) {
		struct vconn *c = vs_new(0x8000, hp);
		c->hello = true;
		vs_send(c, c->local, c->peer, OP_REQUEST, 0, NULL, 0);
	}
	return true;
}

/* ---- rng: one 32-byte request, printed in hex ---- */

static struct vq rng_q;
static uint8_t rng_buf[32] __attribute__((aligned(64)));

static bool rng_init(uint64_t base)
{
	uint64_t f;
	if (!vdev_begin(base, 1ULL << F_VERSION_1, &f))
		return false;
	vq_setup(&rng_q, base, 0);
	wr32(base, VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	rng_q.desc[0] = (struct vdesc){ (uint64_t)rng_buf, sizeof(rng_buf), VD_WRITE, 0 };
	vq_give(&rng_q, 0);
	vq_notify(&rng_q);
	struct vused_elem e;
	int spins = 0;
	while (!vq_used(&rng_q, &e) && ++spins < 1000000)
		__asm__ volatile("pause");
	if (spins == 1000000) {
		puts_("net-guest: rng no answer\n");
		return false;
	}
	puts_("net-guest: rng ");
	putu(e.len);
	puts_(" bytes ");
	for (uint32_t i = 0; i < e.len && i < sizeof(rng_buf); i++)
		puthex8(rng_buf[i]);
	putc_('\n');
	return true;
}

/* rng_loop=N: N more 32-byte requests one after the other, for the host
 * to time a rate limiter between the "start" and "done" lines. The wait
 * per request is bounded generously: a throttled request waits for the
 * limiter's refill, not for the guest. */
static void rng_loop(uint32_t n)
{
	uint64_t bytes = 0;
	if (!n)
		return;
	puts_("net-guest: rng loop start\n");
	for (uint32_t i = 0; i < n; i++) {
		vq_give(&rng_q, 0);
		vq_notify(&rng_q);
		struct vused_elem e;
		uint64_t spins = 0;
		while (!vq_used(&rng_q, &e) && ++spins < 400000000ULL)
			__asm__ volatile("pause");
		if (spins == 400000000ULL) {
			puts_("net-guest: rng loop stuck\n");
			return;
		}
		bytes += e.len;
	}
	puts_("net-guest: rng loop done ");
	putu(n);
	puts_(" requests ");
	putu(bytes);
	puts_(" bytes\n");
}

/* ---- an MMDS client (mmds=PATH on the cmdline) ---- */

static const uint8_t mmds_ip[4] = { 169, 254, 169, 254 };
static uint8_t mmds_mac[6];
static bool mmds_arp_ok, tcp_synack, tcp_fin;
static uint16_t tcp_port = 49152;
static uint32_t tcp_snd_nxt, tcp_rcv_nxt;
static uint16_t tcp_corrupt; /* xored into the checksum: mmds_flood's bad frames */
static char mmds_resp[4096];
static size_t mmds_resp_len;

static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static void mmds_arp_request(void)
{
	uint16_t slot;
	uint8_t *o = net_tx_slot(&slot) + NET_HDR;
	memset(o, 0xff, 6);
	memcpy(o + 6, my_mac, 6);
	put_be16(o + 12, 0x0806);
	uint8_t *a = o + 14;
	put_be16(a, 1);
	put_be16(a + 2, 0x0800);
	a[4] = 6, a[5] = 4;
	put_be16(a + 6, 1);
	memcpy(a + 8, my_mac, 6);
	memcpy(a + 14, my_ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, mmds_ip, 4);
	net_send(slot, 14 + 28);
}

/* One TCP segment to MMDS port 80, with both checksums. */
static void tcp_send(uint8_t flags, const char *data, size_t len)
{
	uint16_t slot;
	uint8_t *o = net_tx_slot(&slot) + NET_HDR, *ip = o + 14, *t = ip + 20;
	memcpy(o, mmds_mac, 6);
	memcpy(o + 6, my_mac, 6);
	put_be16(o + 12, 0x0800);
	memset(ip, 0, 40);
	ip[0] = 0x45, ip[8] = 64, ip[9] = 6;
	put_be16(ip + 2, (uint16_t)(40 + len));
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, mmds_ip, 4);
	put_be16(ip + 10, csum(ip, 20));
	put_be16(t, tcp_port);
	put_be16(t + 2, 80);
	put_be32(t + 4, tcp_snd_nxt);
	put_be32(t + 8, tcp_rcv_nxt);
	t[12] = 5 << 4, t[13] = flags;
	put_be16(t + 14, 8192);
	memcpy(t + 20, data, len);
	/* the pseudo-header, then the segment */
	uint8_t ph[12 + 20 + 1500];
	memcpy(ph, ip + 12, 8);
	ph[8] = 0, ph[9] = 6;
	put_be16(ph + 10, (uint16_t)(20 + len));
	memcpy(ph + 12, t, 20 + len);
	put_be16(t + 16, csum(ph, 12 + 20 + len) ^ tcp_corrupt);
	net_send(slot, 14 + 40 + len);
	tcp_snd_nxt += (uint32_t)len + ((flags & 0x03) ? 1 : 0); /* SYN, FIN */
}

/* A frame from MMDS: its ARP reply or a segment of our connection. */
static bool mmds_rx(const uint8_t *f, size_t len)
{
	if (len >= 42 && be16(f + 12) == 0x0806 && be16(f + 20) == 2 && memeq(f + 28, mmds_ip, 4)) {
		memcpy(mmds_mac, f + 22, 6);
		mmds_arp_ok = true;
		return true;
	}
	const uint8_t *ip = f + 14;
	if (len < 54 || be16(f + 12) != 0x0800 || ip[9] != 6 || !memeq(ip + 12, mmds_ip, 4))
		return false;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = be16(ip + 2);
	const uint8_t *t = ip + ihl;
	size_t doff = (size_t)(t[12] >> 4) * 4, dlen = tot - ihl - doff;
	uint32_t seq = be32(t + 4);
	if (be16(t + 2) != tcp_port)
		return true;
	if (t[13] & 0x02) { /* SYN/ACK */
		tcp_rcv_nxt = seq + 1;
		tcp_synack = true;
		return true;
	}
	if (dlen && seq == tcp_rcv_nxt && mmds_resp_len + dlen < sizeof(mmds_resp)) {
		memcpy(mmds_resp + mmds_resp_len, t + doff, dlen);
		mmds_resp_len += dlen;
		tcp_rcv_nxt += (uint32_t)dlen;
		tcp_send(0x10, "", 0);
	}
	if ((t[13] & 0x01) && seq + dlen == tcp_rcv_nxt) {
		tcp_rcv_nxt++;
		tcp_fin = true;
		tcp_send(0x10, "", 0);
	}
	return true;
}

/* Whether the response is whole: headers and Content-Length bytes. */
static bool mmds_resp_done(const char **body)
{
	mmds_resp[mmds_resp_len] = 0;
	for (size_t i = 0; i + 4 <= mmds_resp_len; i++) {
		if (!memeq(mmds_resp + i, "\r\n\r\n", 4))
			continue;
		*body = mmds_resp + i + 4;
		uint32_t cl = 0;
		for (size_t k = 0; k + 16 < i; k++)
			if (memeq(mmds_resp + k, "Content-Length: ", 16))
				for (const char *p = mmds_resp + k + 16; *p >= '0' && *p <= '9'; p++)
					cl = cl * 10 + (uint32_t)(*p - '0');
		return mmds_resp_len - (i + 4) >= cl;
	}
	return false;
}

/* One request on a new connection; prints "net-guest: mmds <what>
 * status=N body=..." and leaves the body in mmds_resp. */
static const char *mmds_request(const char *what, const char *req)
{
	const char *body = "";
	tcp_port++;
	tcp_snd_nxt = (uint32_t)tcp_port << 16;
	tcp_synack = tcp_fin = false;
	mmds_resp_len = 0;
	tcp_send(0x02, "", 0);
	while (!tcp_synack)
		net_poll();
	tcp_send(0x18, req, str_len(req)); /* PSH, ACK */
	while (!mmds_resp_done(&body))
		net_poll();
	tcp_send(0x11, "", 0); /* FIN, ACK */
	while (!tcp_fin)
		net_poll();
	puts_("net-guest: mmds ");
	puts_(what);
	puts_(" status=");
	for (const char *p = mmds_resp + 9; *p >= '0' && *p <= '9'; p++)
		putc_(*p);
	puts_(" body=");
	puts_(body);
	putc_('\n');
	return body;
}

static void str_cat(char **o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		*(*o)++ = s[i];
	**o = 0;
}

/* mmds_flood: what a hostile guest throws at MMDS before asking
 * properly: half-open connections, blind resets, bad checksums, a
 * fragment, a segment that acks the future. */
static void mmds_flood(void)
{
	uint32_t seed = 12345;
	uint16_t keep = tcp_port;
	for (int i = 0; i < 300; i++) {
		seed = seed * 1103515245u + 12345u;
		tcp_port = (uint16_t)(20000 + i);
		tcp_snd_nxt = seed;
		tcp_send(0x02, "", 0);          /* SYN, never completed */
		tcp_snd_nxt = seed >> 3;
		tcp_send(0x04, "", 0);          /* RST at a guessed sequence */
		tcp_rcv_nxt = seed;
		tcp_port = (uint16_t)(30000 + i);
		tcp_send(0x10, "GET / HTTP/1.1\r\n\r\n", 20); /* on a connection never opened */
		tcp_snd_nxt = seed;
		tcp_corrupt = 0x5a5a; /* a SYN with a wrong checksum */
		tcp_send(0x02, "", 0);
		tcp_corrupt = 0;
		net_poll();
	}
	tcp_port = keep;
	puts_("net-guest: mmds flood sent\n");
}

static void mmds_client(const char *path)
{
	static char req[512], token[80];
	size_t plen = 0;
	while (path[plen] && path[plen] != ' ' && plen < 200)
		plen++;
	mmds_active = true;
	mmds_arp_request();
	while (!mmds_arp_ok)
		net_poll();
	puts_("net-guest: mmds arp ok\n");
	if (cmd_find("mmds_flood"))
		mmds_flood();
	char *o = req;
	str_cat(&o, "GET ", 4);
	str_cat(&o, path, plen);
	str_cat(&o, " HTTP/1.1\r\nHost: 169.254.169.254\r\n", 64);
	char *head_end = o;
	str_cat(&o, "\r\n", 2);
	mmds_request("get", req);
	if (!cmd_find("mmds_token"))
		return;
	const char *t = mmds_request("token", "PUT /latest/api/token HTTP/1.1\r\n"
	                                      "X-metadata-token-ttl-seconds: 60\r\n\r\n");
	char *tk = token;
	str_cat(&tk, t, sizeof(token) - 1);
	o = head_end;
	str_cat(&o, "X-metadata-token: ", 18);
	str_cat(&o, token, sizeof(token));
	str_cat(&o, "\r\n\r\n", 4);
	mmds_request("get-with-token", req);
	o = head_end;
	str_cat(&o, "X-metadata-token: 00000000000000000000000000000000000000000000000000000000000000ff\r\n\r\n", 100);
	mmds_request("get-wrong-token", req);
}


/* ---- bad frames on request: the VMM must drop them and carry on ---- */

static void net_send_bad(void)
{
	uint16_t slot;
	/* a checksum offload the device never offered */
	uint8_t *b = net_tx_slot(&slot);
	memset(b, 0, NET_HDR + 60);
	b[0] = 1; /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
	net_tx.desc[slot] = (struct vdesc){ (uint64_t)b, NET_HDR + 60, 0, 0 };
	vq_give(&net_tx, slot);
	net_tx_next++;
	/* a frame shorter than an Ethernet header */
	b = net_tx_slot(&slot);
	net_tx.desc[slot] = (struct vdesc){ (uint64_t)b, NET_HDR + 5, 0, 0 };
	vq_give(&net_tx, slot);
	net_tx_next++;
	/* a header alone, cut short */
	b = net_tx_slot(&slot);
	net_tx.desc[slot] = (struct vdesc){ (uint64_t)b, 4, 0, 0 };
	vq_give(&net_tx, slot);
	net_tx_next++;
	vq_notify(&net_tx);
	puts_("net-guest: bad frames sent\n");
}

/* ---- main ---- */

/* Where the devices are: every "virtio_mmio.device=SIZE@0xADDR:IRQ" on
 * the cmdline (what husk and QEMU microvm both write), else husk's slots. */
static int find_devices(uint64_t *bases, int max)
{
	int n = 0;
	const char *key = "virtio_mmio.device=";
	for (const char *c = cmdline; *c && n < max; c++) {
		if (!memeq(c, key, 19))
			continue;
		const char *p = c + 19;
		while (*p && *p != '@' && *p != ' ')
			p++;
		if (p[0] != '@' || p[1] != '0' || p[2] != 'x')
			continue;
		uint64_t a = 0;
		for (p += 3;; p++) {
			int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
			        *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
			if (d < 0)
				break;
			a = a << 4 | (uint64_t)d;
		}
		bases[n++] = a;
	}
	for (int i = 0; n == 0 && i < MMIO_SLOTS; i++)
		bases[i] = MMIO_BASE + (uint64_t)i * MMIO_STRIDE;
	return n ? n : MMIO_SLOTS;
}

void guest_main(uint32_t start_info, uint64_t boot_params);

void guest_main(uint32_t start_info, uint64_t boot_params)
{
	bool have_net = false, have_vsock = false;
	uint64_t bases[MMIO_SLOTS];
	puts_("net-guest: start\n");
	/* hvm_start_info: magic "xEn3" at 0, cmdline_paddr at 24 */
	const volatile uint32_t *si = (const volatile uint32_t *)(uint64_t)start_info;
	if (si && si[0] == 0x336ec578) {
		uint64_t pa = *(const volatile uint64_t *)(si + 6);
		if (pa && pa < (1ULL << 30))
			cmdline = (const char *)pa;
	} else {
		/* boot_params: cmd_line_ptr at 0x228; else where husk puts it */
		uint64_t pa = boot_params ? *(const volatile uint32_t *)(boot_params + 0x228) : 0;
		cmdline = (const char *)(pa && pa < (1ULL << 30) ? pa : 0x20000);
	}
	puts_("net-guest: cmdline ");
	puts_(cmdline);
	putc_('\n');
	cmd_ip(my_ip);
	int nb = find_devices(bases, MMIO_SLOTS);
	for (int i = 0; i < nb; i++) {
		uint64_t base = bases[i];
		if (base < 0xc0000000ULL || base >= 0x100000000ULL)
			continue; /* only the mapped MMIO range */
		if (rd32(base, VM_MAGIC) != 0x74726976 || rd32(base, VM_VERSION) != 2)
			continue;
		uint32_t id = rd32(base, VM_DEVICE_ID);
		if (id == 1 && !have_net)
			have_net = net_init(base);
		else if (id == 19 && !have_vsock)
			have_vsock = vs_init(base);
		else if (id == 4 && rng_init(base))
			rng_loop(cmd_u32("rng_loop=", 0));
	}
	if (!have_net && !have_vsock) {
		puts_("net-guest: no devices\n");
		outb(0x64, 0xfe); /* i8042 reset: the VMM stops the VM */
		for (;;)
			__asm__ volatile("hlt");
	}
	if (have_net && cmd_find("net_bad"))
		net_send_bad();
	if (have_net && cmd_find("mmds="))
		mmds_client(cmd_find("mmds="));
	puts_("net-guest: ready\n");
	for (;;) {
		if (have_net)
			net_poll();
		if (have_vsock)
			vs_poll();
		__asm__ volatile("pause");
	}
}
