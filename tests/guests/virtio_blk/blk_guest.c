/* blk_guest: a test guest for husk's virtio-mmio transport and virtio-blk.
 *
 * For every virtio-blk device in the virtio-mmio slots (found by probing
 * the magic value) it:
 *   - negotiates by the virtio 1.x rules (VERSION_1 required, FLUSH, RO and
 *     INDIRECT_DESC when offered), sets up queue 0, DRIVER_OK;
 *   - reads GET_ID and prints it;
 *   - read-write drive: writes a pattern to sectors blk_sector, +1 (through
 *     an indirect table), FLUSHes, reads it back and compares;
 *   - read-write drive: then 5 one-sector writes in flight at once (one
 *     kick) to sectors blk_sector+10.., read back the same way;
 *   - read-only drive: checks that a write fails with IOERR, reads sector 0;
 *   - checks that a read of the sector at the capacity fails with IOERR;
 *   - checks the used-buffer interrupt status and acknowledges it;
 *   - with blk_bad=1 (read-write drive): offers a chain whose buffer lies
 *     outside guest RAM, expects NEEDS_RESET and a config interrupt, then
 *     resets, re-initialises and repeats the pattern test;
 *   - resets the device and checks the status reads 0.
 * Then it resets the machine through the i8042. Pattern byte i of sector s
 * is (i * 31 + s + seed) & 0xff, seed from blk_seed=N (default 1), sector
 * from blk_sector=N (default 8). Reports "blk-guest: ..." lines on COM1.
 * Polling only (interrupts stay off); loops stay short for emulated PVM. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../poll_lib.h"
#include "../virtio_mmio_regs.h"

#define MMIO_BASE 0xd0001000ULL
#define MMIO_STRIDE 0x1000
#define MMIO_SLOTS 8
#define QSIZE 16
/* a bound on a request, in polls: generous, since the vmm thread may wait
 * for the one CPU of an emulated, busy host (the ASan run, nested KVM) */
#define SPIN_LIMIT 500000000u

/* ---- virtio-mmio ---- */

#define F_BLK_RO (1u << 5)
#define F_BLK_FLUSH (1u << 9)
#define F_INDIRECT (1u << 28)
#define F_EVENT_IDX (1u << 29)
#define BATCH 5

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct blkreq_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct desc ring_desc[QSIZE] __attribute__((aligned(16)));
static struct {
	uint16_t flags, idx, ring[QSIZE], used_event;
} ring_avail __attribute__((aligned(2)));
static struct {
	uint16_t flags;
	volatile uint16_t idx;
	struct {
		uint32_t id, len;
	} ring[QSIZE];
	uint16_t avail_event;
} ring_used __attribute__((aligned(4)));
static struct desc indirect[4] __attribute__((aligned(16)));
static struct blkreq_hdr hdr;
static volatile uint8_t status;
static uint8_t wbuf[1024], rbuf[1024];

struct dev {
	volatile uint8_t *base;
	unsigned slot;
	uint32_t features; /* low word accepted */
	uint64_t capacity;
	uint16_t avail_idx, used_seen;
};

static uint32_t rd32(struct dev *d, unsigned off) { return *(volatile uint32_t *)(d->base + off); }
static void wr32(struct dev *d, unsigned off, uint32_t v) { *(volatile uint32_t *)(d->base + off) = v; }

static void say(struct dev *d, const char *what)
{
	puts_("blk-guest: vd");
	putc_((char)('a' + d->slot));
	putc_(' ');
	puts_(what);
	putc_('\n');
}

