/* balloon_mmio: virtio-balloon on the virtio-mmio transport: the class
 * vmm_attach uses, the stats polling timer and what the API changes after
 * boot (the target, the polling interval). */
#include "devices/virtio/balloon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmm/cli.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

#define MIB_PAGES (1048576u / BALLOON_PAGE)

static uint64_t balloon_features(void *dev)
{
	const struct balloon *b = dev;
	uint64_t f = VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
	/* Firecracker's rule: no stats queue unless a polling interval is set */
	if (b->cfg.stats_polling_interval_s)
		f |= VIRTIO_FEATURE(BALLOON_F_STATS_VQ);
	if (b->cfg.deflate_on_oom)
		f |= VIRTIO_FEATURE(BALLOON_F_DEFLATE_ON_OOM);
	if (b->cfg.free_page_hinting)
		f |= VIRTIO_FEATURE(BALLOON_F_FREE_PAGE_HINT);
	if (b->cfg.free_page_reporting)
		f |= VIRTIO_FEATURE(BALLOON_F_REPORTING);
	return f;
}

static struct vchain_queue balloon_queue(void *ctx, unsigned i)
{
	struct balloon *b = ctx;
	return vchain_vq_init(&b->qa[i], &b->t, i);
}

static int balloon_activate(void *dev)
{
	struct balloon *b = dev;
	balloon_dev_activate(&b->dev, b->t.driver_features, balloon_queue, b);
	return 0;
}

static void balloon_queue_notify(void *dev, unsigned q) { balloon_dev_notify(&((struct balloon *)dev)->dev, q); }
static void balloon_reset(void *dev) { balloon_dev_reset(&((struct balloon *)dev)->dev); }

static void balloon_config_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	balloon_dev_config_read(&((struct balloon *)dev)->dev, off, data, len);
}

static void balloon_config_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	balloon_dev_config_write(&((struct balloon *)dev)->dev, off, data, len);
}

/* before a snapshot: the held stats buffer goes back, so the rings hold
 * the whole state (the restored driver sends a new one) */
static void balloon_quiesce(void *dev) { balloon_dev_poll_stats(&((struct balloon *)dev)->dev); }

static const struct virtio_dev_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.nr_queues = 5, /* inflate, deflate, stats, hinting, reporting */
	.features = balloon_features,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.activate = balloon_activate,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.quiesce = balloon_quiesce,
};

static void balloon_on_timer(void *opaque, uint32_t events)
{
	struct balloon *b = opaque;
	uint64_t ticks;
	(void)events;
	if (read(b->timer_fd, &ticks, sizeof(ticks)) < 0)
		return; /* spurious: nothing expired */
	virtio_mmio_lock(&b->t);
	balloon_dev_poll_stats(&b->dev);
	virtio_mmio_unlock(&b->t);
}

