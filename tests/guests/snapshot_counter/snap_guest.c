/* snap_guest: the long-mode guest of the snapshot tests and the restore
 * benchmark, booted by a real husk.
 *
 * It counts forever (the count lives only in guest RAM) and prints
 * "n=<count>" per step. Options on the kernel cmdline:
 *   - a virtio-blk device (virtio_mmio.device=4K@ADDR:GSI, the first one):
 *     each step writes sector 8 + count % 8 (first 8 bytes: the count,
 *     then (i + count) & 0xff), reads it back and compares, and the line
 *     becomes "n=<count> blk=ok" (or blk=BAD / blk=ERR);
 *   - husk.vmgenid=ADDR: the VMGenID page; its 16-byte id is printed at
 *     start and whenever it changes ("genid=<32 hex>");
 *   - snap_stop=N: reset the machine after step N (a clean exit);
 *   - snap_fill=M: first fill M MiB of RAM from 16 MiB with a pattern that
 *     has no zero page, so a Full snapshot writes M MiB (the snapshot
 *     failure tests need a memory write long enough to fail or be killed
 *     in). "fill=<sum>" prints a checksum of the filled range.
 * Polling only; loops stay short (PVM hosts emulate guest code). */
#include "guest.h"
#include "../virtio_mmio_regs.h"

#define QSZ 8
#define SECTOR0 8
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct desc descs[QSZ] __attribute__((aligned(4096)));
static volatile uint16_t avail[2 + QSZ + 1] __attribute__((aligned(4096)));
/* a page of its own: only the device writes it (the Diff test relies on it) */
static volatile uint32_t used[1024] __attribute__((aligned(4096)));
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} req_hdr __attribute__((aligned(64)));
static uint8_t data[512] __attribute__((aligned(512)));
static volatile uint8_t req_status;
static uint16_t avail_idx, used_seen;

/* the count: only in RAM, so a restore that lost memory cannot continue */
static volatile uint64_t count;

static uint64_t parse_num(const char *p)
{
	uint64_t v = 0;
	bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	if (hex)
		p += 2;
	for (;; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (hex && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (hex && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return v;
		v = v * (hex ? 16 : 10) + d;
	}
}

/* The value after "key" (which ends in '=' or '@'), or NULL. */
static const char *cmd_value(const char *cmd, const char *key)
{
	for (int i = 0; i < G_CMDLINE_MAX && cmd[i]; i++) {
		if (i > 0 && cmd[i - 1] != ' ')
			continue;
		int k = 0;
		while (key[k] && cmd[i + k] == key[k])
			k++;
		if (!key[k])
			return cmd + i + k;
	}
	return NULL;
}

static volatile uint32_t *blk_base;

static uint32_t rr(uint32_t off) { return rd32((volatile uint8_t *)blk_base + off); }
static void wr(uint32_t off, uint32_t v) { wr32((volatile uint8_t *)blk_base + off, v); }

static bool blk_init(const char *cmd)
{
	const char *v = cmd_value(cmd, "virtio_mmio.device=4K@");
	if (!v)
		return false;
	blk_base = (volatile uint32_t *)parse_num(v);
	if (rr(R_MAGIC) != VIRTIO_MMIO_MAGIC || rr(R_VERSION) != 2 || rr(R_DEVICE_ID) != 2)
		return false;
	wr(R_STATUS, 0);
	wr(R_STATUS, 1);
	wr(R_STATUS, 1 | 2);
	wr(R_DEV_FEATURES_SEL, 1);
	if (!(rr(R_DEV_FEATURES) & 1))
		return false; /* VERSION_1 */
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, 0);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, 1);
	wr(R_STATUS, 1 | 2 | 8);
	if (!(rr(R_STATUS) & 8))
		return false;
	wr(R_QUEUE_SEL, 0);
	wr(R_QUEUE_NUM, QSZ);
	wr(R_DESC_LO, (uint32_t)(uint64_t)descs);
	wr(R_DESC_HI, 0);
	wr(R_AVAIL_LO, (uint32_t)(uint64_t)avail);
	wr(R_AVAIL_HI, 0);
	wr(R_USED_LO, (uint32_t)(uint64_t)used);
	wr(R_USED_HI, 0);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, 1 | 2 | 8 | 4);
	return (rr(R_STATUS) & 0x4f) == (1 | 2 | 8 | 4);
}

