/* balloon: a virtio-balloon driver in a few lines, for test_balloon.py.
 * It touches BALLOON_PAGES pages from 32 MiB (they become resident in
 * husk), says so, waits until the host sets a target in the config space
 * (PATCH /balloon), inflates that many of them in chains of 256 page
 * numbers, then lies once: a chain with a page past any RAM, the largest
 * page number and a page already inflated (husk must refuse all three,
 * count them and go on). It writes `actual`, checks that an inflated page
 * reads back as zero (the host dropped it), sends statistics twice (the
 * second after the host's poll gave the first buffer back), reports the
 * touched pages it kept as free (free page reporting), then does one
 * free page hinting run over HINT_PAGES it touched at the start: it waits
 * for the host's command id (PATCH /balloon/hinting/start), answers with it,
 * hints those pages, lies once (hints two pages that are in the
 * balloon: refused and counted), sends STOP, waits for DONE (the host
 * acknowledges) and checks that a hinted page reads back as zero. */
#include "guest.h"
#include "vio.h"

#define VIO_ID_BALLOON 5
#define FIRST_PFN (32u << 20 >> 12)
#define BALLOON_PAGES 8192u /* 32 MiB */
#define PER_CHAIN 256u
#define SPINS (1ull << 32)
#define F_STATS_VQ 1
#define F_FREE_PAGE_HINT 3
#define F_REPORTING 5
#define HINT_PFN (64u << 20 >> 12)
#define HINT_PAGES 2048u /* 8 MiB */
#define HINT_STOP 0u
#define HINT_DONE 1u
#define CFG_HINT_CMD 8 /* free_page_hint_cmd_id in the config space */
#define STAT_MEMFREE 4
#define STAT_MEMTOT 5
#define MEMFREE_SECOND 4242

static struct vio_q qi, qd, qs, qh, qr;
static uint32_t hint_cmd_cell;
static uint32_t pfns[PER_CHAIN];
static uint8_t stats[20];

static void stat_put(uint8_t *e, uint16_t tag, uint64_t v)
{
	memcpy(e, &tag, 2);
	memcpy(e + 2, &v, 8);
}

/* One buffer of two statistics, given and kicked. */
static void send_stats(uint64_t memfree)
{
	stat_put(stats, STAT_MEMFREE, memfree);
	stat_put(stats + 10, STAT_MEMTOT, 128ull << 20);
	qs.desc[0] = (struct vio_desc){ (uint64_t)stats, sizeof(stats), 0, 0 };
	vio_give(&qs, 0);
	vio_kick(&qs);
}

/* The host polls every stats_polling_interval_s: the first buffer comes
 * back, then fresh numbers go out. */
static bool stats_round(void)
{
	send_stats(1);
	if (vio_wait_used(&qs, 1, SPINS) != 1)
		return false;
	send_stats(MEMFREE_SECOND);
	return true;
}

/* The touched pages not in the balloon, reported free in one range. */
static bool report_rest(uint32_t from)
{
	uint64_t addr = (uint64_t)(FIRST_PFN + from) << 12;
	qr.desc[0] = (struct vio_desc){ addr, (BALLOON_PAGES - from) << 12, VIO_D_WRITE, 0 };
	vio_give(&qr, 0);
	vio_kick(&qr);
	return vio_wait_used(&qr, 1, SPINS) == 1;
}

/* One chain on the hinting queue: a command id or a free range. */
static bool hint_send(uint64_t addr, uint32_t len, bool range)
{
	qh.desc[0] = (struct vio_desc){ addr, len, range ? VIO_D_WRITE : 0, 0 };
	vio_give(&qh, 0);
	vio_kick(&qh);
	return vio_wait_used(&qh, 1, SPINS) == 1;
}

/* the config space's command id once it is not `not` */
static uint32_t wait_hint_cmd(volatile uint8_t *dev, uint32_t not)
{
	for (uint64_t i = 0; i < SPINS; i++) {
		uint32_t c = vio_config32(dev, CFG_HINT_CMD);
		if (c != not)
			return c;
		cpu_relax();
	}
	return not;
}

/* The run, as Linux's driver does it: the host's id, the free range,
 * STOP; then a lie, two pages of the balloon hinted under the run. */
static const char *hint_round(volatile uint8_t *dev)
{
	uint32_t cmd = wait_hint_cmd(dev, HINT_STOP);
	if (cmd <= HINT_DONE)
		return "no run started";
	hint_cmd_cell = cmd;
	if (!hint_send((uint64_t)&hint_cmd_cell, 4, false))
		return "command id not used";
	if (!hint_send((uint64_t)HINT_PFN << 12, HINT_PAGES << 12, true))
		return "range not used";
	if (!hint_send((uint64_t)FIRST_PFN << 12, 2 << 12, true))
		return "lying range not used";
	hint_cmd_cell = HINT_STOP;
	if (!hint_send((uint64_t)&hint_cmd_cell, 4, false))
		return "STOP not used";
	if (wait_hint_cmd(dev, cmd) != HINT_DONE)
		return "no DONE";
	gprintf("husk-guest: balloon hinted %u pages cmd=%u first=%u\n", HINT_PAGES, cmd,
	        *(volatile uint8_t *)(uint64_t)(HINT_PFN << 12));
	return NULL;
}

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
	uint64_t want = 1ull << VIO_F_VERSION_1 | 1u << F_STATS_VQ | 1u << F_FREE_PAGE_HINT | 1u << F_REPORTING;
	/* the test offers all three: the queues are 0-4 in order */
	if (!dev || !vio_begin(dev, want) || !vio_queue(&qi, dev, 0, 4) || !vio_queue(&qd, dev, 1, 4) ||
	    !vio_queue(&qs, dev, 2, 4) || !vio_queue(&qh, dev, 3, 4) || !vio_queue(&qr, dev, 4, 4)) {
		serial_puts("husk-guest: balloon BAD no device\n");
		return;
	}
	vio_driver_ok(dev);
	for (uint32_t p = 0; p < BALLOON_PAGES; p++)
		*(volatile uint8_t *)(uint64_t)((FIRST_PFN + p) << 12) = 0xa5;
	/* the pages it hints later, touched now: the host's RSS stays put
	 * from here until it asks for them */
	for (uint32_t p = 0; p < HINT_PAGES; p++)
		*(volatile uint8_t *)(uint64_t)((HINT_PFN + p) << 12) = 0x5c;
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
	if (!stats_round()) {
		serial_puts("husk-guest: balloon BAD stats buffer never came back\n");
		return;
	}
	if (!report_rest(done)) {
		serial_puts("husk-guest: balloon BAD report not used\n");
		return;
	}
	gprintf("husk-guest: balloon reported %u pages\n", BALLOON_PAGES - done);
	const char *bad = hint_round(dev);
	if (bad)
		gprintf("husk-guest: balloon BAD hinting: %s\n", bad);
}
