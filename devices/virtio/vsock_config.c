/* vsock_config: the vsock device's configuration in a vm_config, kept
 * under its class (config_device); see vsock.h. Apart from the device so
 * that the API, which keeps it, needs none of the device's code. */
#include <stdlib.h>

#include "devices/virtio/vsock.h"
#include "vmm/config.h"

const struct vsock_config *vsock_config_of(const struct vm_config *c)
{
	return config_device(c, &vsock_class);
}

int vsock_config_set(struct vm_config *c, struct vsock_config *v)
{
	return config_device_set(c, &vsock_class, v, vsock_config_free);
}

void vsock_config_free(void *v)
{
	if (v)
		free(((struct vsock_config *)v)->uds_path);
	free(v);
}
