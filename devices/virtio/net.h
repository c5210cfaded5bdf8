/* net: virtio-net (device id 1) over a host tap. This header has two
 * halves: the frame logic (headers, checks, filling guest buffers), which
 * is pure and unit tested, and the device on the virtio-mmio transport. */
#ifndef HUSK_VIRTIO_NET_H
#define HUSK_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/chain.h"
#include "devices/mmds/tcp.h"
#include "vmm/loop.h"
#include "vmm/config.h"

#define VIRTIO_ID_NET 1

/* One interface (PUT /network-interfaces/{iface_id}, --net, the config
 * file's network-interfaces). */
struct net_config {
	char *iface_id;
	char *host_dev_name;
	bool has_mac;
	uint8_t guest_mac[6];
	uint16_t mtu; /* offered with VIRTIO_NET_F_MTU; 0: not offered */
	struct rate_limiter_config rx_rate_limiter;
	struct rate_limiter_config tx_rate_limiter;
};

#define NET_MAX_IFACES 8

/* A vm_config's interfaces, kept under net_class (config_device) in the
 * order they were first put: the order of their slots. */
struct net_configs {
	int nr;
	struct net_config items[NET_MAX_IFACES];
};

/* c's interfaces, or NULL: none was ever put. */
const struct net_configs *net_configs_of(const struct vm_config *c);
/* c's interfaces to add to or change, made (empty) the first time; NULL:
 * out of memory, or c has no room for another device kind. */
struct net_configs *net_configs_in(struct vm_config *c);
/* Free what n owns and clear it. */
void net_config_free(struct net_config *n);

/* PATCH /network-interfaces/{iface_id}'s body: the buckets it gives. */
struct net_patch {
	char *iface_id;
	bool has_rx, has_tx;
	struct rate_limiter_config rx, tx;
};
/* Free a struct net_configs with its interfaces (NULL is fine). */
void net_configs_free(void *n);

/* feature bits (virtio 1.1, 5.1.3) */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* The header in front of every frame, both ways. With VIRTIO_F_VERSION_1
 * it always has num_buffers, so it is 12 bytes, and the tap is set to the
 * same length so headers pass through unchanged. Little-endian fields. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define NET_HDR_LEN ((int)sizeof(struct virtio_net_hdr_v1))
#define NET_ETH_HLEN 14
/* The largest frame either side may hand over: a 64 KiB GSO packet plus
 * its Ethernet and VLAN headers (what Linux's tap accepts). */
#define NET_MAX_FRAME (65535 + NET_ETH_HLEN + 4)
#define NET_MAX_PKT (NET_HDR_LEN + NET_MAX_FRAME)

struct net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped, rx_malformed, rx_no_buffers;
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_malformed;
};

/* ---- frame logic (pure) ---- */

/* Check a header the guest sent with a frame of frame_len bytes (after the
 * header) against the features it acked: offloads only when negotiated,
 * a checksum offset inside the frame, a known GSO type. 0 or -EINVAL. */
int net_tx_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t features);

/* Split a TX chain (device-readable buffers: header then frame, cut
 * anywhere) into a copy of the header and an iovec list for writev() that
 * starts with that copy, so what goes to the tap is what was checked.
 * Returns the number of out entries, -EINVAL for a short or malformed
 * packet, -EMSGSIZE for one over NET_MAX_PKT or more than max_out pieces. */
int net_tx_gather(const struct iovec *chain, int n, uint64_t features,
                  struct virtio_net_hdr_v1 *hdr, struct iovec *out, int max_out,
                  size_t *frame_len);

/* Check the length of a packet read from the tap (header + frame): at
 * least a header and an Ethernet header, at most NET_MAX_PKT. 0 or -EINVAL. */
int net_rx_len_check(size_t len);

/* Put one packet from the tap (its header + frame, pkt[0..len)) into guest
 * chains: one chain without MRG_RXBUF, as many as it takes with it, the
 * header's num_buffers set accordingly. Entries are pushed, not published:
 * the caller publishes, so a guest never sees part of a merged packet.
 * Returns 0 when delivered, -EAGAIN when the queue ran out of chains first
 * (all chains returned: keep the packet and retry after the guest's next
 * notify), -EMSGSIZE when it can never fit (a chain too small without
 * MRG_RXBUF, or one with readable buffers: drop the packet), or the pop
 * error. */
int net_rx_deliver(const struct vchain_queue *rxq, bool mrg, uint8_t *pkt, size_t len);

/* ---- the device, on any transport that provides vchain queues ---- */

