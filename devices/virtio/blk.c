/* blk: virtio-blk request parsing, the sync engine and the queue loop
 * (see blk.h). */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/cli.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

#define VIRTIO_ID_BLOCK 2

#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_T_DISCARD 11
#define BLK_T_WRITE_ZEROES 13
#define BLK_WZ_F_UNMAP 1
/* discard / write-zeroes limits we advertise */
#define BLK_RANGE_MAX_SEGS 16
#define BLK_RANGE_MAX_SECTORS (1u << 22) /* 2 GiB per segment */

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define BLK_HDR_LEN 16
/* Largest IN/OUT we take: one host call (preadv and an io_uring result
 * both top out near 2 GiB), far above what drivers send (seg_max pages). */
#define BLK_MAX_IO_BYTES (1ull << 30)

/* ---- request parsing ---- */

/* The chain's parts: header and OUT data readable, IN data and the status
 * byte writable (the last byte of the last writable buffer). */
static size_t blk_out_len(const struct vchain *c) { return vchain_iov_len(c->iov, c->nread); }
static size_t blk_in_len(const struct vchain *c) { return vchain_iov_len(c->iov + c->nread, c->nwrite); }

/* Point req->iov at [off, off+len) of c's readable (write) or writable
 * part. */
static void blk_req_take(struct blk_req *req, const struct vchain *c, bool readable,
                         uint64_t off, uint64_t len)
{
	const struct iovec *iov = readable ? c->iov : c->iov + c->nread;
	int n = readable ? c->nread : c->nwrite;
	size_t got;
	/* a chain has at most VIRTQ_MAX_SEGS buffers: the slice fits */
	req->iovcnt = vchain_iov_slice(iov, n, off, len, req->iov, VIRTQ_MAX_SEGS, &got);
	req->len = got;
}

static int blk_finish(struct blk_req *req, uint8_t status)
{
	req->status_val = status;
	*req->status = status;
	if (status != BLK_S_OK)
		req->used_len = 1;
	return 1;
}

/* sector range check without overflow */
static bool blk_in_range(const struct blk *b, uint64_t sector, uint64_t len)
{
	uint64_t n = len / BLK_SECTOR_SIZE;
	return sector <= b->nsectors && n <= b->nsectors - sector;
}

static int blk_parse_rw(struct blk *b, const struct vchain *c, struct blk_req *req)
{
	bool write = req->type == BLK_T_OUT;
	if (write) /* data: the readable bytes after the header */
		blk_req_take(req, c, true, BLK_HDR_LEN, blk_out_len(c) - BLK_HDR_LEN);
	else /* data: the writable bytes before the status byte */
		blk_req_take(req, c, false, 0, blk_in_len(c) - 1);
	if (write && b->ro)
		return blk_finish(req, BLK_S_IOERR);
	if (req->len % BLK_SECTOR_SIZE || req->len > BLK_MAX_IO_BYTES ||
	    !blk_in_range(b, req->sector, req->len))
		return blk_finish(req, BLK_S_IOERR);
	req->offset = req->sector * BLK_SECTOR_SIZE;
	req->used_len = write ? 1 : (uint32_t)req->len + 1;
	if (req->len == 0)
		return blk_finish(req, BLK_S_OK);
	return 0;
}

static int blk_parse_get_id(struct blk *b, const struct vchain *c, struct blk_req *req)
{
	size_t room = blk_in_len(c) - 1;
	size_t done = vchain_iov_write(c->iov + c->nread, c->nwrite, 0, b->id,
	                               room < BLK_ID_BYTES ? room : BLK_ID_BYTES);
	req->used_len = (uint32_t)done + 1;
	return blk_finish(req, BLK_S_OK);
}

/* WRITE_ZEROES without UNMAP: the range reads as zeroes and stays
 * allocated. Where the filesystem has no FALLOC_FL_ZERO_RANGE (tmpfs, so
 * a drive in /dev/shm or a tmpfs /tmp), a punched hole allocated again
 * gives the same. */
static int blk_zero_range(int fd, off_t off, off_t len)
{
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE, off, len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, off, len) < 0 ||
	    fallocate(fd, FALLOC_FL_KEEP_SIZE, off, len) < 0)
		return -errno;
	return 0;
}

