/* boottimer: the guest writes 123 (one byte) when it has booted; husk logs
 * the time since its own exec, as Firecracker's boot timer does. */
#ifndef HUSK_BOOTTIMER_H
#define HUSK_BOOTTIMER_H

#include <stdatomic.h>
#include <stdint.h>

#include "vmm/bus.h"

#define BOOTTIMER_MAGIC 123

struct boottimer {
	/* 0 until the guest signals; then microseconds since exec */
	atomic_ullong boot_time_us;
};

extern const struct bus_ops boottimer_ops;

void boottimer_init(struct boottimer *t);

#endif
