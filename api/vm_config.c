/* vm_config: GET /vm/config, the whole configuration in the shape of the
 * config file. */
#include "api/api.h"
#include "devices/virtio/net.h"
#include "vmm/log.h"
#include "vmm/metrics.h"

json_t *api_rate_limiter_json(const struct rate_limiter_config *rl)
{
	/* what is in force: a bucket given as "no limit" is not shown */
	if (!token_bucket_config_in_force(&rl->bandwidth) && !token_bucket_config_in_force(&rl->ops))
		return json_null();
	json_t *o = json_object();
	const struct token_bucket_config *b[2] = { &rl->bandwidth, &rl->ops };
	const char *names[2] = { "bandwidth", "ops" };
	for (int i = 0; i < 2; i++) {
		if (!token_bucket_config_in_force(b[i]))
			continue;
		json_object_set_new(o, names[i],
		                    json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b[i]->size, "one_time_burst",
		                              (json_int_t)b[i]->one_time_burst, "refill_time",
		                              (json_int_t)b[i]->refill_time_ms));
	}
	return o;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *cache_name(enum cache_type c)
{
	return api_cache_names[c == CACHE_WRITEBACK ? 1 : 0];
}

static const char *engine_name(enum io_engine e)
{
	return api_engine_names[e == IO_ENGINE_ASYNC ? 1 : 0];
}

json_t *api_drive_json(const struct drive_config *d)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:o, s:s, s:s, s:o}", "drive_id", d->drive_id, "path_on_host",
	                 d->path_on_host, "is_root_device", d->is_root_device, "is_read_only",
	                 d->is_read_only, "partuuid", str_or_null(d->partuuid), "cache_type",
	                 cache_name(d->cache_type), "io_engine", engine_name(d->io_engine), "rate_limiter",
	                 api_rate_limiter_json(&d->rate_limiter));
}

json_t *api_net_json(const struct net_config *n)
{
	char mac[NET_MAC_STR_LEN];
	net_format_mac(n->guest_mac, mac);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "iface_id", n->iface_id, "host_dev_name",
	                 n->host_dev_name, "guest_mac", n->has_mac ? json_string(mac) : json_null(), "mtu",
	                 n->mtu ? json_integer(n->mtu) : json_null(), "rx_rate_limiter", api_rate_limiter_json(&n->rx_rate_limiter), "tx_rate_limiter",
	                 api_rate_limiter_json(&n->tx_rate_limiter));
}

json_t *api_devices_json(const struct vm_config *c)
{
	json_t *drives = json_array(), *nets = json_array();
	for (int i = 0; i < c->nr_drives; i++)
		json_array_append_new(drives, api_drive_json(&c->drives[i]));
	for (int i = 0; i < c->nr_nets; i++)
		json_array_append_new(nets, api_net_json(&c->nets[i]));
	json_t *vsock = c->vsock.set ? json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock.guest_cid,
	                                         "uds_path", c->vsock.uds_path)
	                             : json_null();
	json_t *entropy = c->entropy ? json_pack("{s:o}", "rate_limiter",
	                                         api_rate_limiter_json(&c->entropy_rate_limiter))
	                             : json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "drives", drives, "network-interfaces", nets, "vsock",
	                 vsock, "entropy", entropy, "mmds-config", api_mmds_config_json(&c->mmds), "balloon",
	                 api_balloon_json(&c->balloon));
}

/* Firecracker answers null; husk shows what is in force once a log path
 * is set (PUT /logger, --log-path). */
static json_t *logger_json(void)
{
	bool show_level, show_origin;
	const char *path = log_get_path();
	if (!path)
		return json_null();
	log_get_options(&show_level, &show_origin);
	return json_pack("{s:s, s:s, s:b, s:b}", "log_path", path, "level", log_level_name(log_get_level()),
	                 "show_level", show_level, "show_log_origin", show_origin);
}

void api_apply_vm_config(struct api_target *t, struct api_reply *rep)
{
	const struct vm_config *c = t->cfg;
	json_t *boot = json_null();
	if (c->boot.kernel_image_path)
		boot = json_pack("{s:s, s:o, s:o}", "kernel_image_path", c->boot.kernel_image_path,
		                 "initrd_path", str_or_null(c->boot.initrd_path), "boot_args",
		                 str_or_null(c->boot.boot_args));
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "boot-source", boot, "machine-config",
	                      api_machine_json(&c->machine), "cpu-config", api_cpu_config_json(&c->cpu_config),
	                      "logger", logger_json(), "metrics",
	                      t->metrics && t->metrics->path ? json_pack("{s:s}", "metrics_path", t->metrics->path)
	                                                     : json_null());
	json_t *devices = api_devices_json(c);
	if (o && devices)
		json_object_update(o, devices);
	json_decref(devices);
	api_reply_json(rep, o);
}
