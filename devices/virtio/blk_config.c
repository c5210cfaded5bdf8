/* blk_config: the drives' configuration in a vm_config, kept under
 * blk_class (config_device); see blk.h. Apart from the device so that
 * the API, which keeps it, needs none of the device's code. */
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk.h"
#include "vmm/config.h"

const struct drive_configs *drive_configs_of(const struct vm_config *c)
{
	return config_device(c, &blk_class);
}

struct drive_configs *drive_configs_in(struct vm_config *c)
{
	return config_device_make(c, &blk_class, sizeof(struct drive_configs), drive_configs_free);
}

int drive_configs_root(const struct drive_configs *d, int except)
{
	for (int k = 0; k < d->nr; k++)
		if (k != except && d->items[k].is_root_device)
			return k;
	return -1;
}

void drive_config_free(struct drive_config *d)
{
	free(d->drive_id);
	free(d->path_on_host);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

void drive_configs_free(void *d)
{
	struct drive_configs *drives = d;
	for (int i = 0; drives && i < drives->nr; i++)
		drive_config_free(&drives->items[i]);
	free(drives);
}
