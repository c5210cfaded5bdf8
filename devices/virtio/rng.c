/* rng: virtio-rng entropy from the host kernel. */
#include "devices/virtio/rng.h"

#include <string.h>
#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "vmm/cli.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

/* one piece of the guest's buffers; ctx holds the first error */
static bool rng_fill_piece(void *ctx, uint8_t *p, size_t want)
{
	int *err = ctx;
	while (want) {
		/* flags 0: the pool is initialised long before a VM runs, and a
		 * short read of more than 256 bytes is legal */
		ssize_t r = getrandom(p, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = -errno;
			return false;
		}
		p += r;
		want -= (size_t)r;
	}
	return true;
}

long rng_fill(const struct iovec *iov, int n, size_t max)
{
	int err = 0;
	size_t done = vchain_iov_walk(iov, n, 0, max, rng_fill_piece, &err);
	return err ? err : (long)done;
}

#define VIRTIO_F_VERSION_1 32

uint64_t rng_dev_features(void)
{
	return 1ULL << VIRTIO_F_VERSION_1;
}

int rng_dev_activate(struct rng_dev *rd, uint64_t acked, struct vchain_queue q)
{
	(void)acked;
	rd->q = q;
	rd->active = true;
	rd->throttled = false;
	return 0;
}

void rng_dev_reset(struct rng_dev *rd)
{
	rd->active = false;
}

void rng_dev_notify(struct rng_dev *rd)
{
	static __thread struct vchain c;
	bool used = false;
	if (!rd->active || rd->throttled)
		return;
	unsigned budget = VCHAIN_BUDGET;
	for (;;) {
		if (vchain_pop_budget(&rd->q, &c, &budget) <= 0)
			break;
		long n = 0;
		size_t want = vchain_iov_len(c.iov + c.nread, c.nwrite);
		if (want > RNG_MAX_REQUEST)
			want = RNG_MAX_REQUEST;
		if (c.nread) {
			rd->malformed++; /* a request has only writable buffers */
		} else {
			if (!vchain_charge(&rd->limit, 1, want)) {
				rd->q.ops->unpop(rd->q.q, 1);
				rd->throttled = true;
				break;
			}
			n = rng_fill(c.iov, c.nwrite, want);
			if (n < 0)
				n = 0; /* no entropy this time: an empty answer */
			rd->requests++;
			rd->bytes += (uint64_t)n;
		}
		rd->q.ops->push(rd->q.q, c.head, (uint32_t)n);
		used = true;
	}
	if (used)
		rd->q.ops->publish(rd->q.q);
}

void rng_dev_resume(struct rng_dev *rd)
{
	rd->throttled = false;
	rng_dev_notify(rd);
}

/* ---- on the virtio-mmio transport ---- */

static uint64_t rng_features(void *dev)
{
	(void)dev;
	return rng_dev_features() | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	       VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
}

static int rng_activate(void *dev)
{
	struct rng *r = dev;
	return rng_dev_activate(&r->dev, r->t.driver_features, vchain_vq_init(&r->qa, &r->t, 0));
}

static void rng_queue_notify(void *dev, unsigned q)
{
	struct rng *r = dev;
	if (q == 0)
		rng_dev_notify(&r->dev);
}

static void rng_reset(void *dev)
{
	struct rng *r = dev;
	rng_dev_reset(&r->dev);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.features = rng_features,
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
};

static void rng_on_rate_timer(void *opaque, uint32_t events)
{
	struct rng *r = opaque;
	(void)events;
	virtio_mmio_lock(&r->t);
	rate_limiter_on_timer(&r->rl);
	rng_dev_resume(&r->dev);
	virtio_mmio_unlock(&r->t);
}

void rng_update_rate_limiter(struct rng *r, const struct rate_limiter_config *cfg)
{
	virtio_mmio_lock(&r->t);
	rate_limiter_update(&r->rl, cfg);
	virtio_mmio_unlock(&r->t);
}

int rng_parse_cli(const char *arg, struct rate_limiter_config *cfg)
{
	char *dup = strdup(arg), *save = NULL;
	int ret = 0;
	if (!dup)
		return -ENOMEM;
	for (char *kv = strtok_r(dup, ",", &save); kv && ret == 0; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		if (!val) {
			ret = -EINVAL;
			break;
		}
		*val++ = '\0';
		ret = rate_limiter_parse_cli_key(kv, val, cfg) == 1 ? 0 : -EINVAL;
	}
	free(dup);
	return ret;
}

int rng_create(struct rng **out, const struct virtio_env *env, unsigned slot)
{
	static const struct rate_limiter_config none;
	struct rng *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return -ENOMEM;
	/* no limit until rng_update_rate_limiter sets one */
	int ret = rate_limiter_init(&r->rl, &none);
	if (ret < 0) {
		free(r);
		return ret;
	}
	ret = virtio_mmio_init(&r->t, env, slot, &rng_ops, r);
	if (ret < 0) {
		rate_limiter_destroy(&r->rl);
		free(r);
		return ret;
	}
	if (env->loop) {
		ret = loop_add(env->loop, rate_limiter_fd(&r->rl), EPOLLIN, rng_on_rate_timer, r);
		if (ret < 0) {
			virtio_mmio_destroy(&r->t);
			rate_limiter_destroy(&r->rl);
			free(r);
			return ret;
		}
	}
	r->dev.limit = (struct vchain_limit){ rate_limiter_consume_hook, &r->rl };
	log_info("rng: virtio-rng in slot %u", slot);
	*out = r;
	return 0;
}

void rng_destroy(struct rng *r)
{
	if (!r)
		return;
	if (r->t.env.loop)
		loop_del(r->t.env.loop, rate_limiter_fd(&r->rl));
	rate_limiter_destroy(&r->rl);
	virtio_mmio_destroy(&r->t);
	free(r);
}

/* ---- the class vmm_attach uses ---- */

static int rng_class_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	const struct rng_config *c = cfg;
	int ret = rng_create((struct rng **)dev, env, slot);
	if (ret == 0)
		rng_update_rate_limiter(*dev, &c->rate_limiter);
	return ret;
}

static void rng_class_destroy(void *dev) { rng_destroy(dev); }

const struct virtio_class rng_class = {
	.name = "virtio-rng",
	.create = rng_class_create,
	.destroy = rng_class_destroy,
	.transport_at = offsetof(struct rng, t),
};

/* ---- husk run --rng ---- */

/* A later --rng changes the buckets it names, as a PATCH would. */
static int rng_cli_apply(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	const struct rng_config *before = rng_config_of(cfg);
	struct rng_config *r = malloc(sizeof(*r));
	int ret = 0;
	if (!r)
		return errmsg_set(err, errlen, -ENOMEM, "--rng: out of memory");
	*r = before ? *before : (struct rng_config){ 0 };
	if (arg && rng_parse_cli(arg, &r->rate_limiter) < 0)
		ret = errmsg_set(err, errlen, -EINVAL, "--rng=bw=RATE,ops=RATE: bad rate '%s'", arg);
	else if ((ret = rng_config_set(cfg, r)) < 0)
		errmsg_set(err, errlen, ret, "--rng: too many device kinds");
	if (ret < 0)
		rng_config_free(r);
	return ret;
}

const struct cli_opt rng_cli_opt = { "rng", optional_argument, "[--rng[=bw=RATE,ops=RATE]]", rng_cli_apply };
