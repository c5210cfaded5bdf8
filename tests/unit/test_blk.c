/* virtio-blk against a temporary backing file, driven through the mmio
 * transport and crafted rings, once with each engine: request parsing,
 * data round trips, past-the-end and read-only errors, GET_ID, FLUSH,
 * malformed chains, many requests in flight and reset with I/O in flight;
 * and the restrictions on the Async engine's io_uring. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "unit_main.h"
#include <liburing.h>

#include "devices/virtio/blk.h"
#include "vmm/cli.h"
#include "vmm/guest_mem.h"

#define RAM (4u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDRS 0x10000  /* per request slot i: header at +i*0x100, status at +0x80 */
#define DATA 0x100000 /* per request slot i: data at +i*0x4000 */
#define QSIZE 128 /* more than one round's budget (VCHAIN_BUDGET) */
#define FILE_SECTORS 128

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

struct fx {
	enum io_engine engine;
	const char *dir; /* of the drive's file: /tmp unless a test says */
	uint8_t *ram;
	struct guest_mem gm;
	char path[64];
	struct drive_config cfg;
	struct blk *b;
	uint16_t avail_idx;
	uint16_t seen_used;
};

static int wr_file(struct fx *f, bool ro, enum cache_type cache, const char *id)
{
	snprintf(f->path, sizeof(f->path), "%s/husk-test-blk-XXXXXX", f->dir ? f->dir : "/tmp");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	/* a known pattern everywhere: byte i = i * 7 */
	uint8_t *buf = malloc(FILE_SECTORS * 512);
	for (unsigned i = 0; i < FILE_SECTORS * 512; i++)
		buf[i] = (uint8_t)(i * 7);
	assert_int_equal(write(fd, buf, FILE_SECTORS * 512), FILE_SECTORS * 512);
	free(buf);
	close(fd);
	f->cfg = (struct drive_config){ .drive_id = (char *)id, .path_on_host = f->path,
	                                .is_read_only = ro, .is_root_device = true,
	                                .cache_type = cache, .io_engine = f->engine };
	struct virtio_env env = { .gm = &f->gm, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	return blk_create(&f->b, &env, &f->cfg, 0);
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_ops.read(&f->b->t, off, &v, 4);
	return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(&f->b->t, off, &v, 4);
}

static void go_live(struct fx *f)
{
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VMMIO_DRIVER_FEATURES, 1);
	wr(f, VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VMMIO_DRIVER_FEATURES, (1u << VIRTIO_F_RING_INDIRECT_DESC) | (1u << 9));
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	wr(f, VMMIO_STATUS, st);
	assert_int_equal(rd(f, VMMIO_STATUS), st);
	wr(f, VMMIO_QUEUE_SEL, 0);
	wr(f, VMMIO_QUEUE_NUM, QSIZE);
	wr(f, VMMIO_QUEUE_DESC_LOW, DESC);
	wr(f, VMMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(f, VMMIO_QUEUE_USED_LOW, USED);
	wr(f, VMMIO_QUEUE_READY, 1);
	wr(f, VMMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_mmio_live(&f->b->t));
}

/* The fixture's drive on a fresh file (wr_file), negotiated and live. */
static struct fx *live_drive(void **state, bool ro, enum cache_type cache, const char *id)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, ro, cache, id), 0);
	go_live(f);
	return f;
}

static int setup_engine(void **state, enum io_engine engine)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->engine = engine;
	f->ram = calloc(1, RAM);
	assert_int_equal(gm_init_from(&f->gm, f->ram, RAM, 0xd0000000ull), 0);
	*state = f;
	return 0;
}

static int setup_sync(void **state) { return setup_engine(state, IO_ENGINE_SYNC); }
static int setup_async(void **state) { return setup_engine(state, IO_ENGINE_ASYNC); }

static int teardown(void **state)
{
	struct fx *f = *state;
	blk_destroy(f->b);
	if (f->path[0])
		unlink(f->path);
	free(f->ram);
	free(f);
	return 0;
}

static void set_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
	memcpy(f->ram + DESC + 16ull * i, &d, sizeof(d));
}

