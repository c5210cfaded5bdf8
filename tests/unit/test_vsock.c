/* vsock host side: parsing, the connection state machine, credit flow,
 * against real Unix sockets and the real epoll loop (no guest needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_main.h"

#include "devices/virtio/vsock.h"
#include "devices/virtio/vsock_mux.h"
#include "fakeq.h"
#include "vdrv.h"

#define CID 42

/* The host side of a test: a fresh directory holding the device's socket
 * (path), and the event loop the device runs on. */
struct host_side {
	char dir[64];
	char path[128];
	struct loop loop;
};

static int host_side_init(struct host_side *h, const char *dir_template)
{
	snprintf(h->dir, sizeof(h->dir), "%s", dir_template);
	if (!mkdtemp(h->dir))
		return -1;
	snprintf(h->path, sizeof(h->path), "%s/v.sock", h->dir);
	return loop_init(&h->loop);
}

static void host_side_destroy(struct host_side *h)
{
	loop_destroy(&h->loop);
	rmdir(h->dir);
}

struct fixture {
	struct host_side host;
	struct vsock_mux mux;
	int kicks;
	/* what a kick does besides counting: the device runs RX processing
	 * right away when it is not busy, and a host may drop its socket at
	 * any moment; a test arms these to replay such an interleaving */
	int close_on_kick; /* a host socket to close first, or -1 */
	bool drain_on_kick;
	uint16_t kick_ops[16]; /* ops of the packets a kick drained */
	int nr_kick_ops;
};

static int grx(struct fixture *f, struct vsock_hdr *h, void *buf, size_t cap);

static void on_kick(void *opaque)
{
	struct fixture *f = opaque;
	f->kicks++;
	if (f->close_on_kick >= 0) {
		close(f->close_on_kick);
		f->close_on_kick = -1;
	}
	struct vsock_hdr h;
	char buf[64];
	while (f->drain_on_kick && grx(f, &h, buf, sizeof(buf)) == 1) {
		assert_true(f->nr_kick_ops < 16);
		f->kick_ops[f->nr_kick_ops++] = le16toh(h.op);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->close_on_kick = -1;
	if (host_side_init(&f->host, "/tmp/husk-vsock-XXXXXX") < 0)
		return -1;
	if (vsock_mux_init(&f->mux, CID, f->host.path, &f->host.loop, on_kick, f) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vsock_mux_destroy(&f->mux);
	host_side_destroy(&f->host);
	free(f);
	return 0;
}

/* run every handler that is ready now; epoll reports what the kernel has
 * already queued, so a timeout of 0 is exact, not a race */
static void pump(struct fixture *f)
{
	int rounds = 0;
	while (loop_run_once(&f->host.loop, 0) > 0)
		assert_true(++rounds < 100);
}

static struct vsock_hdr ghdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	struct vsock_hdr h = {
		.src_cid = htole64(CID), .dst_cid = htole64(VSOCK_HOST_CID),
		.src_port = htole32(src_port), .dst_port = htole32(dst_port),
		.len = htole32(len), .type = htole16(VSOCK_TYPE_STREAM), .op = htole16(op),
		.buf_alloc = htole32(1 << 20), .fwd_cnt = 0,
	};
	return h;
}

static void gtx(struct fixture *f, struct vsock_hdr h, const void *data)
{
	struct iovec v = { (void *)data, le32toh(h.len) };
	vsock_mux_guest_tx(&f->mux, &h, &v, data ? 1 : 0);
}

/* next packet for the guest; returns 0 when there is none */
static int grx(struct fixture *f, struct vsock_hdr *h, void *buf, size_t cap)
{
	struct iovec v = { buf, cap };
	return vsock_mux_guest_rx(&f->mux, h, &v, 1);
}

static int host_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int host_listen(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* host connects and asks for guest port gport; returns the socket and
 * the host port the mux picked, checked against the REQUEST */
static int open_host_conn(struct fixture *f, uint32_t gport, uint32_t *hport)
{
	int fd = host_connect(f->host.path);
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	assert_int_equal(write(fd, line, (size_t)n), n);
	pump(f);
	struct vsock_hdr h;
	char buf[16];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_REQUEST);
	assert_int_equal(le64toh(h.src_cid), VSOCK_HOST_CID);
	assert_int_equal(le64toh(h.dst_cid), CID);
	assert_int_equal(le32toh(h.dst_port), gport);
	assert_int_equal(le16toh(h.type), VSOCK_TYPE_STREAM);
	*hport = le32toh(h.src_port);
	assert_true(*hport >= VSOCK_EPHEMERAL_BASE);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	return fd;
}

/* ---- parsing ---- */

static void test_parse_connect(void **state)
{
	(void)state;
	uint32_t p = 0;
	assert_int_equal(vsock_parse_connect("CONNECT 52", &p), 0);
	assert_int_equal(p, 52);
	assert_int_equal(vsock_parse_connect("CONNECT 4294967295\r", &p), 0);
	assert_int_equal(p, 4294967295u);
	assert_int_equal(vsock_parse_connect("CONNECT 4294967296", &p), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT ", &p), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT -1", &p), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT 5x", &p), -EINVAL);
	assert_int_equal(vsock_parse_connect("connect 5", &p), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT5", &p), -EINVAL);
}

static void test_parse_cli(void **state)
{
	(void)state;
	uint32_t cid;
	char *uds;
	const char *what;
	assert_int_equal(vsock_parse_cli("cid=3,uds=/tmp/v.sock", &cid, &uds, &what), 0);
	assert_int_equal(cid, 3);
	assert_string_equal(uds, "/tmp/v.sock");
	free(uds);
	assert_int_equal(vsock_parse_cli("cid=2,uds=/tmp/v", &cid, &uds, &what), -EINVAL);
	assert_non_null(what);
	assert_null(uds);
	assert_int_equal(vsock_parse_cli("cid=3", &cid, &uds, &what), -EINVAL);
	assert_int_equal(vsock_parse_cli("uds=/x", &cid, &uds, &what), -EINVAL);
	assert_int_equal(vsock_parse_cli("cid=3,uds=/x,cid=4", &cid, &uds, &what), -EINVAL);
	assert_int_equal(vsock_parse_cli("cid=99999999999,uds=/x", &cid, &uds, &what), -EINVAL);
	char longp[200];
	memset(longp, 'a', sizeof(longp));
	strcpy(longp, "cid=3,uds=/");
	longp[strlen(longp)] = 'a';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(vsock_parse_cli(longp, &cid, &uds, &what), -EINVAL);
}

static void test_hdr_check(void **state)
{
	(void)state;
	struct vsock_hdr h = ghdr(VSOCK_OP_RW, 1, 2, 10);
	assert_int_equal(vsock_hdr_check(&h, CID, 10), 0);
	assert_int_equal(vsock_hdr_check(&h, CID, 9), -EINVAL);   /* short payload */
	assert_int_equal(vsock_hdr_check(&h, CID + 1, 10), -EINVAL); /* spoofed source */
	h.dst_cid = htole64(7);
	assert_int_equal(vsock_hdr_check(&h, CID, 10), -EINVAL);
	h = ghdr(VSOCK_OP_REQUEST, 1, 2, 10);                        /* payload on control */
	assert_int_equal(vsock_hdr_check(&h, CID, 10), -EINVAL);
	h = ghdr(VSOCK_OP_RW, 1, 2, VSOCK_MAX_PAYLOAD + 1);
	assert_int_equal(vsock_hdr_check(&h, CID, 1 << 20), -EINVAL);
}

/* ---- host-initiated ---- */

static void test_host_connect_data_close(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = open_host_conn(f, 52, &hport);
	assert_true(f->kicks > 0);

	gtx(f, ghdr(VSOCK_OP_RESPONSE, 52, hport, 0), NULL);
	char line[32] = { 0 };
	char want[32];
	int n = snprintf(want, sizeof(want), "OK %u\n", hport);
	assert_int_equal(read(fd, line, sizeof(line)), n);
	assert_string_equal(line, want);

	/* host -> guest */
	assert_int_equal(write(fd, "hello", 5), 5);
	pump(f);
	struct vsock_hdr h;
	char buf[64];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RW);
	assert_int_equal(le32toh(h.len), 5);
	assert_int_equal(le32toh(h.src_port), hport);
	assert_int_equal(le32toh(h.dst_port), 52);
	assert_int_equal(le32toh(h.buf_alloc), VSOCK_BUF_ALLOC);
	assert_memory_equal(buf, "hello", 5);

	/* guest -> host */
	gtx(f, ghdr(VSOCK_OP_RW, 52, hport, 5), "world");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "world");

	/* host closes: the guest is asked to shut down, answers RST */
	close(fd);
	pump(f);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(h.flags), VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	assert_int_equal(le32toh(h.fwd_cnt), 5);
	assert_int_equal(f->mux.nr_conns, 1);
	gtx(f, ghdr(VSOCK_OP_RST, 52, hport, 0), NULL);
	assert_int_equal(f->mux.nr_conns, 0);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
}

