/* vmgenid: a Virtual Machine Generation ID for guests without ACPI.
 *
 * Firecracker (x86, with ACPI) puts a 16-byte generation id in guest RAM,
 * describes it in an ACPI VMGENID device, writes a new random id on every
 * snapshot restore and raises the device's interrupt, so the guest knows
 * it has been cloned and reseeds its RNG (Linux: drivers/virt/vmgenid.c).
 * husk has no ACPI tables, so the id is a read-only 4 KiB MMIO page
 * instead: bytes 0..15 are the id (little-endian GUID bytes, as in ACPI),
 * the rest reads 0, writes are ignored. The guest finds it on the kernel
 * command line as "husk.vmgenid=0xADDR:GSI"; the GSI pulses after each
 * restore. A new id is drawn at creation and on every restore (never the
 * snapshot's own). */
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
