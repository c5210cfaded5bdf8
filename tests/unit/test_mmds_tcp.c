/* The MMDS endpoint against a simulated guest: ARP, a whole GET, flow
 * control, and hostile segments (bad checksums, out-of-window data, RST
 * storms, half-open floods, truncated and random frames): each is
 * dropped and counted, the table stays bounded, and a well-behaved
 * connection is still served afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/mmds/tcp.h"

#define MMDS_IP 0xa9fea9feu /* 169.254.169.254 */
#define GUEST_IP 0xa9fe0002u
static const uint8_t guest_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mmds_mac[6] = { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 };

struct env {
	struct mmds m;
	struct mmds_stack *st;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	mmds_init(&e->m, 0);
	json_t *d = json_loads("{\"latest\": {\"id\": \"i-123\"}}", 0, NULL);
	assert_int_equal(mmds_store_put(&e->m.store, d), 0);
	json_decref(d);
	e->st = mmds_stack_new(&e->m, MMDS_IP);
	assert_non_null(e->st);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	mmds_stack_free(e->st);
	mmds_destroy(&e->m);
	free(e);
	return 0;
}

/* The guest sends a segment from port to MMDS port 80. */
static size_t guest_frame(uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack, const char *data, uint8_t *f)
{
	struct tcp_seg s = { .src_ip = GUEST_IP, .dst_ip = MMDS_IP, .src_port = port, .dst_port = 80,
	                     .seq = seq, .ack = ack, .flags = flags, .win = 65535,
	                     .data = (const uint8_t *)data, .len = data ? strlen(data) : 0 };
	return frame_tcp_build(&s, mmds_mac, guest_mac, 1, f);
}

static void send_seg(struct env *e, uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
	uint8_t f[MMDS_FRAME_MAX];
	size_t n = guest_frame(port, flags, seq, ack, data, f);
	assert_true(mmds_stack_claims(e->st, f, n));
	mmds_stack_input(e->st, f, n, false);
}

/* The next frame MMDS sends, parsed (its checksums checked); false if none. */
static bool recv_seg(struct env *e, struct tcp_seg *s, uint8_t *buf)
{
	size_t n = mmds_stack_pop(e->st, buf);
	if (!n)
		return false;
	assert_int_equal(frame_tcp_parse(buf, n, false, s), 0);
	assert_memory_equal(buf, guest_mac, 6);
	assert_int_equal(s->src_ip, MMDS_IP);
	assert_int_equal(s->dst_ip, GUEST_IP);
	return true;
}

static size_t drain(struct env *e)
{
	uint8_t buf[MMDS_FRAME_MAX];
	size_t n = 0;
	while (mmds_stack_pop(e->st, buf))
		n++;
	return n;
}

/* Open a connection from port; returns MMDS's next sequence number. */
static uint32_t handshake(struct env *e, uint16_t port, uint32_t iss)
{
	uint8_t buf[MMDS_FRAME_MAX];
	struct tcp_seg s;
	send_seg(e, port, TCP_SYN, iss, 0, NULL);
	assert_true(recv_seg(e, &s, buf));
	assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
	assert_int_equal(s.ack, iss + 1);
	send_seg(e, port, TCP_ACK, iss + 1, s.seq + 1, NULL);
	assert_false(recv_seg(e, &s, buf));
	return s.seq + 1;
}

/* One GET on a fresh connection; the body of the response. */
static char *get(struct env *e, uint16_t port, const char *path)
{
	uint8_t buf[MMDS_FRAME_MAX];
	char rq[256];
	struct tcp_seg s;
	uint32_t seq = 1000, peer = handshake(e, port, seq - 1);
	snprintf(rq, sizeof(rq), "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", path);
	send_seg(e, port, TCP_ACK | TCP_PSH, seq, peer, rq);
	seq += (uint32_t)strlen(rq);
	char *resp = calloc(1, 65536);
	size_t len = 0;
	while (recv_seg(e, &s, buf)) {
		assert_int_equal(s.ack, seq);
		assert_int_equal(s.seq, peer);
		memcpy(resp + len, s.data, s.len);
		len += s.len;
		peer += (uint32_t)s.len;
	}
	send_seg(e, port, TCP_ACK | TCP_FIN, seq, peer, NULL);
	assert_true(recv_seg(e, &s, buf)); /* our FIN, acking theirs */
	assert_true(s.flags & TCP_FIN);
	assert_int_equal(s.ack, seq + 1);
	send_seg(e, port, TCP_ACK, seq + 1, s.seq + 1, NULL);
	char *b = strstr(resp, "\r\n\r\n");
	assert_non_null(b);
	memmove(resp, b + 4, strlen(b + 4) + 1);
	return resp;
}