static void offer(struct fx *f, uint16_t head)
{
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL);
	avail[2 + f->avail_idx % QSIZE] = head;
	f->avail_idx++;
	avail[1] = f->avail_idx;
}

static uint8_t *hdr_of(struct fx *f, unsigned slot) { return f->ram + HDRS + slot * 0x100; }
static uint8_t *status_of(struct fx *f, unsigned slot) { return hdr_of(f, slot) + 0x80; }
static uint8_t *data_of(struct fx *f, unsigned slot) { return f->ram + DATA + slot * 0x4000; }

/* Request in slot (descriptors 3*slot..3*slot+2): header, data (len bytes,
 * device-writable for IN/GET_ID), status. */
static void queue_req(struct fx *f, unsigned slot, uint32_t type, uint64_t sector, uint32_t len)
{
	uint16_t d = (uint16_t)(3 * slot);
	memcpy(hdr_of(f, slot), &type, 4);
	memset(hdr_of(f, slot) + 4, 0, 4);
	memcpy(hdr_of(f, slot) + 8, &sector, 8);
	*status_of(f, slot) = 0xee;
	bool dev_writes = type == T_IN || type == T_GET_ID;
	set_desc(f, d, HDRS + slot * 0x100, 16, VIRTQ_DESC_F_NEXT, d + 1);
	if (len) {
		set_desc(f, d + 1, DATA + slot * 0x4000ull, len,
		         VIRTQ_DESC_F_NEXT | (dev_writes ? VIRTQ_DESC_F_WRITE : 0), d + 2);
		set_desc(f, d + 2, HDRS + slot * 0x100 + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		set_desc(f, d, HDRS + slot * 0x100, 16, VIRTQ_DESC_F_NEXT, d + 2);
		set_desc(f, d + 2, HDRS + slot * 0x100 + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	offer(f, d);
}

static uint16_t used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)(f->ram + USED + 2), __ATOMIC_ACQUIRE);
}

/* Kick and wait until n more chains are used. */
static void kick_and_wait(struct fx *f, unsigned n)
{
	virtio_mmio_handle_notify(&f->b->t, 0);
	uint16_t want = (uint16_t)(f->seen_used + n);
	for (int i = 0; i < 1000 && used_idx(f) != want; i++)
		blk_poll(f->b, true);
	assert_int_equal(used_idx(f), want);
	f->seen_used = want;
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned i)
{
	struct virtq_used_elem e;
	memcpy(&e, f->ram + USED + 4 + 8 * (i % QSIZE), sizeof(e));
	return e;
}

/* the used length reported for the chain in slot (searching the ring) */
static uint32_t used_len_of(struct fx *f, unsigned slot)
{
	for (unsigned i = 0; i < f->seen_used; i++)
		if (used_elem(f, i).id == 3 * slot)
			return used_elem(f, i).len;
	fail_msg("slot %u never used", slot);
	return 0;
}

static void file_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_write_then_read_back(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_WRITEBACK, "d1");
	for (unsigned i = 0; i < 1024; i++)
		data_of(f, 0)[i] = (uint8_t)(0xa5 ^ i);
	queue_req(f, 0, T_OUT, 5, 1024);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_int_equal(used_len_of(f, 0), 1);
	uint8_t file[1024];
	file_read(f, 5 * 512, file, sizeof(file));
	assert_memory_equal(file, data_of(f, 0), 1024);

	memset(data_of(f, 1), 0, 1024);
	queue_req(f, 1, T_IN, 5, 1024);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 1), S_OK);
	assert_int_equal(used_len_of(f, 1), 1025);
	assert_memory_equal(data_of(f, 1), data_of(f, 0), 1024);
	assert_int_equal(f->b->stats.reads, 1);
	assert_int_equal(f->b->stats.writes, 1);
}

static void test_read_sees_file_content(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d1");
	queue_req(f, 0, T_IN, FILE_SECTORS - 1, 512); /* the last sector */
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
	uint8_t file[512];
	file_read(f, (FILE_SECTORS - 1) * 512, file, sizeof(file));
	assert_memory_equal(data_of(f, 0), file, 512);
}

