/* config_device: the configurations of the device kinds a vm_config keeps
 * without knowing their type (vmm/config.h). Apart from config.c so that
 * a device's own option parser needs nothing else of the config. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "vmm/config.h"

void *config_device(const struct vm_config *c, const void *owner)
{
	for (int i = 0; i < CONFIG_MAX_DEVICE_KINDS; i++)
		if (c->devices[i].owner == owner)
			return c->devices[i].cfg;
	return NULL;
}

int config_device_set(struct vm_config *c, const void *owner, void *cfg, void (*free_cfg)(void *cfg))
{
	struct config_device *slot = NULL;
	for (int i = 0; i < CONFIG_MAX_DEVICE_KINDS && !slot; i++)
		if (c->devices[i].owner == owner)
			slot = &c->devices[i];
	for (int i = 0; i < CONFIG_MAX_DEVICE_KINDS && !slot; i++)
		if (!c->devices[i].owner)
			slot = &c->devices[i];
	if (!slot)
		return -ENOSPC;
	if (slot->owner)
		slot->free_cfg(slot->cfg);
	*slot = (struct config_device){ owner, cfg, free_cfg };
	return 0;
}

void *config_device_make(struct vm_config *c, const void *owner, size_t size, void (*free_cfg)(void *cfg))
{
	void *cfg = config_device(c, owner);
	if (cfg)
		return cfg;
	cfg = calloc(1, size);
	if (cfg && config_device_set(c, owner, cfg, free_cfg) < 0) {
		free(cfg);
		cfg = NULL;
	}
	return cfg;
}