/* A receive buffer with no room past the header while host data waits:
 * the data cannot go there, and the mux says so instead of cycling for
 * ever (a guest could hang the vmm thread with one such buffer). */
static void test_header_only_buffer_with_data_waiting(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = open_host_conn(f, 53, &hport);
	gtx(f, ghdr(VSOCK_OP_RESPONSE, 53, hport, 0), NULL);
	char line[32] = { 0 };
	assert_true(read(fd, line, sizeof(line)) > 0);
	assert_int_equal(write(fd, "data", 4), 4);
	pump(f);
	struct vsock_hdr h;
	assert_int_equal(vsock_mux_guest_rx(&f->mux, &h, NULL, 0), 0);
	/* the data is still there for a buffer that has room */
	char buf[16];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RW);
	assert_int_equal(le32toh(h.len), 4);
	assert_memory_equal(buf, "data", 4);
	close(fd);
}

static void test_host_connect_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = open_host_conn(f, 9999, &hport);
	/* nobody listens on 9999 in the guest: its kernel answers RST */
	gtx(f, ghdr(VSOCK_OP_RST, 9999, hport, 0), NULL);
	char buf[8];
	assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* EOF, no "OK" */
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
}

static void test_host_bad_line(void **state)
{
	struct fixture *f = *state;
	int fd = host_connect(f->host.path);
	assert_int_equal(write(fd, "HELLO 5\n", 8), 8);
	pump(f);
	char buf[8];
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	struct vsock_hdr h;
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
	/* an endless line is cut off too */
	fd = host_connect(f->host.path);
	char junk[VSOCK_CONNECT_LINE_MAX + 8];
	memset(junk, '7', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	pump(f);
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
}

static void test_host_leaves_before_response(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = open_host_conn(f, 7, &hport);
	close(fd);
	pump(f);
	struct vsock_hdr h;
	char buf[8];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	assert_int_equal(le32toh(h.dst_port), 7);
	assert_int_equal(f->mux.nr_conns, 0);
	/* the guest's late RESPONSE is for nobody: RST again */
	gtx(f, ghdr(VSOCK_OP_RESPONSE, 7, hport, 0), NULL);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
}

/* ---- guest-initiated ---- */

static void test_guest_connect(void **state)
{
	struct fixture *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_1234", f->host.path);
	int lfd = host_listen(lpath);
	gtx(f, ghdr(VSOCK_OP_REQUEST, 5000, 1234, 0), NULL);
	struct vsock_hdr h;
	char buf[64];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RESPONSE);
	assert_int_equal(le32toh(h.src_port), 1234);
	assert_int_equal(le32toh(h.dst_port), 5000);
	int fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	gtx(f, ghdr(VSOCK_OP_RW, 5000, 1234, 3), "abc");
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(write(fd, "xyz", 3), 3);
	pump(f);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RW);
	assert_memory_equal(buf, "xyz", 3);
	/* guest closes both ways: we answer RST, the host sees EOF */
	struct vsock_hdr sd = ghdr(VSOCK_OP_SHUTDOWN, 5000, 1234, 0);
	sd.flags = htole32(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	gtx(f, sd, NULL);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
	close(lfd);
	unlink(lpath);
}

