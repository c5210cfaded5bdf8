/* network: /network-interfaces/{iface_id} (PUT pre-boot, PATCH post-boot:
 * rate limiters). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "devices/virtio/net.h"
#include "vmm/errmsg.h"
#include "vmm/vmm.h"

static int net_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter",
		                               "tx_rate_limiter", NULL };
	int ret = api_id_record(o, allowed, "iface_id", path_id, sizeof(struct net_config), r, e);
	struct net_config *out = r->device_config;
	char *mac = NULL;
	uint64_t mtu = 0;
	if (ret < 0)
		return ret;
	ret = api_field_str(o, "host_dev_name", true, &out->host_dev_name, e);
	/* IFNAMSIZ is 16 with the NUL */
	if (ret == 0 && strlen(out->host_dev_name) > 15)
		ret = api_fail(e, "Network config error: Could not create the network device: Open tap device failed: "
		               "Invalid interface name (host_dev_name: longer than 15 characters)");
	if (ret == 0)
		ret = api_field_text(o, "guest_mac", "a string", &mac, e);
	if (ret == 0 && mac) {
		/* Firecracker's words (its MacAddr), then husk's: it also refuses multicast */
		if (net_parse_mac(mac, out->guest_mac) < 0)
			ret = api_fail_serde(e, API_SERDE_AFTER, "guest_mac", "The provided MAC address is invalid.",
			                     "guest_mac: must look like 06:00:ac:10:00:02, the first byte even");
		out->has_mac = true;
	}
	/* Firecracker's range: the smallest IPv4 MTU up to what the 16-bit
	 * config field holds */
	if (ret == 0)
		ret = api_field_u64(o, "mtu", false, 68, 65535, &mtu, NULL, e);
	out->mtu = (uint16_t)mtu;
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rx_rate_limiter", &out->rx_rate_limiter, NULL, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "tx_rate_limiter", &out->tx_rate_limiter, NULL, e);
	free(mac);
	return ret;
}

static int net_patch_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };
	int ret = api_id_record(o, allowed, "iface_id", path_id, sizeof(struct net_patch), r, e);
	struct net_patch *out = r->device_config;
	if (ret < 0)
		return ret;
	ret = api_field_rate_limiter(o, "rx_rate_limiter", &out->rx, &out->has_rx, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "tx_rate_limiter", &out->tx, &out->has_tx, e);
	return ret;
}

/* Checked against the other interfaces: how many, taps and MACs unique. */
static int net_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	struct net_config *n = r->device_config;
	struct net_configs *nets = net_configs_in(cfg);
	char os[96];
	if (!nets)
		return api_fail(e, "out of memory");
	int i = api_id_slot(nets->items, sizeof(nets->items[0]), nets->nr, NET_MAX_IFACES, "iface_id", n->iface_id, e);

	if (i < 0)
		return i;
	for (int k = 0; k < nets->nr; k++) {
		if (k == i)
			continue;
		if (strcmp(nets->items[k].host_dev_name, n->host_dev_name) == 0)
			/* what Firecracker's second TUNSETIFF on the tap gets, shortened */
			return api_fail(e, "Network config error: Could not create the network device: Open tap device "
			                "failed: Error while creating ifreq structure: %s. (host_dev_name: %s is used by %s)",
			                errmsg_os(EBUSY, os, sizeof(os)), n->host_dev_name, nets->items[k].iface_id);
		if (n->has_mac && nets->items[k].has_mac && !memcmp(nets->items[k].guest_mac, n->guest_mac, 6))
			return api_fail(e, "Network config error: The MAC address is already in use: "
			                "%02x:%02x:%02x:%02x:%02x:%02x (husk: by %s)", n->guest_mac[0], n->guest_mac[1],
			                n->guest_mac[2], n->guest_mac[3], n->guest_mac[4], n->guest_mac[5],
			                nets->items[k].iface_id);
	}
	if (i == nets->nr)
		nets->nr++;
	else
		net_config_free(&nets->items[i]);
	nets->items[i] = *n;
	memset(n, 0, sizeof(*n)); /* the strings now belong to cfg */
	return 0;
}