/* DISCARD / WRITE_ZEROES: segments of {sector u64, num_sectors u32,
 * flags u32} after the header. The list is copied out of guest memory once
 * and checked and used only from that copy (another vCPU may rewrite the
 * guest's copy meanwhile). Done right here with fallocate (files and block
 * devices both support it): both engines give the same result. */
static int blk_do_ranges(struct blk *b, const struct vchain *c, struct blk_req *req)
{
	struct blk_range_seg {
		uint64_t sector;
		uint32_t num, flags;
	} segs[BLK_RANGE_MAX_SEGS];
	uint64_t len = blk_out_len(c) - BLK_HDR_LEN;
	if (b->ro || len == 0 || len % sizeof(segs[0]) || len > sizeof(segs) ||
	    vchain_iov_read(c->iov, c->nread, BLK_HDR_LEN, segs, len) != len)
		return blk_finish(req, BLK_S_IOERR);
	size_t nr = len / sizeof(segs[0]);
	bool zeroes = req->type == BLK_T_WRITE_ZEROES;
	for (size_t i = 0; i < nr; i++) {
		uint64_t bytes = (uint64_t)segs[i].num * BLK_SECTOR_SIZE;
		if (segs[i].num > BLK_RANGE_MAX_SECTORS || !blk_in_range(b, segs[i].sector, bytes) ||
		    (segs[i].flags & ~(uint32_t)(zeroes ? BLK_WZ_F_UNMAP : 0)))
			return blk_finish(req, BLK_S_IOERR);
	}
	for (size_t i = 0; i < nr; i++) {
		if (segs[i].num == 0)
			continue;
		/* both leave zeroes behind: a discarded range reads as zeroes too */
		off_t off = (off_t)(segs[i].sector * BLK_SECTOR_SIZE);
		off_t n = (off_t)segs[i].num * BLK_SECTOR_SIZE;
		int ret;
		if (zeroes && !(segs[i].flags & BLK_WZ_F_UNMAP))
			ret = blk_zero_range(b->fd, off, n);
		else
			ret = fallocate(b->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, off, n);
		if (ret < 0)
			return blk_finish(req, BLK_S_IOERR);
	}
	return blk_finish(req, BLK_S_OK);
}

/* Copy the request header out of guest memory into req (the only read of
 * it) and find the status byte; -EBADMSG for a malformed chain. */
static int blk_read_header(const struct vchain *c, struct blk_req *req)
{
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} hdr;
	req->head = c->head;
	req->iovcnt = 0;
	req->len = 0;
	req->used_len = 1;
	if (c->nwrite < 1 || blk_out_len(c) < BLK_HDR_LEN)
		return -EBADMSG;
	/* popped chains hold no empty buffers: the last one has a last byte */
	const struct iovec *last = &c->iov[c->nread + c->nwrite - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	vchain_iov_read(c->iov, c->nread, 0, &hdr, sizeof(hdr));
	req->type = hdr.type;
	req->sector = hdr.sector;
	return 0;
}

/* What the request costs the rate limiter in bytes (a read's or write's
 * data; other types cost one op only), from req's copy of the header. */
static uint64_t blk_cost_bytes(const struct vchain *c, const struct blk_req *req)
{
	if (req->type == BLK_T_IN)
		return blk_in_len(c) - 1;
	if (req->type == BLK_T_OUT)
		return blk_out_len(c) - BLK_HDR_LEN;
	return 0;
}

/* Check the request whose header blk_read_header copied. Returns
 * 0: req needs I/O (IN, OUT, FLUSH with Writeback);
 * 1: already complete, status written (GET_ID, DISCARD, WRITE_ZEROES,
 *    errors, Unsafe FLUSH). */
static int blk_parse(struct blk *b, const struct vchain *c, struct blk_req *req)
{
	switch (req->type) {
	case BLK_T_IN:
	case BLK_T_OUT:
		return blk_parse_rw(b, c, req);
	case BLK_T_FLUSH:
		if (b->cache == CACHE_UNSAFE)
			return blk_finish(req, BLK_S_OK);
		return 0;
	case BLK_T_GET_ID:
		return blk_parse_get_id(b, c, req);
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		return blk_do_ranges(b, c, req);
	default:
		return blk_finish(req, BLK_S_UNSUPP);
	}
}

