/* resources: the list of API resources (api/resource.h), one line each.
 * The order is the one a config file is applied in: the logger first, so
 * what follows logs there; the machine before the balloon that must fit
 * in it; a custom CPU template after the machine, whose static one it
 * replaces; network interfaces before mmds-config, which names them. */
#include "api/resource.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define API_RESOURCES(X)                                                                   \
	X(logger) X(metrics) X(boot_source) X(machine_config) X(cpu_config) X(drives) X(network) \
	X(vsock) X(entropy) X(balloon) X(mmds_config) X(serial) X(info) X(version) X(actions)   \
	X(vm) X(vm_config) X(snapshot_create) X(snapshot_load) X(balloon_stats)                  \
	X(balloon_hint_start) X(balloon_hint_status) X(balloon_hint_stop) X(mmds)

#define DECLARE(name) extern const struct api_resource api_res_##name;
#define LIST(name) &api_res_##name,
API_RESOURCES(DECLARE)
const struct api_resource *const api_resources[] = { API_RESOURCES(LIST) NULL };

const struct api_resource *api_resource_by_path(const char *path)
{
	for (int i = 0; api_resources[i]; i++)
		if (strcmp(api_resources[i]->path, path) == 0)
			return api_resources[i];
	return NULL;
}

const struct api_resource *api_resource_by_key(const char *key)
{
	for (int i = 0; api_resources[i]; i++)
		if (api_resources[i]->key && strcmp(api_resources[i]->key, key) == 0)
			return api_resources[i];
	return NULL;
}

int api_resources_max_items(void)
{
	int n = 0;
	for (int i = 0; api_resources[i]; i++)
		if (api_resources[i]->key)
			n += api_resources[i]->has_id ? api_resources[i]->max_items : 1;
	return n;
}

int api_resources_attach(struct vmm *vmm, const struct vm_config *c)
{
	int ret = 0;
	for (int i = 0; ret == 0 && api_resources[i]; i++)
		if (api_resources[i]->attach)
			ret = api_resources[i]->attach(vmm, c);
	return ret;
}

const struct api_resource *api_resource_by_override(const char *key)
{
	for (int i = 0; api_resources[i]; i++)
		if (api_resources[i]->load_override_key && strcmp(api_resources[i]->load_override_key, key) == 0)
			return api_resources[i];
	return NULL;
}

int api_resources_load_overrides(struct vm_config *c, const json_t *overrides, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int ret = 0;
	json_object_foreach((json_t *)overrides, key, v) {
		const struct api_resource *res = api_resource_by_override(key);
		ret = res ? res->load_override_apply(c, v, err, errlen) : -EINVAL;
		if (!res)
			snprintf(err, errlen, "%s: not an override", key);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void api_free_nothing(struct api_request *r)
{
	(void)r;
}

void api_apply_store(int (*store)(struct vm_config *c, struct api_request *r, struct api_err *e),
                     struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_err e = { .msg = "" };
	if (api_started(t))
		api_reply_fault(rep, 400, API_AFTER_START);
	else if (store(t->cfg, r, &e) < 0)
		api_reply_fault(rep, 400, "%s", e.msg);
	else
		rep->status = 204;
}
