/* device: attaching virtio devices to a VMM, and finding them again. */
#include "vmm/device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/arch/arch.h"
#include "vmm/log.h"
#include "vmm/vmm.h"

_Static_assert(VMM_MAX_DEVICES <= LAYOUT_VIRTIO_MAX_DEVICES, "one virtio-mmio slot a device");

/* Append the device's kernel cmdline entry and a separating space. */
static int device_cmdline_add(struct vmm *vmm, const struct vmm_device *d)
{
	size_t l = strlen(vmm->virtio_cmdline), cap = sizeof(vmm->virtio_cmdline);
	int n = d->cls->cmdline ? d->cls->cmdline(d->dev, vmm->virtio_cmdline + l, cap - l)
	                        : virtio_mmio_cmdline(d->cls->transport(d->dev), vmm->virtio_cmdline + l, cap - l);
	if (n < 0 || l + (size_t)n + 1 >= cap)
		return -ENOSPC;
	vmm->virtio_cmdline[l + (size_t)n] = ' ';
	vmm->virtio_cmdline[l + (size_t)n + 1] = '\0';
	return 0;
}

int vmm_attach(struct vmm *vmm, const struct virtio_class *cls, const char *id, const void *cfg)
{
	if (vmm->nr_devs >= VMM_MAX_DEVICES) {
		log_err("%s %s: no virtio-mmio slot left (%d devices at most)", cls->name, id, VMM_MAX_DEVICES);
		return -ENOSPC;
	}
	struct vmm_device *d = &vmm->devs[vmm->nr_devs];
	char key[SNAP_DEVICE_NAME_LEN];
	*d = (struct vmm_device){ .cls = cls, .slot = (unsigned)vmm->nr_devs };
	if (snprintf(d->id, sizeof(d->id), "%s", id) >= (int)sizeof(d->id) ||
	    snprintf(key, sizeof(key), "%s%s%s", cls->name, *id ? ":" : "", id) >= (int)sizeof(key))
		return -ENAMETOOLONG;
	struct virtio_env env;
	virtio_env_for_vm(&env, &vmm->vm, &vmm->loop);
	int ret = cls->create(&d->dev, &env, cfg, d->slot);
	if (ret < 0)
		return ret;
	ret = device_cmdline_add(vmm, d);
	/* last: a registration is never left pointing at a destroyed device */
	if (ret == 0)
		ret = snapshot_device_register(&vmm->snap, key, &virtio_mmio_snapshot_ops, cls->transport(d->dev));
	if (ret < 0) {
		cls->destroy(d->dev);
		return ret;
	}
	vmm->nr_devs++;
	return 0;
}

void vmm_detach_all(struct vmm *vmm)
{
	while (vmm->nr_devs > 0) {
		struct vmm_device *d = &vmm->devs[--vmm->nr_devs];
		d->cls->destroy(d->dev);
		d->dev = NULL;
	}
}

void vmm_devices_describe(const struct vmm *vmm, struct arch_devices *out)
{
	out->nr_virtio = 0;
	for (int i = 0; i < vmm->nr_devs; i++) {
		const struct virtio_mmio *t = vmm->devs[i].cls->transport(vmm->devs[i].dev);
		out->virtio[out->nr_virtio++] = (struct arch_mmio_dev){ t->base, LAYOUT_VIRTIO_MMIO_SIZE, t->gsi };
	}
}

void *vmm_device_find(const struct vmm *vmm, enum virtio_kind kind, const char *id)
{
	for (int i = 0; i < vmm->nr_devs; i++)
		if (vmm->devs[i].cls->kind == kind && strcmp(vmm->devs[i].id, id) == 0)
			return vmm->devs[i].dev;
	return NULL;
}