/* ---- completion ---- */

static void blk_account(struct blk *b, const struct blk_req *req, uint8_t status)
{
	if (status != BLK_S_OK) {
		b->stats.errors++;
		return;
	}
	switch (req->type) {
	case BLK_T_IN: b->stats.reads++; b->stats.bytes_read += req->len; break;
	case BLK_T_OUT: b->stats.writes++; b->stats.bytes_written += req->len; break;
	case BLK_T_FLUSH: b->stats.flushes++; break;
	case BLK_T_GET_ID: b->stats.get_ids++; break;
	}
}

/* res: bytes transferred or -errno, from either engine */
static void blk_complete_io(struct blk *b, struct blk_req *req, int64_t res)
{
	uint8_t status = BLK_S_OK;
	if (res < 0 || (req->type != BLK_T_FLUSH && (uint64_t)res != req->len)) {
		/* a short transfer inside the checked range means the file shrank
		 * or the host failed: either way the guest must not trust it */
		status = BLK_S_IOERR;
		log_debug("blk %.20s: request type %u at %llu: %lld", b->id, req->type,
		          (unsigned long long)req->offset, (long long)res);
	}
	blk_finish(req, status);
	blk_account(b, req, status);
	b->q.ops->push(b->q.q, req->head, req->used_len);
}

/* ---- sync engine ---- */

