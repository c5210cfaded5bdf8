/* vio: a minimal polling virtio-mmio driver (virtio 1.x, split queues,
 * interrupts off) on lib.c, for the freestanding guests that drive a
 * device to attack it (racer.c). */
#ifndef HUSK_GUEST_VIO_H
#define HUSK_GUEST_VIO_H

#include "guest.h"

#define VIO_QMAX 256 /* the largest queue husk offers (QueueNumMax) */

#define VIO_ID_NET 1
#define VIO_ID_BLOCK 2
#define VIO_ID_RNG 4
#define VIO_ID_VSOCK 19

#define VIO_F_VERSION_1 32

#define VIO_D_NEXT 1
#define VIO_D_WRITE 2

#define VIO_S_NEEDS_RESET 0x40

struct vio_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vio_used_elem {
	uint32_t id, len;
};

/* One split queue; the rings live here, page aligned. */
struct vio_q {
	struct vio_desc desc[VIO_QMAX] __attribute__((aligned(4096)));
	struct {
		uint16_t flags, idx, ring[VIO_QMAX], used_event;
	} avail __attribute__((aligned(4096)));
	struct {
		uint16_t flags, idx;
		struct vio_used_elem ring[VIO_QMAX];
		uint16_t avail_event;
	} used __attribute__((aligned(4096)));
	volatile uint8_t *base;
	uint16_t index, size;
	uint16_t used_seen; /* used entries the driver has taken */
};

/* The first device of this id among the cmdline's virtio_mmio.device=
 * entries, or NULL. */
volatile uint8_t *vio_find(const char *cmdline, uint32_t device_id);
/* Reset, handshake up to FEATURES_OK with want & offered (VERSION_1 must
 * be among them); false if the device refused. */
bool vio_begin(volatile uint8_t *base, uint64_t want);
/* Set up queue `index` with `size` entries (rings zeroed); false if the
 * device has no such queue or refuses it. */
bool vio_queue(struct vio_q *q, volatile uint8_t *base, uint16_t index, uint16_t size);
void vio_driver_ok(volatile uint8_t *base);
uint32_t vio_status(volatile uint8_t *base);
uint32_t vio_config32(volatile uint8_t *base, uint32_t off);
/* Offer chain `head`: the avail ring entry, then the index (the device
 * sees it on its next look; vio_kick tells it to look). */
void vio_give(struct vio_q *q, uint16_t head);
/* Make the offered chains visible and notify the device. */
void vio_kick(struct vio_q *q);
/* Wait until the device has used `n` more chains: 1; the device asked for
 * a reset: -1; `spins` polls passed: 0. */
int vio_wait_used(struct vio_q *q, uint16_t n, uint64_t spins);

static inline void vio_mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

#endif
