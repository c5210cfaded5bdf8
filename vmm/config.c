/* config: defaults, freeing and whole-config checks of struct vm_config. */
#include "vmm/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/serial.h"

const char *const cpu_template_names[] = { "None", "C3", "T2", "T2S", "T2CL", "T2A", NULL };

void config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->machine.vcpu_count = 1;
	c->machine.mem_size_mib = 128;
	c->serial_out_limit = SERIAL_OUT_LIMIT_DEFAULT;
}

void config_free(struct vm_config *c)
{
	free(c->boot.kernel_image_path);
	free(c->boot.initrd_path);
	free(c->boot.boot_args);
	config_cpu_config_free(&c->cpu_config);
	for (int i = 0; i < c->nr_drives; i++) {
		free(c->drives[i].drive_id);
		free(c->drives[i].path_on_host);
		free(c->drives[i].partuuid);
	}
	for (int i = 0; i < c->nr_nets; i++) {
		free(c->nets[i].iface_id);
		free(c->nets[i].host_dev_name);
	}
	free(c->vsock.uds_path);
	config_mmds_free(&c->mmds);
	free(c->serial_out_path);
	memset(c, 0, sizeof(*c));
}

void config_cpu_config_free(struct cpu_config *c)
{
	free(c->cpuid);
	free(c->msr);
	memset(c, 0, sizeof(*c));
}

void config_mmds_free(struct mmds_config *m)
{
	for (int i = 0; i < m->nr_ifaces; i++)
		free(m->ifaces[i]);
	memset(m, 0, sizeof(*m));
}

int config_validate(const struct vm_config *c, const char **what)
{
	int roots = 0;
	if (!c->boot.kernel_image_path) {
		*what = "boot-source: kernel_image_path is not set";
		return -EINVAL;
	}
	if (c->machine.vcpu_count < 1 || c->machine.vcpu_count > CONFIG_MAX_VCPUS) {
		*what = "machine-config: vcpu_count must be 1..32";
		return -EINVAL;
	}
	if (c->machine.mem_size_mib < 1) {
		*what = "machine-config: mem_size_mib must be at least 1";
		return -EINVAL;
	}
	if (c->machine.huge_pages_2m && c->machine.mem_size_mib % 2) {
		*what = "machine-config: mem_size_mib must be a multiple of 2 with huge_pages 2M";
		return -EINVAL;
	}
	for (int i = 0; i < c->nr_drives; i++)
		roots += c->drives[i].is_root_device;
	if (roots > 1) {
		*what = "drives: more than one root device";
		return -EINVAL;
	}
	return 0;
}