static int used_conns(struct env *e)
{
	int n = 0;
	for (int i = 0; i < MMDS_CONNS; i++)
		n += e->st->conns[i].state != CONN_FREE;
	return n;
}

static void test_arp(void **state)
{
	struct env *e = *state;
	uint8_t f[ARP_FRAME_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06,
	                             0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x01, 169, 254, 0, 2,
	                             0, 0, 0, 0, 0, 0, 169, 254, 169, 254 };
	uint8_t out[MMDS_FRAME_MAX];
	assert_true(mmds_stack_claims(e->st, f, sizeof(f)));
	mmds_stack_input(e->st, f, sizeof(f), false);
	assert_int_equal(mmds_stack_pop(e->st, out), ARP_FRAME_LEN);
	assert_memory_equal(out, guest_mac, 6);
	assert_memory_equal(out + 22, mmds_mac, 6);  /* sender hardware address */
	assert_memory_equal(out + 28, f + 38, 4);     /* sender IP: the MMDS one */
	assert_memory_equal(out + 38, f + 28, 4);     /* target IP: the guest's */
	assert_int_equal(out[21], 2);                  /* a reply */
	f[41] = 253; /* another address: not ours, passes to the tap */
	assert_false(mmds_stack_claims(e->st, f, sizeof(f)));
	f[41] = 254;
	f[18] = 5; /* a 5-byte hardware address */
	mmds_stack_input(e->st, f, sizeof(f), false);
	assert_int_equal(mmds_stack_pop(e->st, out), 0);
	assert_int_equal(e->st->stats.rx_malformed, 1);
}

static void test_get(void **state)
{
	struct env *e = *state;
	char *body = get(e, 40000, "/latest/id");
	assert_string_equal(body, "i-123");
	free(body);
	assert_int_equal(used_conns(e), 0); /* closed both ways */
	body = get(e, 40001, "/missing");
	assert_string_equal(body, "Resource not found: /missing.");
	free(body);
}

/* A response larger than the guest's window waits for its ACKs. */
static void test_flow_control(void **state)
{
	struct env *e = *state;
	uint8_t buf[MMDS_FRAME_MAX];
	struct tcp_seg s;
	char *big = malloc(20001);
	memset(big, 'x', 20000);
	big[20000] = 0;
	json_t *d = json_pack("{s:s}", "big", big);
	assert_int_equal(mmds_store_put(&e->m.store, d), 0);
	json_decref(d);
	uint32_t peer = handshake(e, 41000, 99), seq = 100;
	const char *rq = "GET /big HTTP/1.1\r\n\r\n";
	struct tcp_seg g = { .src_ip = GUEST_IP, .dst_ip = MMDS_IP, .src_port = 41000, .dst_port = 80, .seq = seq,
	                     .ack = peer, .flags = TCP_ACK, .win = 3000, .data = (const uint8_t *)rq, .len = strlen(rq) };
	size_t n = frame_tcp_build(&g, mmds_mac, guest_mac, 1, buf);
	mmds_stack_input(e->st, buf, n, false);
	seq += (uint32_t)strlen(rq);
	size_t got = 0, total = 0;
	for (int round = 0; round < 100 && total < 20000; round++) {
		got = 0;
		while (recv_seg(e, &s, buf)) {
			assert_true(s.len <= MMDS_MSS);
			got += s.len;
		}
		assert_true(got > 0 && got <= 3000); /* never past the window */
		total += got;
		peer += (uint32_t)got;
		g.data = NULL, g.len = 0, g.seq = seq, g.ack = peer;
		n = frame_tcp_build(&g, mmds_mac, guest_mac, 1, buf);
		mmds_stack_input(e->st, buf, n, false);
	}
	assert_true(total > 20000);
	free(big);
}

