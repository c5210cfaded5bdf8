/* libFuzzer target: a hostile guest against the MMDS endpoint. The input
 * is a list of records, each a segment the harness builds with valid
 * checksums from the record's fields (ports from a small set, sequence
 * and ack numbers near what the endpoint expects, so the fuzzer gets
 * past the handshake) or a raw frame sent as it is. After each record
 * the harness takes some of the endpoint's output: every frame it sends
 * must parse with correct checksums and be addressed to the guest, and
 * the connection table never grows past its size (ASan for the rest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/mmds/tcp.h"

#define MMDS_IP 0xa9fea9feu
#define GUEST_IP 0xa9fe0002u
#define PORTS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t guest_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t mmds_mac[6] = { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 };

struct peer {
	uint32_t next_seq; /* the guest's next sequence number */
	uint32_t srv_next; /* what the endpoint sent up to */
};

/* Take up to n frames from the endpoint and check each. */
static void drain(struct mmds_stack *st, struct peer *peers, unsigned n)
{
	static uint8_t f[MMDS_FRAME_MAX];
	for (unsigned i = 0; i < n; i++) {
		size_t len = mmds_stack_pop(st, f);
		if (!len)
			return;
		if (len > MMDS_FRAME_MAX || memcmp(f, guest_mac, 6) != 0)
			abort();
		if (len == ARP_FRAME_LEN && f[12] == 0x08 && f[13] == 0x06)
			continue;
		struct tcp_seg s;
		if (frame_tcp_parse(f, len, false, &s) < 0 || s.src_ip != MMDS_IP || s.dst_ip != GUEST_IP ||
		    s.src_port != MMDS_PORT || s.len > MMDS_MSS)
			abort();
		if (s.dst_port >= 40000 && s.dst_port < 40000 + PORTS)
			peers[s.dst_port - 40000].srv_next = s.seq + (uint32_t)s.len + !!(s.flags & (TCP_SYN | TCP_FIN));
	}
}

/* One record: its length, or 0 at the end of the input. */
static size_t record(struct mmds_stack *st, struct peer *peers, const uint8_t *d, size_t size)
{
	static uint8_t f[MMDS_FRAME_MAX];
	if (size < 8)
		return 0;
	size_t plen = d[7] < size - 8 ? d[7] : size - 8;
	const uint8_t *payload = d + 8;
	if ((d[0] & 7) == 0) { /* a raw frame */
		memcpy(f, payload, plen);
		mmds_stack_input(st, f, plen, d[1] & 1);
		return 8 + plen;
	}
	struct peer *p = &peers[d[1] % PORTS];
	struct tcp_seg s = { .src_ip = GUEST_IP, .dst_ip = MMDS_IP, .src_port = (uint16_t)(40000 + d[1] % PORTS),
	                     .dst_port = (d[0] & 0x80) ? 81 : MMDS_PORT, .flags = d[2] & 0x3f,
	                     .win = (uint16_t)(d[5] | d[6] << 8), .data = payload, .len = plen };
	s.seq = p->next_seq + (uint32_t)(int8_t)d[3];
	s.ack = p->srv_next + (uint32_t)(int8_t)d[4];
	size_t n = frame_tcp_build(&s, mmds_mac, guest_mac, 1, f);
	mmds_stack_input(st, f, n, (d[0] & 0x40) != 0);
	p->next_seq = s.seq + (uint32_t)plen + !!(s.flags & (TCP_SYN | TCP_FIN));
	drain(st, peers, d[0] >> 3 & 7);
	return 8 + plen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mmds m;
	static bool init;
	if (!init) {
		mmds_init(&m, 0);
		json_t *d = json_loads("{\"latest\": {\"id\": \"i-1\", \"n\": 1, \"list\": [\"a\"], \"big\": \""
		                       "0123456789012345678901234567890123456789012345678901234567890123456789"
		                       "\"}}", 0, NULL);
		if (!d || mmds_store_put(&m.store, d) < 0)
			abort();
		json_decref(d);
		init = true;
	}
	m.version = size && (data[0] & 1) ? 2 : 1;
	struct mmds_stack *st = mmds_stack_new(&m, MMDS_IP);
	struct peer peers[PORTS] = { 0 };
	size_t off = size ? 1 : 0, n;
	while ((n = record(st, peers, data + off, size - off)) != 0)
		off += n;
	drain(st, peers, 10000);
	unsigned used = 0;
	for (int i = 0; i < MMDS_CONNS; i++)
		used += st->conns[i].state != CONN_FREE;
	if (used > MMDS_CONNS || mmds_stack_has_output(st))
		abort();
	mmds_stack_free(st);
	return 0;
}
