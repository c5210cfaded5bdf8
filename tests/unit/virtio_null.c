/* virtio_null: the smallest virtio device kind, and the worked example of
 * adding one (README, "Adding a device"). One queue; every chain the
 * driver offers comes back used with nothing written. Used only by the
 * unit tests (test_device.c); a real kind lives in devices/virtio/ and
 * its one registration is a vmm_attach line in vmm/vmm.c. */
#include "virtio_null.h"

#include <errno.h>
#include <stdlib.h>

#include "devices/virtio/chain.h"
#include "devices/virtio/mmio.h"

struct vnull {
	struct virtio_mmio t;
	struct vchain_vq qa;
	struct vchain_queue q;
	uint64_t chains;
};

static int vnull_activate(void *dev)
{
	struct vnull *v = dev;
	v->q = vchain_vq_init(&v->qa, &v->t, 0);
	return 0;
}

static void vnull_notify(void *dev, unsigned q)
{
	struct vnull *v = dev;
	struct vchain c;
	unsigned budget = VCHAIN_BUDGET;
	bool used = false;
	(void)q;
	while (vchain_pop_budget(&v->q, &c, &budget) == 1) {
		v->q.ops->push(v->q.q, c.head, 0);
		v->chains++;
		used = true;
	}
	if (used)
		v->q.ops->publish(v->q.q);
}

static const struct virtio_dev_ops vnull_ops = {
	.name = "virtio-null",
	.device_id = VIRTIO_ID_NULL,
	.nr_queues = 1,
	.activate = vnull_activate,
	.queue_notify = vnull_notify,
};

static int vnull_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	(void)cfg;
	struct vnull *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int ret = virtio_mmio_init(&v->t, env, slot, &vnull_ops, v);
	if (ret < 0) {
		free(v);
		return ret;
	}
	*dev = v;
	return 0;
}

static void vnull_destroy(void *dev)
{
	struct vnull *v = dev;
	vnull_destroyed++;
	virtio_mmio_destroy(&v->t);
	free(v);
}


uint64_t vnull_chains(const void *dev) { return ((const struct vnull *)dev)->chains; }

int vnull_destroyed;

const struct virtio_class vnull_class = {
	.name = "virtio-null",
	.create = vnull_create,
	.destroy = vnull_destroy,
	.transport_at = offsetof(struct vnull, t),
};
