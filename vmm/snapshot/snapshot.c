/* snapshot: the per-VM snapshot bookkeeping and the device registry. */
#include "vmm/snapshot/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/vm.h"

void snapshot_state_init(struct snapshot_state *s)
{
	memset(s, 0, sizeof(*s));
	s->uffd = -1;
}

void snapshot_state_destroy(struct snapshot_state *s)
{
	/* closed only once the VM is gone: a live uffd registration with no
	 * handler left would make every missing page read as zeros */
	if (s->uffd >= 0)
		close(s->uffd);
	s->uffd = -1;
	free(s->vmm_dirty);
	s->vmm_dirty = NULL;
}

int snapshot_device_register(struct snapshot_state *s, const char *name,
                             const struct snapshot_dev_ops *ops, void *opaque)
{
	size_t n = strlen(name);
	if (n == 0 || n >= SNAP_DEVICE_NAME_LEN || !ops || !ops->save || !ops->check || !ops->restore)
		return -EINVAL;
	if (s->nr_devices >= SNAPSHOT_MAX_DEVICES)
		return -ENOSPC;
	for (unsigned i = 0; i < s->nr_devices; i++)
		if (strcmp(s->dev[i].name, name) == 0)
			return -EEXIST;
	struct snapshot_device *d = &s->dev[s->nr_devices++];
	memset(d->name, 0, sizeof(d->name));
	memcpy(d->name, name, n);
	d->ops = ops;
	d->opaque = opaque;
	return 0;
}

int snapshot_dirty_log_enable(struct snapshot_state *s, struct vm *vm)
{
	/* the VMM's own writes (virtio rings and buffers) are tracked beside
	 * KVM's log; allocated once, before the devices can write */
	if (!s->vmm_dirty) {
		s->vmm_dirty = calloc(1, mem_vmm_dirty_bytes(&vm->gm) ?: 8);
		if (!s->vmm_dirty)
			return -ENOMEM;
	}
	int ret = mem_dirty_log_set(vm, true);
	if (ret == 0) {
		s->dirty_log = true;
		vm->gm.vmm_dirty = s->vmm_dirty;
	}
	return ret;
}