static void test_guest_connect_nobody_listens(void **state)
{
	struct fixture *f = *state;
	gtx(f, ghdr(VSOCK_OP_REQUEST, 5001, 4321, 0), NULL);
	struct vsock_hdr h;
	char buf[8];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	assert_int_equal(le32toh(h.src_port), 4321);
	assert_int_equal(le32toh(h.dst_port), 5001);
	assert_int_equal(f->mux.nr_conns, 0);
	/* junk for a connection that does not exist: RST, RST itself: nothing */
	gtx(f, ghdr(VSOCK_OP_RW, 1, 2, 2), "zz");
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	gtx(f, ghdr(VSOCK_OP_RST, 1, 2, 0), NULL);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	/* spoofed source CID: dropped without an answer */
	struct vsock_hdr bad = ghdr(VSOCK_OP_REQUEST, 1, 2, 0);
	bad.src_cid = htole64(CID + 1);
	gtx(f, bad, NULL);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	assert_int_equal(f->mux.stats.tx_dropped, 1);
}

/* ---- credit ---- */

static int established(struct fixture *f, uint32_t gport, uint32_t *hport, uint32_t buf_alloc)
{
	int fd = open_host_conn(f, gport, hport);
	struct vsock_hdr r = ghdr(VSOCK_OP_RESPONSE, gport, *hport, 0);
	r.buf_alloc = htole32(buf_alloc);
	gtx(f, r, NULL);
	char line[32];
	assert_true(read(fd, line, sizeof(line)) > 3);
	return fd;
}

static void test_guest_credit_limits_host_data(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = established(f, 60, &hport, 10);
	char data[100];
	for (int i = 0; i < 100; i++)
		data[i] = (char)i;
	assert_int_equal(write(fd, data, 100), 100);
	pump(f);
	struct vsock_hdr h;
	char buf[200];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le32toh(h.len), 10);
	assert_memory_equal(buf, data, 10);
	/* the guest has no room left: nothing more, however much waits */
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	pump(f);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	/* it consumed the 10 bytes and says so */
	struct vsock_hdr cu = ghdr(VSOCK_OP_CREDIT_UPDATE, 60, hport, 0);
	cu.buf_alloc = htole32(10);
	cu.fwd_cnt = htole32(10);
	gtx(f, cu, NULL);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le32toh(h.len), 10);
	assert_memory_equal(buf, data + 10, 10);
	close(fd);
}

static void test_guest_overruns_credit(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = established(f, 61, &hport, 4096);
	/* host does not read; the guest sends more than VSOCK_BUF_ALLOC */
	static char chunk[VSOCK_MAX_PAYLOAD];
	int rst = 0;
	struct vsock_hdr h;
	char buf[8];
	for (int i = 0; i < 64 && !rst; i++) {
		gtx(f, ghdr(VSOCK_OP_RW, 61, hport, sizeof(chunk)), chunk);
		while (grx(f, &h, buf, sizeof(buf)) == 1)
			rst += le16toh(h.op) == VSOCK_OP_RST;
	}
	assert_int_equal(rst, 1);
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
}