static bool dev_init(struct dev *d)
{
	wr32(d, R_STATUS, 0);
	wr32(d, R_STATUS, S_ACK);
	wr32(d, R_STATUS, S_ACK | S_DRIVER);
	wr32(d, R_DEV_FEATURES_SEL, 1);
	uint32_t hi = rd32(d, R_DEV_FEATURES);
	wr32(d, R_DEV_FEATURES_SEL, 0);
	uint32_t lo = rd32(d, R_DEV_FEATURES);
	if (!(hi & 1)) {
		say(d, "no VERSION_1");
		return false;
	}
	d->features = lo & (F_BLK_RO | F_BLK_FLUSH | F_INDIRECT | F_EVENT_IDX);
	wr32(d, R_DRV_FEATURES_SEL, 1);
	wr32(d, R_DRV_FEATURES, 1);
	wr32(d, R_DRV_FEATURES_SEL, 0);
	wr32(d, R_DRV_FEATURES, d->features);
	wr32(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd32(d, R_STATUS) & S_FEATURES_OK)) {
		say(d, "FEATURES_OK refused");
		return false;
	}
	wr32(d, R_QUEUE_SEL, 0);
	if (rd32(d, R_QUEUE_NUM_MAX) < QSIZE) {
		say(d, "queue too small");
		return false;
	}
	memset(&ring_avail, 0, sizeof(ring_avail));
	memset((void *)&ring_used, 0, sizeof(ring_used));
	d->avail_idx = d->used_seen = 0;
	wr32(d, R_QUEUE_NUM, QSIZE);
	uint64_t a = (uint64_t)(uintptr_t)ring_desc, b = (uint64_t)(uintptr_t)&ring_avail,
	         c = (uint64_t)(uintptr_t)&ring_used;
	wr32(d, R_DESC_LO, (uint32_t)a);
	wr32(d, R_DESC_HI, (uint32_t)(a >> 32));
	wr32(d, R_AVAIL_LO, (uint32_t)b);
	wr32(d, R_AVAIL_HI, (uint32_t)(b >> 32));
	wr32(d, R_USED_LO, (uint32_t)c);
	wr32(d, R_USED_HI, (uint32_t)(c >> 32));
	wr32(d, R_QUEUE_READY, 1);
	if (rd32(d, R_QUEUE_READY) != 1) {
		say(d, "queue not ready");
		return false;
	}
	wr32(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	d->capacity = rd32(d, R_CONFIG) | ((uint64_t)rd32(d, R_CONFIG + 4) << 32);
	return true;
}

/* Offer the chain at descriptor 0 and wait for it. Returns the status
 * byte, or -1 on timeout; *used_len gets the used length. */
static int dev_run(struct dev *d, uint32_t *used_len)
{
	status = 0xee;
	ring_avail.ring[d->avail_idx % QSIZE] = 0;
	mb();
	d->avail_idx++;
	ring_avail.idx = d->avail_idx;
	mb();
	wr32(d, R_QUEUE_NOTIFY, 0);
	for (uint32_t spin = 0; ring_used.idx == d->used_seen; spin++)
		if (spin > SPIN_LIMIT)
			return -1;
	mb();
	if (used_len)
		*used_len = ring_used.ring[d->used_seen % QSIZE].len;
	d->used_seen++;
	return status;
}

