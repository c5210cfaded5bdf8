/* vm_config: GET /vm/config, the whole configuration in the shape of the
 * config file. */
#include "api/api.h"

json_t *api_rate_limiter_json(const struct rate_limiter_config *rl)
{
	if (!rl->bandwidth.set && !rl->ops.set)
		return json_null();
	json_t *o = json_object();
	const struct token_bucket_config *b[2] = { &rl->bandwidth, &rl->ops };
	const char *names[2] = { "bandwidth", "ops" };
	for (int i = 0; i < 2; i++) {
		if (!b[i]->set)
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

static json_t *drives_json(const struct vm_config *c)
{
	json_t *a = json_array();
	for (int i = 0; i < c->nr_drives; i++) {
		const struct drive_config *d = &c->drives[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b, s:o, s:s, s:s, s:o}", "drive_id",
		                                   d->drive_id, "path_on_host", d->path_on_host,
		                                   "is_root_device", d->is_root_device, "is_read_only",
		                                   d->is_read_only, "partuuid", str_or_null(d->partuuid),
		                                   "cache_type", d->cache_type == CACHE_WRITEBACK ? "Writeback" : "Unsafe",
		                                   "io_engine", d->io_engine == IO_ENGINE_ASYNC ? "Async" : "Sync",
		                                   "rate_limiter", api_rate_limiter_json(&d->rate_limiter)));
	}
	return a;
}

static json_t *nets_json(const struct vm_config *c)
{
	json_t *a = json_array();
	for (int i = 0; i < c->nr_nets; i++) {
		const struct net_config *n = &c->nets[i];
		char mac[18];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->guest_mac[0], n->guest_mac[1],
		         n->guest_mac[2], n->guest_mac[3], n->guest_mac[4], n->guest_mac[5]);
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:o}", "iface_id", n->iface_id,
		                                   "host_dev_name", n->host_dev_name, "guest_mac",
		                                   n->has_mac ? json_string(mac) : json_null(), "rx_rate_limiter",
		                                   api_rate_limiter_json(&n->rx_rate_limiter), "tx_rate_limiter",
		                                   api_rate_limiter_json(&n->tx_rate_limiter)));
	}
	return a;
}

void api_apply_vm_config(struct api_target *t, struct api_reply *rep)
{
	const struct vm_config *c = t->cfg;
	json_t *boot = json_null();
	if (c->boot.kernel_image_path)
		boot = json_pack("{s:s, s:o, s:o}", "kernel_image_path", c->boot.kernel_image_path,
		                 "initrd_path", str_or_null(c->boot.initrd_path), "boot_args",
		                 str_or_null(c->boot.boot_args));
	json_t *vsock = c->vsock.set ? json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock.guest_cid,
	                                         "uds_path", c->vsock.uds_path)
	                             : json_null();
	json_t *entropy = c->entropy ? json_pack("{s:o}", "rate_limiter",
	                                         api_rate_limiter_json(&c->entropy_rate_limiter))
	                             : json_null();
	api_reply_json(rep, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:n, s:n, s:n, s:n}", "boot-source", boot,
	                              "machine-config", api_machine_json(&c->machine), "drives",
	                              drives_json(c), "network-interfaces", nets_json(c), "vsock", vsock,
	                              "entropy", entropy, "balloon", "logger", "metrics", "mmds-config"));
}