static int64_t blk_sync_rw(struct blk *b, struct blk_req *req)
{
	/* the request is at most BLK_SEG_MAX segments: within IOV_MAX */
	ssize_t r;
	do {
		if (req->type == BLK_T_IN)
			r = preadv(b->fd, req->iov, req->iovcnt, (off_t)req->offset);
		else
			r = pwritev(b->fd, req->iov, req->iovcnt, (off_t)req->offset);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void blk_sync_exec(struct blk *b, struct blk_req *req)
{
	int64_t res;
	if (req->type == BLK_T_FLUSH)
		res = fdatasync(b->fd) < 0 ? -errno : 0;
	else
		res = blk_sync_rw(b, req);
	blk_complete_io(b, req, res);
}

/* ---- the queue loop ---- */

static void blk_on_done(void *opaque, struct blk_req *req, int res)
{
	blk_complete_io(opaque, req, res);
}

static struct blk_req *blk_slot(struct blk *b)
{
	return b->uring ? blk_uring_get(b->uring) : &b->sync_req;
}

/* Take one popped chain into req: 1 complete (status written), 0 needs
 * I/O, -EAGAIN throttled (the chain is back on the ring), -EBADMSG. The
 * header is read once: the charge and the request both come from that
 * copy, so a guest cannot flip the type in between. */
static int blk_take(struct blk *b, struct blk_req *req)
{
	if (blk_read_header(&b->chain, req) < 0)
		return -EBADMSG;
	if (!vchain_charge(&b->limit, 1, blk_cost_bytes(&b->chain, req))) {
		/* the limiter's timerfd brings us back (blk_on_rate_timer) */
		b->q.ops->unpop(b->q.q, 1);
		return -EAGAIN;
	}
	return blk_parse(b, &b->chain, req);
}

/* Start or finish one request taken into req. Returns true if it
 * completed here; false if the ring now owns it. */
static bool blk_start(struct blk *b, struct blk_req *req, int taken)
{
	if (taken == 1) {
		blk_account(b, req, req->status_val);
		b->q.ops->push(b->q.q, req->head, req->used_len);
		return true;
	}
	if (!b->uring) {
		blk_sync_exec(b, req);
		return true;
	}
	int qret = blk_uring_queue(b->uring, req);
	if (qret == 0)
		return false; /* the slot now belongs to the ring */
	blk_complete_io(b, req, qret);
	return true;
}

/* Pop and start everything available, within the round's budget.
 * Returns true if a chain was completed here (publish it). Lock held. */
static bool blk_process(struct blk *b)
{
	bool pushed = false;
	unsigned budget = VCHAIN_BUDGET;
	b->stalled = false;
	for (;;) {
		struct blk_req *req = blk_slot(b);
		if (!req) {
			b->stalled = true; /* resumed by the completion handler */
			break;
		}
		/* pop: empty, budget spent (requeued) or broken all end the round */
		int ret = vchain_pop_budget(&b->q, &b->chain, &budget) == 1 ? blk_take(b, req) : -ENOENT;
		if (ret == -EBADMSG)
			b->q.ops->broken(b->q.q);
		bool owned = false;
		if (ret >= 0) {
			owned = !blk_start(b, req, ret);
			pushed |= !owned;
		}
		if (b->uring && !owned)
			blk_uring_put(b->uring, req);
		if (ret < 0)
			break;
	}
	if (b->uring)
		blk_uring_submit(b->uring);
	return pushed;
}

static void blk_queue_notify(void *dev, unsigned q)
{
	struct blk *b = dev;
	if (q == 0 && blk_process(b))
		b->q.ops->publish(b->q.q);
}

/* Lock held. */
static void blk_reap(struct blk *b, bool wait)
{
	unsigned n = blk_uring_reap(b->uring, blk_on_done, b, wait);
	bool pushed = n > 0;
	if (b->stalled && virtio_mmio_live(&b->t))
		pushed |= blk_process(b);
	if (pushed)
		b->q.ops->publish(b->q.q);
}

static void blk_on_uring(void *opaque, uint32_t events)
{
	struct blk *b = opaque;
	uint64_t v;
	(void)events;
	ssize_t r = read(blk_uring_efd(b->uring), &v, sizeof(v));
	(void)r; /* the CQ is the truth; the counter only wakes us */
	virtio_mmio_lock(&b->t);
	blk_reap(b, false);
	virtio_mmio_unlock(&b->t);
}

static void blk_on_rate_timer(void *opaque, uint32_t events)
{
	struct blk *b = opaque;
	(void)events;
	virtio_mmio_lock(&b->t);
	rate_limiter_on_timer(&b->rl);
	if (blk_process(b))
		b->q.ops->publish(b->q.q);
	virtio_mmio_unlock(&b->t);
}

void blk_update_rate_limiter(struct blk *b, const struct rate_limiter_config *cfg)
{
	virtio_mmio_lock(&b->t);
	rate_limiter_update(&b->rl, cfg);
	virtio_mmio_unlock(&b->t);
}

void blk_poll(struct blk *b, bool wait)
{
	if (!b->uring)
		return;
	virtio_mmio_lock(&b->t);
	blk_reap(b, wait);
	virtio_mmio_unlock(&b->t);
}

/* ---- transport ops ---- */

static uint64_t blk_features(void *dev)
{
	struct blk *b = dev;
	uint64_t f = VIRTIO_FEATURE(BLK_F_SEG_MAX) | VIRTIO_FEATURE(BLK_F_BLK_SIZE) |
	             VIRTIO_FEATURE(BLK_F_FLUSH) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
	             VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC);
	if (b->ro)
		f |= VIRTIO_FEATURE(BLK_F_RO);
	else
		f |= VIRTIO_FEATURE(BLK_F_DISCARD) | VIRTIO_FEATURE(BLK_F_WRITE_ZEROES);
	return f;
}

static void blk_config_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct blk *b = dev;
	if (off >= sizeof(b->config) || len > sizeof(b->config) - off)
		return; /* already zeroed by the transport */
	memcpy(data, b->config + off, len);
}

static void blk_reset(void *dev)
{
	struct blk *b = dev;
	/* nothing in flight may land in memory the driver takes back */
	if (b->uring)
		blk_uring_drain(b->uring);
	b->stalled = false;
}

static void blk_identity(void *dev, char *buf, size_t len)
{
	const struct blk *b = dev;
	snprintf(buf, len, "drive %.*s %s %s", BLK_ID_BYTES, b->id, b->path, b->ro ? "ro" : "rw");
}

/* requests in flight complete first: the rings are then all there is */
static void blk_quiesce_op(void *dev) { blk_quiesce(dev); }

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.features = blk_features,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.identity = blk_identity,
	.quiesce = blk_quiesce_op,
};

/* ---- set-up ---- */