/* One request (header, 512 data bytes, status), polled to completion. */
static int blk_rw(uint32_t type, uint64_t sector)
{
	req_hdr.type = type;
	req_hdr.reserved = 0;
	req_hdr.sector = sector;
	req_status = 0xff;
	descs[0] = (struct desc){ (uint64_t)&req_hdr, 16, 1, 1 };
	descs[1] = (struct desc){ (uint64_t)data, 512, (uint16_t)(1 | (type == VIRTIO_BLK_T_IN ? 2 : 0)), 2 };
	descs[2] = (struct desc){ (uint64_t)&req_status, 1, 2, 0 };
	avail[2 + avail_idx % QSZ] = 0;
	__asm__ volatile("mfence" ::: "memory");
	avail_idx++;
	avail[1] = avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	wr(R_QUEUE_NOTIFY, 0);
	for (uint32_t spin = 0; (uint16_t)(used[0] >> 16) == used_seen; spin++) {
		if (spin > 20000000u)
			return -1;
		cpu_relax();
	}
	used_seen++;
	wr(R_ISR_ACK, 3);
	return req_status == 0 ? 0 : -1;
}

static const char *blk_step(uint64_t n)
{
	uint64_t sector = SECTOR0 + n % 8;
	memcpy(data, (const void *)&n, 8);
	for (int i = 8; i < 512; i++)
		data[i] = (uint8_t)(i + n);
	if (blk_rw(VIRTIO_BLK_T_OUT, sector) < 0)
		return "ERR";
	memset(data, 0, sizeof(data));
	if (blk_rw(VIRTIO_BLK_T_IN, sector) < 0)
		return "ERR";
	if (memcmp(data, (const void *)&n, 8) != 0)
		return "BAD";
	for (int i = 8; i < 512; i++)
		if (data[i] != (uint8_t)(i + n))
			return "BAD";
	return "ok";
}

static volatile uint8_t *genid;
static uint8_t genid_seen[16];

static void genid_check(bool force)
{
	uint8_t now[16], again[16];
	if (!genid)
		return;
	/* a restore can land between two byte reads: read until two reads
	 * agree, so a torn id is never reported */
	for (int i = 0; i < 16; i++)
		again[i] = genid[i];
	do {
		memcpy(now, again, 16);
		for (int i = 0; i < 16; i++)
			again[i] = genid[i];
	} while (memcmp(now, again, 16) != 0);
	if (!force && memcmp(now, genid_seen, 16) == 0)
		return;
	memcpy(genid_seen, now, 16);
	char hex[33];
	for (int i = 0; i < 16; i++) {
		hex[2 * i] = "0123456789abcdef"[now[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[now[i] & 15];
	}
	hex[32] = 0;
	gprintf("genid=%s\n", hex);
}

#define FILL_BASE (16ull << 20)

static void fill(uint64_t mib)
{
	volatile uint64_t *p = (volatile uint64_t *)FILL_BASE;
	uint64_t words = (mib << 20) / 8, sum = 0;
	for (uint64_t i = 0; i < words; i++) {
		uint64_t v = (i + 1) * 0x9e3779b97f4a7c15ull;
		p[i] = v;
		sum += v;
	}
	gprintf("fill=%llx\n", (unsigned long long)sum);
}

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params;
	(void)start_info;
	const char *cmd = boot_cmdline();
	paging_map_high();
	bool blk = blk_init(cmd);
	const char *g = cmd_value(cmd, "husk.vmgenid=");
	if (g)
		genid = (volatile uint8_t *)parse_num(g);
	const char *s = cmd_value(cmd, "snap_stop=");
	uint64_t stop = s ? parse_num(s) : 0;
	const char *f = cmd_value(cmd, "snap_fill=");
	if (f)
		fill(parse_num(f));
	gprintf("snap-guest: start blk=%s\n", blk ? "yes" : "no");
	genid_check(true);
	for (;;) {
		count++;
		if (blk)
			gprintf("n=%llu blk=%s\n", (unsigned long long)count, blk_step(count));
		else
			gprintf("n=%llu\n", (unsigned long long)count);
		genid_check(false);
		if (stop && count >= stop) {
			gprintf("snap-guest: done\n");
			guest_reset();
		}
	}
}
