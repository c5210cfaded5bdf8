/* blk_bench: the VMM side of virtio-blk, measured without a guest.
 *
 * A driver written against husk's own transport keeps a queue depth of
 * requests in a split ring in malloc'd "guest" memory, kicks through the
 * queue's notify eventfd and waits on the vmm epoll loop, exactly as the
 * ioeventfd path does under KVM; so what is timed is the device path
 * (ring walk, parsing, engine, used ring, interrupt eventfd) plus the host
 * I/O. Guest CPU cost is left out on purpose: on PVM hosts guest code is
 * emulated and would swamp it. Baselines on the same file: host preadv/
 * pwritev at QD1 (what the Sync engine can reach) and io_uring at the same
 * queue depth (what Async can reach).
 *
 *   blk_bench FILE [seconds-per-case] [queue-depth]
 *
 * Each case runs ROUNDS times, interleaved with the others in rotated
 * order; the median round is reported. Prints a Markdown table: ops/s, MB/s, CPU us per op, CPU s per GiB (CPU
 * = user + system of the whole process, io_uring workers included). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "vmm/guest_mem.h"
#include "vmm/log.h"
#include "vmm/loop.h"

#define RAM (160ull << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDRS 0x10000
#define DATA 0x200000
#define QSIZE 256
#define MAX_QD 80 /* 3 descriptors per request */

struct workload {
	const char *name;
	uint32_t type; /* 0 = read, 1 = write */
	uint32_t bs;
	bool random;
};

static const struct workload workloads[] = {
	{ "4k-randread", 0, 4096, true },
	{ "4k-randwrite", 1, 4096, true },
	{ "1m-seqread", 0, 1 << 20, false },
	{ "1m-seqwrite", 1, 1 << 20, false },
};

struct result {
	double secs, cpu;
	uint64_t ops, bytes;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct gen {
	uint64_t x, next_seq, nblocks;
	const struct workload *w;
};

static uint64_t gen_offset(struct gen *g)
{
	if (!g->w->random)
		return (g->next_seq++ % g->nblocks) * g->w->bs;
	g->x ^= g->x << 13;
	g->x ^= g->x >> 7;
	g->x ^= g->x << 17;
	return (g->x % g->nblocks) * g->w->bs;
}

/* ---- through husk's virtio-blk ---- */

struct drv {
	uint8_t *ram;
	struct guest_mem gm;
	struct loop loop;
	struct blk *b;
	uint16_t avail_idx, used_seen;
};

static void drv_queue(struct drv *d, unsigned slot, uint32_t type, uint64_t off, uint32_t bs)
{
	struct virtq_desc *desc = (struct virtq_desc *)(d->ram + DESC);
	uint16_t i = (uint16_t)(3 * slot);
	uint64_t hdr = HDRS + slot * 32ull;
	uint64_t sector = off / 512;
	memcpy(d->ram + hdr, &type, 4);
	memset(d->ram + hdr + 4, 0, 4);
	memcpy(d->ram + hdr + 8, &sector, 8);
	desc[i] = (struct virtq_desc){ hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1) };
	desc[i + 1] = (struct virtq_desc){ DATA + (uint64_t)slot * (1 << 20), bs,
	                                   (uint16_t)(VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0)),
	                                   (uint16_t)(i + 2) };
	desc[i + 2] = (struct virtq_desc){ hdr + 16, 1, VIRTQ_DESC_F_WRITE, 0 };
	uint16_t *avail = (uint16_t *)(d->ram + AVAIL);
	avail[2 + d->avail_idx % QSIZE] = i;
	d->avail_idx++;
	__atomic_store_n(&avail[1], d->avail_idx, __ATOMIC_RELEASE);
}

static void drv_kick(struct drv *d)
{
	uint64_t one = 1;
	if (write(d->b->t.notify_efd[0], &one, sizeof(one)) != sizeof(one))
		abort();
}

static void drv_setreg(struct drv *d, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(&d->b->t, off, &v, 4);
}

