/* snapshot: the per-VM snapshot bookkeeping and the device registry. */
#include "vmm/snapshot/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/plain_state.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/vm.h"

void snapshot_state_init(struct snapshot_state *s)
{
	memset(s, 0, sizeof(*s));
	s->uffd = -1;
	ws_recorder_init(&s->ws_rec);
}

void snapshot_state_destroy(struct snapshot_state *s)
{
	/* closed only once the VM is gone: a live uffd registration with no
	 * handler left would make every missing page read as zeros */
	if (s->uffd >= 0)
		close(s->uffd);
	s->uffd = -1;
	ws_recorder_stop(&s->ws_rec);
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

/* ---- devices whose state is one plain struct ---- */

#define STRUCT_HDR 8u /* the version word and padding */

int snapshot_struct_save(uint32_t version, const void *state, size_t len, void **blob, size_t *blob_len)
{
	uint8_t *p = calloc(1, STRUCT_HDR + len);
	if (!p)
		return -ENOMEM;
	memcpy(p, &version, sizeof(version));
	memcpy(p + STRUCT_HDR, state, len);
	*blob = p;
	*blob_len = STRUCT_HDR + len;
	return 0;
}

int snapshot_struct_check(const char *what, uint32_t version, const uint8_t *blob, size_t blob_len,
                          void *state, size_t len, char *err, size_t errlen)
{
	uint32_t v;
	if (blob_len != STRUCT_HDR + len)
		return errmsg_set(err, errlen, -EINVAL, "%s state is %zu bytes, expected %zu", what, blob_len,
		                  STRUCT_HDR + len);
	memcpy(&v, blob, sizeof(v));
	if (v != version)
		return errmsg_set(err, errlen, -EINVAL, "%s state version %u unknown", what, v);
	memcpy(state, blob + STRUCT_HDR, len);
	return 0;
}

static int plain_save(void *opaque, void **blob, size_t *len)
{
	struct snapshot_plain *p = opaque;
	pthread_mutex_lock(p->lock);
	int ret = snapshot_struct_save(p->version, p->state, p->size, blob, len);
	pthread_mutex_unlock(p->lock);
	return ret;
}

/* Into copy (p->size bytes): the blob's struct, if it can be used. */
static int plain_take(const struct snapshot_plain *p, const uint8_t *blob, size_t len, void *copy,
                      char *err, size_t errlen)
{
	int ret = snapshot_struct_check(p->name, p->version, blob, len, copy, p->size, err, errlen);
	if (ret == 0 && p->valid)
		ret = p->valid(copy, err, errlen);
	return ret;
}

static int plain_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct snapshot_plain *p = opaque;
	void *copy = malloc(p->size);
	if (!copy)
		return errmsg_set(err, errlen, -ENOMEM, "%s state: out of memory", p->name);
	int ret = plain_take(p, blob, len, copy, err, errlen);
	free(copy);
	return ret;
}

static int plain_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct snapshot_plain *p = opaque;
	void *copy = malloc(p->size);
	int ret = copy ? plain_take(p, blob, len, copy, NULL, 0) : -ENOMEM;
	if (ret == 0) {
		pthread_mutex_lock(p->lock);
		memcpy(p->state, copy, p->size);
		pthread_mutex_unlock(p->lock);
	}
	free(copy);
	return ret;
}

const struct snapshot_dev_ops snapshot_plain_ops = {
	.save = plain_save,
	.check = plain_check,
	.restore = plain_restore,
};