static void set_desc(struct desc *t, int i, void *p, uint32_t len, uint16_t flags, uint16_t next)
{
	t[i].addr = (uint64_t)(uintptr_t)p;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

/* header, optional data, status; direct descriptors 0..2 */
static int blk_req(struct dev *d, uint32_t type, uint64_t sector, void *data, uint32_t len,
                   uint32_t *used_len)
{
	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	bool dev_writes = type == T_IN || type == T_GET_ID;
	if (len) {
		set_desc(ring_desc, 0, &hdr, sizeof(hdr), D_NEXT, 1);
		set_desc(ring_desc, 1, data, len, (uint16_t)(D_NEXT | (dev_writes ? D_WRITE : 0)), 2);
		set_desc(ring_desc, 2, (void *)&status, 1, D_WRITE, 0);
	} else {
		set_desc(ring_desc, 0, &hdr, sizeof(hdr), D_NEXT, 2);
		set_desc(ring_desc, 2, (void *)&status, 1, D_WRITE, 0);
	}
	return dev_run(d, used_len);
}

/* the same request through an indirect table, data split in two buffers */
static int blk_req_indirect(struct dev *d, uint32_t type, uint64_t sector, uint8_t *data,
                            uint32_t len)
{
	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	uint16_t w = type == T_IN ? D_WRITE : 0;
	set_desc(indirect, 0, &hdr, sizeof(hdr), D_NEXT, 1);
	set_desc(indirect, 1, data, len / 2, (uint16_t)(D_NEXT | w), 2);
	set_desc(indirect, 2, data + len / 2, len - len / 2, (uint16_t)(D_NEXT | w), 3);
	set_desc(indirect, 3, (void *)&status, 1, D_WRITE, 0);
	set_desc(ring_desc, 0, indirect, sizeof(indirect), D_INDIRECT, 0);
	return dev_run(d, NULL);
}

static uint8_t pattern(uint32_t i, uint64_t sector, uint32_t seed)
{
	return (uint8_t)(i * 31 + sector + seed);
}

static bool test_rw(struct dev *d, uint64_t sector, uint32_t seed)
{
	for (uint32_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = pattern(i % 512, sector + i / 512, seed);
	int st = (d->features & F_INDIRECT) ? blk_req_indirect(d, T_OUT, sector, wbuf, sizeof(wbuf))
	                                    : blk_req(d, T_OUT, sector, wbuf, sizeof(wbuf), NULL);
	if (st != 0) {
		say(d, "write failed");
		return false;
	}
	if (blk_req(d, T_FLUSH, 0, NULL, 0, NULL) != 0) {
		say(d, "flush failed");
		return false;
	}
	memset(rbuf, 0, sizeof(rbuf));
	uint32_t used = 0;
	if (blk_req(d, T_IN, sector, rbuf, sizeof(rbuf), &used) != 0 || used != sizeof(rbuf) + 1) {
		say(d, "read failed");
		return false;
	}
	for (uint32_t i = 0; i < sizeof(rbuf); i++) {
		if (rbuf[i] != wbuf[i]) {
			say(d, "read back mismatch");
			return false;
		}
	}
	say(d, "rw pattern ok");
	return true;
}

/* BATCH requests in flight at once, one kick: writes to sectors
 * sector+10.., then reads them back the same way. */
static struct blkreq_hdr bhdr[BATCH];
static volatile uint8_t bstatus[BATCH];
static uint8_t bbuf[BATCH][512], bread[BATCH][512];

static bool batch_run(struct dev *d, uint32_t type, uint64_t sector)
{
	for (int k = 0; k < BATCH; k++) {
		uint16_t i = (uint16_t)(3 * k);
		bhdr[k] = (struct blkreq_hdr){ type, 0, sector + (uint64_t)k };
		bstatus[k] = 0xee;
		set_desc(ring_desc, i, &bhdr[k], sizeof(bhdr[k]), D_NEXT, (uint16_t)(i + 1));
		set_desc(ring_desc, i + 1, type == T_IN ? bread[k] : bbuf[k], 512,
		         (uint16_t)(D_NEXT | (type == T_IN ? D_WRITE : 0)), (uint16_t)(i + 2));
		set_desc(ring_desc, i + 2, (void *)&bstatus[k], 1, D_WRITE, 0);
		ring_avail.ring[(d->avail_idx + k) % QSIZE] = i;
	}
	mb();
	d->avail_idx = (uint16_t)(d->avail_idx + BATCH);
	ring_avail.idx = d->avail_idx;
	mb();
	wr32(d, R_QUEUE_NOTIFY, 0);
	uint16_t want = (uint16_t)(d->used_seen + BATCH);
	for (uint32_t spin = 0; ring_used.idx != want; spin++)
		if (spin > SPIN_LIMIT)
			return false;
	mb();
	d->used_seen = want;
	for (int k = 0; k < BATCH; k++)
		if (bstatus[k] != 0)
			return false;
	return true;
}

static bool test_batch(struct dev *d, uint64_t sector, uint32_t seed)
{
	for (int k = 0; k < BATCH; k++)
		for (uint32_t i = 0; i < 512; i++)
			bbuf[k][i] = pattern(i, sector + (uint64_t)k, seed);
	memset(bread, 0, sizeof(bread));
	if (!batch_run(d, T_OUT, sector) || !batch_run(d, T_IN, sector)) {
		say(d, "batch failed");
		return false;
	}
	for (int k = 0; k < BATCH; k++)
		for (uint32_t i = 0; i < 512; i++)
			if (bread[k][i] != bbuf[k][i]) {
				say(d, "batch read back mismatch");
				return false;
			}
	say(d, "batch ok");
	return true;
}

/* A chain whose data buffer is outside guest RAM: the device must go to
 * NEEDS_RESET (not crash, not answer), and work again after a reset. */
static bool test_bad_chain(struct dev *d, uint64_t sector, uint32_t seed)
{
	hdr = (struct blkreq_hdr){ T_IN, 0, 0 };
	set_desc(ring_desc, 0, &hdr, sizeof(hdr), D_NEXT, 1);
	ring_desc[1] = (struct desc){ 0x7ffffffff000ull, 512, D_NEXT | D_WRITE, 2 };
	set_desc(ring_desc, 2, (void *)&status, 1, D_WRITE, 0);
	ring_avail.ring[d->avail_idx % QSIZE] = 0;
	mb();
	d->avail_idx++;
	ring_avail.idx = d->avail_idx;
	mb();
	wr32(d, R_QUEUE_NOTIFY, 0);
	uint32_t spin = 0;
	while (!(rd32(d, R_STATUS) & S_NEEDS_RESET))
		if (++spin > SPIN_LIMIT / 16) {
			say(d, "bad chain not refused");
			return false;
		}
	if (!(rd32(d, R_ISR) & 2)) {
		say(d, "no config interrupt for needs-reset");
		return false;
	}
	say(d, "bad chain needs reset ok");
	if (!dev_init(d) || !test_rw(d, sector, seed)) {
		say(d, "no recovery after reset");
		return false;
	}
	say(d, "recovered ok");
	return true;
}

static bool test_ro(struct dev *d)
{
	memset(wbuf, 0x5a, 512);
	if (blk_req(d, T_OUT, 0, wbuf, 512, NULL) != 1) {
		say(d, "ro write not refused");
		return false;
	}
	if (blk_req(d, T_IN, 0, rbuf, 512, NULL) != 0) {
		say(d, "ro read failed");
		return false;
	}
	say(d, "ro write ioerr ok");
	return true;
}

static bool bad_chain_wanted;

/* ---- load generator (blk_bench=KIND,BS_KIB,COUNT) ----
 * KIND: 0 random read, 1 random write, 2 sequential read, 3 sequential
 * write; BATCH requests in flight per kick. Prints "bench start" and
 * "bench done", then halts (the host samples CPU and stops the VM). */
static uint8_t lbuf[BATCH][1 << 20];

static bool load_run(struct dev *d, uint32_t kind, uint32_t bs, uint32_t count)
{
	uint32_t type = (kind & 1) ? T_OUT : T_IN;
	uint64_t blocks = d->capacity / (bs / 512), x = 88172645463325252ull, next = 0;
	if (blocks == 0 || bs > sizeof(lbuf[0]))
		return false;
	for (uint32_t done = 0; done < count; done += BATCH) {
		for (int k = 0; k < BATCH; k++) {
			uint64_t blk;
			if (kind >= 2) {
				blk = next++ % blocks;
			} else {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				blk = x % blocks;
			}
			uint16_t i = (uint16_t)(3 * k);
			bhdr[k] = (struct blkreq_hdr){ type, 0, blk * (bs / 512) };
			bstatus[k] = 0xee;
			set_desc(ring_desc, i, &bhdr[k], sizeof(bhdr[k]), D_NEXT, (uint16_t)(i + 1));
			set_desc(ring_desc, i + 1, lbuf[k], bs,
			         (uint16_t)(D_NEXT | (type == T_IN ? D_WRITE : 0)), (uint16_t)(i + 2));
			set_desc(ring_desc, i + 2, (void *)&bstatus[k], 1, D_WRITE, 0);
			ring_avail.ring[(d->avail_idx + k) % QSIZE] = i;
		}
		mb();
		d->avail_idx = (uint16_t)(d->avail_idx + BATCH);
		ring_avail.idx = d->avail_idx;
		mb();
		wr32(d, R_QUEUE_NOTIFY, 0);
		uint16_t want = (uint16_t)(d->used_seen + BATCH);
		/* No spin bound here: a rate limiter legitimately holds a batch
		 * back for a long while, and how long a spin takes depends on
		 * the host (nested under emulation it is 10-50x slower). The
		 * host-side test's deadline bounds a VMM that never answers. */
		while (ring_used.idx != want)
			;
		mb();
		d->used_seen = want;
		for (int k = 0; k < BATCH; k++)
			if (bstatus[k] != 0)
				return false;
	}
	return true;
}

static void load_main(struct dev *d)
{
	uint32_t kind = cmd_u32("blk_bench=", 0);
	uint32_t bs = cmd_u32("blk_bs_kib=", 4) * 1024;
	uint32_t count = cmd_u32("blk_count=", 1000);
	count = (count + BATCH - 1) / BATCH * BATCH;
	if (!dev_init(d)) {
		say(d, "bench init failed");
		return;
	}
	puts_("blk-guest: bench start\n");
	bool ok = load_run(d, kind, bs, count);
	puts_(ok ? "blk-guest: bench done ops=" : "blk-guest: bench failed ops=");
	putu(count);
	puts_(" bytes=");
	putu((uint64_t)count * bs);
	putc_('\n');
	for (;;)
		__asm__ volatile("cli; hlt");
}

static bool test_dev(struct dev *d, uint64_t sector, uint32_t seed)
{
	if (!dev_init(d))
		return false;
	puts_("blk-guest: vd");
	putc_((char)('a' + d->slot));
	puts_(" capacity ");
	putu(d->capacity);
	puts_(d->features & F_BLK_RO ? " ro" : " rw");
	putc_('\n');

	char id[21];
	memset(id, 0, sizeof(id));
	uint32_t used = 0;
	if (blk_req(d, T_GET_ID, 0, id, 20, &used) != 0) {
		say(d, "get_id failed");
		return false;
	}
	puts_("blk-guest: vd");
	putc_((char)('a' + d->slot));
	puts_(" id=");
	puts_(id);
	puts_(" used=");
	putu(used);
	putc_('\n');

	bool ok = (d->features & F_BLK_RO) ? test_ro(d)
	                                   : test_rw(d, sector, seed) && test_batch(d, sector + 10, seed);
	if (!ok)
		return false;
	int st = blk_req(d, T_IN, d->capacity, rbuf, 512, &used);
	if (st != 1) {
		puts_("blk-guest: past-end status ");
		putu((uint64_t)(st & 0xff));
		putc_('\n');
		say(d, "past-end read not refused");
		return false;
	}
	say(d, "past-end ioerr ok");
	uint32_t isr = rd32(d, R_ISR);
	wr32(d, R_ISR_ACK, isr);
	if (!(isr & 1)) {
		say(d, "no used interrupt");
		return false;
	}
	if (rd32(d, R_ISR) & 1) {
		say(d, "interrupt not acknowledged");
		return false;
	}
	if (bad_chain_wanted && !(d->features & F_BLK_RO) && !test_bad_chain(d, sector, seed))
		return false;
	wr32(d, R_STATUS, 0);
	if (rd32(d, R_STATUS) != 0 || rd32(d, R_QUEUE_READY) != 0) {
		say(d, "reset failed");
		return false;
	}
	say(d, "reset ok");
	return true;
}

/* The n-th "virtio_mmio.device=SIZE@0xADDR:IRQ" entry's address, 0 if none. */
static uint64_t cmd_mmio_dev(unsigned n)
{
	const char *key = "virtio_mmio.device=";
	for (int i = 0; i < 2048 && cmdline[i]; i++) {
		int k = 0;
		while (key[k] && cmdline[i + k] == key[k])
			k++;
		if (key[k] || (i > 0 && cmdline[i - 1] != ' '))
			continue;
		if (n--)
			continue;
		const char *p = cmdline + i + k;
		while (*p && *p != '@' && *p != ' ')
			p++;
		if (p[0] != '@' || p[1] != '0' || p[2] != 'x')
			return 0;
		p += 3;
		uint64_t v = 0;
		for (;; p++) {
			if (*p >= '0' && *p <= '9')
				v = v * 16 + (uint64_t)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				v = v * 16 + (uint64_t)(*p - 'a' + 10);
			else
				break;
		}
		return v;
	}
	return 0;
}

static void blk_run(void)
{
	uint64_t sector = cmd_u32("blk_sector=", 8);
	uint32_t seed = cmd_u32("blk_seed=", 1);
	bad_chain_wanted = cmd_u32("blk_bad=", 0) != 0;
	puts_("blk-guest: start cmdline: ");
	puts_(cmdline);
	putc_('\n');
	unsigned found = 0, passed = 0;
	/* devices as the cmdline announces them (husk, QEMU microvm), else
	 * husk's slots probed */
	bool from_cmdline = cmd_mmio_dev(0) != 0;
	for (unsigned s = 0; s < MMIO_SLOTS; s++) {
		uint64_t addr = from_cmdline ? cmd_mmio_dev(s) : MMIO_BASE + s * MMIO_STRIDE;
		if (!addr)
			break;
		struct dev d = { .base = (volatile uint8_t *)(uintptr_t)addr, .slot = found };
		if (rd32(&d, R_MAGIC) != VIRTIO_MMIO_MAGIC || rd32(&d, R_VERSION) != 2 ||
		    rd32(&d, R_DEVICE_ID) != 2)
			continue;
		found++;
		if (cmd_u32("blk_count=", 0))
			load_main(&d); /* does not return */
		passed += test_dev(&d, sector, seed);
	}
	puts_("blk-guest: done ");
	putu(passed);
	puts_(" of ");
	putu(found);
	puts_(" devices ok\n");
	outb(0x64, 0xfe); /* i8042 reset: the VM ends */
	for (;;)
		__asm__ volatile("hlt");
}

void blk_main_pvh(uint32_t start_info);
void blk_main_linux(uint64_t boot_params);

/* PVH (QEMU microvm): hvm_start_info.cmdline_paddr at offset 24 */
void blk_main_pvh(uint32_t start_info)
{
	const volatile uint8_t *si = (const volatile uint8_t *)(uintptr_t)start_info;
	uint64_t cl = *(const volatile uint64_t *)(si + 24);
	if (cl)
		cmdline = (const char *)(uintptr_t)cl;
	blk_run();
}

/* 64-bit Linux boot protocol (husk): boot_params.hdr.cmd_line_ptr at 0x228 */
void blk_main_linux(uint64_t boot_params)
{
	const volatile uint8_t *bp = (const volatile uint8_t *)(uintptr_t)boot_params;
	uint32_t cl = *(const volatile uint32_t *)(bp + 0x228);
	if (cl)
		cmdline = (const char *)(uintptr_t)cl;
	blk_run();
}