static void test_buffered_writes_and_credit_update(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = established(f, 62, &hport, 4096);
	int sz = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* fill the guest's whole credit without the host reading */
	static uint8_t sent[VSOCK_BUF_ALLOC];
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 13 + 1);
	for (size_t off = 0; off < sizeof(sent); off += VSOCK_MAX_PAYLOAD)
		gtx(f, ghdr(VSOCK_OP_RW, 62, hport, VSOCK_MAX_PAYLOAD), sent + off);
	struct vsock_hdr h;
	char tmp[8];
	uint32_t fwd = 0;
	int updates = 0;
	static uint8_t got[VSOCK_BUF_ALLOC];
	size_t have = 0;
	/* the host reads; the mux flushes on EPOLLOUT and reports room */
	while (have < sizeof(got)) {
		ssize_t n = read(fd, got + have, sizeof(got) - have);
		assert_true(n > 0);
		have += (size_t)n;
		pump(f);
		while (grx(f, &h, tmp, sizeof(tmp)) == 1) {
			assert_int_equal(le16toh(h.op), VSOCK_OP_CREDIT_UPDATE);
			assert_true(le32toh(h.fwd_cnt) >= fwd);
			fwd = le32toh(h.fwd_cnt);
			updates++;
		}
	}
	assert_memory_equal(got, sent, sizeof(sent));
	assert_true(updates >= 1);
	assert_true(fwd >= VSOCK_BUF_ALLOC - VSOCK_CREDIT_THRESHOLD);
	/* a credit request is answered with the exact count */
	gtx(f, ghdr(VSOCK_OP_CREDIT_REQUEST, 62, hport, 0), NULL);
	assert_int_equal(grx(f, &h, tmp, sizeof(tmp)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(le32toh(h.fwd_cnt), VSOCK_BUF_ALLOC);
	close(fd);
}

/* The guest's RW carries new credit and crosses the credit-update
 * threshold while the host socket is readable; RX processing run from the
 * kick sends the update, reads the socket, meets ECONNRESET (the host went
 * away with our bytes unread) and frees the connection. Nothing may touch
 * it afterwards (vsock_conn_after_flush went on to loop_mod through it). */
static void test_credit_update_meets_econnreset(void **state)
{
	struct fixture *f = *state;
	uint32_t hport;
	int fd = established(f, 63, &hport, 1);
	/* one byte for a guest with one byte of room: the socket stays
	 * marked readable but the connection leaves the pending list */
	assert_int_equal(write(fd, "x", 1), 1);
	pump(f);
	struct vsock_hdr h;
	char buf[8];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RW);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0);
	/* the guest consumed it (credit back) and sends enough to owe it a
	 * credit update; the host resets as the kick comes */
	static char chunk[VSOCK_CREDIT_THRESHOLD];
	struct vsock_hdr rw = ghdr(VSOCK_OP_RW, 63, hport, sizeof(chunk));
	rw.buf_alloc = htole32(1);
	rw.fwd_cnt = htole32(1);
	f->close_on_kick = fd;
	f->drain_on_kick = true;
	gtx(f, rw, chunk);
	assert_int_equal(f->close_on_kick, -1);
	assert_int_equal(f->nr_kick_ops, 2);
	assert_int_equal(f->kick_ops[0], VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(f->kick_ops[1], VSOCK_OP_RST);
	assert_int_equal(f->mux.nr_conns, 0);
	pump(f);
}

static void test_reset_drops_everything(void **state)
{
	struct fixture *f = *state;
	uint32_t p1, p2;
	int a = established(f, 70, &p1, 4096);
	int b = open_host_conn(f, 71, &p2);
	assert_int_equal(f->mux.nr_conns, 2);
	vsock_mux_reset(&f->mux);
	assert_int_equal(f->mux.nr_conns, 0);
	char buf[8];
	assert_int_equal(read(a, buf, sizeof(buf)), 0);
	assert_int_equal(read(b, buf, sizeof(buf)), 0);
	close(a);
	close(b);
	/* still listening afterwards */
	uint32_t p3;
	close(open_host_conn(f, 72, &p3));
}

/* ---- timeouts ---- */

static void test_guest_never_answers_connect(void **state)
{
	struct fixture *f = *state;
	f->mux.timeout_ms = 30;
	uint32_t hport;
	int fd = open_host_conn(f, 90, &hport);
	/* the guest stays silent: the timer fires, the host gets EOF and the
	 * guest an RST so both sides agree the connection is gone */
	while (f->mux.stats.timeouts == 0)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	char buf[8];
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	struct vsock_hdr h;
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	assert_int_equal(le32toh(h.src_port), hport);
	assert_int_equal(f->mux.nr_conns, 0);
	close(fd);
}

static void test_host_never_sends_connect_line(void **state)
{
	struct fixture *f = *state;
	f->mux.timeout_ms = 30;
	int fd = host_connect(f->host.path);
	pump(f);
	assert_int_equal(f->mux.nr_conns, 1);
	while (f->mux.stats.timeouts == 0)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	assert_int_equal(f->mux.nr_conns, 0);
	char buf[8];
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	struct vsock_hdr h;
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 0); /* the guest never knew */
	close(fd);
}

static void test_guest_never_answers_shutdown(void **state)
{
	struct fixture *f = *state;
	f->mux.timeout_ms = 30;
	uint32_t hport;
	int fd = established(f, 91, &hport, 4096);
	close(fd);
	pump(f);
	struct vsock_hdr h;
	char buf[8];
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_SHUTDOWN);
	while (f->mux.stats.timeouts == 0)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	assert_int_equal(grx(f, &h, buf, sizeof(buf)), 1);
	assert_int_equal(le16toh(h.op), VSOCK_OP_RST);
	assert_int_equal(f->mux.nr_conns, 0);
}

static void test_answered_in_time_is_kept(void **state)
{
	struct fixture *f = *state;
	f->mux.timeout_ms = 30;
	uint32_t hport;
	int fd = established(f, 92, &hport, 4096);
	/* no deadline once established: nothing fires however long we wait */
	assert_int_equal(loop_run_once(&f->host.loop, 100), 0);
	assert_int_equal(f->mux.stats.timeouts, 0);
	assert_int_equal(f->mux.nr_conns, 1);
	close(fd);
}

/* ---- whatever the guest sends, the mux stays consistent ---- */

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