static void test_bad_checksums(void **state)
{
	struct env *e = *state;
	uint8_t f[MMDS_FRAME_MAX];
	size_t n = guest_frame(42000, TCP_SYN, 1, 0, NULL, f);
	f[ETH_HLEN_ + 10] ^= 0x55; /* IP header checksum */
	mmds_stack_input(e->st, f, n, false);
	n = guest_frame(42000, TCP_SYN, 1, 0, NULL, f);
	f[ETH_HLEN_ + IPV4_HLEN + 16] ^= 0x55; /* TCP checksum */
	mmds_stack_input(e->st, f, n, false);
	assert_int_equal(e->st->stats.rx_bad_csum, 2);
	assert_int_equal(drain(e), 0);
	assert_int_equal(used_conns(e), 0);
	/* with NEEDS_CSUM the guest left the TCP sum to the device */
	mmds_stack_input(e->st, f, n, true);
	assert_int_equal(used_conns(e), 1);
}

static void test_out_of_window(void **state)
{
	struct env *e = *state;
	uint8_t buf[MMDS_FRAME_MAX];
	struct tcp_seg s;
	uint32_t peer = handshake(e, 43000, 499);
	send_seg(e, 43000, TCP_ACK, 900, peer, "GET /latest/id HTTP/1.1\r\n\r\n"); /* ahead of 500 */
	send_seg(e, 43000, TCP_ACK, 100, peer, "GET /latest/id HTTP/1.1\r\n\r\n"); /* behind */
	send_seg(e, 43000, TCP_ACK, 500, peer + 5000, NULL);                     /* acks the future */
	assert_int_equal(e->st->stats.rx_out_of_window, 3);
	for (int i = 0; i < 3; i++) { /* each answered by what we expect */
		assert_true(recv_seg(e, &s, buf));
		assert_int_equal(s.flags, TCP_ACK);
		assert_int_equal(s.ack, 500);
		assert_int_equal(s.len, 0);
	}
	assert_false(recv_seg(e, &s, buf));
	assert_int_equal(e->st->conns[0].req_len, 0);
	/* the in-order request is still served */
	send_seg(e, 43000, TCP_ACK, 500, peer, "GET /latest/id HTTP/1.1\r\n\r\n");
	assert_true(recv_seg(e, &s, buf));
	assert_non_null(memmem(s.data, s.len, "i-123", 5));
}

static void test_rst_storm(void **state)
{
	struct env *e = *state;
	uint32_t peer = handshake(e, 44000, 0);
	srand(7);
	for (int i = 0; i < 10000; i++) {
		uint32_t seq = (uint32_t)rand();
		if (seq == 1)
			continue;
		send_seg(e, 44000, TCP_RST, seq, 0, NULL);
		send_seg(e, (uint16_t)(44001 + i % 1000), TCP_RST | TCP_ACK, seq, 0, NULL); /* no connection */
	}
	/* every one counted, none answered */
	assert_true(e->st->stats.rx_rst_ignored >= 19990);
	assert_int_equal(drain(e), 0); /* a reset is never answered */
	assert_int_equal(used_conns(e), 1);
	send_seg(e, 44000, TCP_RST, 1, peer, NULL); /* the exact one */
	assert_int_equal(used_conns(e), 0);
}

static void test_half_open_flood(void **state)
{
	struct env *e = *state;
	for (int i = 0; i < 5000; i++)
		send_seg(e, (uint16_t)(1024 + i), TCP_SYN, (uint32_t)i * 77, 0, NULL);
	assert_int_equal(used_conns(e), MMDS_CONNS);
	assert_int_equal(e->st->stats.conns_opened, 5000);
	assert_int_equal(e->st->stats.conns_evicted, 5000 - MMDS_CONNS);
	/* SYN/ACKs beyond the ring were dropped, not queued without bound */
	assert_int_equal(e->st->stats.tx_ctl_dropped, 5000 - MMDS_CTL_FRAMES);
	assert_int_equal(drain(e), MMDS_CTL_FRAMES);
	char *body = get(e, 60000, "/latest/id");
	assert_string_equal(body, "i-123");
	free(body);
}

