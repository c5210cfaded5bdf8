/* vm_config: the device configuration a snapshot carries (JSON in the
 * SNAP_SEC_VM_CONFIG section), so a fresh husk can rebuild the same
 * devices before their state is restored, as Firecracker does. It is the
 * devices' part of GET /vm/config, in the config file's shape: each device
 * resource (api/resource.h, the ones with a store step) writes its value
 * and reads it back with its own parser and store step, which check every
 * field (the file is untrusted). */
#include "vmm/snapshot/vm_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/config.h"

int snapshot_vm_config_encode(const struct vm_config *cfg, char **out)
{
	json_t *root = api_devices_json(cfg);
	*out = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(root);
	return *out ? 0 : -ENOMEM;
}

/* ---- decode ---- */

static int vmcfg_fail(char *err, size_t errlen, const char *what, const char *key, int i)
{
	if (i >= 0)
		snprintf(err, errlen, "device configuration in the snapshot: %s[%d]: %s", key, i, what);
	else
		snprintf(err, errlen, "device configuration in the snapshot: %s%s%s", key, *key ? ": " : "", what);
	return -EINVAL;
}

/* One item of a device resource: parsed, then stored as its PUT would be. */
static int vmcfg_store(const struct api_resource *res, const json_t *o, struct vm_config *cfg,
                       struct api_err *e)
{
	struct api_request r;
	int ret = api_request_parse(res->put, o, NULL, &r, e);
	if (ret == 0)
		ret = res->store(cfg, &r, e);
	api_request_free(&r);
	return ret;
}

/* A device resource's value: an array of items (drives), or one device. */
static int vmcfg_decode_resource(const struct api_resource *res, const json_t *v, struct vm_config *cfg,
                                 char *err, size_t errlen)
{
	struct api_err e = { "" };
	if (!res->has_id)
		return json_is_null(v) || vmcfg_store(res, v, cfg, &e) == 0 ? 0
		                                                          : vmcfg_fail(err, errlen, e.msg, res->key, -1);
	if (!json_is_array(v))
		return vmcfg_fail(err, errlen, "must be an array", res->key, -1);
	if (json_array_size(v) > (size_t)res->max_items)
		return vmcfg_fail(err, errlen, "too many devices", res->key, -1);
	for (size_t i = 0; i < json_array_size(v); i++)
		if (vmcfg_store(res, json_array_get(v, i), cfg, &e) < 0)
			return vmcfg_fail(err, errlen, e.msg, res->key, (int)i);
	return 0;
}

/* Every key a device resource; the arrays (drives, network-interfaces)
 * always there; a single device absent in snapshots of husk before it. */
static int vmcfg_decode(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	if (!json_is_object(root))
		return vmcfg_fail(err, errlen, "must be an object of drives, network-interfaces and the other devices",
		                  "", -1);
	json_object_foreach(root, key, v) {
		const struct api_resource *res = api_resource_by_key(key);
		if (!res || !res->store)
			return vmcfg_fail(err, errlen, "not a device", key, -1);
	}
	config_free_devices(cfg);
	for (int i = 0; api_resources[i]; i++) {
		const struct api_resource *res = api_resources[i];
		if (!res->store)
			continue;
		v = json_object_get(root, res->key);
		if (!v && res->has_id)
			return vmcfg_fail(err, errlen, "missing", res->key, -1);
		int ret = v ? vmcfg_decode_resource(res, v, cfg, err, errlen) : 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

int snapshot_vm_config_apply(const uint8_t *data, size_t len, struct vm_config *cfg,
                             const struct snapshot_load_params *p, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "device configuration in the snapshot is not JSON: %s", jerr.text);
		return -EINVAL;
	}
	int ret = vmcfg_decode(root, cfg, err, errlen);
	json_decref(root);
	if (ret == 0)
		ret = api_resources_load_overrides(cfg, p->device_overrides, err, errlen);
	return ret;
}