static void test_past_the_end_is_ioerr(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d1");
	queue_req(f, 0, T_IN, FILE_SECTORS - 1, 1024);   /* crosses the end */
	queue_req(f, 1, T_OUT, FILE_SECTORS, 512);       /* starts at the end */
	queue_req(f, 2, T_IN, UINT64_MAX / 256, 512);    /* offset overflows */
	queue_req(f, 3, T_OUT, UINT64_MAX, 512);
	kick_and_wait(f, 4);
	for (unsigned s = 0; s < 4; s++) {
		assert_int_equal(*status_of(f, s), S_IOERR);
		assert_int_equal(used_len_of(f, s), 1);
	}
	assert_int_equal(f->b->stats.errors, 4);
	/* the file is as it was */
	uint8_t file[512];
	file_read(f, (FILE_SECTORS - 1) * 512, file, sizeof(file));
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(file[i], (uint8_t)(((FILE_SECTORS - 1) * 512 + i) * 7));
}

static void test_partial_sector_is_ioerr(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d1");
	queue_req(f, 0, T_OUT, 0, 100);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_IOERR);
}

static void test_read_only_drive(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, true, CACHE_UNSAFE, "ro"), 0);
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
	assert_true(rd(f, VMMIO_DEVICE_FEATURES) & (1u << 5)); /* VIRTIO_BLK_F_RO */
	go_live(f);
	memset(data_of(f, 0), 0x55, 512);
	queue_req(f, 0, T_OUT, 0, 512);
	queue_req(f, 1, T_IN, 0, 512);
	kick_and_wait(f, 2);
	assert_int_equal(*status_of(f, 0), S_IOERR);
	assert_int_equal(*status_of(f, 1), S_OK);
	uint8_t file[512];
	file_read(f, 0, file, sizeof(file));
	assert_int_not_equal(file[1], 0x55);
	assert_memory_equal(data_of(f, 1), file, 512);
}

static void test_rw_drive_has_no_ro_feature(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, false, CACHE_UNSAFE, "rw"), 0);
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t feat = rd(f, VMMIO_DEVICE_FEATURES);
	assert_false(feat & (1u << 5));
	assert_true(feat & (1u << 9));  /* FLUSH */
	assert_true(feat & (1u << 2));  /* SEG_MAX */
	assert_true(feat & (1u << 6));  /* BLK_SIZE */
	assert_true(feat & (1u << 28)); /* INDIRECT_DESC */
	assert_true(feat & (1u << 29)); /* EVENT_IDX */
}

static void test_get_id(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "a-drive-id-longer-than-20");
	memset(data_of(f, 0), 0xff, 64);
	queue_req(f, 0, T_GET_ID, 0, 64);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_int_equal(used_len_of(f, 0), 21);
	assert_memory_equal(data_of(f, 0), "a-drive-id-longer-th", 20);
	assert_int_equal(data_of(f, 0)[20], 0xff); /* nothing written past 20 */
}

static void test_get_id_short_is_padded(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "rootfs");
	memset(data_of(f, 0), 0xff, 64);
	queue_req(f, 0, T_GET_ID, 0, 20);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_memory_equal(data_of(f, 0), "rootfs\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
}

static void test_flush_and_unsupported(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_WRITEBACK, "d");
	queue_req(f, 0, T_FLUSH, 0, 0);
	queue_req(f, 1, 77, 0, 512);
	kick_and_wait(f, 2);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_int_equal(used_len_of(f, 0), 1);
	assert_int_equal(*status_of(f, 1), S_UNSUPP);
	assert_int_equal(f->b->stats.flushes, 1);
}

static void test_unsafe_flush_is_ok(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	queue_req(f, 0, T_FLUSH, 0, 0);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
}

