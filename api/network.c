/* network: /network-interfaces/{iface_id} (PUT pre-boot, PATCH post-boot:
 * rate limiters). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "devices/virtio/net.h"
#include "vmm/errmsg.h"
#include "vmm/vmm.h"

void net_config_free(struct net_config *n)
{
	free(n->iface_id);
	free(n->host_dev_name);
	memset(n, 0, sizeof(*n));
}

static int net_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct net_config *out = &r->net;
	static const char *const allowed[] = { "iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter",
		                               "tx_rate_limiter", NULL };
	char *mac = NULL;
	uint64_t mtu = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_id_object(o, allowed, "iface_id", path_id, &out->iface_id, e);
	if (ret == 0)
		ret = api_field_str(o, "host_dev_name", true, &out->host_dev_name, e);
	/* IFNAMSIZ is 16 with the NUL */
	if (ret == 0 && strlen(out->host_dev_name) > 15)
		ret = api_fail(e, "host_dev_name: longer than 15 characters");
	if (ret == 0)
		ret = api_field_str(o, "guest_mac", false, &mac, e);
	if (ret == 0 && mac) {
		if (net_parse_mac(mac, out->guest_mac) < 0)
			ret = api_fail(e, "guest_mac: must look like 06:00:ac:10:00:02");
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
	struct api_net_patch *out = &r->net_patch;
	static const char *const allowed[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_id_object(o, allowed, "iface_id", path_id, &out->iface_id, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rx_rate_limiter", &out->rx, &out->has_rx, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "tx_rate_limiter", &out->tx, &out->has_tx, e);
	return ret;
}

/* Checked against the other interfaces: how many, taps and MACs unique. */
static int net_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	struct net_config *n = &r->net;
	int i = api_id_slot(cfg->nets, sizeof(cfg->nets[0]), cfg->nr_nets, CONFIG_MAX_NETS, "iface_id", n->iface_id,
	                    e);

	if (i < 0)
		return i;
	for (int k = 0; k < cfg->nr_nets; k++) {
		if (k == i)
			continue;
		if (strcmp(cfg->nets[k].host_dev_name, n->host_dev_name) == 0)
			return api_fail(e, "host_dev_name: %s is already used by %s", n->host_dev_name,
			                cfg->nets[k].iface_id);
		if (n->has_mac && cfg->nets[k].has_mac && !memcmp(cfg->nets[k].guest_mac, n->guest_mac, 6))
			return api_fail(e, "guest_mac: already used by %s", cfg->nets[k].iface_id);
	}
	if (i == cfg->nr_nets)
		cfg->nr_nets++;
	else
		net_config_free(&cfg->nets[i]);
	cfg->nets[i] = *n;
	memset(n, 0, sizeof(*n)); /* the strings now belong to cfg */
	return 0;
}

static void net_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(net_store, t, r, rep);
}

static void net_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_net_patch *p = &r->net_patch;
	int i = api_id_find(t->cfg->nets, sizeof(t->cfg->nets[0]), t->cfg->nr_nets, p->iface_id);

	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	if (i < 0) {
		api_reply_fault(rep, 400, "iface_id: no network interface %s", p->iface_id);
		return;
	}
	struct net *n = vmm_device_find(t->vmm, &net_class, p->iface_id);
	if (!n) {
		api_reply_fault(rep, 400, "iface_id: %s has no device", p->iface_id);
		return;
	}
	if (p->has_rx)
		rate_limiter_config_merge(&t->cfg->nets[i].rx_rate_limiter, &p->rx);
	if (p->has_tx)
		rate_limiter_config_merge(&t->cfg->nets[i].tx_rate_limiter, &p->tx);
	net_update_rate_limiters(n, &t->cfg->nets[i].rx_rate_limiter,
	                         &t->cfg->nets[i].tx_rate_limiter);
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
	return api_items_json(c->nets, sizeof(c->nets[0]), c->nr_nets, net_json);
}

static void net_request_free(struct api_request *r)
{
	net_config_free(&r->net);
}

static void net_patch_free(struct api_request *r)
{
	free(r->net_patch.iface_id);
}

/* Firecracker's "net" group and each interface's "net_<iface_id>" */
static const char *const net_leaves[] = {
	"activate_fails", "cfg_fails", "no_rx_avail_buffer", "no_tx_avail_buffer", "event_fails",
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
	if (json_array_size(a) > CONFIG_MAX_NETS)
		return api_fail(e, "at most %d entries", CONFIG_MAX_NETS);
	json_array_foreach(a, i, v) {
		char *id = NULL, *tap = NULL;
		int ret = api_id_object(v, allowed, "iface_id", NULL, &id, e);
		if (ret == 0)
			ret = api_field_str(v, "host_dev_name", true, &tap, e);
		free(id);
		free(tap);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int net_override_apply(struct vm_config *c, const json_t *a, char *err, size_t errlen)
{
	size_t k;
	json_t *v;
	json_array_foreach(a, k, v) {
		const char *id = json_string_value(json_object_get(v, "iface_id"));
		const char *tap = json_string_value(json_object_get(v, "host_dev_name"));
		int i = id && tap ? api_id_find(c->nets, sizeof(c->nets[0]), c->nr_nets, id) : -1;
		if (i < 0)
			return errmsg_set(err, errlen, -EINVAL, "network_overrides: the snapshot has no interface '%s'",
			                  id ? id : "");
		char *name = strdup(tap);
		if (!name)
			return errmsg_set(err, errlen, -ENOMEM, "network_overrides: out of memory");
		free(c->nets[i].host_dev_name);
		c->nets[i].host_dev_name = name;
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

static const struct api_method net_put = API_BODY(net_parse, net_apply, net_request_free);
static const struct api_method net_patch = API_BODY(net_patch_parse, net_patch_apply, net_patch_free);

const struct api_resource api_res_network = {
	.path = "/network-interfaces", .has_id = true, .metrics = "network_interfaces", .fc_metrics = "network",
	.put = &net_put, .patch = &net_patch,
	.key = "network-interfaces", .max_items = CONFIG_MAX_NETS, .to_json = nets_json, .store = net_store,
	.load_override_key = "network_overrides", .load_override_check = net_override_check,
	.load_override_apply = net_override_apply, .load_cli_name = "net-override",
	.load_cli_usage = "[--net-override IFACE_ID=TAP]...", .load_cli_override = net_override_from_cli,
	.cli_opts = (const struct cli_opt *const[]){ &net_cli_opt, NULL },
	.metrics_group = &net_group,
};