static void net_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(net_store, t, r, rep);
}

static void net_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	const struct net_patch *p = r->device_config;
	struct net_configs *nets = config_device(t->cfg, &net_class);
	int i = nets ? api_id_find(nets->items, sizeof(nets->items[0]), nets->nr, p->iface_id) : -1;

	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	if (i < 0) {
		api_reply_fault(rep, 400, "Network config error: Unable to update the net device: Failed perform action on "
		                "device: Device not found (no network interface %s)", p->iface_id);
		return;
	}
	struct net *n = vmm_device_find(t->vmm, &net_class, p->iface_id);
	if (!n) {
		api_reply_fault(rep, 400, "Network config error: Unable to update the net device: Failed perform action on "
		                "device: Device not found (%s has no device)", p->iface_id);
		return;
	}
	struct net_config *nc = &nets->items[i];
	if (p->has_rx)
		rate_limiter_config_merge(&nc->rx_rate_limiter, &p->rx);
	if (p->has_tx)
		rate_limiter_config_merge(&nc->tx_rate_limiter, &p->tx);
	/* only the buckets the PATCH names: one handed over again would
	 * start full, with its one-time burst given back */
	net_update_rate_limiters(n, p->has_rx ? &p->rx : NULL, p->has_tx ? &p->tx : NULL);
	rep->status = 204;
}

static json_t *net_json(const void *item)
{
	const struct net_config *n = item;
	char mac[NET_MAC_STR_LEN];
	net_format_mac(n->guest_mac, mac);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "iface_id", n->iface_id, "host_dev_name",
	                 n->host_dev_name, "guest_mac", n->has_mac ? json_string(mac) : json_null(), "mtu",
	                 n->mtu ? json_integer(n->mtu) : json_null(), "rx_rate_limiter",
	                 api_rate_limiter_json(&n->rx_rate_limiter), "tx_rate_limiter",
	                 api_rate_limiter_json(&n->tx_rate_limiter));
}

static json_t *nets_json(const struct vm_config *c)
{
	const struct net_configs *nets = net_configs_of(c);
	return nets ? api_items_json(nets->items, sizeof(nets->items[0]), nets->nr, net_json) : json_array();
}

static void net_request_free(struct api_request *r)
{
	if (r->device_config)
		net_config_free(r->device_config);
	free(r->device_config);
	r->device_config = NULL;
}

static void net_patch_free(struct api_request *r)
{
	struct net_patch *p = r->device_config;
	if (p)
		free(p->iface_id);
	free(p);
	r->device_config = NULL;
}

/* Each interface, in the order first put: slots in that order. */
static int net_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct net_configs *nets = net_configs_of(c);
	int ret = 0;
	for (int i = 0; ret == 0 && nets && i < nets->nr; i++)
		ret = vmm_attach(vmm, &net_class, nets->items[i].iface_id, &nets->items[i]);
	return ret;
}

/* Firecracker's "net" group and each interface's "net_<iface_id>" */
static const char *const net_leaves[] = {
	"activate_fails", "cfg_fails", "mac_address_updates", "no_rx_avail_buffer", "no_tx_avail_buffer", "event_fails",
	"rx_queue_event_count", "rx_event_rate_limiter_count", "rx_rate_limiter_throttled",
	"rx_tap_event_count", "rx_bytes_count", "rx_packets_count", "rx_fails", "rx_count",
	"tap_read_fails", "tap_write_fails", "tx_bytes_count", "tx_malformed_frames", "tx_fails",
	"tx_count", "tx_packets_count", "tx_queue_event_count", "tx_rate_limiter_event_count",
	"tx_rate_limiter_throttled", "tx_spoofed_mac_count", "tx_remaining_reqs_count", NULL };