static void test_many_in_flight(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	unsigned n = 21; /* 3 descriptors each: 63 in flight, 4 sectors each within the file */
	for (unsigned s = 0; s < n; s++) {
		memset(data_of(f, s), (int)(s + 1), 2048);
		queue_req(f, s, T_OUT, 4ull * s, 2048);
	}
	kick_and_wait(f, n);
	for (unsigned s = 0; s < n; s++) {
		assert_int_equal(*status_of(f, s), S_OK);
		uint8_t file[2048];
		file_read(f, 4ull * s * 512, file, sizeof(file));
		assert_memory_equal(file, data_of(f, s), 2048);
	}
	assert_int_equal(f->b->stats.bytes_written, n * 2048ull);
}

static void test_no_status_byte_needs_reset(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	set_desc(f, 0, HDRS, 16, 0, 0); /* header only: nothing to answer in */
	offer(f, 0);
	virtio_mmio_handle_notify(&f->b->t, 0);
	assert_true(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
	/* further kicks do nothing until the driver resets */
	queue_req(f, 1, T_IN, 0, 512);
	virtio_mmio_handle_notify(&f->b->t, 0);
	blk_poll(f->b, false);
	assert_int_equal(used_idx(f), 0);
}

static void test_malformed_chain_needs_reset(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	set_desc(f, 0, HDRS, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, RAM - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2); /* past RAM */
	set_desc(f, 2, HDRS + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	virtio_mmio_handle_notify(&f->b->t, 0);
	assert_true(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->b->stats.reads, 0);
	/* a reset brings it back */
	wr(f, VMMIO_STATUS, 0);
	memset(f->ram + AVAIL, 0, 0x2000);
	f->avail_idx = f->seen_used = 0;
	go_live(f);
	queue_req(f, 0, T_IN, 0, 512);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
}

static void test_reset_with_requests_in_flight(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	for (unsigned s = 0; s < 8; s++)
		queue_req(f, s, T_IN, s, 512);
	virtio_mmio_handle_notify(&f->b->t, 0);
	wr(f, VMMIO_STATUS, 0); /* drains the engine before returning */
	if (f->b->uring)
		assert_int_equal(blk_uring_inflight(f->b->uring), 0);
	uint16_t after = used_idx(f);
	blk_poll(f->b, false);
	assert_int_equal(used_idx(f), after); /* nothing completes after reset */
	assert_int_equal(rd(f, VMMIO_STATUS), 0);
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, false, CACHE_UNSAFE, "d"), 0);
	uint64_t cap = 0;
	virtio_mmio_ops.read(&f->b->t, VMMIO_CONFIG, &cap, 8);
	assert_int_equal(cap, FILE_SECTORS);
	uint32_t v = 0;
	virtio_mmio_ops.read(&f->b->t, VMMIO_CONFIG + 20, &v, 4);
	assert_int_equal(v, 512);
	virtio_mmio_ops.read(&f->b->t, VMMIO_CONFIG + 12, &v, 4);
	assert_int_equal(v, BLK_SEG_MAX);
	/* writes to config are ignored */
	uint64_t junk = 1;
	virtio_mmio_ops.write(&f->b->t, VMMIO_CONFIG, &junk, 8);
	virtio_mmio_ops.read(&f->b->t, VMMIO_CONFIG, &cap, 8);
	assert_int_equal(cap, FILE_SECTORS);
}

