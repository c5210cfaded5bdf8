/* vsock: /vsock (PUT, pre-boot). */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "api/resource.h"
#include "devices/virtio/vsock.h"

void vsock_config_free(struct vsock_config *v)
{
	free(v->uds_path);
	memset(v, 0, sizeof(*v));
}

static int vsock_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct vsock_config *out = &r->vsock;
	/* vsock_id: accepted and ignored, as Firecracker does since v1.0 */
	static const char *const allowed[] = { "guest_cid", "uds_path", "vsock_id", NULL };
	struct sockaddr_un sa;
	char *id = NULL;
	uint64_t cid = 0; /* read below even when a check failed first */
	int ret;

	(void)path_id;
	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	/* 0-2 are the hypervisor, local and host; the field is 32 bits */
	if (ret == 0)
		ret = api_field_u64(o, "guest_cid", true, 3, UINT32_MAX - 1, &cid, NULL, e);
	if (ret == 0)
		ret = api_field_str(o, "uds_path", true, &out->uds_path, e);
	/* room for the "_<port>" suffix of guest-initiated connections */
	if (ret == 0 && strlen(out->uds_path) + 12 > sizeof(sa.sun_path))
		ret = api_fail(e, "uds_path: longer than %zu bytes", sizeof(sa.sun_path) - 12);
	if (ret == 0)
		ret = api_field_str(o, "vsock_id", false, &id, e);
	free(id);
	out->guest_cid = (uint32_t)cid;
	out->set = ret == 0;
	return ret;
}

static int vsock_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	(void)e;
	vsock_config_free(&cfg->vsock);
	cfg->vsock = r->vsock;
	memset(&r->vsock, 0, sizeof(r->vsock));
	return 0;
}

static void vsock_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(vsock_store, t, r, rep);
}

static json_t *vsock_json(const struct vm_config *c)
{
	if (!c->vsock.set)
		return json_null();
	return json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock.guest_cid, "uds_path", c->vsock.uds_path);
}

static void vsock_request_free(struct api_request *r)
{
	vsock_config_free(&r->vsock);
}

static void vsock_metrics(json_t *g, json_t *total, const void *dev)
{
	const struct vsock_stats *s = &((const struct vsock *)dev)->dev.mux.stats;
	metrics_add(g, total, "rx_bytes_count", s->rx_bytes);
	metrics_add(g, total, "tx_bytes_count", s->tx_bytes);
	metrics_add(g, total, "rx_packets_count", s->rx_packets);
	metrics_add(g, total, "tx_packets_count", s->tx_packets);
	metrics_add(g, total, "conns_added", s->conns_opened);
	metrics_add(g, total, "conns_removed", s->conns_closed);
	metrics_add(g, total, "conns_killed", s->rst_sent);
}

static const struct metrics_device_group vsock_group = {
	.name = "vsock",
	.leaves = (const char *const[]){ "activate_fails", "cfg_fails", "rx_queue_event_fails",
	  "tx_queue_event_fails", "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails",
	  "rx_queue_event_count", "tx_queue_event_count", "rx_bytes_count", "tx_bytes_count",
	  "rx_packets_count", "tx_packets_count", "conns_added", "conns_killed", "conns_removed",
	  "killq_resync", "tx_flush_fails", "tx_write_fails", "rx_read_fails", NULL },
	.cls = &vsock_class, .fill = vsock_metrics,
};

static const struct api_method vsock_put = API_BODY(vsock_parse, vsock_apply, vsock_request_free);

const struct api_resource api_res_vsock = {
	.path = "/vsock", .metrics = "vsock", .fc_metrics = "vsock", .put = &vsock_put,
	.key = "vsock", .to_json = vsock_json, .store = vsock_store,
	.cli_opts = (const struct cli_opt *const[]){ &vsock_cli_opt, NULL },
	.metrics_group = &vsock_group,
};
