/* boottimer: MMIO 0xd0000000 and port 0x3f0 share these ops. */
#include "devices/boottimer.h"

#include <string.h>

#include "vmm/log.h"

void boottimer_init(struct boottimer *t)
{
	atomic_store(&t->boot_time_us, 0);
}

static void boottimer_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct boottimer *t = opaque;
	if (off != 0 || len != 1 || *(const uint8_t *)data != BOOTTIMER_MAGIC)
		return;
	unsigned long long us = log_uptime_us();
	unsigned long long zero = 0;
	/* only the first signal counts: a guest cannot move the figure later */
	if (!atomic_compare_exchange_strong(&t->boot_time_us, &zero, us ? us : 1))
		return;
	log_info("Guest-boot-time = %llu us %llu ms", us, us / 1000);
}

static void boottimer_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

const struct bus_ops boottimer_ops = { .read = boottimer_read, .write = boottimer_write };
