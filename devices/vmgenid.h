/* vmgenid: the Virtual Machine Generation ID.
 *
 * A 16-byte id that changes on every snapshot restore, with an interrupt,
 * so a guest knows it has been cloned and reseeds its RNG (Linux:
 * drivers/virt/vmgenid.c). Firecracker keeps the id in guest RAM; husk
 * keeps it on a read-only 4 KiB MMIO page: bytes 0..15 are the id
 * (little-endian GUID bytes, as in ACPI), the rest reads 0, writes are
 * ignored. With ACPI (the default) the DSDT describes the page as the
 * VMGENCTR device Linux binds to, and a GED on the same GSI notifies it
 * (vmm/arch/x86_64/acpi.c); the kernel command line also carries
 * "husk.vmgenid=0xADDR:GSI" for guests without ACPI. The GSI pulses after
 * each restore. A new id is drawn at creation and on every restore (never
 * the snapshot's own). */
#ifndef HUSK_VMGENID_H
#define HUSK_VMGENID_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define VMGENID_ID_LEN 16
#define VMGENID_MMIO_SIZE 0x1000ull

struct vmgenid {
	pthread_mutex_t lock;
	uint8_t id[VMGENID_ID_LEN];
	int irq_efd; /* -1: no interrupt (unit tests) */
	uint64_t base;
	unsigned gsi;
	unsigned long long generations; /* restores seen */
};

extern const struct bus_ops vmgenid_ops;

/* Draw a first id (getrandom). 0 or -errno. */
int vmgenid_init(struct vmgenid *g, uint64_t base, unsigned gsi, int irq_efd);
void vmgenid_destroy(struct vmgenid *g);
/* " husk.vmgenid=0xADDR:GSI"; the length or -ENOSPC. */
int vmgenid_cmdline(const struct vmgenid *g, char *buf, size_t len);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct vmgenid *:
 * restore draws a new id and raises the interrupt. */
struct snapshot_dev_ops;
extern const struct snapshot_dev_ops vmgenid_snapshot_ops;

#endif
