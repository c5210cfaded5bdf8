/* virtio-net frame logic and the tap helper. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <cmocka.h>

#include "devices/net_tap.h"
#include "devices/virtio/net.h"

#define BIT(n) (1ULL << (n))

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* ---- TX header checks ---- */

static void test_tx_hdr_plain(void **state)
{
	(void)state;
	struct virtio_net_hdr_v1 h = { 0 };
	assert_int_equal(net_tx_hdr_check(&h, 60, 0), 0);
	assert_int_equal(net_tx_hdr_check(&h, NET_ETH_HLEN - 1, 0), -EINVAL);
	assert_int_equal(net_tx_hdr_check(&h, NET_MAX_FRAME + 1, 0), -EINVAL);
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID; /* receive-only flag */
	assert_int_equal(net_tx_hdr_check(&h, 60, ~0ULL), -EINVAL);
}

static void test_tx_hdr_csum(void **state)
{
	(void)state;
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	                               .csum_start = 34, .csum_offset = 16 };
	assert_int_equal(net_tx_hdr_check(&h, 100, 0), -EINVAL); /* CSUM not acked */
	assert_int_equal(net_tx_hdr_check(&h, 100, BIT(VIRTIO_NET_F_CSUM)), 0);
	/* checksum field must lie inside the frame */
	assert_int_equal(net_tx_hdr_check(&h, 51, BIT(VIRTIO_NET_F_CSUM)), -EINVAL);
	assert_int_equal(net_tx_hdr_check(&h, 52, BIT(VIRTIO_NET_F_CSUM)), 0);
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff;
	assert_int_equal(net_tx_hdr_check(&h, NET_MAX_FRAME, BIT(VIRTIO_NET_F_CSUM)), -EINVAL);
}

static void test_tx_hdr_gso(void **state)
{
	(void)state;
	uint64_t f = BIT(VIRTIO_NET_F_CSUM);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	                               .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
	                               .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
	assert_int_equal(net_tx_hdr_check(&h, 3000, f), -EINVAL);
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_TSO4)), 0);
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_TSO6)), -EINVAL);
	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_TSO4)), -EINVAL);
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_TSO4) |
	                                  BIT(VIRTIO_NET_F_HOST_ECN)), 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_UFO)), 0);
	h.gso_size = 0;
	assert_int_equal(net_tx_hdr_check(&h, 3000, f | BIT(VIRTIO_NET_F_HOST_UFO)), -EINVAL);
	h.gso_size = 1000;
	h.gso_type = 2; /* not a type */
	assert_int_equal(net_tx_hdr_check(&h, 3000, ~0ULL), -EINVAL);
	/* GSO without a partial checksum cannot be segmented */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h.flags = 0;
	assert_int_equal(net_tx_hdr_check(&h, 3000, ~0ULL), -EINVAL);
}

/* ---- TX gather ---- */

static void test_tx_gather_split_header(void **state)
{
	(void)state;
	uint8_t pkt[NET_HDR_LEN + 80];
	fill_pattern(pkt, sizeof(pkt), 3);
	memset(pkt, 0, NET_HDR_LEN);
	pkt[10] = 0x55; /* num_buffers from the guest: must not reach the tap */
	/* header cut at 5 and 12, frame in two more pieces */
	struct iovec chain[3] = {
		{ pkt, 5 }, { pkt + 5, 20 }, { pkt + 25, sizeof(pkt) - 25 },
	};
	struct virtio_net_hdr_v1 hdr;
	struct iovec out[8];
	size_t flen = 0;
	int n = net_tx_gather(chain, 3, 0, &hdr, out, 8, &flen);
	assert_int_equal(n, 3);
	assert_int_equal(flen, 80);
	assert_ptr_equal(out[0].iov_base, &hdr);
	assert_int_equal(out[0].iov_len, NET_HDR_LEN);
	assert_int_equal(hdr.num_buffers, 0);
	assert_ptr_equal(out[1].iov_base, pkt + NET_HDR_LEN);
	assert_int_equal(out[1].iov_len, 25 - NET_HDR_LEN);
	assert_int_equal(net_iov_len(out, n), sizeof(pkt));
	uint8_t back[80];
	assert_int_equal(net_iov_read(out, n, NET_HDR_LEN, back, 80), 80);
	assert_memory_equal(back, pkt + NET_HDR_LEN, 80);
}

