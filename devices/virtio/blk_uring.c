/* blk_uring: the Async block engine. A fixed pool of request slots (one
 * per queue entry), readv/writev/fsync(DATASYNC) SQEs prepared per request
 * and submitted once per batch, completions signalled on an eventfd
 * registered with the ring so the vmm loop wakes for them. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4

struct blk_uring {
	struct io_uring ring;
	bool ring_ok;
	int efd;
	unsigned depth;
	unsigned inflight; /* queued or submitted, not yet reaped */
	unsigned nr_free;
	struct blk_req **free;
	struct blk_req *reqs;
};

int blk_uring_create(struct blk_uring **out, unsigned depth)
{
	int ret = -ENOMEM;
	struct blk_uring *u = calloc(1, sizeof(*u));
	*out = NULL;
	if (!u)
		return -ENOMEM;
	u->efd = -1;
	u->depth = depth;
	u->reqs = calloc(depth, sizeof(*u->reqs));
	u->free = calloc(depth, sizeof(*u->free));
	if (!u->reqs || !u->free)
		goto out;
	for (unsigned i = 0; i < depth; i++)
		u->free[u->nr_free++] = &u->reqs[i];
	ret = io_uring_queue_init(depth, &u->ring, 0);
	if (ret < 0)
		goto out;
	u->ring_ok = true;
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0) {
		ret = -errno;
		goto out;
	}
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret < 0)
		goto out;
	*out = u;
	return 0;
out:
	blk_uring_destroy(u);
	return ret;
}

void blk_uring_destroy(struct blk_uring *u)
{
	if (!u)
		return;
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	if (u->efd >= 0)
		close(u->efd);
	free(u->reqs);
	free(u->free);
	free(u);
}

int blk_uring_efd(const struct blk_uring *u)
{
	return u->efd;
}

unsigned blk_uring_inflight(const struct blk_uring *u)
{
	return u->inflight;
}

struct blk_req *blk_uring_get(struct blk_uring *u)
{
	return u->nr_free ? u->free[--u->nr_free] : NULL;
}

void blk_uring_put(struct blk_uring *u, struct blk_req *req)
{
	if (u->nr_free < u->depth)
		u->free[u->nr_free++] = req;
}

int blk_uring_queue(struct blk_uring *u, int fd, struct blk_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		/* SQ full (cannot happen with depth slots, but be sure) */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			return -EBUSY;
	}
	switch (req->type) {
	case BLK_T_IN:
		io_uring_prep_readv(sqe, fd, req->iov, (unsigned)req->iovcnt, req->offset);
		break;
	case BLK_T_OUT:
		io_uring_prep_writev(sqe, fd, req->iov, (unsigned)req->iovcnt, req->offset);
		break;
	case BLK_T_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	u->inflight++;
	return 0;
}

int blk_uring_submit(struct blk_uring *u)
{
	int ret;
	do {
		ret = io_uring_submit(&u->ring);
	} while (ret == -EINTR);
	return ret < 0 ? ret : 0;
}

unsigned blk_uring_reap(struct blk_uring *u, blk_uring_done_fn done, void *opaque, bool wait)
{
	unsigned n = 0;
	struct io_uring_cqe *cqe;
	if (wait && u->inflight) {
		blk_uring_submit(u);
		if (io_uring_wait_cqe(&u->ring, &cqe) < 0)
			return 0;
	}
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct blk_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		u->inflight--;
		if (done)
			done(opaque, req, res);
		blk_uring_put(u, req);
		n++;
	}
	return n;
}

void blk_uring_drain(struct blk_uring *u)
{
	blk_uring_submit(u);
	while (u->inflight) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&u->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break; /* the ring is gone: nothing more will complete */
		blk_uring_reap(u, NULL, NULL, false);
	}
}