/* Open and size a backing file; *fd is -1 on error. */
static int blk_open(const char *id, const char *path, bool ro, int *fd, uint64_t *nsectors)
{
	struct stat st;
	uint64_t size = 0;
	int ret = 0;
	*fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		ret = -errno;
		log_err("drive %s: cannot open %s: %s", id, path, strerror(errno));
		goto out;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(*fd, BLKGETSIZE64, &size) < 0)
			ret = -errno;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		log_err("drive %s: %s is not a file or block device", id, path);
		ret = -EINVAL;
	}
	if (ret == 0 && size % BLK_SECTOR_SIZE)
		log_warn("drive %s: the last %llu bytes of %s are not a whole sector and are not visible",
		         id, (unsigned long long)(size % BLK_SECTOR_SIZE), path);
	*nsectors = size / BLK_SECTOR_SIZE;
out:
	if (ret < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

static void blk_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void blk_fill_config(struct blk *b)
{
	memset(b->config, 0, sizeof(b->config));
	memcpy(b->config, &b->nsectors, 8);          /* capacity */
	blk_put32(b->config + 12, BLK_SEG_MAX);      /* seg_max */
	blk_put32(b->config + 20, BLK_SECTOR_SIZE);  /* blk_size */
	blk_put32(b->config + 36, BLK_RANGE_MAX_SECTORS); /* max_discard_sectors */
	blk_put32(b->config + 40, BLK_RANGE_MAX_SEGS);    /* max_discard_seg */
	blk_put32(b->config + 44, 1);                     /* discard_sector_alignment */
	blk_put32(b->config + 48, BLK_RANGE_MAX_SECTORS); /* max_write_zeroes_sectors */
	blk_put32(b->config + 52, BLK_RANGE_MAX_SEGS);    /* max_write_zeroes_seg */
	b->config[56] = 1;                                /* write_zeroes_may_unmap */
}

/* The vmm thread's handlers: io_uring completions, the limiter's timer.
 * No loop (unit tests): the caller polls. */
static int blk_watch(struct blk *b, struct loop *loop)
{
	int ret = 0;
	if (!loop)
		return 0;
	if (b->uring)
		ret = loop_add(loop, blk_uring_efd(b->uring), EPOLLIN, blk_on_uring, b);
	if (ret == 0)
		ret = loop_add(loop, rate_limiter_fd(&b->rl), EPOLLIN, blk_on_rate_timer, b);
	return ret;
}

int blk_create(struct blk **out, const struct virtio_env *env,
               const struct drive_config *cfg, unsigned slot)
{
	int ret = -ENOMEM;
	struct blk *b = calloc(1, sizeof(*b));
	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->rl.timer_fd = -1;
	b->ro = cfg->is_read_only;
	b->root = cfg->is_root_device;
	b->cache = cfg->cache_type;
	b->engine = cfg->io_engine;
	if (cfg->drive_id) /* NUL padded, not terminated when 20 long (as the spec has it) */
		memcpy(b->id, cfg->drive_id, strnlen(cfg->drive_id, sizeof(b->id)));
	if (cfg->partuuid && !(b->partuuid = strdup(cfg->partuuid)))
		goto out;
	if (!(b->path = strdup(cfg->path_on_host)))
		goto out;
	ret = blk_open(cfg->drive_id, cfg->path_on_host, b->ro, &b->fd, &b->nsectors);
	if (ret < 0)
		goto out;
	blk_fill_config(b);
	ret = rate_limiter_init(&b->rl, &cfg->rate_limiter);
	if (ret < 0)
		goto out;
	if (b->engine == IO_ENGINE_ASYNC) {
		ret = blk_uring_create(&b->uring, BLK_QUEUE_SIZE, b->fd);
		if (ret < 0) {
			log_err("drive %s: io_uring set-up failed: %s", cfg->drive_id, strerror(-ret));
			goto out;
		}
	}
	ret = virtio_mmio_init(&b->t, env, slot, &blk_ops, b);
	if (ret < 0) {
		b->t.irq_efd = -1; /* already cleaned up by init */
		goto out;
	}
	b->q = vchain_vq_init(&b->qa, &b->t, 0);
	b->limit = (struct vchain_limit){ rate_limiter_consume_hook, &b->rl };
	ret = blk_watch(b, env->loop);
	if (ret < 0)
		goto out;
	log_info("drive %s: %s, %llu sectors, %s, %s, %s, slot %u", cfg->drive_id,
	         cfg->path_on_host, (unsigned long long)b->nsectors, b->ro ? "ro" : "rw",
	         b->engine == IO_ENGINE_ASYNC ? "Async" : "Sync",
	         b->cache == CACHE_WRITEBACK ? "Writeback" : "Unsafe", slot);
	*out = b;
	return 0;
out:
	blk_destroy(b);
	return ret;
}

void blk_destroy(struct blk *b)
{
	if (!b)
		return;
	if (b->uring) {
		if (b->t.env.loop)
			loop_del(b->t.env.loop, blk_uring_efd(b->uring));
		blk_uring_drain(b->uring);
		blk_uring_destroy(b->uring);
	}
	if (b->t.ops)
		virtio_mmio_destroy(&b->t);
	if (rate_limiter_fd(&b->rl) >= 0) {
		if (b->t.env.loop)
			loop_del(b->t.env.loop, rate_limiter_fd(&b->rl));
		rate_limiter_destroy(&b->rl);
	}
	if (b->fd >= 0)
		close(b->fd);
	free(b->partuuid);
	free(b->path);
	free(b);
}

void blk_quiesce(struct blk *b)
{
	virtio_mmio_lock(&b->t);
	while (b->uring && blk_uring_inflight(b->uring))
		blk_reap(b, true);
	virtio_mmio_unlock(&b->t);
}

int blk_swap_backing(struct blk *b, const char *path)
{
	int fd;
	uint64_t nsectors;
	char id[BLK_ID_BYTES + 1] = { 0 };
	memcpy(id, b->id, BLK_ID_BYTES);
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int ret = blk_open(id, path, b->ro, &fd, &nsectors);
	if (ret < 0) {
		free(copy);
		return ret;
	}
	/* requests on the old file complete (and are answered) first */
	blk_quiesce(b);
	virtio_mmio_lock(&b->t);
	/* the ring reaches the file only through its registered table, which
	 * holds the old file, not the fd number: update it, or Async requests
	 * would go on to the old file */
	if (b->uring && (ret = blk_uring_set_file(b->uring, fd)) < 0) {
		virtio_mmio_unlock(&b->t);
		log_err("drive %s: cannot hand %s to io_uring: %s", id, path, strerror(-ret));
		close(fd);
		free(copy);
		return ret;
	}
	close(b->fd);
	b->fd = fd;
	free(b->path);
	b->path = copy;
	b->nsectors = nsectors;
	blk_fill_config(b);
	virtio_mmio_config_changed(&b->t);
	virtio_mmio_unlock(&b->t);
	log_info("drive %s: backing file now %s, %llu sectors", id, path,
	         (unsigned long long)nsectors);
	return 0;
}

int blk_cmdline(const struct blk *b, char *buf, size_t len)
{
	int n = virtio_mmio_cmdline(&b->t, buf, len);
	if (n < 0 || !b->root)
		return n;
	int m;
	if (b->partuuid)
		m = snprintf(buf + n, len - (size_t)n, " root=PARTUUID=%s %s", b->partuuid,
		             b->ro ? "ro" : "rw");
	else
		m = snprintf(buf + n, len - (size_t)n, " root=/dev/vda %s", b->ro ? "ro" : "rw");
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENOSPC;
	return n + m;
}

/* ---- the --drive option ---- */

static int blk_drive_key(struct drive_config *cfg, const char *key, const char *val,
                         const char **what)
{
	char **str = NULL;
	if (!strcmp(key, "ro") && !val) {
		cfg->is_read_only = true;
	} else if (!strcmp(key, "root") && !val) {
		cfg->is_root_device = true;
	} else if (!strcmp(key, "engine") && val) {
		if (!strcasecmp(val, "sync"))
			cfg->io_engine = IO_ENGINE_SYNC;
		else if (!strcasecmp(val, "async"))
			cfg->io_engine = IO_ENGINE_ASYNC;
		else
			return *what = "engine must be sync or async", -EINVAL;
	} else if (!strcmp(key, "cache") && val) {
		if (!strcasecmp(val, "unsafe"))
			cfg->cache_type = CACHE_UNSAFE;
		else if (!strcasecmp(val, "writeback"))
			cfg->cache_type = CACHE_WRITEBACK;
		else
			return *what = "cache must be unsafe or writeback", -EINVAL;
	} else if ((!strcmp(key, "bw") || !strcmp(key, "ops")) && val) {
		bool bw = key[0] == 'b';
		if (rate_limiter_parse_rate(val, bw, bw ? &cfg->rate_limiter.bandwidth
		                                        : &cfg->rate_limiter.ops) < 0)
			return *what = bw ? "bw must be BYTES/s (K, M, G suffixes), more than 0"
			                  : "ops must be N/s, more than 0", -EINVAL;
	} else if (!strcmp(key, "path") && val && *val) {
		str = &cfg->path_on_host;
	} else if (!strcmp(key, "id") && val && *val) {
		str = &cfg->drive_id;
	} else if (!strcmp(key, "partuuid") && val && *val) {
		str = &cfg->partuuid;
	} else {
		return *what = "unknown or malformed drive option (path=, ro, root, engine=, cache=, id=, partuuid=, bw=, ops=)",
		       -EINVAL;
	}
	if (str) {
		free(*str);
		*str = strdup(val);
		if (!*str)
			return *what = "out of memory", -ENOMEM;
	}
	return 0;
}

int blk_drive_parse(const char *arg, unsigned index, struct drive_config *cfg,
                    const char **what)
{
	int ret = 0;
	char *copy = strdup(arg), *save = NULL;
	if (!copy)
		return *what = "out of memory", -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok && ret == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		ret = blk_drive_key(cfg, tok, eq, what);
	}
	free(copy);
	if (ret == 0 && !cfg->path_on_host)
		return *what = "drive needs path=FILE", -EINVAL;
	if (ret == 0 && !cfg->drive_id) {
		char id[32];
		snprintf(id, sizeof(id), "drive%u", index);
		cfg->drive_id = strdup(id);
		if (!cfg->drive_id)
			return *what = "out of memory", -ENOMEM;
	}
	return ret;
}