static void test_tx_gather_errors(void **state)
{
	(void)state;
	static uint8_t big[NET_MAX_PKT + 1];
	struct virtio_net_hdr_v1 hdr;
	struct iovec out[2];
	size_t flen;
	struct iovec c1 = { big, NET_HDR_LEN - 1 };
	assert_int_equal(net_tx_gather(&c1, 1, 0, &hdr, out, 2, &flen), -EINVAL);
	struct iovec c2 = { big, sizeof(big) };
	assert_int_equal(net_tx_gather(&c2, 1, 0, &hdr, out, 2, &flen), -EMSGSIZE);
	/* header + frame fine, but more pieces than the caller can take */
	struct iovec c3[3] = { { big, NET_HDR_LEN }, { big + 100, 30 }, { big + 200, 30 } };
	assert_int_equal(net_tx_gather(c3, 3, 0, &hdr, out, 2, &flen), -EMSGSIZE);
	/* a header asking for an offload nobody negotiated */
	big[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	assert_int_equal(net_tx_gather(c3, 3, 0, &hdr, out, 2, &flen), -EINVAL);
	big[0] = 0;
}

/* ---- RX delivery against a fake queue ---- */

struct fakeq {
	int nchains, next;         /* chains available: [next, nchains) */
	size_t size[8];
	uint8_t *mem[8];
	int pushed;
	uint16_t push_head[8];
	uint32_t push_len[8];
	int pop_error_at;          /* -1: never */
};

static int fq_pop(void *q, struct net_chain *c)
{
	struct fakeq *f = q;
	if (f->next == f->pop_error_at)
		return -EIO;
	if (f->next >= f->nchains)
		return 0;
	int i = f->next++;
	c->head = (uint16_t)(100 + i);
	/* two descriptors per chain, cut at 7 bytes, to cross boundaries */
	size_t cut = f->size[i] < 7 ? f->size[i] : 7;
	c->niov = 2;
	c->iov[0] = (struct iovec){ f->mem[i], cut };
	c->iov[1] = (struct iovec){ f->mem[i] + cut, f->size[i] - cut };
	return 1;
}

static void fq_unpop(void *q, int n)
{
	struct fakeq *f = q;
	assert_true(n <= f->next);
	f->next -= n;
}

static void fq_push(void *q, uint16_t head, uint32_t len)
{
	struct fakeq *f = q;
	f->push_head[f->pushed] = head;
	f->push_len[f->pushed++] = len;
}

static const struct net_rx_ops fq_ops = { fq_pop, fq_unpop, fq_push };

static void fq_init(struct fakeq *f, int n, const size_t *sizes)
{
	memset(f, 0, sizeof(*f));
	f->nchains = n;
	f->pop_error_at = -1;
	for (int i = 0; i < n; i++) {
		f->size[i] = sizes[i];
		f->mem[i] = calloc(1, sizes[i]);
	}
}

static void fq_free(struct fakeq *f)
{
	for (int i = 0; i < f->nchains; i++)
		free(f->mem[i]);
}

static uint8_t *make_pkt(size_t len)
{
	uint8_t *p = malloc(len);
	fill_pattern(p, len, 11);
	memset(p, 0, NET_HDR_LEN);
	p[10] = 0xee; /* what the tap leaves in num_buffers: garbage */
	p[11] = 0xee;
	return p;
}

static void test_rx_single_chain(void **state)
{
	(void)state;
	size_t sizes[] = { 2048 };
	struct fakeq f;
	fq_init(&f, 1, sizes);
	uint8_t *p = make_pkt(600);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, false, p, 600), 0);
	assert_int_equal(f.pushed, 1);
	assert_int_equal(f.push_head[0], 100);
	assert_int_equal(f.push_len[0], 600);
	struct virtio_net_hdr_v1 *h = (void *)f.mem[0];
	assert_int_equal(h->num_buffers, 1);
	assert_memory_equal(f.mem[0] + NET_HDR_LEN, p + NET_HDR_LEN, 600 - NET_HDR_LEN);
	free(p);
	fq_free(&f);
}

