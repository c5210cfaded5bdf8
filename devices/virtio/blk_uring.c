/* blk_uring: the Async block engine. A fixed pool of request slots (one
 * per queue entry), readv/writev/fsync(DATASYNC) SQEs prepared per request
 * and submitted once per batch, completions signalled on an eventfd
 * registered with the ring so the vmm loop wakes for them.
 *
 * The ring is restricted (IORING_REGISTER_RESTRICTIONS): operations in
 * the SQ are run by the kernel, not by syscalls, so the seccomp filters
 * never see them, and a thread that writes its own SQEs could otherwise
 * open files or sockets through the ring. Once enabled the ring takes
 * only READV, WRITEV and FSYNC, only on its one registered file (the
 * drive's backing file, slot BLK_URING_FILE), and of the register ops
 * only the file update that a backing-file swap needs. Anything else
 * completes with -EACCES. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/log.h"

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4

/* the backing file's index in the registered file table */
#define BLK_URING_FILE 0

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

/* io_uring_register(2) itself: liburing 2.3 (Debian 12) declares
 * io_uring_register_restrictions and io_uring_enable_rings but leaves them
 * out of liburing.map, so its shared library does not export them
 * (axboe/liburing#773, fixed in 2.4). */
static int blk_uring_register(struct io_uring *ring, unsigned op, const void *arg, unsigned nr)
{
	long ret = syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr);
	return ret < 0 ? -errno : (int)ret;
}

/* What the ring may do once enabled. The opcodes are the three
 * blk_uring_queue prepares; IOSQE_FIXED_FILE is required (and no other
 * flag allowed), so an SQE can name only the registered table, never an
 * fd of the process; FILES_UPDATE is blk_swap_backing's (it can only put
 * an fd the thread already holds into the table). */
static int blk_uring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = IOSQE_FIXED_FILE },
		{ .opcode = IORING_RESTRICTION_REGISTER_OP,
		  .register_op = IORING_REGISTER_FILES_UPDATE },
	};
	return blk_uring_register(ring, IORING_REGISTER_RESTRICTIONS, res,
	                          sizeof(res) / sizeof(res[0]));
}

int blk_uring_create(struct blk_uring **out, unsigned depth, int fd)
{
	int ret = -ENOMEM;
	/* disabled until restricted: restrictions can only be registered on a
	 * ring that has not been enabled (IORING_SETUP_R_DISABLED, Linux 5.10) */
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
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
	ret = io_uring_queue_init_params(depth, &u->ring, &p);
	if (ret < 0) {
		log_err("io_uring: cannot create a ring (started disabled, needs Linux 5.10): %s",
		        strerror(-ret));
		goto out;
	}
	u->ring_ok = true;
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0) {
		ret = -errno;
		goto out;
	}
	/* the eventfd and the file go in while the ring is disabled: after
	 * enabling, only FILES_UPDATE is allowed */
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret < 0)
		goto out;
	ret = io_uring_register_files(&u->ring, &fd, 1);
	if (ret < 0) {
		log_err("io_uring: cannot register the backing file: %s", strerror(-ret));
		goto out;
	}
	/* never run unrestricted: a kernel that refuses fails the drive */
	ret = blk_uring_restrict(&u->ring);
	if (ret < 0) {
		log_err("io_uring: the kernel refuses ring restrictions (needs Linux 5.10): %s",
		        strerror(-ret));
		goto out;
	}
	ret = blk_uring_register(&u->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0) {
		log_err("io_uring: cannot enable the restricted ring: %s", strerror(-ret));
		goto out;
	}
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

int blk_uring_set_file(struct blk_uring *u, int fd)
{
	/* requests already submitted keep the old file until they complete:
	 * the kernel holds its own reference */
	int ret = io_uring_register_files_update(&u->ring, BLK_URING_FILE, &fd, 1);
	return ret < 0 ? ret : 0;
}

struct io_uring *blk_uring_ring(struct blk_uring *u)
{
	return &u->ring;
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

int blk_uring_queue(struct blk_uring *u, struct blk_req *req)
{
	/* checked before taking an SQE: one taken is submitted whatever it holds */
	if (req->type != BLK_T_IN && req->type != BLK_T_OUT && req->type != BLK_T_FLUSH)
		return -EINVAL;
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
		io_uring_prep_readv(sqe, BLK_URING_FILE, req->iov, (unsigned)req->iovcnt, req->offset);
		break;
	case BLK_T_OUT:
		io_uring_prep_writev(sqe, BLK_URING_FILE, req->iov, (unsigned)req->iovcnt, req->offset);
		break;
	default: /* BLK_T_FLUSH */
		io_uring_prep_fsync(sqe, BLK_URING_FILE, IORING_FSYNC_DATASYNC);
		break;
	}
	/* the ring refuses any SQE without it (blk_uring_restrict) */
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
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
