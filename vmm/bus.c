/* bus: a sorted array of non-overlapping ranges, searched by bisection. */
#include "vmm/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
}

/* Index of the first range whose base is > addr. */
static int bus_upper(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->nr;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
                 const struct bus_ops *ops, void *opaque)
{
	if (len == 0 || base + len - 1 < base || !ops)
		return -EINVAL;
	uint64_t last = base + len - 1;
	int pos = bus_upper(bus, base);
	/* the range before may reach into ours; the one after may start inside */
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];
		if (prev->base + (prev->len - 1) >= base)
			return -EEXIST;
	}
	if (pos < bus->nr && bus->ranges[pos].base <= last)
		return -EEXIST;
	if (bus->nr == bus->cap) {
		int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, (size_t)cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
	        (size_t)(bus->nr - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){
		.base = base, .len = len, .name = name, .ops = ops, .opaque = opaque,
	};
	bus->nr++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	int pos = bus_upper(bus, addr);
	if (pos == 0)
		return NULL;
	const struct bus_range *r = &bus->ranges[pos - 1];
	return addr - r->base < r->len ? r : NULL;
}

bool bus_access(const struct bus *bus, uint64_t addr, void *data, uint32_t len,
                bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	/* an access must lie wholly inside one range */
	if (!r || len == 0 || len > 8 || addr - r->base > r->len - len) {
		if (!is_write)
			memset(data, 0xff, len > 8 ? 8 : len);
		return false;
	}
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}
