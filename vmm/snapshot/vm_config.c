/* vm_config: the device configuration a snapshot carries (JSON in the
 * SNAP_SEC_VM_CONFIG section), so a fresh husk can rebuild the same
 * devices before their state is restored, as Firecracker does. */
#include "vmm/snapshot/vm_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/limits.h"

static json_t *vmcfg_mac(const uint8_t m[6])
{
	char s[18];
	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return json_string(s);
}

static int vmcfg_set(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

static json_t *vmcfg_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A limiter in Firecracker's JSON shape (rate_limiter_config_parse reads it
 * back); null when neither bucket is set. */
static json_t *vmcfg_bucket(const struct token_bucket_config *b)
{
	return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst",
	                 (json_int_t)b->one_time_burst, "refill_time", (json_int_t)b->refill_time_ms);
}

static json_t *vmcfg_limiter(const struct rate_limiter_config *rl)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	if ((rl->bandwidth.set && vmcfg_set(o, "bandwidth", vmcfg_bucket(&rl->bandwidth)) < 0) ||
	    (rl->ops.set && vmcfg_set(o, "ops", vmcfg_bucket(&rl->ops)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int vmcfg_get_limiter(json_t *o, const char *k, struct rate_limiter_config *out)
{
	const char *bad = NULL;
	json_t *v = json_object_get(o, k);
	memset(out, 0, sizeof(*out));
	return v ? rate_limiter_config_parse(v, out, &bad) : 0; /* absent: older files, no limit */
}

static int vmcfg_encode_drive(json_t *arr, const struct drive_config *d)
{
	json_t *o = json_object();
	int ret = o ? 0 : -ENOMEM;
	if (ret == 0)
		ret = vmcfg_set(o, "drive_id", vmcfg_str(d->drive_id));
	if (ret == 0)
		ret = vmcfg_set(o, "path_on_host", vmcfg_str(d->path_on_host));
	if (ret == 0)
		ret = vmcfg_set(o, "is_root_device", json_boolean(d->is_root_device));
	if (ret == 0)
		ret = vmcfg_set(o, "is_read_only", json_boolean(d->is_read_only));
	if (ret == 0)
		ret = vmcfg_set(o, "partuuid", vmcfg_str(d->partuuid));
	if (ret == 0)
		ret = vmcfg_set(o, "cache_type", json_string(d->cache_type == CACHE_WRITEBACK ? "Writeback" : "Unsafe"));
	if (ret == 0)
		ret = vmcfg_set(o, "io_engine", json_string(d->io_engine == IO_ENGINE_ASYNC ? "Async" : "Sync"));
	if (ret == 0)
		ret = vmcfg_set(o, "rate_limiter", vmcfg_limiter(&d->rate_limiter));
	if (ret == 0 && json_array_append_new(arr, o) < 0)
		return -ENOMEM;
	if (ret < 0)
		json_decref(o);
	return ret;
}

static int vmcfg_encode_net(json_t *arr, const struct net_config *n)
{
	json_t *o = json_object();
	int ret = o ? 0 : -ENOMEM;
	if (ret == 0)
		ret = vmcfg_set(o, "iface_id", vmcfg_str(n->iface_id));
	if (ret == 0)
		ret = vmcfg_set(o, "host_dev_name", vmcfg_str(n->host_dev_name));
	if (ret == 0)
		ret = vmcfg_set(o, "guest_mac", n->has_mac ? vmcfg_mac(n->guest_mac) : json_null());
	if (ret == 0)
		ret = vmcfg_set(o, "rx_rate_limiter", vmcfg_limiter(&n->rx_rate_limiter));
	if (ret == 0)
		ret = vmcfg_set(o, "tx_rate_limiter", vmcfg_limiter(&n->tx_rate_limiter));
	if (ret == 0 && json_array_append_new(arr, o) < 0)
		return -ENOMEM;
	if (ret < 0)
		json_decref(o);
	return ret;
}

int snapshot_vm_config_encode(const struct vm_config *cfg, char **out)
{
	json_t *root = json_object(), *drives = json_array(), *nets = json_array();
	int ret = root && drives && nets ? 0 : -ENOMEM;
	for (int i = 0; ret == 0 && i < cfg->nr_drives; i++)
		ret = vmcfg_encode_drive(drives, &cfg->drives[i]);
	for (int i = 0; ret == 0 && i < cfg->nr_nets; i++)
		ret = vmcfg_encode_net(nets, &cfg->nets[i]);
	if (ret == 0)
		ret = vmcfg_set(root, "drives", json_incref(drives));
	if (ret == 0)
		ret = vmcfg_set(root, "network_interfaces", json_incref(nets));
	if (ret == 0 && cfg->vsock.set) {
		json_t *v = json_pack("{s:I, s:s?}", "guest_cid", (json_int_t)cfg->vsock.guest_cid,
		                      "uds_path", cfg->vsock.uds_path);
		ret = vmcfg_set(root, "vsock", v);
	}
	if (ret == 0)
		ret = vmcfg_set(root, "entropy", json_boolean(cfg->entropy));
	if (ret == 0)
		ret = vmcfg_set(root, "entropy_rate_limiter", vmcfg_limiter(&cfg->entropy_rate_limiter));
	if (ret == 0) {
		*out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
		ret = *out ? 0 : -ENOMEM;
	}
	json_decref(drives);
	json_decref(nets);
	json_decref(root);
	return ret;
}

/* ---- decode: every field checked, the file is untrusted ---- */

static int vmcfg_fail(char *err, size_t errlen, const char *what, int i)
{
	if (i >= 0)
		snprintf(err, errlen, "device configuration in the snapshot: %s (entry %d)", what, i);
	else
		snprintf(err, errlen, "device configuration in the snapshot: %s", what);
	return -EINVAL;
}

/* A string member: required non-empty (opt false) or null/absent (opt). */
static int vmcfg_get_str(json_t *o, const char *k, bool opt, char **out)
{
	json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v || json_is_null(v))
		return opt ? 0 : -EINVAL;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4095 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static int vmcfg_get_bool(json_t *o, const char *k, bool *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

static int vmcfg_parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

static int vmcfg_decode_drive(json_t *o, struct drive_config *d)
{
	const char *c, *e;
	if (!json_is_object(o))
		return -EINVAL;
	if (vmcfg_get_str(o, "drive_id", false, &d->drive_id) < 0 ||
	    vmcfg_get_str(o, "path_on_host", false, &d->path_on_host) < 0 ||
	    vmcfg_get_str(o, "partuuid", true, &d->partuuid) < 0 ||
	    vmcfg_get_bool(o, "is_root_device", &d->is_root_device) < 0 ||
	    vmcfg_get_bool(o, "is_read_only", &d->is_read_only) < 0)
		return -EINVAL;
	c = json_string_value(json_object_get(o, "cache_type"));
	e = json_string_value(json_object_get(o, "io_engine"));
	if (!c || !e || (strcmp(c, "Unsafe") && strcmp(c, "Writeback")) ||
	    (strcmp(e, "Sync") && strcmp(e, "Async")))
		return -EINVAL;
	d->cache_type = strcmp(c, "Writeback") == 0 ? CACHE_WRITEBACK : CACHE_UNSAFE;
	d->io_engine = strcmp(e, "Async") == 0 ? IO_ENGINE_ASYNC : IO_ENGINE_SYNC;
	return vmcfg_get_limiter(o, "rate_limiter", &d->rate_limiter);
}

static int vmcfg_decode_net(json_t *o, struct net_config *n)
{
	char *mac = NULL;
	if (!json_is_object(o))
		return -EINVAL;
	if (vmcfg_get_str(o, "iface_id", false, &n->iface_id) < 0 ||
	    vmcfg_get_str(o, "host_dev_name", false, &n->host_dev_name) < 0 ||
	    vmcfg_get_str(o, "guest_mac", true, &mac) < 0)
		return -EINVAL;
	int ret = 0;
	if (mac) {
		ret = vmcfg_parse_mac(mac, n->guest_mac);
		n->has_mac = ret == 0;
	}
	free(mac);
	if (ret == 0)
		ret = vmcfg_get_limiter(o, "rx_rate_limiter", &n->rx_rate_limiter);
	if (ret == 0)
		ret = vmcfg_get_limiter(o, "tx_rate_limiter", &n->tx_rate_limiter);
	return ret;
}

static int vmcfg_decode_vsock(json_t *o, struct vsock_config *v)
{
	json_t *cid = json_object_get(o, "guest_cid");
	if (!json_is_object(o) || !json_is_integer(cid) || json_integer_value(cid) < 3 ||
	    json_integer_value(cid) > UINT32_MAX)
		return -EINVAL;
	v->guest_cid = (uint32_t)json_integer_value(cid);
	if (vmcfg_get_str(o, "uds_path", false, &v->uds_path) < 0)
		return -EINVAL;
	v->set = true;
	return 0;
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
	/* src keeps nothing it could free twice */
	memset(src->drives, 0, sizeof(src->drives));
	src->nr_drives = 0;
	memset(src->nets, 0, sizeof(src->nets));
	src->nr_nets = 0;
	memset(&src->vsock, 0, sizeof(src->vsock));
	src->entropy = false;
	memset(&src->entropy_rate_limiter, 0, sizeof(src->entropy_rate_limiter));
}

static int vmcfg_decode(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
	json_t *drives = json_object_get(root, "drives"), *nets = json_object_get(root, "network_interfaces");
	json_t *vsock = json_object_get(root, "vsock"), *entropy = json_object_get(root, "entropy");
	if (!json_is_object(root) || !json_is_array(drives) || !json_is_array(nets) || !json_is_boolean(entropy))
		return vmcfg_fail(err, errlen, "drives, network_interfaces or entropy missing", -1);
	if (json_array_size(drives) > CONFIG_MAX_DRIVES || json_array_size(nets) > CONFIG_MAX_NETS)
		return vmcfg_fail(err, errlen, "too many devices", -1);
	vmcfg_clear_devices(cfg);
	for (size_t i = 0; i < json_array_size(drives); i++) {
		cfg->nr_drives++; /* counted first so config_free frees a partial one */
		if (vmcfg_decode_drive(json_array_get(drives, i), &cfg->drives[i]) < 0)
			return vmcfg_fail(err, errlen, "malformed drive", (int)i);
	}
	for (size_t i = 0; i < json_array_size(nets); i++) {
		cfg->nr_nets++;
		if (vmcfg_decode_net(json_array_get(nets, i), &cfg->nets[i]) < 0)
			return vmcfg_fail(err, errlen, "malformed network interface", (int)i);
	}
	if (vsock && !json_is_null(vsock) && vmcfg_decode_vsock(vsock, &cfg->vsock) < 0)
		return vmcfg_fail(err, errlen, "malformed vsock", -1);
	cfg->entropy = json_is_true(entropy);
	if (vmcfg_get_limiter(root, "entropy_rate_limiter", &cfg->entropy_rate_limiter) < 0)
		return vmcfg_fail(err, errlen, "malformed entropy rate limiter", -1);
	return 0;
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
