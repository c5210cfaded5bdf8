/* device: attaching virtio devices to a VMM, and finding them again. */
#include "vmm/device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/virtio/class.h"
#include "devices/virtio/mmio.h"
#include "vmm/arch/arch.h"
#include "vmm/log.h"
#include "vmm/vmm.h"

_Static_assert(VMM_MAX_DEVICES <= LAYOUT_VIRTIO_MAX_DEVICES, "one virtio-mmio slot a device");

/* Append the device's kernel cmdline entry and a separating space. */
static int device_cmdline_add(struct device_list *l, const struct vmm_device *d)
{
	size_t n0 = strlen(l->cmdline), cap = sizeof(l->cmdline);
	int n = d->cls->cmdline ? d->cls->cmdline(d->dev, l->cmdline + n0, cap - n0)
	                        : virtio_mmio_cmdline(virtio_class_transport(d->cls, d->dev), l->cmdline + n0, cap - n0);
	if (n < 0 || n0 + (size_t)n + 1 >= cap)
		return -ENOSPC;
	l->cmdline[n0 + (size_t)n] = ' ';
	l->cmdline[n0 + (size_t)n + 1] = '\0';
	return 0;
}

/* "<key>/state": what a kind keeps beyond its queues */
static int device_register_state(struct snapshot_state *snap, const char *key,
                                 const struct snapshot_dev_ops *ops, void *dev)
{
	char name[SNAP_DEVICE_NAME_LEN];
	if (snprintf(name, sizeof(name), "%s/state", key) >= (int)sizeof(name))
		return -ENAMETOOLONG;
	return snapshot_device_register(snap, name, ops, dev);
}

int device_attach(struct device_list *l, const struct virtio_env *env, struct snapshot_state *snap,
                  const struct virtio_class *cls, const char *id, const void *cfg)
{
	if (l->nr >= VMM_MAX_DEVICES) {
		log_err("%s %s: no virtio-mmio slot left (%d devices at most)", cls->name, id, VMM_MAX_DEVICES);
		return -ENOSPC;
	}
	struct vmm_device *d = &l->devs[l->nr];
	char key[SNAP_DEVICE_NAME_LEN];
	*d = (struct vmm_device){ .cls = cls, .slot = (unsigned)l->nr };
	if (snprintf(d->id, sizeof(d->id), "%s", id) >= (int)sizeof(d->id) ||
	    snprintf(key, sizeof(key), "%s%s%s", cls->name, *id ? ":" : "", id) >= (int)sizeof(key))
		return -ENAMETOOLONG;
	int ret = cls->create(&d->dev, env, cfg, d->slot);
	if (ret < 0)
		return ret;
	size_t cmdline_len = strlen(l->cmdline);
	ret = device_cmdline_add(l, d);
	/* last: a registration is never left pointing at a destroyed device */
	if (ret == 0)
		ret = snapshot_device_register(snap, key, &virtio_mmio_snapshot_ops, virtio_class_transport(cls, d->dev));
	if (ret == 0 && cls->state_ops) {
		ret = device_register_state(snap, key, cls->state_ops, d->dev);
		if (ret < 0)
			snap->nr_devices--; /* the transport's, just registered, goes too */
	}
	if (ret < 0) {
		l->cmdline[cmdline_len] = '\0'; /* its entry goes with it */
		cls->destroy(d->dev);
		return ret;
	}
	l->nr++;
	return 0;
}

void device_detach_all(struct device_list *l)
{
	while (l->nr > 0) {
		struct vmm_device *d = &l->devs[--l->nr];
		d->cls->destroy(d->dev);
		d->dev = NULL;
	}
}

void *device_find(const struct device_list *l, const struct virtio_class *cls, const char *id)
{
	for (int i = 0; i < l->nr; i++)
		if (l->devs[i].cls == cls && strcmp(l->devs[i].id, id) == 0)
			return l->devs[i].dev;
	return NULL;
}

int vmm_attach(struct vmm *vmm, const struct virtio_class *cls, const char *id, const void *cfg)
{
	struct virtio_env env;
	virtio_env_for_vm(&env, &vmm->vm, &vmm->loop);
	return device_attach(&vmm->devices, &env, &vmm->snap, cls, id, cfg);
}

void vmm_detach_all(struct vmm *vmm)
{
	device_detach_all(&vmm->devices);
}

void *vmm_device_find(const struct vmm *vmm, const struct virtio_class *cls, const char *id)
{
	return device_find(&vmm->devices, cls, id);
}

void vmm_devices_describe(const struct vmm *vmm, struct arch_devices *out)
{
	out->nr_virtio = 0;
	for (int i = 0; i < vmm->devices.nr; i++) {
		const struct vmm_device *d = &vmm->devices.devs[i];
		const struct virtio_mmio *t = virtio_class_transport(d->cls, d->dev);
		out->virtio[out->nr_virtio++] = (struct arch_mmio_dev){ t->base, LAYOUT_VIRTIO_MMIO_SIZE, t->gsi };
	}
}
