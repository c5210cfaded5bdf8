/* bus: one registry of address ranges (PIO or MMIO) -> device handlers.
 * Ranges are registered before vCPUs start and never change after, so a
 * lookup takes no lock; each device serialises its own state. */
#ifndef HUSK_BUS_H
#define HUSK_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* off is relative to the range's base; len is 1, 2, 4 or 8. */
	void (*read)(void *opaque, uint64_t off, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	int nr, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);
/* 0, -EINVAL (empty or wrapping range), -EEXIST (overlaps a range), -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
                 const struct bus_ops *ops, void *opaque);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);
/* Route an access. An access nobody claims reads as all ones and is
 * ignored on write; returns false then so the caller can count it. */
bool bus_access(const struct bus *bus, uint64_t addr, void *data, uint32_t len,
                bool is_write);

#endif
