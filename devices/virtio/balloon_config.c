/* balloon_config: the balloon device's configuration in a vm_config, kept
 * under its class (config_device); see balloon.h. Apart from the device
 * so that the API, which keeps it, needs none of the device's code. */
#include <stdlib.h>

#include "devices/virtio/balloon.h"
#include "vmm/config.h"

const struct balloon_config *balloon_config_of(const struct vm_config *c)
{
	return config_device(c, &balloon_class);
}

int balloon_config_set(struct vm_config *c, struct balloon_config *b)
{
	return config_device_set(c, &balloon_class, b, balloon_config_free);
}

void balloon_config_free(void *b)
{
	free(b);
}