static void test_rx_too_small_without_mrg(void **state)
{
	(void)state;
	size_t sizes[] = { 500, 4096 };
	struct fakeq f;
	fq_init(&f, 2, sizes);
	uint8_t *p = make_pkt(600);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, false, p, 600), -EMSGSIZE);
	assert_int_equal(f.pushed, 0);
	assert_int_equal(f.next, 0); /* the chain went back */
	free(p);
	fq_free(&f);
}

static void test_rx_merged(void **state)
{
	(void)state;
	size_t sizes[] = { 1000, 1000, 1000, 1000 };
	struct fakeq f;
	fq_init(&f, 4, sizes);
	size_t len = 2500;
	uint8_t *p = make_pkt(len);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, len), 0);
	assert_int_equal(f.pushed, 3);
	assert_int_equal(f.push_len[0], 1000);
	assert_int_equal(f.push_len[1], 1000);
	assert_int_equal(f.push_len[2], 500);
	assert_int_equal(f.push_head[2], 102);
	struct virtio_net_hdr_v1 *h = (void *)f.mem[0];
	assert_int_equal(h->num_buffers, 3);
	assert_memory_equal(f.mem[1], p + 1000, 1000);
	assert_memory_equal(f.mem[2], p + 2000, 500);
	assert_memory_equal(f.mem[0] + NET_HDR_LEN, p + NET_HDR_LEN, 1000 - NET_HDR_LEN);
	assert_int_equal(f.next, 3); /* the fourth chain is untouched */
	free(p);
	fq_free(&f);
}

static void test_rx_merged_runs_out(void **state)
{
	(void)state;
	size_t sizes[] = { 1000, 1000 };
	struct fakeq f;
	fq_init(&f, 2, sizes);
	uint8_t *p = make_pkt(2500);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, 2500), -EAGAIN);
	assert_int_equal(f.pushed, 0);
	assert_int_equal(f.next, 0);
	/* once the guest adds a chain the same packet goes through */
	f.size[2] = 1000;
	f.mem[2] = calloc(1, 1000);
	f.nchains = 3;
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, 2500), 0);
	assert_int_equal(f.pushed, 3);
	assert_int_equal(((struct virtio_net_hdr_v1 *)f.mem[0])->num_buffers, 3);
	free(p);
	fq_free(&f);
}

static void test_rx_empty_and_broken_queue(void **state)
{
	(void)state;
	size_t sizes[] = { 8, 2000 };
	struct fakeq f;
	fq_init(&f, 0, sizes);
	uint8_t *p = make_pkt(100);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, 100), -EAGAIN);
	fq_free(&f);
	/* a chain shorter than the header is refused even with MRG_RXBUF */
	fq_init(&f, 2, sizes);
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, 100), -EMSGSIZE);
	assert_int_equal(f.next, 0);
	fq_free(&f);
	size_t big[] = { 60, 60 };
	fq_init(&f, 2, big);
	f.pop_error_at = 1;
	assert_int_equal(net_rx_deliver(&fq_ops, &f, true, p, 100), -EIO);
	assert_int_equal(f.next, 0);
	assert_int_equal(f.pushed, 0);
	fq_free(&f);
	free(p);
}

static void test_rx_pkt_check(void **state)
{
	(void)state;
	uint8_t p[64] = { 0 };
	assert_int_equal(net_rx_pkt_check(p, NET_HDR_LEN + NET_ETH_HLEN), 0);
	assert_int_equal(net_rx_pkt_check(p, NET_HDR_LEN + NET_ETH_HLEN - 1), -EINVAL);
	assert_int_equal(net_rx_pkt_check(p, NET_MAX_PKT + 1), -EINVAL);
}

/* ---- CLI ---- */

static void test_parse_mac(void **state)
{
	(void)state;
	uint8_t m[6];
	assert_int_equal(net_parse_mac("06:00:ac:10:00:02", m), 0);
	assert_int_equal(m[0], 0x06);
	assert_int_equal(m[3], 0x10);
	assert_int_equal(m[5], 0x02);
	assert_int_equal(net_parse_mac("07:00:ac:10:00:02", m), -EINVAL); /* multicast */
	assert_int_equal(net_parse_mac("06:00:ac:10:00", m), -EINVAL);
	assert_int_equal(net_parse_mac("06-00-ac-10-00-02", m), -EINVAL);
	assert_int_equal(net_parse_mac("06:00:ac:10:00:0g", m), -EINVAL);
	assert_int_equal(net_parse_mac("06:00:ac:10:00:021", m), -EINVAL);
}