static void test_cmdline_and_missing_file(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, false, CACHE_UNSAFE, "d"), 0);
	char buf[128];
	assert_true(blk_cmdline(f->b, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "virtio_mmio.device=4K@0xd0001000:5 root=/dev/vda rw");
	struct drive_config cfg = f->cfg;
	cfg.path_on_host = (char *)"/nonexistent/husk-drive";
	struct blk *b = (struct blk *)1;
	struct virtio_env env = { .gm = &f->gm, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	assert_int_equal(blk_create(&b, &env, &cfg, 1), -ENOENT);
	assert_null(b);
}

static void test_swap_backing_file(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	char other[64];
	strcpy(other, "/tmp/husk-test-blk2-XXXXXX");
	int fd = mkstemp(other);
	assert_true(fd >= 0);
	uint8_t sec[512];
	memset(sec, 0x77, sizeof(sec));
	for (int i = 0; i < 8; i++)
		assert_int_equal(write(fd, sec, sizeof(sec)), 512);
	close(fd);
	for (unsigned s = 0; s < 4; s++) /* in flight while we swap (Async) */
		queue_req(f, s, T_IN, s, 512);
	virtio_mmio_handle_notify(&f->b->t, 0);
	uint32_t gen = rd(f, VMMIO_CONFIG_GENERATION);
	wr(f, VMMIO_INTERRUPT_ACK, 3);
	assert_int_equal(blk_swap_backing(f->b, "/nonexistent/x"), -ENOENT);
	assert_int_equal(blk_swap_backing(f->b, other), 0);
	f->seen_used = 4;
	assert_int_equal(used_idx(f), 4); /* the old file's requests were answered */
	assert_int_equal(rd(f, VMMIO_CONFIG_GENERATION), gen + 1);
	assert_true(rd(f, VMMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	uint64_t cap = 0;
	virtio_mmio_ops.read(&f->b->t, VMMIO_CONFIG, &cap, 8);
	assert_int_equal(cap, 8);
	queue_req(f, 5, T_IN, 7, 512);
	queue_req(f, 6, T_IN, 8, 512); /* past the new end */
	kick_and_wait(f, 2);
	assert_int_equal(*status_of(f, 5), S_OK);
	assert_memory_equal(data_of(f, 5), sec, 512);
	assert_int_equal(*status_of(f, 6), S_IOERR);
	unlink(other);
}

/* header + n segments in one readable buffer, then the status byte */
static void queue_ranges(struct fx *f, unsigned slot, uint32_t type, const uint64_t *sector,
                         const uint32_t *num, const uint32_t *flags, unsigned n)
{
	uint16_t d = (uint16_t)(3 * slot);
	uint8_t *hdr = data_of(f, slot);
	uint64_t zero = 0;
	memcpy(hdr, &type, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &zero, 8);
	for (unsigned i = 0; i < n; i++) {
		memcpy(hdr + 16 + 16 * i, &sector[i], 8);
		memcpy(hdr + 24 + 16 * i, &num[i], 4);
		memcpy(hdr + 28 + 16 * i, &flags[i], 4);
	}
	*status_of(f, slot) = 0xee;
	set_desc(f, d, DATA + slot * 0x4000ull, 16 + 16 * n, VIRTQ_DESC_F_NEXT, d + 2);
	set_desc(f, d + 2, HDRS + slot * 0x100 + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, d);
}

static bool file_zero(struct fx *f, uint64_t sector, unsigned n)
{
	uint8_t buf[512];
	for (unsigned s = 0; s < n; s++) {
		file_read(f, (sector + s) * 512, buf, sizeof(buf));
		for (unsigned i = 0; i < sizeof(buf); i++)
			if (buf[i])
				return false;
	}
	return true;
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, false, CACHE_UNSAFE, "d"), 0);
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
	assert_true(rd(f, VMMIO_DEVICE_FEATURES) & (1u << 13));
	assert_true(rd(f, VMMIO_DEVICE_FEATURES) & (1u << 14));
	go_live(f);
	uint64_t sec[2] = { 8, 20 };
	uint32_t num[2] = { 8, 3 }, flags[2] = { 0, 0 }, unmap[1] = { 1 };
	queue_ranges(f, 0, 11, sec, num, flags, 2);          /* DISCARD two ranges */
	uint64_t wz[1] = { 40 };
	queue_ranges(f, 1, 13, wz, num, flags, 1);           /* WRITE_ZEROES */
	uint64_t wzu[1] = { 60 };
	queue_ranges(f, 2, 13, wzu, num, unmap, 1);          /* WRITE_ZEROES | UNMAP */
	uint64_t past[1] = { FILE_SECTORS - 2 };
	queue_ranges(f, 3, 11, past, num, flags, 1);         /* crosses the end */
	queue_ranges(f, 4, 11, sec, num, unmap, 1);          /* UNMAP is not a discard flag */
	kick_and_wait(f, 5);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_int_equal(*status_of(f, 1), S_OK);
	assert_int_equal(*status_of(f, 2), S_OK);
	assert_int_equal(*status_of(f, 3), S_IOERR);
	assert_int_equal(*status_of(f, 4), S_IOERR);
	assert_true(file_zero(f, 8, 8));
	assert_true(file_zero(f, 20, 3));
	assert_true(file_zero(f, 40, 8));
	assert_true(file_zero(f, 60, 8));
	/* neighbours untouched (the pattern has non-zero bytes in every sector) */
	assert_false(file_zero(f, 7, 1));
	assert_false(file_zero(f, 16, 1));
	assert_false(file_zero(f, 23, 1));
	assert_false(file_zero(f, FILE_SECTORS - 2, 2));
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, FILE_SECTORS * 512); /* size kept */
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: WRITE_ZEROES still zeroes the range,
 * which stays allocated (a drive file in /dev/shm) */
static void test_write_zeroes_on_tmpfs(void **state)
{
	struct fx *f = *state;
	f->dir = "/dev/shm";
	assert_int_equal(wr_file(f, false, CACHE_UNSAFE, "d"), 0);
	int fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	/* the filesystem this test is about */
	assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE, 0, 512), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	close(fd);
	go_live(f);
	uint64_t wz[1] = { 40 };
	uint32_t num[1] = { 8 }, flags[1] = { 0 };
	queue_ranges(f, 0, 13, wz, num, flags, 1);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_true(file_zero(f, 40, 8));
	assert_false(file_zero(f, 39, 1));
	assert_false(file_zero(f, 48, 1));
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	/* nothing left unallocated: every sector of the file has its block */
	assert_true(st.st_blocks * 512 >= FILE_SECTORS * 512);
}

