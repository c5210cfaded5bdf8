/* blk: virtio-blk (device id 2) over virtio-mmio, one queue.
 *
 * Requests: IN, OUT, FLUSH, GET_ID (serial = drive id, 20 bytes, NUL padded),
 * DISCARD and WRITE_ZEROES (fallocate punch-hole / zero-range, up to 16
 * segments; read-write drives only).
 * Features offered: SEG_MAX, BLK_SIZE (512), FLUSH, RO for read-only drives,
 * DISCARD + WRITE_ZEROES for read-write ones, RING_EVENT_IDX,
 * RING_INDIRECT_DESC. Capacity = file size / 512 (a block
 * device's size via BLKGETSIZE64). A request touching a sector past the end,
 * a write to a read-only drive, or data not a multiple of 512 bytes
 * completes with VIRTIO_BLK_S_IOERR; an unknown type with UNSUPP; a
 * malformed descriptor chain puts the device in NEEDS_RESET.
 *
 * cache_type Unsafe: FLUSH is a no-op; Writeback: FLUSH -> fdatasync.
 * io_engine Sync: preadv/pwritev/fdatasync on the vmm thread, one request
 * at a time. Async: io_uring (blk_uring.c), up to the queue size in flight,
 * one submit per notify, completions via an eventfd on the vmm loop; the
 * ring is restricted to those three operations on the drive's file. Both
 * engines produce the same status, data and used lengths.
 *
 * Use (the vmm, at InstanceStart, drives in config order, root drive first
 * so it is /dev/vda):
 *     struct virtio_env env;
 *     virtio_env_for_vm(&env, &vm, &loop);
 *     struct blk *b;
 *     ret = blk_create(&b, &env, &drives->items[i], slot);   // slot 0, 1, ...
 *     blk_cmdline(b, frag, sizeof(frag));                   // append to cmdline
 *     ...
 *     blk_destroy(b);   // after the vCPUs are gone
 */
#ifndef HUSK_VIRTIO_BLK_H
#define HUSK_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/chain.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/class.h"
#include "devices/virtio/queue.h"
#include "vmm/config.h"
#include "vmm/limits.h"

enum cache_type { CACHE_UNSAFE = 0, CACHE_WRITEBACK };
enum io_engine { IO_ENGINE_SYNC = 0, IO_ENGINE_ASYNC };

/* One drive (PUT /drives/{drive_id}, --drive, the config file's drives). */
struct drive_config {
	char *drive_id;
	char *path_on_host;
	bool is_root_device;
	bool is_read_only;
	char *partuuid;
	enum cache_type cache_type;
	enum io_engine io_engine;
	struct rate_limiter_config rate_limiter;
};

#define BLK_MAX_DRIVES 16

/* A vm_config's drives, kept under blk_class (config_device) in the order
 * they were first put; their slots take that order, the root drive first
 * (the drives resource's attach). */
struct drive_configs {
	int nr;
	struct drive_config items[BLK_MAX_DRIVES];
};

/* c's drives, or NULL: none was ever put. */
const struct drive_configs *drive_configs_of(const struct vm_config *c);
/* c's drives to add to or change, made (empty) the first time; NULL: out
 * of memory, or c has no room for another device kind. */
struct drive_configs *drive_configs_in(struct vm_config *c);
/* The index of the root drive among d's other than item except, or -1:
 * there is at most one. */
int drive_configs_root(const struct drive_configs *d, int except);
/* Free what d owns and clear it. */
void drive_config_free(struct drive_config *d);
/* Free a struct drive_configs with its drives (NULL is fine). */
void drive_configs_free(void *d);

/* PATCH /drives/{drive_id}'s body: a new backing file, new buckets. */
struct drive_patch {
	char *drive_id;
	char *path_on_host;
	bool has_rate_limiter;
	struct rate_limiter_config rate_limiter;
};

#define BLK_SECTOR_SIZE 512
#define BLK_ID_BYTES 20
#define BLK_QUEUE_SIZE VIRTQ_MAX_SIZE
/* data segments per request: the chain minus header and status */
#define BLK_SEG_MAX (VIRTQ_MAX_SEGS - 2)

