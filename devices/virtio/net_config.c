/* net_config: the interfaces' configuration in a vm_config, kept under
 * net_class (config_device); see net.h. Apart from the device so that
 * the API, which keeps it, needs none of the device's code. */
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/net.h"
#include "vmm/config.h"

const struct net_configs *net_configs_of(const struct vm_config *c)
{
	return config_device(c, &net_class);
}

struct net_configs *net_configs_in(struct vm_config *c)
{
	return config_device_make(c, &net_class, sizeof(struct net_configs), net_configs_free);
}

void net_config_free(struct net_config *n)
{
	free(n->iface_id);
	free(n->host_dev_name);
	memset(n, 0, sizeof(*n));
}

void net_configs_free(void *n)
{
	struct net_configs *nets = n;
	for (int i = 0; nets && i < nets->nr; i++)
		net_config_free(&nets->items[i]);
	free(nets);
}