static void test_random_guest_packets(void **state)
{
	struct fixture *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_5", f->host.path);
	int lfd = host_listen(lpath);
	assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	uint64_t seed = 12345;
	static uint8_t payload[VSOCK_MAX_PAYLOAD];
	int hosts[16];
	int nh = 0;
	uint32_t hports[16];
	for (int i = 0; i < 20000; i++) {
		if (i % 1000 == 0 && nh < 16) {
			/* now and then a host connects too */
			hosts[nh] = host_connect(f->host.path);
			char line[32];
			int n = snprintf(line, sizeof(line), "CONNECT %u\n", rnd(&seed) % 4);
			assert_int_equal(write(hosts[nh], line, (size_t)n), n);
			pump(f);
			hports[nh] = VSOCK_EPHEMERAL_BASE + (uint32_t)nh;
			nh++;
		}
		uint32_t r = rnd(&seed);
		struct vsock_hdr h = ghdr((uint16_t)(r % 9), rnd(&seed) % 4,
		                          (r & 0x100) && nh ? hports[rnd(&seed) % (uint32_t)nh]
		                                            : rnd(&seed) % 8,
		                          0);
		if (le16toh(h.op) == VSOCK_OP_RW)
			h.len = htole32(rnd(&seed) % 3000);
		h.flags = htole32(rnd(&seed) % 4);
		h.buf_alloc = htole32(rnd(&seed) % 2 ? 1u << 20 : rnd(&seed));
		h.fwd_cnt = htole32(rnd(&seed) % 5000);
		if (r % 97 == 0)
			h.type = htole16(2); /* not a stream */
		if (r % 89 == 0)
			h.len = htole32(VSOCK_MAX_PAYLOAD + 1);
		struct iovec v = { payload, le32toh(h.len) > sizeof(payload) ? sizeof(payload)
		                                                              : le32toh(h.len) };
		vsock_mux_guest_tx(&f->mux, &h, &v, 1);
		struct vsock_hdr out;
		char buf[512];
		int budget = 10000;
		while (grx(f, &out, buf, sizeof(buf)) == 1) {
			assert_int_equal(le64toh(out.src_cid), VSOCK_HOST_CID);
			assert_int_equal(le64toh(out.dst_cid), CID);
			assert_true(le32toh(out.len) <= sizeof(buf));
			assert_true(--budget > 0);
		}
		assert_true(f->mux.nr_conns <= VSOCK_MAX_CONNS);
		if (i % 500 == 0) {
			/* drain whatever the listener accepted */
			int a;
			while ((a = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
				close(a);
			pump(f);
		}
	}
	for (int i = 0; i < nh; i++)
		close(hosts[i]);
	pump(f);
	/* the walk got somewhere: guest connects went through and were reset */
	assert_true(f->mux.stats.conns_opened > 16);
	assert_true(f->mux.stats.rst_sent > 100);
	vsock_mux_reset(&f->mux);
	assert_int_equal(f->mux.nr_conns, 0);
	assert_int_equal(f->mux.stats.conns_opened, f->mux.stats.conns_closed);
	close(lfd);
	unlink(lpath);
}

/* ---- the device over fake queues ---- */

struct devfix {
	struct host_side host;
	struct vsock_dev vd;
	struct dq rx, tx, ev;
};

static int dev_setup(void **state)
{
	struct devfix *f = calloc(1, sizeof(*f));
	if (host_side_init(&f->host, "/tmp/husk-vsockdev-XXXXXX") < 0)
		return -1;
	if (vsock_dev_init(&f->vd, CID, f->host.path, &f->host.loop) < 0)
		return -1;
	*state = f;
	return 0;
}

static int dev_teardown(void **state)
{
	struct devfix *f = *state;
	vsock_dev_destroy(&f->vd);
	host_side_destroy(&f->host);
	free(f);
	return 0;
}

static void dev_activate(struct devfix *f)
{
	assert_int_equal(vsock_dev_activate(&f->vd, vsock_dev_features(),
	                                    dq_queue(&f->rx),
	                                    dq_queue(&f->tx),
	                                    dq_queue(&f->ev)), 0);
}

static void test_dev_config_and_features(void **state)
{
	struct devfix *f = *state;
	assert_true(vsock_dev_features() & (1ULL << 32));
	uint64_t cid = 0;
	vsock_dev_config_read(&f->vd, 0, &cid, 8);
	assert_int_equal(le64toh(cid), CID);
	uint32_t hi = 0xffffffff;
	vsock_dev_config_read(&f->vd, 4, &hi, 4);
	assert_int_equal(hi, 0);
	vsock_dev_config_read(&f->vd, 8, &hi, 4);
	assert_int_equal(hi, 0);
}

static void test_dev_request_waits_for_rx_buffers(void **state)
{
	struct devfix *f = *state;
	dev_activate(f);
	/* the guest connects to a host port nobody listens on, header and
	 * (empty) payload in separate descriptors like Linux does */
	struct vsock_hdr req = ghdr(VSOCK_OP_REQUEST, 7000, 7001, 0);
	dq_add2(&f->tx, false, &req, sizeof(req), NULL, 0);
	vsock_dev_tx_notify(&f->vd);
	assert_int_equal(f->tx.pushed, 1);
	assert_int_equal(f->tx.published, 1);
	/* no RX buffers yet: the RST waits */
	assert_int_equal(f->rx.pushed, 0);
	assert_true(vsock_mux_has_rx(&f->vd.mux));
	static uint8_t hbuf[VSOCK_HDR_LEN], pbuf[4096];
	dq_add2(&f->rx, true, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf));
	vsock_dev_rx_notify(&f->vd);
	assert_int_equal(f->rx.pushed, 1);
	assert_int_equal(f->rx.push_len[0], VSOCK_HDR_LEN);
	assert_int_equal(f->rx.published, 1);
	struct vsock_hdr *h = (struct vsock_hdr *)hbuf;
	assert_int_equal(le16toh(h->op), VSOCK_OP_RST);
	assert_int_equal(le32toh(h->dst_port), 7000);
}

static void test_dev_data_both_ways(void **state)
{
	struct devfix *f = *state;
	dev_activate(f);
	static uint8_t rx0[VSOCK_HDR_LEN + 64], rx1[VSOCK_HDR_LEN + 64], rx2[VSOCK_HDR_LEN + 64];
	dq_add2(&f->rx, true, rx0, sizeof(rx0), NULL, 0);
	dq_add2(&f->rx, true, rx1, sizeof(rx1), NULL, 0);
	dq_add2(&f->rx, true, rx2, sizeof(rx2), NULL, 0);
	/* host connects: REQUEST lands in the first buffer at once (kick) */
	int fd = host_connect(f->host.path);
	assert_int_equal(write(fd, "CONNECT 80\n", 11), 11);
	assert_true(loop_run_once(&f->host.loop, 5000) >= 1); /* accept */
	while (f->rx.pushed == 0)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	struct vsock_hdr *h = (struct vsock_hdr *)rx0;
	assert_int_equal(le16toh(h->op), VSOCK_OP_REQUEST);
	uint32_t hport = le32toh(h->src_port);
	/* the guest answers and sends data in one chain: header + payload */
	static uint8_t t0[VSOCK_HDR_LEN], t1[VSOCK_HDR_LEN + 5];
	struct vsock_hdr r = ghdr(VSOCK_OP_RESPONSE, 80, hport, 0);
	memcpy(t0, &r, sizeof(r));
	struct vsock_hdr d = ghdr(VSOCK_OP_RW, 80, hport, 5);
	memcpy(t1, &d, sizeof(d));
	memcpy(t1 + VSOCK_HDR_LEN, "12345", 5);
	dq_add2(&f->tx, false, t0, sizeof(t0), NULL, 0);
	dq_add2(&f->tx, false, t1, sizeof(t1), NULL, 0);
	vsock_dev_tx_notify(&f->vd);
	char buf[32] = { 0 };
	ssize_t n = 0;
	while (n < 10) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n);
		assert_true(k > 0);
		n += k;
	}
	char want[40];
	snprintf(want, sizeof(want), "OK %u\n12345", hport);
	assert_string_equal(buf, want);
	/* host -> guest lands in the next buffer, payload after the header */
	assert_int_equal(write(fd, "abc", 3), 3);
	while (f->rx.pushed < 2)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	h = (struct vsock_hdr *)rx1;
	assert_int_equal(le16toh(h->op), VSOCK_OP_RW);
	assert_int_equal(f->rx.push_len[1], VSOCK_HDR_LEN + 3);
	assert_memory_equal(rx1 + VSOCK_HDR_LEN, "abc", 3);
	close(fd);
}