static void test_discard_on_read_only_is_ioerr(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, true, CACHE_UNSAFE, "d"), 0);
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
	assert_false(rd(f, VMMIO_DEVICE_FEATURES) & (1u << 13));
	go_live(f);
	uint64_t sec[1] = { 8 };
	uint32_t num[1] = { 8 }, flags[1] = { 0 };
	queue_ranges(f, 0, 11, sec, num, flags, 1);
	kick_and_wait(f, 1);
	assert_int_equal(*status_of(f, 0), S_IOERR);
	assert_false(file_zero(f, 8, 1));
}

/* A full ring is handled VCHAIN_BUDGET chains per round, like every
 * device's queue; the rest is left for the next round of the loop (the
 * notify eventfd is signalled again). */
static void test_budget_yields_to_the_loop(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "abc");
	uint64_t v;
	/* GET_ID completes at once in both engines, so one head can be reused */
	set_desc(f, 0, HDRS, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, HDRS + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
	uint32_t type = T_GET_ID;
	memcpy(hdr_of(f, 0), &type, 4);
	for (int i = 0; i < QSIZE; i++)
		offer(f, 0);
	virtio_mmio_handle_notify(&f->b->t, 0);
	assert_int_equal(used_idx(f), VCHAIN_BUDGET);
	assert_int_equal(read(f->b->t.notify_efd[0], &v, sizeof(v)), sizeof(v));
	virtio_mmio_handle_notify(&f->b->t, 0);
	assert_int_equal(used_idx(f), QSIZE);
	assert_int_equal(read(f->b->t.notify_efd[0], &v, sizeof(v)), -1); /* nothing left */
	assert_int_equal(f->b->stats.get_ids, QSIZE);
}

/* The file shrinks under a running drive: reads past the new end come
 * back short from the host and must fail, not hand stale bytes over. */
static void test_file_shrunk_under_us(void **state)
{
	struct fx *f = live_drive(state, false, CACHE_UNSAFE, "d");
	assert_int_equal(truncate(f->path, 64 * 512), 0);
	memset(data_of(f, 0), 0xab, 1024);
	queue_req(f, 0, T_IN, 63, 1024); /* half inside, half past the new end */
	queue_req(f, 1, T_IN, 62, 1024); /* all inside */
	kick_and_wait(f, 2);
	assert_int_equal(*status_of(f, 0), S_IOERR);
	assert_int_equal(used_len_of(f, 0), 1);
	assert_int_equal(*status_of(f, 1), S_OK);
}

/* One SQE on the engine's ring, submitted and reaped here (not by the
 * engine, which would take user_data for a request slot): its result. */
