/* mmds_config: MMDS's configuration in a vm_config, kept as a
 * config_device under an owner of its own (MMDS has no device class);
 * see mmds.h. Apart from the service so that the API, which keeps it,
 * needs none of its code. */
#include <stdlib.h>

#include "devices/mmds/mmds.h"
#include "vmm/config.h"

/* the config_device owner: only its address matters */
static const char mmds_config_owner;

const struct mmds_config *mmds_config_of(const struct vm_config *c)
{
	return config_device(c, &mmds_config_owner);
}

int mmds_config_set(struct vm_config *c, struct mmds_config *m)
{
	return config_device_set(c, &mmds_config_owner, m, mmds_config_free);
}

void mmds_config_free(void *m)
{
	struct mmds_config *mc = m;
	for (int i = 0; mc && i < mc->nr_ifaces; i++)
		free(mc->ifaces[i]);
	free(mc);
}