/* one request between parsing and completion */
struct blk_req {
	uint16_t head;
	uint32_t type;     /* from the header, read once (blk_read_header) */
	uint64_t sector;   /* from the header */
	uint64_t offset;   /* bytes */
	uint64_t len;      /* data bytes */
	uint8_t *status;   /* the status byte in guest memory */
	uint8_t status_val; /* what we wrote there */
	uint32_t used_len; /* written to the guest on success, status included */
	int iovcnt;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

struct blk_uring;

struct blk_stats {
	unsigned long long reads, writes, flushes, get_ids, errors, bytes_read, bytes_written;
};

struct blk {
	struct virtio_mmio t;
	int fd;
	uint64_t nsectors;
	bool ro, root;
	enum cache_type cache;
	enum io_engine engine;
	char id[BLK_ID_BYTES];
	char *partuuid;
	char *path; /* the backing file as configured: the snapshot identity */
	uint8_t config[64]; /* struct virtio_blk_config, little-endian */
	/* its queue, the way every device sees one (chain.h) */
	struct vchain_vq qa;
	struct vchain_queue q;
	struct vchain chain; /* scratch: the chain being taken */
	struct blk_req sync_req;
	struct blk_uring *uring;
	bool stalled; /* async: stopped popping because every slot was busy */
	/* bandwidth (IN/OUT data bytes) and ops (every request); a throttled
	 * chain goes back to the ring and the timerfd resumes the queue */
	struct rate_limiter rl;
	struct vchain_limit limit; /* charges rl */
	struct blk_stats stats;
};

/* Open cfg->path_on_host (O_CLOEXEC, read-only if cfg->is_read_only), size
 * it, set up the engine and the transport in slot. *out is malloc'd. */
int blk_create(struct blk **out, const struct virtio_env *env,
               const struct drive_config *cfg, unsigned slot);
/* Drain in-flight I/O, close everything. NULL is fine. */
void blk_destroy(struct blk *b);
/* PATCH /drives path_on_host: swap the backing file (opened like the
 * first, read-only if the drive is). In-flight I/O on the old file is
 * drained first; the capacity is re-read, ConfigGeneration bumped and a
 * configuration-change interrupt sent. On error the old file stays.
 * Call on the vmm thread. */
int blk_swap_backing(struct blk *b, const char *path);
/* PATCH /drives rate_limiter: replace the buckets cfg sets (see
 * rate_limiter_update). Call on the vmm thread. */
void blk_update_rate_limiter(struct blk *b, const struct rate_limiter_config *cfg);
/* Before a snapshot (vCPUs paused): complete every request in flight, so
 * the rings hold the whole device state. Call on the vmm thread. */
void blk_quiesce(struct blk *b);
/* Kernel cmdline fragment for this drive: "virtio_mmio.device=4K@ADDR:GSI"
 * and, for the root drive, " root=/dev/vda" (or root=PARTUUID=...) and
 * " ro"/" rw". Returns the length or -ENOSPC. The root drive must be in
 * slot 0 for /dev/vda to be right. */
int blk_cmdline(const struct blk *b, char *buf, size_t len);

/* Parse the CLI's --drive value "path=FILE[,ro][,root][,engine=sync|async]
 * [,cache=unsafe|writeback][,id=NAME][,partuuid=UUID][,bw=RATE][,ops=RATE]"
 * (RATE: N/s, bytes with K/M/G for bw; see rate_limiter_parse_rate) into *cfg (strings
 * strdup'd, freed by config_free). A missing id becomes "drive<index>".
 * -EINVAL with *what pointing at a static message naming the bad part. */
int blk_drive_parse(const char *arg, unsigned index, struct drive_config *cfg,
                    const char **what);

/* Async engine without a loop (unit tests): reap what has completed,
 * waiting for at least one completion when wait is set. */
void blk_poll(struct blk *b, bool wait);

/* ---- the io_uring engine (blk_uring.c), used by blk.c only ---- */
typedef void (*blk_uring_done_fn)(void *opaque, struct blk_req *req, int res);
/* A ring restricted to READV/WRITEV/FSYNC on fd, registered as its only
 * fixed file, and to updating that file (blk_uring_set_file). Call before
 * the seccomp filter is installed (io_uring_setup, io_uring_register). */
int blk_uring_create(struct blk_uring **out, unsigned depth, int fd);
void blk_uring_destroy(struct blk_uring *u);
/* Put fd in the registered file's place (a backing-file swap): what is
 * queued from now on goes to fd. */
int blk_uring_set_file(struct blk_uring *u, int fd);
int blk_uring_efd(const struct blk_uring *u);
/* A free request slot, NULL when depth requests are in flight. */
struct blk_req *blk_uring_get(struct blk_uring *u);
void blk_uring_put(struct blk_uring *u, struct blk_req *req);
/* Queue req (IN/OUT/FLUSH, else -EINVAL) on the registered file;
 * submitted by the next blk_uring_submit. */
int blk_uring_queue(struct blk_uring *u, struct blk_req *req);
int blk_uring_submit(struct blk_uring *u);
/* Call done for each completion; res = bytes or -errno. Returns the count. */
unsigned blk_uring_reap(struct blk_uring *u, blk_uring_done_fn done, void *opaque, bool wait);
/* Wait for every request in flight and drop their completions (reset). */
void blk_uring_drain(struct blk_uring *u);
unsigned blk_uring_inflight(const struct blk_uring *u);
/* The ring itself, for the unit tests of its restrictions. */
struct io_uring;
struct io_uring *blk_uring_ring(struct blk_uring *u);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct blk *: the
 * transport and queue state, identity = drive id, backing file, ro/rw. */
struct snapshot_dev_ops;

/* For vmm_attach: cfg is a struct drive_config. */
extern const struct virtio_class blk_class;

/* husk run's --drive option (vmm/cli.h). */
extern const struct cli_opt blk_cli_opt;

#endif