/* ---- snapshot: transport + queues, identity = drive id, file, mode ---- */

/* The path as configured, not /proc/self/fd/N: the vmm thread's seccomp
 * filter has no readlink, and a jailed husk has no /proc. A restore opens
 * the drive from the same configured path, so the two compare equal. */
/* ---- the class vmm_attach uses ---- */

static int blk_class_create(void **dev, const struct virtio_env *env, const void *cfg, unsigned slot)
{
	return blk_create((struct blk **)dev, env, cfg, slot);
}

static void blk_class_destroy(void *dev) { blk_destroy(dev); }
static int blk_class_cmdline(const void *dev, char *buf, size_t len) { return blk_cmdline(dev, buf, len); }

const struct virtio_class blk_class = {
	.name = "virtio-blk",
	.create = blk_class_create,
	.destroy = blk_class_destroy,
	.transport_at = offsetof(struct blk, t),
	.cmdline = blk_class_cmdline,
};

/* ---- husk run --drive ---- */

static int blk_cli_apply(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	const char *what = NULL;
	struct drive_configs *drives = drive_configs_in(cfg);
	if (!drives)
		return errmsg_set(err, errlen, -ENOMEM, "--drive: out of memory");
	if (drives->nr >= BLK_MAX_DRIVES)
		return errmsg_set(err, errlen, -E2BIG, "too many --drive options (at most %d)", BLK_MAX_DRIVES);
	int n = drives->nr++; /* counted now so config_free frees it */
	if (blk_drive_parse(arg, (unsigned)n, &drives->items[n], &what) < 0)
		return errmsg_set(err, errlen, -EINVAL, "--drive: %s", what);
	if (drives->items[n].is_root_device && drive_configs_root(drives, n) >= 0)
		return errmsg_set(err, errlen, -EINVAL, "drives: more than one root device");
	return 0;
}

const struct cli_opt blk_cli_opt = {
	"drive", required_argument,
	"[--drive path=FILE[,ro][,root][,engine=async][,cache=writeback][,id=NAME]]...", blk_cli_apply,
};
