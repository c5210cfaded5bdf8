/* balloon: a virtio-balloon driver in a few lines, for test_balloon.py.
 * It touches BALLOON_PAGES pages from 32 MiB (they become resident in
 * husk), says so, waits until the host sets a target in the config space
 * (PATCH /balloon), inflates that many of them in chains of 256 page
 * numbers, then lies once: a chain with a page past any RAM, the largest
 * page number and a page already inflated (husk must refuse all three,
 * count them and go on). It writes `actual`, checks that an inflated page
 * reads back as zero (the host dropped it) and finishes. */
#include "guest.h"
#include "vio.h"

#define VIO_ID_BALLOON 5
#define FIRST_PFN (32u << 20 >> 12)
#define BALLOON_PAGES 8192u /* 32 MiB */
#define PER_CHAIN 256u
#define SPINS (1ull << 32)

static struct vio_q qi, qd;
static uint32_t pfns[PER_CHAIN];

static bool inflate(unsigned n)
{
	qi.desc[0] = (struct vio_desc){ (uint64_t)pfns, n * 4, 0, 0 };
	vio_give(&qi, 0);
	vio_kick(&qi);
	return vio_wait_used(&qi, 1, SPINS) == 1;
}

static uint32_t wait_target(volatile uint8_t *dev)
{
	for (uint64_t i = 0; i < SPINS; i++) {
		uint32_t t = vio_config32(dev, 0);
		if (t)
			return t;
		cpu_relax();
	}
	return 0;
}

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params;
	(void)start_info;
	volatile uint8_t *dev = vio_find(boot_cmdline(), VIO_ID_BALLOON);
	if (!dev || !vio_begin(dev, 1ull << VIO_F_VERSION_1) || !vio_queue(&qi, dev, 0, 4) ||
	    !vio_queue(&qd, dev, 1, 4)) {
		serial_puts("husk-guest: balloon BAD no device\n");
		return;
	}
	vio_driver_ok(dev);
	for (uint32_t p = 0; p < BALLOON_PAGES; p++)
		*(volatile uint8_t *)(uint64_t)((FIRST_PFN + p) << 12) = 0xa5;
	gprintf("husk-guest: balloon touched %u pages\n", BALLOON_PAGES);
	uint32_t target = wait_target(dev);
	if (target > BALLOON_PAGES)
		target = BALLOON_PAGES;
	uint32_t done = 0;
	while (done < target) {
		unsigned n = target - done < PER_CHAIN ? target - done : PER_CHAIN;
		for (unsigned k = 0; k < n; k++)
			pfns[k] = FIRST_PFN + done + k;
		if (!inflate(n)) {
			serial_puts("husk-guest: balloon BAD inflate not used\n");
			return;
		}
		done += n;
	}
	pfns[0] = 0x100000; /* 4 GiB: no RAM there in a 128 MiB machine */
	pfns[1] = 0xffffffff;
	pfns[2] = FIRST_PFN; /* already in the balloon */
	if (!inflate(3)) {
		serial_puts("husk-guest: balloon BAD lying chain not used\n");
		return;
	}
	wr32(dev + 0x100 + 4, done);
	uint8_t first = *(volatile uint8_t *)(uint64_t)(FIRST_PFN << 12);
	uint8_t kept = *(volatile uint8_t *)(uint64_t)((FIRST_PFN + BALLOON_PAGES - 1) << 12);
	gprintf("husk-guest: balloon inflated %u pages first=%u kept=%u\n", done, first, kept);
}
