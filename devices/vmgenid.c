/* vmgenid: the generation id page (see vmgenid.h). */
#include "devices/vmgenid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

static int vmgenid_draw(uint8_t id[VMGENID_ID_LEN])
{
	size_t got = 0;
	while (got < VMGENID_ID_LEN) {
		ssize_t n = getrandom(id + got, VMGENID_ID_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int vmgenid_init(struct vmgenid *g, uint64_t base, unsigned gsi, int irq_efd)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->base = base;
	g->gsi = gsi;
	g->irq_efd = irq_efd;
	return vmgenid_draw(g->id);
}

void vmgenid_destroy(struct vmgenid *g)
{
	pthread_mutex_destroy(&g->lock);
}

int vmgenid_cmdline(const struct vmgenid *g, char *buf, size_t len)
{
	int n = snprintf(buf, len, " husk.vmgenid=0x%" PRIx64 ":%u", g->base, g->gsi);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static void vmgenid_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct vmgenid *g = opaque;
	uint8_t *out = data;
	pthread_mutex_lock(&g->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = off + i < VMGENID_ID_LEN ? g->id[off + i] : 0;
	pthread_mutex_unlock(&g->lock);
}

static void vmgenid_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	(void)opaque, (void)off, (void)data, (void)len; /* read-only */
}

const struct bus_ops vmgenid_ops = { .read = vmgenid_read, .write = vmgenid_write };

/* ---- snapshot ---- */

#define VMGENID_SNAP_VERSION 2

static int vmgenid_snapshot_save(void *opaque, void **blob, size_t *len)
{
	struct vmgenid *g = opaque;
	pthread_mutex_lock(&g->lock);
	int ret = snapshot_struct_save(VMGENID_SNAP_VERSION, g->id, sizeof(g->id), blob, len);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int vmgenid_snapshot_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	uint8_t id[VMGENID_ID_LEN];
	(void)opaque;
	return snapshot_struct_check("vmgenid", VMGENID_SNAP_VERSION, blob, len, id, sizeof(id), err, errlen);
}

/* The point of the device: a restored VM is a new generation, so it gets
 * an id neither the snapshot nor any other restore of it has. */
static int vmgenid_snapshot_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct vmgenid *g = opaque;
	uint8_t saved[VMGENID_ID_LEN], id[VMGENID_ID_LEN];
	if (snapshot_struct_check("vmgenid", VMGENID_SNAP_VERSION, blob, len, saved, sizeof(saved), NULL, 0))
		return -EINVAL;
	do {
		int ret = vmgenid_draw(id);
		if (ret < 0)
			return ret;
	} while (memcmp(id, saved, sizeof(id)) == 0);
	pthread_mutex_lock(&g->lock);
	memcpy(g->id, id, sizeof(id));
	g->generations++;
	pthread_mutex_unlock(&g->lock);
	if (g->irq_efd >= 0) {
		uint64_t one = 1;
		if (write(g->irq_efd, &one, sizeof(one)) < 0)
			log_warn("vmgenid: interrupt: %s", strerror(errno));
	}
	return 0;
}

const struct snapshot_dev_ops vmgenid_snapshot_ops = {
	.save = vmgenid_snapshot_save,
	.check = vmgenid_snapshot_check,
	.restore = vmgenid_snapshot_restore,
};
