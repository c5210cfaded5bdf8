/* hostile: a guest that abuses every device it can reach, to show that a
 * hostile guest can at most break its own VM. Entered through PVH (32-bit,
 * paging off, so every physical address is one mov away). It
 *   - sweeps I/O ports and unbacked MMIO with reads and writes,
 *   - pokes the serial, i8042 and boot timer with odd values and sizes,
 *   - on every virtio-mmio slot: wrong-size accesses, feature negotiation
 *     without VERSION_1, queue registers out of range, rings outside RAM,
 *     then a queue whose descriptors point outside RAM, loop, nest indirect
 *     tables and name heads out of range, and an avail index far ahead;
 * then prints "husk-guest: hostile done" and resets. The VMM must survive
 * all of it and exit 0 on the reset. */
#include "guest.h"
#include "virtio_mmio_regs.h"

#define VIRTIO_BASE 0xd0001000u
#define VIRTIO_SLOTS 16

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

/* rings for the malformed-chain test, well above the guest image */
#define RING_DESC 0x400000u
#define RING_AVAIL 0x401000u
#define RING_USED 0x402000u
#define QSIZE 8

void pvh_main(uint32_t start_info);

static inline void mmio_w8(uint32_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void mmio_w16(uint32_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline uint8_t mmio_r8(uint32_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t mmio_r16(uint32_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
static inline uint32_t mmio_r32(uint32_t a) { return rd32((volatile void *)(uintptr_t)a); }
static inline void mmio_w32(uint32_t a, uint32_t v) { wr32((volatile void *)(uintptr_t)a, v); }

static uint32_t rng_state = 0x12345678;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Ports the guest itself needs stay usable: COM1 for output, 0x64 only gets
 * harmless commands below (0xfe would end the VM early). */
static bool port_spared(uint16_t p)
{
	return (p >= 0x3f8 && p <= 0x3ff) || p == 0x64;
}

static void sweep_ports(void)
{
	unsigned n = 0;
	for (uint32_t p = 0; p < 0x10000; p += 61) {
		if (port_spared((uint16_t)p))
			continue;
		(void)inb((uint16_t)p);
		outb((uint16_t)p, (uint8_t)rnd());
		n++;
	}
	gprintf("husk-guest: hostile ports %u\n", n);
}

static void sweep_unbacked_mmio(void)
{
	static const uint32_t addrs[] = {
		0x0a0000,     /* VGA hole: RAM in the slot, reserved in e820 */
		0x10000000,   /* above this guest's RAM, below the gap */
		0xd0000004,   /* inside the boot timer's range, not its register */
		0xd0011000,   /* past the last virtio slot */
		0xdfff0000, 0xfe000000, 0xfed00000 /* no HPET */, 0xfffff000,
	};
	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		(void)mmio_r32(addrs[i]);
		(void)mmio_r8(addrs[i] + 1);
		mmio_w32(addrs[i], rnd());
		mmio_w16(addrs[i] + 2, (uint16_t)rnd());
	}
	serial_puts("husk-guest: hostile mmio swept\n");
}

static void poke_legacy(void)
{
	/* boot timer: wrong values and sizes (123 as a byte is the real signal) */
	mmio_w32(G_BOOTTIMER_MMIO, 123);
	mmio_w16(G_BOOTTIMER_MMIO, 0xffff);
	mmio_w8(G_BOOTTIMER_MMIO, 7);
	(void)mmio_r32(G_BOOTTIMER_MMIO);
	/* i8042: every command but the reset pulses, then data bytes */
	for (unsigned c = 0; c < 0xf0; c++) {
		outb(G_I8042_CMD, (uint8_t)c);
		outb(0x60, (uint8_t)rnd());
		(void)inb(0x60);
	}
	/* serial: scratch, modem control, line control (DLAB), IER, then back
	 * to a sane state so the rest of the output still goes out */
	for (unsigned i = 0; i < 64; i++)
		outb(G_COM1 + 1 + (i % 7), (uint8_t)rnd());
	outb(G_COM1 + 3, 0x80);
	outb(G_COM1 + 0, 0x01);
	outb(G_COM1 + 1, 0x00);
	outb(G_COM1 + 3, 0x03);
	outb(G_COM1 + 1, 0x00);
	outb(G_COM1 + 2, 0x00); /* FIFO off */
	outb(G_COM1 + 4, 0x03); /* DTR|RTS, loopback off */
	serial_puts("husk-guest: hostile legacy poked\n");
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

static void set_queue(uint32_t base, uint32_t desc, uint32_t avail, uint32_t used, uint32_t hi)
{
	mmio_w32(base + R_DESC_LO, desc);
	mmio_w32(base + R_DESC_HI, hi);
	mmio_w32(base + R_AVAIL_LO, avail);
	mmio_w32(base + R_AVAIL_HI, hi);
	mmio_w32(base + R_USED_LO, used);
	mmio_w32(base + R_USED_HI, hi);
}

static void abuse_registers(uint32_t base)
{
	/* wrong sizes on 32-bit registers, reads past the config space */
	(void)mmio_r8(base + R_MAGIC + 1);
	(void)mmio_r16(base + R_DEVICE_ID);
	mmio_w8(base + R_STATUS, 0xff);
	mmio_w16(base + R_QUEUE_SEL, 0xffff);
	for (uint32_t off = 0; off < 0x1000; off += 0x34)
		(void)mmio_r32(base + off);
	for (uint32_t off = R_CONFIG; off < 0x1000; off += 0x40)
		mmio_w32(base + off, rnd());

	/* features without VERSION_1 must not be accepted */
	mmio_w32(base + R_STATUS, 0);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER);
	mmio_w32(base + R_DRV_FEATURES_SEL, 7);
	mmio_w32(base + R_DRV_FEATURES, 0xffffffff);
	mmio_w32(base + R_DRV_FEATURES_SEL, 0);
	mmio_w32(base + R_DRV_FEATURES, 0xffffffff);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	uint32_t st = mmio_r32(base + R_STATUS);
	gprintf("husk-guest: hostile features without VERSION_1 %s\n",
	        (st & S_FEATURES_OK) ? "ACCEPTED" : "refused");

	/* queue registers out of range, rings outside RAM, DRIVER_OK anyway */
	mmio_w32(base + R_QUEUE_SEL, 0xffffffff);
	mmio_w32(base + R_QUEUE_NUM, 0xffffffff);
	mmio_w32(base + R_QUEUE_READY, 1);
	mmio_w32(base + R_QUEUE_SEL, 0);
	mmio_w32(base + R_QUEUE_NUM, 3); /* not a power of two */
	set_queue(base, 0xfffff000, 0xfffff000, 0xfffff000, 0xffffffff);
	mmio_w32(base + R_QUEUE_READY, 1);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	for (uint32_t q = 0; q < 0x10000; q += 0x1111)
		mmio_w32(base + R_QUEUE_NOTIFY, q);
	mmio_w32(base + R_ISR_ACK, 0xffffffff);
	mmio_w32(base + R_STATUS, 0);
}

/* Negotiate properly (VERSION_1 only), then hand the device a ring full of
 * malformed chains. */
static uint32_t abuse_queue(uint32_t base)
{
	struct desc *d = (struct desc *)(uintptr_t)RING_DESC;
	volatile uint16_t *avail = (volatile uint16_t *)(uintptr_t)RING_AVAIL;
	volatile uint16_t *used = (volatile uint16_t *)(uintptr_t)RING_USED;
	memset(d, 0, 0x3000);

	d[0] = (struct desc){ 0xfffff000u, 0x1000, F_NEXT, 1 };   /* outside RAM */
	d[1] = (struct desc){ 0, 0xffffffffu, F_WRITE, 0 };       /* 4 GiB long */
	d[2] = (struct desc){ 0x500000, 16, F_NEXT, 2 };          /* loops on itself */
	d[3] = (struct desc){ 0xfffffff0u, 64, F_INDIRECT, 0 };   /* indirect outside RAM */
	d[4] = (struct desc){ RING_DESC, 17, F_INDIRECT, 0 };     /* indirect, bad length */
	d[5] = (struct desc){ 0x500000, 16, F_WRITE | F_NEXT, 6 };/* writable then readable */
	d[6] = (struct desc){ 0x500100, 16, 0, 0 };
	d[7] = (struct desc){ 0x500000, 16, F_NEXT, 9 };          /* next out of range */
	static const uint16_t heads[] = { 0, 2, 3, 4, 5, 7, 200, 0xffff };

	mmio_w32(base + R_STATUS, 0);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER);
	mmio_w32(base + R_DRV_FEATURES_SEL, 1);
	mmio_w32(base + R_DRV_FEATURES, 1); /* VERSION_1 (bit 32) */
	mmio_w32(base + R_DRV_FEATURES_SEL, 0);
	mmio_w32(base + R_DRV_FEATURES, 0);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	mmio_w32(base + R_QUEUE_SEL, 0);
	mmio_w32(base + R_QUEUE_NUM, QSIZE);
	set_queue(base, RING_DESC, RING_AVAIL, RING_USED, 0);
	mmio_w32(base + R_QUEUE_READY, 1);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);

	for (unsigned i = 0; i < QSIZE; i++)
		avail[2 + i] = heads[i];
	avail[1] = QSIZE;
	mmio_w32(base + R_QUEUE_NOTIFY, 0);
	/* the device works on the vmm thread: give it a bounded while */
	for (unsigned spin = 0; spin < 200000 && used[1] == 0; spin++)
		cpu_relax();
	avail[1] = (uint16_t)(QSIZE + 1000); /* far ahead of the ring */
	mmio_w32(base + R_QUEUE_NOTIFY, 0);
	uint32_t st = 0;
	for (unsigned spin = 0; spin < 2000 && !(st & S_NEEDS_RESET); spin++)
		st = mmio_r32(base + R_STATUS);
	mmio_w32(base + R_STATUS, 0); /* reset: the device must come back clean */
	return st;
}

void pvh_main(uint32_t start_info)
{
	(void)start_info;
	serial_puts("husk-guest: hostile start\n");
	sweep_ports();
	sweep_unbacked_mmio();
	poke_legacy();
	for (unsigned slot = 0; slot < VIRTIO_SLOTS; slot++) {
		uint32_t base = VIRTIO_BASE + slot * 0x1000;
		if (mmio_r32(base + R_MAGIC) != VIRTIO_MMIO_MAGIC)
			continue;
		uint32_t id = mmio_r32(base + R_DEVICE_ID);
		abuse_registers(base);
		uint32_t st = abuse_queue(base);
		uint32_t after = mmio_r32(base + R_STATUS);
		gprintf("husk-guest: hostile slot %u device %u status 0x%x after reset 0x%x\n", slot, id, st,
		        after);
	}
	boottimer_signal();
	serial_puts("husk-guest: hostile done\n");
	guest_finish("");
}
