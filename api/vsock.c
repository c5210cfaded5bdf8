/* vsock: /vsock (PUT, pre-boot). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "api/resource.h"
#include "devices/virtio/vsock.h"
#include "vmm/errmsg.h"
#include "vmm/vmm.h"

/* o's uds_path, with room for the "_<port>" suffix of guest-initiated
 * connections; *out malloc'd. */
static int vsock_uds_path(const json_t *o, char **out, struct api_err *e)
{
	struct sockaddr_un sa;
	int ret = api_field_str(o, "uds_path", true, out, e);
	if (ret == 0 && strlen(*out) + 12 > sizeof(sa.sun_path))
		ret = api_fail(e, "uds_path: longer than %zu bytes", sizeof(sa.sun_path) - 12);
	return ret;
}

static int vsock_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	/* vsock_id: accepted and ignored, as Firecracker does since v1.0 */
	static const char *const allowed[] = { "vsock_id", "guest_cid", "uds_path", NULL };
	struct vsock_config *out = calloc(1, sizeof(*out));
	char *id = NULL;
	uint64_t cid = 0; /* read below even when a check failed first */
	int ret;

	(void)path_id;
	r->device_config = out;
	if (!out)
		return api_fail(e, "out of memory");
	ret = api_fields_check(o, allowed, e);
	/* 0-2 are the hypervisor, local and host; the field is 32 bits */
	if (ret == 0)
		ret = api_field_u64(o, "guest_cid", true, 3, UINT32_MAX - 1, &cid, NULL, e);
	if (ret == 0)
		ret = vsock_uds_path(o, &out->uds_path, e);
	if (ret == 0)
		ret = api_field_str(o, "vsock_id", false, &id, e);
	if (ret == 0 && id)
		r->deprecation = "PUT /vsock: vsock_id field is deprecated.";
	free(id);
	out->guest_cid = (uint32_t)cid;
	return ret;
}

static int vsock_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	if (vsock_config_set(cfg, r->device_config) < 0)
		return api_fail(e, "vsock: too many device kinds");
	r->device_config = NULL;
	return 0;
}

static void vsock_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(vsock_store, t, r, rep);
}

static json_t *vsock_json(const struct vm_config *c)
{
	const struct vsock_config *v = vsock_config_of(c);
	if (!v)
		return json_null();
	return json_pack("{s:I, s:s}", "guest_cid", (json_int_t)v->guest_cid, "uds_path", v->uds_path);
}

static void vsock_request_free(struct api_request *r)
{
	vsock_config_free(r->device_config);
	r->device_config = NULL;
}

static int vsock_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct vsock_config *v = vsock_config_of(c);
	return v ? vmm_attach(vmm, &vsock_class, "", v) : 0;
}

/* ---- snapshot load's "vsock_override": {"uds_path"}, the clone's own
 * socket ---- */

static int vsock_override_check(const json_t *v, struct api_err *e)
{
	static const char *const allowed[] = { "uds_path", NULL };
	char *path = NULL;
	int ret = api_fields_check(v, allowed, e);
	if (ret == 0)
		ret = vsock_uds_path(v, &path, e);
	free(path);
	return ret;
}

static int vsock_override_apply(struct vm_config *c, const json_t *v, char *err, size_t errlen)
{
	struct vsock_config *vc = config_device(c, &vsock_class);
	const char *uds = json_string_value(json_object_get(v, "uds_path"));
	if (!vc)
		return errmsg_set(err, errlen, -EINVAL, "vsock_override: the snapshot has no vsock device");
	if (!uds)
		return errmsg_set(err, errlen, -EINVAL, "vsock_override: uds_path: must be a string");
	char *path = strdup(uds);
	if (!path)
		return errmsg_set(err, errlen, -ENOMEM, "vsock_override: out of memory");
	free(vc->uds_path);
	vc->uds_path = path;
	return 0;
}

static json_t *vsock_override_from_cli(const char *path)
{
	return json_pack("{s:s}", "uds_path", path);
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

static const struct api_method vsock_put = API_BOOT_BODY(vsock_parse, vsock_apply, vsock_request_free);

const struct api_resource api_res_vsock = {
	.path = "/vsock", .metrics = "vsock", .fc_metrics = "vsock", .put = &vsock_put,
	.key = "vsock", .to_json = vsock_json, .store = vsock_store,
	.attach = vsock_attach, .load_override_key = "vsock_override",
	.load_override_check = vsock_override_check, .load_override_apply = vsock_override_apply,
	.load_cli_name = "vsock-uds", .load_cli_usage = "[--vsock-uds PATH]", .load_cli_override = vsock_override_from_cli,
	.cli_opts = (const struct cli_opt *const[]){ &vsock_cli_opt, NULL },
	.metrics_group = &vsock_group,
};