struct net_dev {
	int tap_fd;
	bool own_fd;            /* opened by name: we close it */
	struct loop *loop;
	/* The tap is registered once, edge-triggered, and never re-armed.
	 * Back-pressure is simply not reading; this flag remembers that the
	 * tap may still hold frames (no EAGAIN seen since the last edge). */
	bool tap_ready;
	void (*lock)(void *);   /* the transport's lock, taken by the tap handler */
	void (*unlock)(void *);
	void *lock_ctx;
	bool active;            /* driver OK: queues usable */
	uint64_t features;      /* acked by the driver */
	bool has_mac;
	uint16_t mtu;           /* 0: VIRTIO_NET_F_MTU not offered */
	bool tap_dead;          /* the tap reported an error: no more RX */
	uint8_t mac[6];
	char name[16];
	struct vchain_queue rxq, txq;
	struct vchain_limit rx_limit, tx_limit; /* charged per frame */
	bool rx_throttled, tx_throttled;
	/* one packet read from the tap and not yet placed (no guest buffers) */
	uint8_t *rx_pkt;
	size_t rx_len;
	bool rx_pending;
	bool rx_paid;           /* its tokens are already taken */
	bool rx_broken;         /* an unusable RX buffer: no RX until reset */
	struct net_stats stats;
	uint64_t logged_drops;  /* drops already warned about (rate limit) */
	/* MMDS on this interface (devices/mmds/tcp.h), or NULL: its frames
	 * are taken from TX before the tap, its replies come before the
	 * tap's on RX. Freed with the device. */
	struct mmds_stack *mmds;
};

/* Open the tap (by name, or take tap_fd >= 0 as is) and get ready; the
 * MAC comes from cfg (or a random locally administered one). */
int net_dev_init(struct net_dev *nd, const struct net_config *cfg, int tap_fd,
                 struct loop *loop);
void net_dev_destroy(struct net_dev *nd);
/* The features this device offers (VERSION_1 included; MAC only when one
 * was configured, else the guest picks its own like on Firecracker). */
uint64_t net_dev_features(const struct net_dev *nd);
/* The guest's config space: mac[6], status le16 (link up). */
void net_dev_config_read(const struct net_dev *nd, uint64_t off, void *data, uint32_t len);
/* DRIVER_OK: offloads the guest acked go to the tap, RX starts. */
int net_dev_activate(struct net_dev *nd, uint64_t acked, struct vchain_queue rxq,
                     struct vchain_queue txq);
/* Device reset: stop RX, forget queues and any held packet. */
void net_dev_reset(struct net_dev *nd);
/* The guest added RX buffers: place a held packet, read the tap again. */
void net_dev_rx_notify(struct net_dev *nd);
/* The guest queued frames: send them all to the tap. */
void net_dev_tx_notify(struct net_dev *nd);
/* A rate limiter refilled. */
void net_dev_rx_resume(struct net_dev *nd);
void net_dev_tx_resume(struct net_dev *nd);

/* ---- virtio-net on the virtio-mmio transport ----
 *
 * Use (the vmm, at InstanceStart, after the drives' slots):
 *     struct net *n;
 *     ret = net_create(&n, &env, &nets->items[i], -1, slot);  // -1: open by name
 *     virtio_mmio_cmdline(&n->t, frag, sizeof(frag));                   // append to cmdline
 *     ...
 *     net_destroy(n);   // after the vCPUs are gone
 * Queues: 0 receive, 1 transmit. */

#include "devices/virtio/mac.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/class.h"
#include "vmm/limits.h"

#define NET_QUEUE_RX 0
#define NET_QUEUE_TX 1

struct net {
	struct virtio_mmio t;
	struct net_dev dev;
	struct vchain_vq rxa, txa;
	/* rx: frames from the tap into the guest; tx: guest frames out. A
	 * throttled direction stops (nothing dropped) until its timerfd */
	struct rate_limiter rx_rl, tx_rl;
};

int net_create(struct net **out, const struct virtio_env *env, const struct net_config *cfg,
               int tap_fd, unsigned slot);
void net_destroy(struct net *n);
/* PATCH /network-interfaces: replace the buckets rx/tx set (NULL: keep). */
void net_update_rate_limiters(struct net *n, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx);

/* ---- CLI ---- */

/* --net "tap=NAME[,mac=aa:bb:cc:dd:ee:ff][,id=IFACE]" into a net_config
 * (strings malloc'd, freed by config_free). 0 or -EINVAL with *what set. */
int net_parse_cli(const char *arg, struct net_config *out, const char **what);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct net *:
 * transport and queue state, identity = the configured MAC. */
struct snapshot_dev_ops;

/* For vmm_attach: cfg is a struct net_config (the tap opened by name). */
extern const struct virtio_class net_class;

/* husk run's --net option (vmm/cli.h). */
extern const struct cli_opt net_cli_opt;

#endif