/* A request larger than MMDS takes: a 400, then the connection closes. */
static void test_oversized_request(void **state)
{
	struct env *e = *state;
	uint8_t buf[MMDS_FRAME_MAX];
	struct tcp_seg s;
	char chunk[1001];
	memset(chunk, 'a', 1000);
	chunk[1000] = 0;
	uint32_t peer = handshake(e, 45000, 0), seq = 1;
	const char *head = "GET / HTTP/1.1\r\nX-Pad: ";
	send_seg(e, 45000, TCP_ACK, seq, peer, head);
	seq += (uint32_t)strlen(head);
	for (int i = 0; i < 5; i++, seq += 1000)
		send_seg(e, 45000, TCP_ACK, seq, peer, chunk);
	bool saw_400 = false, saw_fin = false;
	while (recv_seg(e, &s, buf)) {
		saw_400 |= s.len && memmem(s.data, s.len, " 400 ", 5) != NULL;
		saw_fin |= (s.flags & TCP_FIN) != 0;
	}
	assert_true(saw_400 && saw_fin);
	assert_true(e->st->stats.rx_oversized >= 1);
	assert_int_equal(e->m.stats.rx_bad_requests, 1);
}

/* Every prefix of a valid frame, and random bytes: no crash, no reply. */
static void test_truncated_and_random(void **state)
{
	struct env *e = *state;
	uint8_t f[MMDS_FRAME_MAX];
	size_t n = guest_frame(46000, TCP_SYN, 5, 0, "data", f);
	for (size_t len = 0; len < n; len++)
		mmds_stack_input(e->st, f, len, false);
	assert_int_equal(drain(e), 0);
	assert_int_equal(used_conns(e), 0);
	srand(11);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)rand() % sizeof(f);
		for (size_t k = 0; k < len; k++)
			f[k] = (uint8_t)rand();
		/* keep the type and the address so the parser is reached */
		f[12] = 0x08, f[13] = (i & 1) ? 0x06 : 0x00;
		if (len >= 34)
			f[30] = 169, f[31] = 254, f[32] = 169, f[33] = 254;
		mmds_stack_input(e->st, f, len, (i & 2) != 0);
	}
	assert_true(e->st->stats.rx_malformed + e->st->stats.rx_bad_csum + e->st->stats.rx_unsupported > 19000);
}

static void test_fragments_and_other_protocols(void **state)
{
	struct env *e = *state;
	uint8_t f[MMDS_FRAME_MAX];
	size_t n = guest_frame(47000, TCP_SYN, 5, 0, NULL, f);
	uint8_t *ip = f + ETH_HLEN_;
	ip[6] |= 0x20; /* more fragments */
	ip[10] = ip[11] = 0;
	uint16_t c = frame_csum(ip, IPV4_HLEN, 0);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	mmds_stack_input(e->st, f, n, false);
	ip[6] &= (uint8_t)~0x20;
	ip[9] = 17; /* UDP */
	ip[10] = ip[11] = 0;
	c = frame_csum(ip, IPV4_HLEN, 0);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	mmds_stack_input(e->st, f, n, false);
	assert_int_equal(e->st->stats.rx_unsupported, 2);
	assert_int_equal(drain(e), 0);
	/* another port: refused with a reset */
	struct tcp_seg s = { .src_ip = GUEST_IP, .dst_ip = MMDS_IP, .src_port = 1, .dst_port = 81, .seq = 9,
	                     .flags = TCP_SYN, .win = 100 };
	n = frame_tcp_build(&s, mmds_mac, guest_mac, 1, f);
	mmds_stack_input(e->st, f, n, false);
	uint8_t buf[MMDS_FRAME_MAX];
	struct tcp_seg r;
	assert_true(recv_seg(e, &r, buf));
	assert_int_equal(r.flags, TCP_RST | TCP_ACK);
	assert_int_equal(r.ack, 10);
}

UNIT_TEST_MAIN(
	cmocka_unit_test_setup_teardown(test_arp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_get, setup, teardown),
	cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_checksums, setup, teardown),
	cmocka_unit_test_setup_teardown(test_out_of_window, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rst_storm, setup, teardown),
	cmocka_unit_test_setup_teardown(test_half_open_flood, setup, teardown),
	cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
	cmocka_unit_test_setup_teardown(test_truncated_and_random, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fragments_and_other_protocols, setup, teardown))
