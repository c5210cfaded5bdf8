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

void boot_config_free(struct boot_config *b)
{
	free(b->kernel_image_path);
	free(b->initrd_path);
	free(b->boot_args);
	memset(b, 0, sizeof(*b));
}

void config_cpu_config_free(struct cpu_config *c)
{
	free(c->cpuid);
	free(c->msr);
	memset(c, 0, sizeof(*c));
}

void config_free_devices(struct vm_config *c)
{
	for (int i = 0; i < CONFIG_MAX_DEVICE_KINDS; i++)
		if (c->devices[i].owner)
			c->devices[i].free_cfg(c->devices[i].cfg);
	memset(c->devices, 0, sizeof(c->devices));
}

void config_move_devices(struct vm_config *dst, struct vm_config *src)
{
	config_free_devices(dst);
	memcpy(dst->devices, src->devices, sizeof(dst->devices));
	/* src keeps nothing it could free twice */
	memset(src->devices, 0, sizeof(src->devices));
	config_free_devices(src);
}

void config_free(struct vm_config *c)
{
	boot_config_free(&c->boot);
	config_cpu_config_free(&c->cpu_config);
	config_free_devices(c);
	free(c->serial_out_path);
	memset(c, 0, sizeof(*c));
}

int config_validate(const struct vm_config *c, const char **what)
{
	if (!c->boot.kernel_image_path) {
		*what = "Cannot start microvm without kernel configuration. (boot-source: kernel_image_path is not set)";
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
	return 0;
}

size_t boot_args_init_at(const char *s)
{
	static const char sep[] = " -- ";
	size_t quotes = 0, from = 0;
	/* each search goes on after the separator, whose bytes hold no quote */
	for (const char *m; (m = strstr(s + from, sep)); from = (size_t)(m - s) + sizeof(sep) - 1) {
		for (const char *q = s + from; q < m; q++)
			quotes += *q == '"';
		if (quotes % 2 == 0)
			return (size_t)(m - s);
	}
	return strlen(s);
}