static int balloon_arm(struct balloon *b, uint32_t seconds)
{
	struct itimerspec its = { { seconds, 0 }, { seconds, 0 } };
	return timerfd_settime(b->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void balloon_set_target(struct balloon *b, uint32_t amount_mib)
{
	virtio_mmio_lock(&b->t);
	b->cfg.amount_mib = amount_mib;
	b->dev.target_pages = amount_mib * MIB_PAGES;
	virtio_mmio_config_changed(&b->t);
	virtio_mmio_unlock(&b->t);
}

int balloon_set_interval(struct balloon *b, uint32_t seconds)
{
	/* the stats queue was offered, or not, at boot: no switching */
	if ((seconds == 0) != (b->cfg.stats_polling_interval_s == 0))
		return -EINVAL;
	virtio_mmio_lock(&b->t);
	b->cfg.stats_polling_interval_s = seconds;
	int ret = seconds ? balloon_arm(b, seconds) : 0;
	virtio_mmio_unlock(&b->t);
	return ret;
}

int balloon_hint_start(struct balloon *b, bool ack_on_stop)
{
	virtio_mmio_lock(&b->t);
	int ret = balloon_dev_hint_start(&b->dev, ack_on_stop);
	virtio_mmio_unlock(&b->t);
	return ret;
}

int balloon_hint_stop(struct balloon *b)
{
	virtio_mmio_lock(&b->t);
	int ret = balloon_dev_hint_stop(&b->dev);
	virtio_mmio_unlock(&b->t);
	return ret;
}

/* a hinting command in the config space: the driver rereads it */
static void balloon_config_changed(void *ctx) { virtio_mmio_config_changed(&((struct balloon *)ctx)->t); }

void balloon_view(struct balloon *b, struct balloon_view *v)
{
	virtio_mmio_lock(&b->t);
	v->target_pages = b->dev.target_pages;
	v->actual_pages = b->dev.actual_pages;
	v->hint = b->dev.hint;
	v->st = b->dev.st;
	v->n = b->dev.n;
	virtio_mmio_unlock(&b->t);
}

static void balloon_destroy(void *dev)
{
	struct balloon *b = dev;
	if (!b)
		return;
	if (b->t.env.loop && b->timer_fd >= 0)
		loop_del(b->t.env.loop, b->timer_fd);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	virtio_mmio_destroy(&b->t);
	balloon_dev_fini(&b->dev);
	free(b);
}

static int balloon_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	struct balloon *b = calloc(1, sizeof(*b));
	int ret = -ENOMEM;
	*dev = NULL;
	if (!b)
		return -ENOMEM;
	b->cfg = *(const struct balloon_config *)cfg;
	b->dev.target_pages = b->cfg.amount_mib * MIB_PAGES;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->timer_fd < 0) {
		ret = -errno;
		free(b);
		return ret;
	}
	ret = balloon_dev_init(&b->dev, env->gm);
	b->dev.config_changed = balloon_config_changed;
	b->dev.ctx = b;
	if (ret == 0)
		ret = virtio_mmio_init(&b->t, env, slot, &balloon_ops, b);
	if (ret < 0) {
		balloon_dev_fini(&b->dev);
		close(b->timer_fd);
		free(b);
		return ret;
	}
	if (env->loop)
		ret = loop_add(env->loop, b->timer_fd, EPOLLIN, balloon_on_timer, b);
	if (ret == 0 && b->cfg.stats_polling_interval_s)
		ret = balloon_arm(b, b->cfg.stats_polling_interval_s);
	if (ret < 0) {
		balloon_destroy(b);
		return ret;
	}
	if (env->gm->page_size != BALLOON_PAGE) /* balloon_discard keeps huge pages */
		log_warn("balloon: guest RAM is in huge pages: inflated pages stay with the host process");
	log_info("balloon: virtio-balloon in slot %u, target %u MiB", slot, b->cfg.amount_mib);
	*dev = b;
	return 0;
}



/* ---- husk run --balloon=amount_mib=N[,deflate_on_oom][,stats=S][,reporting][,hinting] ---- */

static int balloon_cli_key(char *kv, struct balloon_config *c)
{
	char *val = strchr(kv, '=');
	char *end = NULL;
	unsigned long v = 0;
	if (val) {
		*val++ = '\0';
		v = strtoul(val, &end, 10);
		if (!*val || *end || v > UINT32_MAX)
			return -EINVAL;
	}
	if (!strcmp(kv, "amount_mib") && val)
		c->amount_mib = (uint32_t)v;
	else if (!strcmp(kv, "stats") && val)
		c->stats_polling_interval_s = (uint32_t)v;
	else if (!strcmp(kv, "deflate_on_oom") && !val)
		c->deflate_on_oom = true;
	else if (!strcmp(kv, "reporting") && !val)
		c->free_page_reporting = true;
	else if (!strcmp(kv, "hinting") && !val)
		c->free_page_hinting = true;
	else
		return -EINVAL;
	return 0;
}

static int balloon_cli_apply(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	char *dup = strdup(arg), *save = NULL;
	struct balloon_config *c = calloc(1, sizeof(*c));
	int ret = dup && c ? 0 : -ENOMEM;
	for (char *kv = ret == 0 ? strtok_r(dup, ",", &save) : NULL; kv && ret == 0; kv = strtok_r(NULL, ",", &save))
		ret = balloon_cli_key(kv, c);
	free(dup);
	if (ret < 0)
		errmsg_set(err, errlen, ret, "--balloon=amount_mib=N[,deflate_on_oom][,stats=S][,reporting][,hinting]: "
		           "bad value '%s'", arg);
	else if ((ret = balloon_config_set(cfg, c)) < 0)
		errmsg_set(err, errlen, ret, "--balloon: too many device kinds");
	if (ret < 0)
		balloon_config_free(c);
	return ret;
}

const struct cli_opt balloon_cli_opt = { "balloon", required_argument,
	                                 "[--balloon amount_mib=N[,deflate_on_oom][,stats=S][,reporting][,hinting]]",
	                                 balloon_cli_apply };

