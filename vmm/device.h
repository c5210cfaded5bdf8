/* device: the virtio devices one VMM has attached, as a list. Attaching
 * does for every kind what each once did by hand: the next virtio-mmio
 * slot (and so its GSI), the kernel cmdline entry, the snapshot
 * registration under a key that names the kind and the id (never the
 * position, so reordering start-up cannot mix up a snapshot's devices),
 * and the teardown, in reverse. The API finds a device by class and id.
 *
 * The list itself needs no VM (device_attach takes the environment), so
 * the unit tests attach devices to it without KVM; vmm_attach is the
 * same for a running VMM. */
#ifndef HUSK_VMM_DEVICE_H
#define HUSK_VMM_DEVICE_H

#include "devices/virtio/class.h"
#include "vmm/arch/arch.h"

#define VMM_MAX_DEVICES 16 /* virtio-mmio slots */
#define VMM_DEVICE_ID_LEN 65 /* ids are at most 64 characters (the API's rule) */

struct snapshot_state;
struct vmm;

struct vmm_device {
	const struct virtio_class *cls;
	char id[VMM_DEVICE_ID_LEN]; /* drive_id, iface_id; "" for a kind with one device */
	unsigned slot;
	void *dev;
};

struct device_list {
	struct vmm_device devs[VMM_MAX_DEVICES]; /* in slot order */
	int nr;
	char cmdline[1024]; /* virtio_mmio.device=... of every device */
};

/* Create a device of cls from cfg in the list's next slot of env; id
 * names it for the API and for snapshots (registered in snap). On error
 * nothing is left attached. */
int device_attach(struct device_list *l, const struct virtio_env *env, struct snapshot_state *snap,
                  const struct virtio_class *cls, const char *id, const void *cfg);
/* Destroy every device, last attached first. */
void device_detach_all(struct device_list *l);
/* The device of class cls with id, or NULL. */
void *device_find(const struct device_list *l, const struct virtio_class *cls, const char *id);

/* The same on a VMM's list, in its VM. */
int vmm_attach(struct vmm *vmm, const struct virtio_class *cls, const char *id, const void *cfg);
void vmm_detach_all(struct vmm *vmm);
void *vmm_device_find(const struct vmm *vmm, const struct virtio_class *cls, const char *id);
/* Every attached device's registers and GSI, in slot order, for the boot
 * tables (arch.h). */
void vmm_devices_describe(const struct vmm *vmm, struct arch_devices *out);

#endif