static void test_parse_cli(void **state)
{
	(void)state;
	struct net_config c;
	const char *what;
	assert_int_equal(net_parse_cli("tap=tap0,mac=06:00:00:00:00:01", &c, &what), 0);
	assert_string_equal(c.host_dev_name, "tap0");
	assert_string_equal(c.iface_id, "eth0");
	assert_true(c.has_mac);
	assert_int_equal(c.guest_mac[5], 1);
	free(c.host_dev_name);
	free(c.iface_id);
	assert_int_equal(net_parse_cli("tap=t1,id=net1", &c, &what), 0);
	assert_false(c.has_mac);
	assert_string_equal(c.iface_id, "net1");
	free(c.host_dev_name);
	free(c.iface_id);
	assert_int_equal(net_parse_cli("mac=06:00:00:00:00:01", &c, &what), -EINVAL);
	assert_non_null(what);
	assert_int_equal(net_parse_cli("tap=a,tap=b", &c, &what), -EINVAL);
	assert_int_equal(net_parse_cli("tap=0123456789abcdef", &c, &what), -EINVAL);
	assert_int_equal(net_parse_cli("tap=a,speed=10", &c, &what), -EINVAL);
	assert_int_equal(net_parse_cli("tap", &c, &what), -EINVAL);
	assert_null(c.host_dev_name);
}

/* ---- tap helper ---- */

static void test_offload_mapping(void **state)
{
	(void)state;
	assert_int_equal(tap_offload_from_features(0), 0);
	/* segmentation without checksum offload means nothing */
	assert_int_equal(tap_offload_from_features(BIT(VIRTIO_NET_F_GUEST_TSO4)), 0);
	uint64_t g = BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
	             BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_UFO);
	assert_int_equal(tap_offload_from_features(g),
	                 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO);
	assert_int_equal(tap_offload_from_features(g | BIT(VIRTIO_NET_F_GUEST_ECN)),
	                 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_TSO_ECN);
	/* host-side features (what the guest sends) do not matter here */
	assert_int_equal(tap_offload_from_features(BIT(VIRTIO_NET_F_HOST_TSO4) |
	                                           BIT(VIRTIO_NET_F_CSUM)), 0);
}

static void test_tap_open(void **state)
{
	(void)state;
	assert_int_equal(tap_open("", NET_HDR_LEN), -EINVAL);
	assert_int_equal(tap_open("a/b", NET_HDR_LEN), -EINVAL);
	assert_int_equal(tap_open("0123456789abcdef", NET_HDR_LEN), -EINVAL);
	/* a private network namespace: the tap vanishes with the test */
	if (unshare(CLONE_NEWNET) < 0 || access("/dev/net/tun", R_OK | W_OK) < 0)
		skip();
	int fd = tap_open("husktest0", NET_HDR_LEN);
	assert_true(fd >= 0);
	char name[TAP_NAME_MAX];
	assert_int_equal(tap_get_name(fd, name), 0);
	assert_string_equal(name, "husktest0");
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	unsigned applied = 0;
	assert_int_equal(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO,
	                                 &applied), 0);
	assert_true(applied & TUN_F_TSO4);
	assert_int_equal(tap_setup_fd(fd, NET_HDR_LEN), 0);
	assert_int_equal(tap_setup_fd(fd, 3), -EINVAL);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_true(tap_setup_fd(p[0], NET_HDR_LEN) < 0); /* not a tap */
	close(p[0]);
	close(p[1]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_hdr_plain),
		cmocka_unit_test(test_tx_hdr_csum),
		cmocka_unit_test(test_tx_hdr_gso),
		cmocka_unit_test(test_tx_gather_split_header),
		cmocka_unit_test(test_tx_gather_errors),
		cmocka_unit_test(test_rx_single_chain),
		cmocka_unit_test(test_rx_too_small_without_mrg),
		cmocka_unit_test(test_rx_merged),
		cmocka_unit_test(test_rx_merged_runs_out),
		cmocka_unit_test(test_rx_empty_and_broken_queue),
		cmocka_unit_test(test_rx_pkt_check),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_parse_cli),
		cmocka_unit_test(test_offload_mapping),
		cmocka_unit_test(test_tap_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