static void test_dev_malformed_chains(void **state)
{
	struct devfix *f = *state;
	dev_activate(f);
	static uint8_t shorty[10], wbuf[64];
	dq_add2(&f->tx, false, shorty, sizeof(shorty), NULL, 0);  /* shorter than a header */
	dq_add2(&f->tx, true, wbuf, sizeof(wbuf), NULL, 0);       /* writable on TX */
	vsock_dev_tx_notify(&f->vd);
	assert_int_equal(f->vd.malformed, 2);
	assert_int_equal(f->tx.pushed, 2);
	/* an RX buffer too small for a header is handed back empty */
	struct vsock_hdr junk = ghdr(VSOCK_OP_RW, 1, 2, 0);
	static uint8_t small[8], ok[VSOCK_HDR_LEN];
	dq_add2(&f->rx, true, small, sizeof(small), NULL, 0);
	dq_add2(&f->rx, true, ok, sizeof(ok), NULL, 0);
	dq_add2(&f->tx, false, &junk, sizeof(junk), NULL, 0);
	vsock_dev_tx_notify(&f->vd);
	assert_int_equal(f->rx.pushed, 2);
	assert_int_equal(f->rx.push_len[0], 0);
	assert_int_equal(f->rx.push_len[1], VSOCK_HDR_LEN);
	assert_int_equal(le16toh(((struct vsock_hdr *)ok)->op), VSOCK_OP_RST);
}

/* a host connection up to ESTABLISHED through the device */
static int established_dev(struct devfix *f, uint32_t *hport)
{
	static uint8_t rxb[VSOCK_HDR_LEN + 64];
	dq_add2(&f->rx, true, rxb, sizeof(rxb), NULL, 0);
	int fd = host_connect(f->host.path);
	assert_int_equal(write(fd, "CONNECT 81\n", 11), 11);
	while (f->rx.pushed == 0)
		assert_true(loop_run_once(&f->host.loop, 5000) >= 1);
	*hport = le32toh(((struct vsock_hdr *)rxb)->src_port);
	static struct vsock_hdr r;
	r = ghdr(VSOCK_OP_RESPONSE, 81, *hport, 0);
	dq_add2(&f->tx, false, &r, sizeof(r), NULL, 0);
	vsock_dev_tx_notify(&f->vd);
	char line[32];
	assert_true(read(fd, line, sizeof(line)) > 3);
	return fd;
}

/* A guest that refills TX as fast as it is drained gets one round's
 * budget per notify; the rest goes to the next loop round. */
static void test_dev_tx_endless_queue_yields_each_round(void **state)
{
	struct devfix *f = *state;
	dev_activate(f);
	static struct vsock_hdr rst;
	rst = ghdr(VSOCK_OP_RST, 4000, 4001, 0); /* no such connection: ignored */
	dq_add2(&f->tx, false, &rst, sizeof(rst), NULL, 0);
	f->tx.endless = true;
	vsock_dev_tx_notify(&f->vd);
	assert_int_equal(f->tx.popped, VCHAIN_BUDGET);
	assert_int_equal(f->tx.pushed, VCHAIN_BUDGET);
	assert_int_equal(f->tx.published, 1);
	assert_int_equal(f->tx.requeued, 1);
	vsock_dev_tx_notify(&f->vd);
	assert_int_equal(f->tx.popped, 2 * VCHAIN_BUDGET);
	assert_int_equal(f->tx.requeued, 2);
}