static int ring_one(struct io_uring *ring, void (*prep)(struct io_uring_sqe *, void *), void *arg,
                    unsigned flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	assert_non_null(sqe);
	prep(sqe, arg);
	io_uring_sqe_set_flags(sqe, flags);
	io_uring_sqe_set_data64(sqe, 0x5eed);
	assert_int_equal(io_uring_submit(ring), 1);
	struct io_uring_cqe *cqe;
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	assert_int_equal(io_uring_cqe_get_data64(cqe), 0x5eed);
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void prep_openat(struct io_uring_sqe *sqe, void *path)
{
	io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
}

static void prep_socket(struct io_uring_sqe *sqe, void *arg)
{
	(void)arg;
	io_uring_prep_socket(sqe, AF_UNIX, SOCK_STREAM, 0, 0);
}

struct rv { int fd; struct iovec iov; };

static void prep_readv(struct io_uring_sqe *sqe, void *arg)
{
	struct rv *r = arg;
	io_uring_prep_readv(sqe, r->fd, &r->iov, 1, 512);
}

/* The Async engine's ring runs only what the engine submits: other
 * opcodes (which seccomp never sees) and reads on an fd rather than the
 * registered file come back -EACCES, as does reshaping the ring, while
 * the engine's own requests still work. */
static void test_uring_is_restricted(void **state)
{
	struct fx *f = *state;
	assert_int_equal(wr_file(f, false, CACHE_WRITEBACK, "d"), 0);
	assert_non_null(f->b->uring);
	struct io_uring *ring = blk_uring_ring(f->b->uring);

	/* with the fixed-file flag, so only the opcode is wrong */
	assert_int_equal(ring_one(ring, prep_openat, f->path, IOSQE_FIXED_FILE), -EACCES);
	assert_int_equal(ring_one(ring, prep_openat, f->path, 0), -EACCES);
	assert_int_equal(ring_one(ring, prep_socket, NULL, IOSQE_FIXED_FILE), -EACCES);

	uint8_t buf[512], want[512];
	file_read(f, 512, want, sizeof(want));
	struct rv r = { .fd = open(f->path, O_RDONLY | O_CLOEXEC), .iov = { buf, sizeof(buf) } };
	assert_true(r.fd >= 0);
	/* an allowed opcode on a plain fd: refused */
	assert_int_equal(ring_one(ring, prep_readv, &r, 0), -EACCES);
	/* an allowed flag beside the required one: refused */
	assert_int_equal(ring_one(ring, prep_readv, &r, IOSQE_FIXED_FILE | IOSQE_ASYNC), -EACCES);
	close(r.fd);
	/* the same read on the registered file: the drive's bytes */
	memset(buf, 0, sizeof(buf));
	r.fd = 0;
	assert_int_equal(ring_one(ring, prep_readv, &r, IOSQE_FIXED_FILE), 512);
	assert_memory_equal(buf, want, sizeof(want));
	/* register ops other than the file update */
	assert_int_equal(io_uring_unregister_files(ring), -EACCES);
	assert_int_equal(io_uring_unregister_eventfd(ring), -EACCES);
	/* the one that is allowed (a backing-file swap): the same file anew */
	int dfd = open(f->path, O_RDWR | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(blk_uring_set_file(f->b->uring, dfd), 0);
	close(dfd); /* the ring holds its own reference */

	/* the engine: write, flush, read back */
	go_live(f);
	memset(data_of(f, 0), 0x3c, 1024);
	queue_req(f, 0, T_OUT, 9, 1024);
	kick_and_wait(f, 1);
	queue_req(f, 1, T_FLUSH, 0, 0);
	queue_req(f, 2, T_IN, 9, 1024);
	kick_and_wait(f, 2);
	assert_int_equal(*status_of(f, 0), S_OK);
	assert_int_equal(*status_of(f, 1), S_OK);
	assert_int_equal(*status_of(f, 2), S_OK);
	assert_memory_equal(data_of(f, 2), data_of(f, 0), 1024);
	assert_int_equal(f->b->stats.flushes, 1);
}

static void free_cfg(struct drive_config *c)
{
	free(c->drive_id);
	free(c->path_on_host);
	free(c->partuuid);
	memset(c, 0, sizeof(*c));
}

static void test_drive_option_parser(void **state)
{
	(void)state;
	struct drive_config c = { 0 };
	const char *what = NULL;
	assert_int_equal(blk_drive_parse("path=/tmp/a.img", 3, &c, &what), 0);
	assert_string_equal(c.path_on_host, "/tmp/a.img");
	assert_string_equal(c.drive_id, "drive3");
	assert_false(c.is_read_only);
	assert_false(c.is_root_device);
	assert_int_equal(c.io_engine, IO_ENGINE_SYNC);
	assert_int_equal(c.cache_type, CACHE_UNSAFE);
	free_cfg(&c);

	assert_int_equal(blk_drive_parse("path=/x,ro,root,engine=async,cache=Writeback,id=rootfs,partuuid=ab-01",
	                                 0, &c, &what), 0);
	assert_true(c.is_read_only);
	assert_true(c.is_root_device);
	assert_int_equal(c.io_engine, IO_ENGINE_ASYNC);
	assert_int_equal(c.cache_type, CACHE_WRITEBACK);
	assert_string_equal(c.drive_id, "rootfs");
	assert_string_equal(c.partuuid, "ab-01");
	free_cfg(&c);

	const char *bad[] = { "ro", "path=", "path=/x,engine=fast", "path=/x,cache=none",
	                      "path=/x,rw", "path=/x,ro=1", "path=/x,id=", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		what = NULL;
		assert_int_equal(blk_drive_parse(bad[i], 0, &c, &what), -EINVAL);
		assert_non_null(what);
		free_cfg(&c);
	}
}

/* --drive keeps the drives in the vm_config in option order; a second
 * root drive is refused, naming the field. */
static void test_drive_option_into_config(void **state)
{
	(void)state;
	struct vm_config cfg;
	char err[128] = "";
	config_init(&cfg);
	assert_int_equal(blk_cli_opt.apply("path=/a,root", &cfg, err, sizeof(err)), 0);
	assert_int_equal(blk_cli_opt.apply("path=/b", &cfg, err, sizeof(err)), 0);
	const struct drive_configs *drives = drive_configs_of(&cfg);
	assert_non_null(drives);
	assert_int_equal(drives->nr, 2);
	assert_true(drives->items[0].is_root_device);
	assert_string_equal(drives->items[1].path_on_host, "/b");
	assert_int_equal(blk_cli_opt.apply("path=/c,root", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "drives: more than one root device");
	config_free(&cfg);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, setup_sync, teardown)
#define A(fn) cmocka_unit_test_setup_teardown(fn, setup_async, teardown)
#define BOTH(fn) S(fn), A(fn)

UNIT_TEST_MAIN(
	BOTH(test_write_then_read_back),
	BOTH(test_read_sees_file_content),
	BOTH(test_past_the_end_is_ioerr),
	BOTH(test_partial_sector_is_ioerr),
	BOTH(test_read_only_drive),
	BOTH(test_rw_drive_has_no_ro_feature),
	BOTH(test_get_id),
	BOTH(test_get_id_short_is_padded),
	BOTH(test_flush_and_unsupported),
	BOTH(test_unsafe_flush_is_ok),
	BOTH(test_many_in_flight),
	BOTH(test_no_status_byte_needs_reset),
	BOTH(test_malformed_chain_needs_reset),
	BOTH(test_reset_with_requests_in_flight),
	BOTH(test_config_space),
	BOTH(test_cmdline_and_missing_file),
	BOTH(test_swap_backing_file),
	BOTH(test_discard_and_write_zeroes),
	BOTH(test_write_zeroes_on_tmpfs),
	BOTH(test_discard_on_read_only_is_ioerr),
	BOTH(test_budget_yields_to_the_loop),
	BOTH(test_file_shrunk_under_us),
	A(test_uring_is_restricted),
	cmocka_unit_test(test_drive_option_parser),
	cmocka_unit_test(test_drive_option_into_config))
