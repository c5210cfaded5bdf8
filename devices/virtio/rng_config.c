/* rng_config: the rng device's configuration in a vm_config, kept under
 * its class (config_device); see rng.h. Apart from the device so that the
 * API, which keeps it, needs none of the device's code. */
#include <stdlib.h>

#include "devices/virtio/rng.h"
#include "vmm/config.h"

const struct rng_config *rng_config_of(const struct vm_config *c)
{
	return config_device(c, &rng_class);
}

int rng_config_set(struct vm_config *c, struct rng_config *r)
{
	return config_device_set(c, &rng_class, r, rng_config_free);
}

void rng_config_free(void *r)
{
	free(r);
}
