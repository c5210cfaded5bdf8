/* vsock: virtio-vsock (device id 19). Three queues (rx, tx, event); the
 * packets and connections are vsock_mux's business, this file moves them
 * between the queues and the mux. */
#ifndef HUSK_VIRTIO_VSOCK_H
#define HUSK_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/chain.h"
#include "devices/virtio/vsock_mux.h"
#include "vmm/loop.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1
#define VSOCK_QUEUE_EVENT 2
#define VSOCK_NUM_QUEUES 3
#define VSOCK_EVENT_TRANSPORT_RESET 0

struct vsock_dev {
	struct vsock_mux mux;
	struct vchain_queue rxq, txq, evq;
	bool active;
	bool busy;     /* inside queue processing: a kick only marks */
	bool kicked;
	uint64_t malformed; /* chains that were not a packet */
};

/* Listen on uds_path for the host side; guest CID >= 3. */
int vsock_dev_init(struct vsock_dev *vd, uint64_t guest_cid, const char *uds_path,
                   struct loop *loop);
void vsock_dev_destroy(struct vsock_dev *vd);
uint64_t vsock_dev_features(void);
/* Config space: le64 guest_cid. */
void vsock_dev_config_read(const struct vsock_dev *vd, uint64_t off, void *data, uint32_t len);
int vsock_dev_activate(struct vsock_dev *vd, uint64_t acked, struct vchain_queue rxq,
                       struct vchain_queue txq, struct vchain_queue evq);
void vsock_dev_rx_notify(struct vsock_dev *vd);
/* After a snapshot restore: tell the guest its connections are gone
 * (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue) and drop ours.
 * 0, -EAGAIN (not active), -ENOSPC (no event buffer), or a queue error. */
int vsock_dev_transport_reset(struct vsock_dev *vd);
void vsock_dev_tx_notify(struct vsock_dev *vd);

/* ---- virtio-vsock on the virtio-mmio transport ----
 *
 * Use (the vmm, at InstanceStart):
 *     struct vsock *v;
 *     ret = vsock_create(&v, &env, cfg->vsock.guest_cid, cfg->vsock.uds_path, slot);
 *     virtio_mmio_cmdline(&v->t, frag, sizeof(frag));
 *     ...
 *     vsock_destroy(v);   // after the vCPUs are gone; unlinks uds_path
 * Activation and reset run on the vmm thread (the transport hands them
 * over), so the sockets' loop state is only ever touched there. */

#include "devices/virtio/mmio.h"
#include "devices/virtio/class.h"

struct vsock {
	struct virtio_mmio t;
	struct vsock_dev dev;
	struct vchain_vq rxa, txa, eva;
};

int vsock_create(struct vsock **out, const struct virtio_env *env, uint64_t guest_cid,
                 const char *uds_path, unsigned slot);
void vsock_destroy(struct vsock *v);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct vsock *:
 * transport and queue state, identity = guest CID; connections reset. */
struct snapshot_dev_ops;

/* The device's configuration (PUT /vsock, --vsock), kept in a vm_config
 * under vsock_class (config_device). */
struct vsock_config {
	uint32_t guest_cid;
	char *uds_path;
};

struct vm_config;
/* c's vsock, or NULL: none configured. */
const struct vsock_config *vsock_config_of(const struct vm_config *c);
/* Make v (malloc'd) c's vsock; -ENOSPC (v still the caller's) if c has no room. */
int vsock_config_set(struct vm_config *c, struct vsock_config *v);
/* Free v and what it owns (NULL is fine). */
void vsock_config_free(void *v);

/* For vmm_attach: cfg is a struct vsock_config. */
extern const struct virtio_class vsock_class;

/* husk run's --vsock option (vmm/cli.h). */
extern const struct cli_opt vsock_cli_opt;

#endif
