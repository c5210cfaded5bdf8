/* network: /network-interfaces/{iface_id} (PUT pre-boot, PATCH post-boot:
 * rate limiters). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "devices/virtio/net.h"
#include "vmm/vmm.h"

int api_parse_net(const json_t *o, const char *path_id, struct net_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter",
		                               "tx_rate_limiter", NULL };
	char *mac = NULL;
	uint64_t mtu = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_id_match(o, "iface_id", path_id, &out->iface_id, e);
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

int api_parse_net_patch(const json_t *o, const char *path_id, struct api_net_patch *out,
                        struct api_err *e)
{
	static const char *const allowed[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_id_match(o, "iface_id", path_id, &out->iface_id, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rx_rate_limiter", &out->rx, &out->has_rx, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "tx_rate_limiter", &out->tx, &out->has_tx, e);
	return ret;
}

static int net_find(const struct vm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_nets; i++)
		if (strcmp(cfg->nets[i].iface_id, id) == 0)
			return i;
	return -1;
}

void api_apply_net(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct vm_config *cfg = t->cfg;
	struct net_config *n = &r->net;
	int i = net_find(cfg, n->iface_id);

	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (i < 0 && cfg->nr_nets >= CONFIG_MAX_NETS) {
		api_reply_fault(rep, 400, "iface_id: at most %d network interfaces", CONFIG_MAX_NETS);
		return;
	}
	for (int k = 0; k < cfg->nr_nets; k++) {
		if (k == i)
			continue;
		if (strcmp(cfg->nets[k].host_dev_name, n->host_dev_name) == 0) {
			api_reply_fault(rep, 400, "host_dev_name: %s is already used by %s", n->host_dev_name,
			                cfg->nets[k].iface_id);
			return;
		}
		if (n->has_mac && cfg->nets[k].has_mac && !memcmp(cfg->nets[k].guest_mac, n->guest_mac, 6)) {
			api_reply_fault(rep, 400, "guest_mac: already used by %s", cfg->nets[k].iface_id);
			return;
		}
	}
	if (i < 0) {
		i = cfg->nr_nets++;
	} else {
		free(cfg->nets[i].iface_id);
		free(cfg->nets[i].host_dev_name);
	}
	cfg->nets[i] = *n;
	memset(n, 0, sizeof(*n));
	rep->status = 204;
}

void api_apply_net_patch(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_net_patch *p = &r->net_patch;
	int i = net_find(t->cfg, p->iface_id);

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
