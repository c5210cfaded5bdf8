/* vsock_mux: the host half of virtio-vsock, without the virtqueues. It
 * keeps one connection per (host port, guest port) pair, each backed by a
 * Unix stream socket, and speaks Firecracker's host-side protocol:
 *   - a host process connects to uds_path and writes "CONNECT <port>\n";
 *     the guest is asked (REQUEST) and on its RESPONSE the host gets
 *     "OK <hostport>\n", then a plain byte stream; on RST it gets EOF;
 *   - a guest connecting to host port P reaches the listener at
 *     "<uds_path>_P", or gets RST when nobody listens there.
 * Flow control is virtio-vsock credit: the guest never has more than
 * VSOCK_BUF_ALLOC bytes in flight towards a host socket, and the host side
 * is read only while the guest has advertised room. Anything malformed gets
 * RST and the connection is dropped; the VMM never trusts a guest header.
 *
 * The device feeds packets from the guest's TX queue to vsock_mux_guest_tx
 * and fills its RX queue with vsock_mux_guest_rx while that returns
 * packets; the mux calls kick() when it has something new for the guest.
 * kick() never runs while the mux is inside one of its own entry points
 * (a loop handler, vsock_mux_guest_tx): it is held until the outermost
 * one has let go of every connection, so the device may call
 * vsock_mux_guest_rx from it, which frees connections. */
#ifndef HUSK_VIRTIO_VSOCK_MUX_H
#define HUSK_VIRTIO_VSOCK_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/loop.h"

#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

/* virtio 1.1 5.10.6: every packet starts with this, little-endian */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_LEN ((int)sizeof(struct vsock_hdr)) /* 44 */
/* The most payload one packet may carry either way. */
#define VSOCK_MAX_PAYLOAD (64 * 1024)
/* What each connection buffers towards its host socket (our credit). */
#define VSOCK_BUF_ALLOC (256 * 1024)
/* Tell the guest about freed room once this much has been forwarded. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_BUF_ALLOC / 4)
#define VSOCK_MAX_CONNS 1024
/* "CONNECT 4294967295\n" plus slack */
#define VSOCK_CONNECT_LINE_MAX 32
/* Host ports handed out for host-initiated connections start here. */
#define VSOCK_EPHEMERAL_BASE (1u << 30)
#define VSOCK_MAX_ORPHAN_RST 64
/* How long the guest gets to answer a host's CONNECT, or to answer our
 * SHUTDOWN with RST, before the connection is reset (Firecracker: 2 s). */
#define VSOCK_TIMEOUT_MS 2000

struct vsock_conn;

struct vsock_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t tx_dropped;   /* guest packets ignored: bad cid/type/len */
	uint64_t rst_sent;
	uint64_t conns_opened, conns_closed, timeouts;
};

struct vsock_mux {
	uint64_t guest_cid;
	char *uds_path;
	int listen_fd;
	struct loop *loop;
	void (*kick)(void *opaque); /* there is something for the guest */
	void *kick_opaque;
	/* taken around every loop handler of the mux (the transport's lock:
	 * kick runs inside it); NULL in unit tests */
	void (*lock)(void *);
	void (*unlock)(void *);
	void *lock_ctx;
	/* entry points under way; a kick wanted inside them waits until the
	 * outermost returns (see vsock_mux_kick) */
	int depth;
	bool kick_wanted;

	struct vsock_conn *conns;         /* all, doubly linked */
	struct vsock_conn *pend_head, *pend_tail; /* those with work for the guest */
	int nr_conns;
	uint32_t next_port;
	int timer_fd;            /* fires at the earliest connection deadline */
	unsigned timeout_ms;     /* VSOCK_TIMEOUT_MS; tests shorten it */

	struct { uint32_t src_port, dst_port; } orphan[VSOCK_MAX_ORPHAN_RST];
	int orphan_head, orphan_len;

	struct vsock_stats stats;
};

/* Check a packet header the guest sent (payload_len = bytes that follow
 * it in its chain). 0, or -EINVAL for one to drop without an answer. */
int vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload_len);
/* Parse "CONNECT <port>\n" (the line without its newline). 0 or -EINVAL. */
int vsock_parse_connect(const char *line, uint32_t *port);
/* --vsock "cid=N,uds=PATH". *uds malloc'd. 0 or -EINVAL with *what set. */
int vsock_parse_cli(const char *arg, uint32_t *cid, char **uds, const char **what);

/* Listen on uds_path (which must not exist yet) and register on loop.
 * kick(opaque) is called on the loop thread when packets are waiting. */
int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, const char *uds_path,
                   struct loop *loop, void (*kick)(void *), void *kick_opaque);
/* Close every connection and the listener, unlink uds_path. */
void vsock_mux_destroy(struct vsock_mux *m);
/* Drop every connection (device reset), keep listening. */
void vsock_mux_reset(struct vsock_mux *m);

/* One packet from the guest: its header (copied out of guest memory) and
 * h->len payload bytes in iov. */
void vsock_mux_guest_tx(struct vsock_mux *m, const struct vsock_hdr *h,
                        const struct iovec *iov, int niov);
/* Build the next packet for the guest: the header into *h, payload read
 * straight into iov (at most its length). Returns 1 with a packet, 0 when
 * nothing is waiting. */
int vsock_mux_guest_rx(struct vsock_mux *m, struct vsock_hdr *h,
                       const struct iovec *iov, int niov);
bool vsock_mux_has_rx(const struct vsock_mux *m);

#endif
