/* rng: virtio-rng (device id 4), one request queue whose device-writable
 * buffers are filled from getrandom(). */
#ifndef HUSK_VIRTIO_RNG_H
#define HUSK_VIRTIO_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/chain.h"

#define VIRTIO_ID_RNG 4
/* The most one request gets: a guest asking for more gets this much
 * (virtio-rng lets the device return less than the buffer). */
#define RNG_MAX_REQUEST (64 * 1024)

/* Fill up to max bytes of the iovec list with random bytes; returns the
 * bytes written or -errno (getrandom failed). */
long rng_fill(const struct iovec *iov, int n, size_t max);

struct rng_dev {
	struct vchain_queue q;
	bool active, throttled;
	struct vchain_limit limit; /* false: wait for rng_dev_resume() */
	uint64_t requests, bytes, malformed;
};

uint64_t rng_dev_features(void);
int rng_dev_activate(struct rng_dev *rd, uint64_t acked, struct vchain_queue q);
void rng_dev_reset(struct rng_dev *rd);
void rng_dev_notify(struct rng_dev *rd);
void rng_dev_resume(struct rng_dev *rd);

/* ---- virtio-rng on the virtio-mmio transport ----
 *     struct rng *r;
 *     ret = rng_create(&r, &env, slot);   // --rng / PUT /entropy
 *     virtio_mmio_cmdline(&r->t, frag, sizeof(frag));
 *     rng_destroy(r); */

#include "devices/virtio/mmio.h"
#include "devices/virtio/class.h"
#include "vmm/limits.h"

struct rng {
	struct virtio_mmio t;
	struct rng_dev dev;
	struct vchain_vq qa;
	struct rate_limiter rl; /* ops = requests, bandwidth = bytes asked for */
};

int rng_create(struct rng **out, const struct virtio_env *env, unsigned slot);
void rng_destroy(struct rng *r);
/* PUT /entropy rate_limiter, --rng=bw=..,ops=..: replace the buckets cfg
 * sets. Call on the vmm thread. */
void rng_update_rate_limiter(struct rng *r, const struct rate_limiter_config *cfg);
/* "bw=RATE,ops=RATE" (the --rng=... value) into cfg; -EINVAL if bad. */
int rng_parse_cli(const char *arg, struct rate_limiter_config *cfg);

/* The device's configuration (PUT /entropy, --rng), kept in a vm_config
 * under rng_class (config_device). */
struct rng_config {
	struct rate_limiter_config rate_limiter;
};

struct vm_config;
/* c's rng, or NULL: none configured. */
const struct rng_config *rng_config_of(const struct vm_config *c);
/* Make r (malloc'd) c's rng; -ENOSPC (r still the caller's) if c has no room. */
int rng_config_set(struct vm_config *c, struct rng_config *r);
/* Free r (NULL is fine). */
void rng_config_free(void *r);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct rng *. */
struct snapshot_dev_ops;

/* For vmm_attach: cfg is the entropy device's struct rate_limiter_config. */
extern const struct virtio_class rng_class;

/* husk run's --rng option (vmm/cli.h). */
extern const struct cli_opt rng_cli_opt;

#endif
