/* vio: see vio.h. */
#include "vio.h"
#include "virtio_mmio_regs.h"

#define AVAIL_F_NO_INTERRUPT 1

static uint32_t reg(volatile uint8_t *base, uint32_t off)
{
	return rd32(base + off);
}

static void set_reg(volatile uint8_t *base, uint32_t off, uint32_t v)
{
	wr32(base + off, v);
}

static void set_reg64(volatile uint8_t *base, uint32_t lo, uint64_t v)
{
	set_reg(base, lo, (uint32_t)v);
	set_reg(base, lo + 4, (uint32_t)(v >> 32));
}

/* "virtio_mmio.device=SIZE@0xADDR:IRQ" at p (after the key): ADDR or 0 */
static uint64_t mmio_addr(const char *p)
{
	while (*p && *p != '@' && *p != ' ')
		p++;
	if (p[0] != '@' || p[1] != '0' || p[2] != 'x')
		return 0;
	uint64_t v = 0;
	for (p += 3;; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
		if (d < 0)
			return v;
		v = v << 4 | (uint64_t)d;
	}
}

volatile uint8_t *vio_find(const char *cmdline, uint32_t device_id)
{
	static const char key[] = "virtio_mmio.device=";
	size_t kl = sizeof(key) - 1;
	for (size_t i = 0; i < G_CMDLINE_MAX && cmdline[i]; i++) {
		if ((i && cmdline[i - 1] != ' ') || memcmp(cmdline + i, key, kl))
			continue;
		uint64_t a = mmio_addr(cmdline + i + kl);
		/* only the MMIO gap paging_map_high maps */
		if (a < G_MMIO_GAP_START || a >= G_MMIO_GAP_END)
			continue;
		volatile uint8_t *base = (volatile uint8_t *)a;
		if (reg(base, R_MAGIC) == VIRTIO_MMIO_MAGIC && reg(base, R_VERSION) == 2 &&
		    reg(base, R_DEVICE_ID) == device_id)
			return base;
	}
	return NULL;
}

bool vio_begin(volatile uint8_t *base, uint64_t want)
{
	set_reg(base, R_STATUS, 0);
	set_reg(base, R_STATUS, S_ACK);
	set_reg(base, R_STATUS, S_ACK | S_DRIVER);
	set_reg(base, R_DEV_FEATURES_SEL, 0);
	uint64_t f = reg(base, R_DEV_FEATURES);
	set_reg(base, R_DEV_FEATURES_SEL, 1);
	f |= (uint64_t)reg(base, R_DEV_FEATURES) << 32;
	f &= want;
	set_reg(base, R_DRV_FEATURES_SEL, 0);
	set_reg(base, R_DRV_FEATURES, (uint32_t)f);
	set_reg(base, R_DRV_FEATURES_SEL, 1);
	set_reg(base, R_DRV_FEATURES, (uint32_t)(f >> 32));
	set_reg(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return (reg(base, R_STATUS) & S_FEATURES_OK) && (f >> VIO_F_VERSION_1 & 1);
}

bool vio_queue(struct vio_q *q, volatile uint8_t *base, uint16_t index, uint16_t size)
{
	set_reg(base, R_QUEUE_SEL, index);
	if (size > VIO_QMAX || reg(base, R_QUEUE_NUM_MAX) < size)
		return false;
	memset(q->desc, 0, sizeof(q->desc));
	memset(&q->avail, 0, sizeof(q->avail));
	memset(&q->used, 0, sizeof(q->used));
	q->base = base;
	q->index = index;
	q->size = size;
	q->used_seen = 0;
	q->avail.flags = AVAIL_F_NO_INTERRUPT; /* we poll */
	set_reg(base, R_QUEUE_NUM, size);
	set_reg64(base, R_DESC_LO, (uint64_t)q->desc);
	set_reg64(base, R_AVAIL_LO, (uint64_t)&q->avail);
	set_reg64(base, R_USED_LO, (uint64_t)&q->used);
	set_reg(base, R_QUEUE_READY, 1);
	return reg(base, R_QUEUE_READY) == 1;
}

void vio_driver_ok(volatile uint8_t *base)
{
	set_reg(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

uint32_t vio_status(volatile uint8_t *base)
{
	return reg(base, R_STATUS);
}

uint32_t vio_config32(volatile uint8_t *base, uint32_t off)
{
	return reg(base, R_CONFIG + off);
}

void vio_give(struct vio_q *q, uint16_t head)
{
	volatile uint16_t *ring = q->avail.ring;
	ring[q->avail.idx % q->size] = head;
	vio_mb();
	__atomic_store_n(&q->avail.idx, (uint16_t)(q->avail.idx + 1), __ATOMIC_RELEASE);
}

void vio_kick(struct vio_q *q)
{
	vio_mb();
	set_reg(q->base, R_QUEUE_NOTIFY, q->index);
}

int vio_wait_used(struct vio_q *q, uint16_t n, uint64_t spins)
{
	uint16_t want = (uint16_t)(q->used_seen + n);
	for (uint64_t i = 0; i < spins; i++) {
		uint16_t idx = __atomic_load_n(&q->used.idx, __ATOMIC_ACQUIRE);
		if ((uint16_t)(idx - q->used_seen) >= n) {
			q->used_seen = want;
			return 1;
		}
		/* the MMIO read is an exit: look at the status now and then */
		if ((i & 1023) == 1023 && (vio_status(q->base) & VIO_S_NEEDS_RESET))
			return -1;
		cpu_relax();
	}
	return 0;
}