static void test_dev_transport_reset_event(void **state)
{
	struct devfix *f = *state;
	assert_int_equal(vsock_dev_transport_reset(&f->vd), -EAGAIN); /* not active */
	dev_activate(f);
	assert_int_equal(vsock_dev_transport_reset(&f->vd), -ENOSPC); /* no buffer */
	uint32_t uid;
	int fd = established_dev(f, &uid);
	static uint8_t evbuf[8];
	memset(evbuf, 0xff, sizeof(evbuf));
	dq_add2(&f->ev, true, evbuf, sizeof(evbuf), NULL, 0);
	assert_int_equal(vsock_dev_transport_reset(&f->vd), 0);
	assert_int_equal(f->ev.pushed, 1);
	assert_int_equal(f->ev.push_len[0], 4);
	uint32_t id;
	memcpy(&id, evbuf, 4);
	assert_int_equal(le32toh(id), VSOCK_EVENT_TRANSPORT_RESET);
	assert_int_equal(f->vd.mux.nr_conns, 0);
	char buf[8];
	assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* the host sees EOF */
	close(fd);
}

static uint16_t dq_op(const struct dq *d, int i)
{
	const struct vsock_hdr *h = d->chain[d->push_head[i] - DQ_HEAD0].iov[0].iov_base;
	return le16toh(h->op);
}

static int dq_count_op(const struct dq *d, uint16_t op)
{
	int n = 0;
	for (int i = 0; i < d->pushed; i++)
		n += dq_op(d, i) == op;
	return n;
}

/* The guest shuts down both ways while bytes still wait for a slow host
 * reader. When the host has drained them the EPOLLOUT handler resets the
 * connection; the RST goes out through the device's RX processing, which
 * frees the connection: that must not run inside the handler. */
static void test_dev_shutdown_drained_by_slow_host(void **state)
{
	struct devfix *f = *state;
	dev_activate(f);
	uint32_t hport;
	int fd = established_dev(f, &hport);
	int sz = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	static uint8_t rxb[12][VSOCK_HDR_LEN + 64];
	for (int i = 0; i < 12; i++)
		dq_add2(&f->rx, true, rxb[i], sizeof(rxb[i]), NULL, 0);
	/* the guest's whole credit, more than the socket takes */
	static uint8_t sent[VSOCK_BUF_ALLOC];
	static struct vsock_hdr rw[VSOCK_BUF_ALLOC / VSOCK_MAX_PAYLOAD], sd;
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 7 + 3);
	for (int i = 0; i < VSOCK_BUF_ALLOC / VSOCK_MAX_PAYLOAD; i++) {
		rw[i] = ghdr(VSOCK_OP_RW, 81, hport, VSOCK_MAX_PAYLOAD);
		dq_add2(&f->tx, false, &rw[i], sizeof(rw[i]), sent + i * VSOCK_MAX_PAYLOAD,
		        VSOCK_MAX_PAYLOAD);
	}
	sd = ghdr(VSOCK_OP_SHUTDOWN, 81, hport, 0);
	sd.flags = htole32(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	dq_add2(&f->tx, false, &sd, sizeof(sd), NULL, 0);
	vsock_dev_tx_notify(&f->vd);
	/* bytes are still buffered: no RST yet */
	assert_int_equal(dq_count_op(&f->rx, VSOCK_OP_RST), 0);
	assert_int_equal(f->vd.mux.nr_conns, 1);
	/* the host drains; the last flush resets the connection */
	static uint8_t got[VSOCK_BUF_ALLOC];
	size_t have = 0;
	while (have < sizeof(got)) {
		ssize_t n = read(fd, got + have, sizeof(got) - have);
		assert_true(n > 0);
		have += (size_t)n;
		while (loop_run_once(&f->host.loop, 0) > 0)
			;
	}
	assert_memory_equal(got, sent, sizeof(sent));
	assert_int_equal(dq_count_op(&f->rx, VSOCK_OP_RST), 1);
	assert_int_equal(dq_op(&f->rx, f->rx.pushed - 1), VSOCK_OP_RST);
	assert_int_equal(f->vd.mux.nr_conns, 0);
	char b[8];
	assert_int_equal(read(fd, b, sizeof(b)), 0);
	close(fd);
}

/* ---- the whole device through the virtio-mmio transport ---- */

static void loop_until(struct loop *l, bool (*cond)(void *), void *arg)
{
	/* cond consumes what it finds: ask it once per round */
	bool ok = cond(arg);
	for (int i = 0; i < 50 && !ok; i++) {
		assert_true(loop_run_once(l, 5000) >= 1);
		ok = cond(arg);
	}
	assert_true(ok);
}

struct used_wait {
	struct vdrv *d;
	unsigned q;
	uint32_t id, len;
};

static bool has_used(void *arg)
{
	struct used_wait *w = arg;
	return vdrv_used(w->d, w->q, &w->id, &w->len);
}

