/* vm_config: the device configuration a snapshot carries (JSON in the
 * SNAP_SEC_VM_CONFIG section), so a fresh husk can rebuild the same
 * devices before their state is restored, as Firecracker does. It is the
 * devices' part of GET /vm/config, in the config file's shape: written
 * by the API's encoders and read back by the API's parsers, which check
 * every field (the file is untrusted). */
#include "vmm/snapshot/vm_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
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

/* The devices of cfg go; the snapshot's take their place. */
static void vmcfg_clear_devices(struct vm_config *cfg)
{
	for (int i = 0; i < cfg->nr_drives; i++) {
		free(cfg->drives[i].drive_id);
		free(cfg->drives[i].path_on_host);
		free(cfg->drives[i].partuuid);
	}
	memset(cfg->drives, 0, sizeof(cfg->drives));
	cfg->nr_drives = 0;
	for (int i = 0; i < cfg->nr_nets; i++) {
		free(cfg->nets[i].iface_id);
		free(cfg->nets[i].host_dev_name);
	}
	memset(cfg->nets, 0, sizeof(cfg->nets));
	cfg->nr_nets = 0;
	free(cfg->vsock.uds_path);
	memset(&cfg->vsock, 0, sizeof(cfg->vsock));
	cfg->entropy = false;
	memset(&cfg->balloon, 0, sizeof(cfg->balloon));
	config_mmds_free(&cfg->mmds);
}

void snapshot_vm_config_take_devices(struct vm_config *dst, struct vm_config *src)
{
	vmcfg_clear_devices(dst);
	memcpy(dst->drives, src->drives, sizeof(dst->drives));
	dst->nr_drives = src->nr_drives;
	memcpy(dst->nets, src->nets, sizeof(dst->nets));
	dst->nr_nets = src->nr_nets;
	dst->vsock = src->vsock;
	dst->entropy = src->entropy;
	dst->entropy_rate_limiter = src->entropy_rate_limiter;
	dst->balloon = src->balloon;
	dst->mmds = src->mmds;
	/* src keeps nothing it could free twice */
	memset(&src->mmds, 0, sizeof(src->mmds));
	memset(src->drives, 0, sizeof(src->drives));
	src->nr_drives = 0;
	memset(src->nets, 0, sizeof(src->nets));
	src->nr_nets = 0;
	memset(&src->vsock, 0, sizeof(src->vsock));
	src->entropy = false;
	memset(&src->entropy_rate_limiter, 0, sizeof(src->entropy_rate_limiter));
}

/* MMDS's configuration, on interfaces the snapshot has. */
static int vmcfg_decode_mmds(const json_t *o, struct vm_config *cfg, char *err, size_t errlen)
{
	struct api_err e = { "" };
	if (!o || json_is_null(o))
		return 0;
	if (api_parse_mmds_config(o, &cfg->mmds, &e) < 0)
		return vmcfg_fail(err, errlen, e.msg, "mmds-config", -1);
	for (int i = 0; i < cfg->mmds.nr_ifaces; i++) {
		int k = 0;
		while (k < cfg->nr_nets && strcmp(cfg->nets[k].iface_id, cfg->mmds.ifaces[i]) != 0)
			k++;
		if (k == cfg->nr_nets)
			return vmcfg_fail(err, errlen, "names an interface the snapshot does not have", "mmds-config", -1);
	}
	return 0;
}

static int vmcfg_decode(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
	/* mmds-config, balloon: absent from snapshots of husk before them */
	static const char *const allowed[] = { "drives", "network-interfaces", "vsock", "entropy", "mmds-config",
	                                       "balloon", NULL };
	struct api_err e = { "" };
	json_t *drives = json_object_get(root, "drives"), *nets = json_object_get(root, "network-interfaces");
	json_t *vsock = json_object_get(root, "vsock"), *entropy = json_object_get(root, "entropy");
	if (!json_is_object(root) || api_fields_check(root, allowed, &e) < 0 || !json_is_array(drives) ||
	    !json_is_array(nets))
		return vmcfg_fail(err, errlen, e.msg[0] ? e.msg : "drives or network-interfaces missing", "", -1);
	if (json_array_size(drives) > CONFIG_MAX_DRIVES || json_array_size(nets) > CONFIG_MAX_NETS)
		return vmcfg_fail(err, errlen, "too many devices", "", -1);
	vmcfg_clear_devices(cfg);
	for (size_t i = 0; i < json_array_size(drives); i++) {
		cfg->nr_drives++; /* counted first so config_free frees a partial one */
		if (api_parse_drive(json_array_get(drives, i), NULL, &cfg->drives[i], &e) < 0)
			return vmcfg_fail(err, errlen, e.msg, "drives", (int)i);
	}
	for (size_t i = 0; i < json_array_size(nets); i++) {
		cfg->nr_nets++;
		if (api_parse_net(json_array_get(nets, i), NULL, &cfg->nets[i], &e) < 0)
			return vmcfg_fail(err, errlen, e.msg, "network-interfaces", (int)i);
	}
	if (vsock && !json_is_null(vsock)) {
		if (api_parse_vsock(vsock, &cfg->vsock, &e) < 0)
			return vmcfg_fail(err, errlen, e.msg, "vsock", -1);
	}
	if (entropy && !json_is_null(entropy)) {
		struct api_entropy en;
		if (api_parse_entropy(entropy, &en, &e) < 0)
			return vmcfg_fail(err, errlen, e.msg, "entropy", -1);
		cfg->entropy = true;
		cfg->entropy_rate_limiter = en.rate_limiter;
	}
	json_t *balloon = json_object_get(root, "balloon");
	if (balloon && !json_is_null(balloon) && api_parse_balloon(balloon, &cfg->balloon, &e) < 0)
		return vmcfg_fail(err, errlen, e.msg, "balloon", -1);
	return vmcfg_decode_mmds(json_object_get(root, "mmds-config"), cfg, err, errlen);
}

static int vmcfg_apply_overrides(struct vm_config *cfg, const struct snapshot_load_params *p,
                                 char *err, size_t errlen)
{
	for (unsigned o = 0; o < p->nr_net_overrides; o++) {
		const struct snapshot_net_override *ov = &p->net_overrides[o];
		int i = 0;
		while (i < cfg->nr_nets && strcmp(cfg->nets[i].iface_id, ov->iface_id) != 0)
			i++;
		if (i == cfg->nr_nets) {
			snprintf(err, errlen, "network_overrides: the snapshot has no interface '%s'", ov->iface_id);
			return -EINVAL;
		}
		char *name = strdup(ov->host_dev_name);
		if (!name)
			return -ENOMEM;
		free(cfg->nets[i].host_dev_name);
		cfg->nets[i].host_dev_name = name;
	}
	if (p->vsock_uds_override) {
		if (!cfg->vsock.set) {
			snprintf(err, errlen, "vsock_override: the snapshot has no vsock device");
			return -EINVAL;
		}
		char *path = strdup(p->vsock_uds_override);
		if (!path)
			return -ENOMEM;
		free(cfg->vsock.uds_path);
		cfg->vsock.uds_path = path;
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
		ret = vmcfg_apply_overrides(cfg, p, err, errlen);
	return ret;
}