/* ---- snapshots: which pages are in the balloon, actual, hinting ----
 * The queues are the transport's; this is the rest, so a restored
 * balloon deflates the pages it had and reports the same size. */

struct balloon_snap {
	uint32_t magic, version;
	uint32_t target_pages, actual_pages;
	uint64_t nr_in, bitmap_bytes;
	/* the hinting run: host_cmd, last_cmd, guest_cmd, then bit 0
	 * guest_seen, bit 1 ack_on_stop */
	uint32_t hint_host, hint_last, hint_guest, hint_flags;
	/* then bitmap_bytes of the bitmap */
};

#define BALLOON_SNAP_MAGIC 0x4c4c4142u /* "BALL" */
#define BALLOON_SNAP_VERSION 2 /* 2: with the hinting run */

static int balloon_snap_save(void *opaque, void **blob, size_t *len)
{
	struct balloon *b = opaque;
	size_t bytes = balloon_dev_bitmap_bytes(b->dev.gm);
	struct balloon_snap *s = malloc(sizeof(*s) + bytes);
	if (!s)
		return -ENOMEM;
	virtio_mmio_lock(&b->t);
	const struct balloon_hint *h = &b->dev.hint;
	*s = (struct balloon_snap){ BALLOON_SNAP_MAGIC, BALLOON_SNAP_VERSION, b->dev.target_pages,
		                    b->dev.actual_pages, b->dev.nr_in, bytes, h->host_cmd, h->last_cmd,
		                    h->guest_cmd, (uint32_t)h->guest_seen | (uint32_t)h->ack_on_stop << 1 };
	memcpy(s + 1, b->dev.in, bytes);
	virtio_mmio_unlock(&b->t);
	*blob = s;
	*len = sizeof(*s) + bytes;
	return 0;
}

/* The file is untrusted: the bitmap must fit this machine's RAM and its
 * count agree with it. */
static int balloon_snap_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct balloon *b = opaque;
	struct balloon_snap s;
	size_t bytes = balloon_dev_bitmap_bytes(b->dev.gm);
	uint64_t count = 0;
	if (len < sizeof(s))
		return errmsg_set(err, errlen, -EINVAL, "balloon state: truncated");
	memcpy(&s, blob, sizeof(s));
	if (s.magic != BALLOON_SNAP_MAGIC || s.version != BALLOON_SNAP_VERSION || s.bitmap_bytes != bytes ||
	    len != sizeof(s) + bytes)
		return errmsg_set(err, errlen, -EINVAL, "balloon state: not this machine's memory size");
	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++) {
		uint64_t w;
		memcpy(&w, blob + sizeof(s) + i * sizeof(w), sizeof(w));
		count += (uint64_t)__builtin_popcountll(w);
	}
	if (count != s.nr_in)
		return errmsg_set(err, errlen, -EINVAL, "balloon state: page count does not match its bitmap");
	return 0;
}

static int balloon_snap_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct balloon *b = opaque;
	struct balloon_snap s;
	(void)len; /* checked */
	memcpy(&s, blob, sizeof(s));
	virtio_mmio_lock(&b->t);
	b->dev.target_pages = s.target_pages;
	b->dev.actual_pages = s.actual_pages;
	b->dev.nr_in = s.nr_in;
	memcpy(b->dev.in, blob + sizeof(s), s.bitmap_bytes);
	b->dev.hint = (struct balloon_hint){ s.hint_host, s.hint_last, s.hint_guest, s.hint_flags & 1,
		                             s.hint_flags & 2 };
	/* as Firecracker does: a run caught by the snapshot ends on restore,
	 * so the driver takes back the pages it held for it */
	if (b->dev.active && b->dev.hint.host_cmd > BALLOON_HINT_DONE)
		balloon_dev_hint_stop(&b->dev);
	virtio_mmio_unlock(&b->t);
	return 0;
}

static const struct snapshot_dev_ops balloon_snap_ops = {
	.save = balloon_snap_save,
	.check = balloon_snap_check,
	.restore = balloon_snap_restore,
};

const struct virtio_class balloon_class = {
	.name = "virtio-balloon",
	.create = balloon_create,
	.destroy = balloon_destroy,
	.transport_at = offsetof(struct balloon, t),
	.state_ops = &balloon_snap_ops,
};