static void test_virtio_vsock_through_transport(void **state)
{
	(void)state;
	char dir[] = "/tmp/husk-vsockt-XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	struct loop loop;
	assert_int_equal(loop_init(&loop), 0);
	struct vdrv d;
	vdrv_mem_init(&d);
	struct virtio_env env = { .gm = &d.gm, .loop = &loop, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	struct vsock *v;
	assert_int_equal(vsock_create(&v, &env, CID, path, 3), 0);
	d.t = &v->t;
	assert_int_equal(vdrv_rd(&d, VMMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	assert_int_equal(vdrv_cfg8(&d, 0), CID);
	assert_true(vdrv_negotiate(&d, 1ULL << 32) & VIRTIO_STATUS_FEATURES_OK);
	vdrv_queue(&d, 0, 0x10000);
	vdrv_queue(&d, 1, 0x20000);
	vdrv_queue(&d, 2, 0x30000);
	vdrv_driver_ok(&d);
	for (int i = 0; i < 4; i++) {
		struct vdrv_buf b = { 0x40000 + (uint64_t)i * 0x2000, VSOCK_HDR_LEN + 4096, true };
		vdrv_add(&d, 0, &b, 1);
	}
	vdrv_kick(&d, 0);

	/* host connects: the REQUEST reaches the guest's first buffer */
	int fd = host_connect(path);
	assert_int_equal(write(fd, "CONNECT 77\n", 11), 11);
	struct used_wait w = { &d, 0, 0, 0 };
	loop_until(&loop, has_used, &w);
	struct vsock_hdr *h = (struct vsock_hdr *)(d.ram + 0x40000);
	assert_int_equal(w.len, VSOCK_HDR_LEN);
	assert_int_equal(le16toh(h->op), VSOCK_OP_REQUEST);
	assert_int_equal(le32toh(h->dst_port), 77);
	uint32_t hport = le32toh(h->src_port);

	/* the guest answers and sends "hi" (header and payload apart) */
	struct vsock_hdr r = ghdr(VSOCK_OP_RESPONSE, 77, hport, 0);
	memcpy(d.ram + 0x60000, &r, sizeof(r));
	struct vsock_hdr rw = ghdr(VSOCK_OP_RW, 77, hport, 2);
	memcpy(d.ram + 0x61000, &rw, sizeof(rw));
	memcpy(d.ram + 0x62000, "hi", 2);
	struct vdrv_buf t0 = { 0x60000, VSOCK_HDR_LEN, false };
	struct vdrv_buf t1[2] = { { 0x61000, VSOCK_HDR_LEN, false }, { 0x62000, 2, false } };
	vdrv_add(&d, 1, &t0, 1);
	vdrv_add(&d, 1, t1, 2);
	vdrv_kick(&d, 1);
	assert_true(loop_run_once(&loop, 5000) >= 1);
	char buf[64] = { 0 }, want[64];
	int nw = snprintf(want, sizeof(want), "OK %u\nhi", hport);
	ssize_t got = 0;
	while (got < nw) {
		ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
		assert_true(k > 0);
		got += k;
	}
	assert_string_equal(buf, want);

	/* host -> guest */
	assert_int_equal(write(fd, "yo", 2), 2);
	loop_until(&loop, has_used, &w);
	h = (struct vsock_hdr *)(d.ram + 0x40000 + (uint64_t)w.id * 0x2000);
	assert_int_equal(le16toh(h->op), VSOCK_OP_RW);
	assert_int_equal(w.len, VSOCK_HDR_LEN + 2);
	assert_memory_equal((uint8_t *)(h + 1), "yo", 2);

	/* driver reset: the host side of every connection sees EOF */
	vdrv_wr(&d, VMMIO_STATUS, 0);
	assert_true(loop_run_once(&loop, 5000) >= 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	assert_int_equal(v->dev.mux.nr_conns, 0);
	close(fd);
	vsock_destroy(v);
	assert_int_equal(access(path, F_OK), -1); /* the socket is gone */
	loop_destroy(&loop);
	free(d.ram);
	rmdir(dir);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_parse_connect),
	cmocka_unit_test(test_parse_cli),
	cmocka_unit_test(test_hdr_check),
	cmocka_unit_test_setup_teardown(test_header_only_buffer_with_data_waiting, setup, teardown),
	cmocka_unit_test_setup_teardown(test_host_connect_data_close, setup, teardown),
	cmocka_unit_test_setup_teardown(test_host_connect_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_host_bad_line, setup, teardown),
	cmocka_unit_test_setup_teardown(test_host_leaves_before_response, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_connect, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_connect_nobody_listens, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_credit_limits_host_data, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_overruns_credit, setup, teardown),
	cmocka_unit_test_setup_teardown(test_buffered_writes_and_credit_update, setup, teardown),
	cmocka_unit_test_setup_teardown(test_credit_update_meets_econnreset, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_drops_everything, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_never_answers_connect, setup, teardown),
	cmocka_unit_test_setup_teardown(test_host_never_sends_connect_line, setup, teardown),
	cmocka_unit_test_setup_teardown(test_guest_never_answers_shutdown, setup, teardown),
	cmocka_unit_test_setup_teardown(test_answered_in_time_is_kept, setup, teardown),
	cmocka_unit_test_setup_teardown(test_random_guest_packets, setup, teardown),
	cmocka_unit_test_setup_teardown(test_dev_config_and_features, dev_setup, dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_request_waits_for_rx_buffers, dev_setup,
	                                dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_data_both_ways, dev_setup, dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_malformed_chains, dev_setup, dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_transport_reset_event, dev_setup, dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_tx_endless_queue_yields_each_round, dev_setup,
	                                dev_teardown),
	cmocka_unit_test_setup_teardown(test_dev_shutdown_drained_by_slow_host, dev_setup,
	                                dev_teardown),
	cmocka_unit_test(test_virtio_vsock_through_transport))