static void net_metrics(json_t *g, json_t *total, const void *dev)
{
	const struct net *n = dev;
	const struct net_stats *s = &n->dev.stats;
	metrics_add(g, total, "rx_bytes_count", s->rx_bytes);
	metrics_add(g, total, "rx_packets_count", s->rx_packets);
	metrics_add(g, total, "rx_count", s->rx_packets);
	metrics_add(g, total, "rx_fails", s->rx_dropped + s->rx_malformed);
	metrics_add(g, total, "no_rx_avail_buffer", s->rx_no_buffers);
	metrics_add(g, total, "tx_bytes_count", s->tx_bytes);
	metrics_add(g, total, "tx_packets_count", s->tx_packets);
	metrics_add(g, total, "tx_count", s->tx_packets);
	metrics_add(g, total, "tx_malformed_frames", s->tx_malformed);
	metrics_add(g, total, "tap_write_fails", s->tx_dropped);
	metrics_add(g, total, "rx_rate_limiter_throttled", n->rx_rl.throttled);
	metrics_add(g, total, "tx_rate_limiter_throttled", n->tx_rl.throttled);
}

static const struct metrics_device_group net_group = {
	.name = "net", .leaves = net_leaves, .aggs = (const char *const[]){ "tap_write_agg", NULL },
	.cls = &net_class, .per_device = true, .fill = net_metrics,
};

/* ---- snapshot load's "network_overrides": [{"iface_id", "host_dev_name"}],
 * a clone's own taps ---- */

static int net_override_check(const json_t *a, struct api_err *e)
{
	static const char *const allowed[] = { "iface_id", "host_dev_name", NULL };
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return api_fail(e, "must be an array");
	if (json_array_size(a) > NET_MAX_IFACES)
		return api_fail(e, "at most %d entries", NET_MAX_IFACES);
	json_array_foreach(a, i, v) {
		char *id = NULL, *tap = NULL;
		int ret = api_id_object(v, allowed, "iface_id", NULL, &id, e);
		if (ret == 0)
			ret = api_field_str(v, "host_dev_name", true, &tap, e);
		free(id);
		free(tap);
		if (ret < 0) {
			char where[24];
			snprintf(where, sizeof(where), "[%zu]", i);
			return api_prefix(e, where);
		}
	}
	return 0;
}

static int net_override_apply(struct vm_config *c, const json_t *a, char *err, size_t errlen)
{
	struct net_configs *nets = config_device(c, &net_class);
	size_t k;
	json_t *v;
	json_array_foreach(a, k, v) {
		const char *id = json_string_value(json_object_get(v, "iface_id"));
		const char *tap = json_string_value(json_object_get(v, "host_dev_name"));
		int i = id && tap && nets ? api_id_find(nets->items, sizeof(nets->items[0]), nets->nr, id) : -1;
		if (i < 0)
			return errmsg_set(err, errlen, -EINVAL, "network_overrides: the snapshot has no interface '%s'",
			                  id ? id : "");
		char *name = strdup(tap);
		if (!name)
			return errmsg_set(err, errlen, -ENOMEM, "network_overrides: out of memory");
		free(nets->items[i].host_dev_name);
		nets->items[i].host_dev_name = name;
	}
	return 0;
}

/* --net-override IFACE_ID=TAP (repeated: each adds one) */
static json_t *net_override_from_cli(const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq) /* refused by the check: no host_dev_name */
		return json_pack("[{s:s}]", "iface_id", arg);
	return json_pack("[{s:s%, s:s}]", "iface_id", arg, (size_t)(eq - arg), "host_dev_name", eq + 1);
}

static const struct api_method net_put = API_BOOT_BODY(net_parse, net_apply, net_request_free);
static const struct api_method net_patch = API_BODY(net_patch_parse, net_patch_apply, net_patch_free);

const struct api_resource api_res_network = {
	.path = "/network-interfaces", .has_id = true, .metrics = "network_interfaces", .fc_metrics = "network",
	.put = &net_put, .patch = &net_patch,
	.key = "network-interfaces", .max_items = NET_MAX_IFACES, .to_json = nets_json, .store = net_store,
	.attach = net_attach,
	.load_override_key = "network_overrides", .load_override_check = net_override_check,
	.load_override_apply = net_override_apply, .load_cli_name = "net-override",
	.load_cli_usage = "[--net-override IFACE_ID=TAP]...", .load_cli_override = net_override_from_cli,
	.cli_opts = (const struct cli_opt *const[]){ &net_cli_opt, NULL },
	.metrics_group = &net_group,
};
