/* device: the virtio devices one VMM has attached, as a list. vmm_attach
 * does for every kind what each once did by hand: the next virtio-mmio
 * slot (and so its GSI), the kernel cmdline entry, the snapshot
 * registration under a key that names the kind and the id (never the
 * position, so reordering start-up cannot mix up a snapshot's devices),
 * and the teardown, in reverse. The API finds a device by kind and id. */
#ifndef HUSK_VMM_DEVICE_H
#define HUSK_VMM_DEVICE_H

#include "devices/virtio/class.h"
#include "vmm/arch/arch.h"

#define VMM_MAX_DEVICES 16 /* virtio-mmio slots */
#define VMM_DEVICE_ID_LEN 65 /* ids are at most 64 characters (the API's rule) */

struct vmm;

struct vmm_device {
	const struct virtio_class *cls;
	char id[VMM_DEVICE_ID_LEN]; /* drive_id, iface_id; "" for the single vsock and rng */
	unsigned slot;
	void *dev;
};

/* Create a device of cls from cfg in the next free slot; id names it for
 * the API and for snapshots. On error nothing is left attached. */
int vmm_attach(struct vmm *vmm, const struct virtio_class *cls, const char *id, const void *cfg);
/* Destroy every device, last attached first. */
void vmm_detach_all(struct vmm *vmm);
/* Every attached device's registers and GSI, in slot order, for the boot
 * tables (arch.h). */
void vmm_devices_describe(const struct vmm *vmm, struct arch_devices *out);
/* The device of kind with id, or NULL. */
void *vmm_device_find(const struct vmm *vmm, enum virtio_kind kind, const char *id);

#endif