static int drv_open(struct drv *d, const char *path, enum io_engine engine)
{
	memset(d, 0, sizeof(*d));
	d->ram = aligned_alloc(4096, RAM);
	if (!d->ram || gm_init_from(&d->gm, d->ram, RAM, 0xd0000000ull) < 0 || loop_init(&d->loop) < 0)
		return -ENOMEM;
	memset(d->ram, 0, RAM);
	struct drive_config cfg = { .drive_id = (char *)"bench", .path_on_host = (char *)path,
	                            .io_engine = engine, .cache_type = CACHE_UNSAFE };
	struct virtio_env env = { .gm = &d->gm, .loop = &d->loop, .mmio_base = 0xd0001000ull, .nr_slots = 1 };
	int ret = blk_create(&d->b, &env, &cfg, 0);
	if (ret < 0)
		return ret;
	drv_setreg(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	drv_setreg(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	drv_setreg(d, VMMIO_DRIVER_FEATURES, 1);
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	drv_setreg(d, VMMIO_STATUS, st);
	drv_setreg(d, VMMIO_QUEUE_SEL, 0);
	drv_setreg(d, VMMIO_QUEUE_NUM, QSIZE);
	drv_setreg(d, VMMIO_QUEUE_DESC_LOW, DESC);
	drv_setreg(d, VMMIO_QUEUE_AVAIL_LOW, AVAIL);
	drv_setreg(d, VMMIO_QUEUE_USED_LOW, USED);
	drv_setreg(d, VMMIO_QUEUE_READY, 1);
	drv_setreg(d, VMMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	return virtio_mmio_live(&d->b->t) ? 0 : -EIO;
}

static void drv_close(struct drv *d)
{
	blk_destroy(d->b);
	loop_destroy(&d->loop);
	free(d->ram);
}

static int run_husk(const char *path, enum io_engine engine, const struct workload *w,
                    unsigned qd, double secs, uint64_t fsize, struct result *r)
{
	struct drv d;
	int ret = drv_open(&d, path, engine);
	if (ret < 0)
		return ret;
	struct gen g = { .x = 88172645463325252ull, .nblocks = fsize / w->bs, .w = w };
	for (unsigned s = 0; s < qd; s++)
		drv_queue(&d, s, w->type, gen_offset(&g), w->bs);
	double t0 = now(), c0 = cpu_now(), end = t0 + secs;
	drv_kick(&d);
	uint64_t ops = 0;
	volatile uint16_t *used_idx = (volatile uint16_t *)(d.ram + USED + 2);
	while (now() < end) {
		if (loop_run_once(&d.loop, 1000) < 0)
			break;
		uint16_t u = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
		bool any = false;
		for (; d.used_seen != u; d.used_seen++) {
			uint32_t id;
			memcpy(&id, d.ram + USED + 4 + 8 * (d.used_seen % QSIZE), 4);
			unsigned slot = id / 3;
			if (d.ram[HDRS + slot * 32 + 16] != 0) {
				fprintf(stderr, "request failed with status %u\n", d.ram[HDRS + slot * 32 + 16]);
				drv_close(&d);
				return -EIO;
			}
			ops++;
			drv_queue(&d, slot, w->type, gen_offset(&g), w->bs);
			any = true;
		}
		if (any)
			drv_kick(&d);
	}
	r->secs = now() - t0;
	r->cpu = cpu_now() - c0;
	r->ops = ops;
	r->bytes = ops * w->bs;
	drv_close(&d);
	return 0;
}

/* ---- host baselines ---- */

static int run_host_sync(int fd, const struct workload *w, double secs, uint64_t fsize,
                         uint8_t *buf, struct result *r)
{
	struct gen g = { .x = 88172645463325252ull, .nblocks = fsize / w->bs, .w = w };
	double t0 = now(), c0 = cpu_now(), end = t0 + secs;
	uint64_t ops = 0;
	struct iovec iov = { buf, w->bs };
	while (now() < end) {
		for (int k = 0; k < 16; k++) {
			ssize_t n = w->type ? pwritev(fd, &iov, 1, (off_t)gen_offset(&g))
			                    : preadv(fd, &iov, 1, (off_t)gen_offset(&g));
			if (n != (ssize_t)w->bs)
				return -EIO;
			ops++;
		}
	}
	r->secs = now() - t0;
	r->cpu = cpu_now() - c0;
	r->ops = ops;
	r->bytes = ops * w->bs;
	return 0;
}

static int run_host_uring(int fd, const struct workload *w, unsigned qd, double secs,
                          uint64_t fsize, uint8_t *buf, struct result *r)
{
	struct io_uring ring;
	struct iovec iov[MAX_QD];
	if (io_uring_queue_init(QSIZE, &ring, 0) < 0)
		return -EIO;
	struct gen g = { .x = 88172645463325252ull, .nblocks = fsize / w->bs, .w = w };
	for (unsigned s = 0; s < qd; s++) {
		iov[s] = (struct iovec){ buf + (uint64_t)s * (1 << 20), w->bs };
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (w->type)
			io_uring_prep_writev(sqe, fd, &iov[s], 1, gen_offset(&g));
		else
			io_uring_prep_readv(sqe, fd, &iov[s], 1, gen_offset(&g));
		io_uring_sqe_set_data(sqe, &iov[s]);
	}
	double t0 = now(), c0 = cpu_now(), end = t0 + secs;
	uint64_t ops = 0;
	io_uring_submit(&ring);
	while (now() < end) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct iovec *v = io_uring_cqe_get_data(cqe);
			if (cqe->res != (int)w->bs) {
				io_uring_queue_exit(&ring);
				return -EIO;
			}
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (w->type)
				io_uring_prep_writev(sqe, fd, v, 1, gen_offset(&g));
			else
				io_uring_prep_readv(sqe, fd, v, 1, gen_offset(&g));
			io_uring_sqe_set_data(sqe, v);
			n++;
		}
		io_uring_cq_advance(&ring, n);
		ops += n;
		io_uring_submit(&ring);
	}
	r->secs = now() - t0;
	r->cpu = cpu_now() - c0;
	r->ops = ops;
	r->bytes = ops * w->bs;
	io_uring_queue_exit(&ring);
	return 0;
}

#define NR_CASES 4
#define ROUNDS 3

/* the round with the median ops/s */
static struct result median(const struct result r[ROUNDS])
{
	int idx[ROUNDS];
	for (int i = 0; i < ROUNDS; i++)
		idx[i] = i;
	for (int i = 0; i < ROUNDS; i++)
		for (int j = i + 1; j < ROUNDS; j++)
			if ((double)r[idx[j]].ops / r[idx[j]].secs < (double)r[idx[i]].ops / r[idx[i]].secs) {
				int t = idx[i];
				idx[i] = idx[j];
				idx[j] = t;
			}
	return r[idx[ROUNDS / 2]];
}

static void print_row(const char *w, const char *who, const struct result *r, double host_ops)
{
	double ops = (double)r->ops / r->secs;
	double gib = (double)r->bytes / (1024.0 * 1024 * 1024);
	printf("| %-12s | %-18s | %10.0f | %8.1f | %7.2f | %7.2f | %5.0f%% |\n", w, who, ops,
	       (double)r->bytes / r->secs / 1e6, r->cpu / (double)r->ops * 1e6,
	       gib > 0 ? r->cpu / gib : 0.0, host_ops > 0 ? 100.0 * ops / host_ops : 100.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: blk_bench FILE [seconds-per-case] [queue-depth]\n");
		return 2;
	}
	const char *path = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 3.0;
	unsigned qd = argc > 3 ? (unsigned)atoi(argv[3]) : 32;
	if (qd < 1 || qd > MAX_QD || secs <= 0) {
		fprintf(stderr, "queue depth must be 1..%d, seconds > 0\n", MAX_QD);
		return 2;
	}
	log_set_level(LOG_WARN);
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (1 << 24)) {
		fprintf(stderr, "%s: need an existing file of at least 16 MiB\n", path);
		return 1;
	}
	uint64_t fsize = (uint64_t)st.st_size;
	uint8_t *buf = aligned_alloc(4096, (size_t)MAX_QD << 20);
	memset(buf, 0x3c, (size_t)MAX_QD << 20);
	printf("file %s, %llu MiB, %.1f s per case x %d rounds (median), queue depth %u "
	       "(husk, host io_uring)\n\n", path, (unsigned long long)(fsize >> 20), secs, ROUNDS, qd);
	printf("| workload     | path               |      ops/s |     MB/s | CPU us/op | CPU s/GiB | vs host io_uring |\n");
	printf("| ---          | ---                |        --- |      --- |     --- |     --- | --- |\n");
	int rc = 0;
	static const char *const names[NR_CASES] = { "host io_uring", "host pread/pwrite",
	                                              "husk Sync", "husk Async" };
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		const struct workload *w = &workloads[i];
		struct result res[NR_CASES][ROUNDS];
		/* interleaved, order rotated each round, so page-cache writeback
		 * and neighbours' load fall on every path alike; median reported */
		for (int round = 0; round < ROUNDS && rc == 0; round++) {
			for (int k = 0; k < NR_CASES && rc == 0; k++) {
				int c = (k + round) % NR_CASES;
				struct result *r = &res[c][round];
				int ret;
				switch (c) {
				case 0: ret = run_host_uring(fd, w, qd, secs, fsize, buf, r); break;
				case 1: ret = run_host_sync(fd, w, secs, fsize, buf, r); break;
				case 2: ret = run_husk(path, IO_ENGINE_SYNC, w, qd, secs, fsize, r); break;
				default: ret = run_husk(path, IO_ENGINE_ASYNC, w, qd, secs, fsize, r); break;
				}
				if (ret < 0) {
					fprintf(stderr, "%s %s: failed\n", w->name, names[c]);
					rc = 1;
				}
			}
		}
		if (rc)
			break;
		struct result med[NR_CASES];
		for (int c = 0; c < NR_CASES; c++)
			med[c] = median(res[c]);
		double host = (double)med[0].ops / med[0].secs;
		for (int c = 0; c < NR_CASES; c++)
			print_row(w->name, names[c], &med[c], host);
	}
	free(buf);
	close(fd);
	return rc;
}
