/* mmds: /mmds (GET, PUT, PATCH: the metadata store, any time) and
 * /mmds/config (PUT, pre-boot: version, interfaces, address), and the
 * config file's mmds-config. The store itself is devices/mmds/store.c;
 * its size limit is --mmds-size-limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "devices/mmds/tcp.h"
#include "devices/virtio/net.h"
#include "vmm/log.h"
#include "vmm/vmm.h"

static int mmds_data_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	(void)path_id;
	/* a copy: the router frees o on the api thread */
	r->document = json_deep_copy(o);
	return r->document ? 0 : api_fail(e, "out of memory");
}

static int parse_ifaces(const json_t *o, struct mmds_config *out, struct api_err *e)
{
	const json_t *a = json_object_get(o, "network_interfaces");
	size_t i;
	json_t *v;
	if (!a || json_is_null(a))
		return api_fail_serde(e, API_SERDE_MISSING, "network_interfaces", "missing field `network_interfaces`",
		                      "missing field `network_interfaces`");
	if (!json_is_array(a))
		return api_fail(e, "network_interfaces: must be an array of iface_id strings");
	if (json_array_size(a) == 0)
		return api_fail(e, "MMMDS config error: The list of network interface IDs that allow forwarding MMDS "
		                "requests is empty.");
	if (json_array_size(a) > MMDS_MAX_IFACES)
		return api_fail(e, "network_interfaces: at most %d", MMDS_MAX_IFACES);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
			return api_fail(e, "network_interfaces[%zu]: must be an iface_id of 1..64 characters", i);
		for (int k = 0; k < out->nr_ifaces; k++)
			if (strcmp(out->ifaces[k], json_string_value(v)) == 0)
				return api_fail(e, "network_interfaces[%zu]: %s is listed twice", i, out->ifaces[k]);
		out->ifaces[out->nr_ifaces] = strdup(json_string_value(v));
		if (!out->ifaces[out->nr_ifaces])
			return api_fail(e, "out of memory");
		out->nr_ifaces++;
	}
	return 0;
}

/* Firecracker takes a link-local address only (169.254.0.0/16). */
static int parse_ipv4(const json_t *o, struct mmds_config *out, struct api_err *e)
{
	char *s = NULL;
	struct in_addr a;
	out->ipv4 = MMDS_DEFAULT_IPV4;
	int ret = api_field_text(o, "ipv4_address", "IPv4 address", &s, e);
	if (ret < 0 || !s)
		return ret;
	/* inet_pton takes what Rust's Ipv4Addr does: four decimal octets,
	 * no leading zeros; Firecracker's words are std's AddrParseError */
	ret = inet_pton(AF_INET, s, &a);
	free(s);
	if (ret != 1)
		return api_fail_serde(e, API_SERDE_VALUE, "ipv4_address", "invalid IPv4 address syntax",
		                      "ipv4_address: must be a dotted IPv4 address");
	out->ipv4 = ntohl(a.s_addr);
	if ((out->ipv4 >> 16) != 0xa9fe)
		return api_fail(e, "MMMDS config error: The MMDS IPv4 address is not link local. (ipv4_address: "
		                "169.254.0.0/16)");
	return 0;
}

static int mmds_config_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "version", "network_interfaces", "ipv4_address", "imds_compat", NULL };
	static const char *const versions[] = { "V1", "V2", NULL };
	struct mmds_config *out = calloc(1, sizeof(*out));
	int version = 0;
	(void)path_id;
	r->device_config = out;
	if (!out)
		return api_fail(e, "out of memory");
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "version", false, versions, &version, NULL, e);
	if (ret == 0)
		ret = parse_ifaces(o, out, e);
	if (ret == 0)
		ret = parse_ipv4(o, out, e);
	if (ret == 0)
		ret = api_field_bool(o, "imds_compat", false, &out->imds_compat, NULL, e);
	out->version = version + 1;
	if (ret == 0 && out->version == 1)
		r->deprecation = "PUT /mmds/config: V1 is deprecated. Use V2 instead.";
	return ret;
}

/* MMDS answers on interfaces that exist. */
static int mmds_config_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	const struct mmds_config *m = r->device_config;
	const struct net_configs *nets = net_configs_of(cfg);
	for (int i = 0; i < m->nr_ifaces; i++)
		if (!nets || api_id_find(nets->items, sizeof(nets->items[0]), nets->nr, m->ifaces[i]) < 0)
			return api_fail(e, "MMMDS config error: The list of network interface IDs provided contains at "
			                "least one ID that does not correspond to any existing network interface. "
			                "(network_interfaces: no network interface %s)", m->ifaces[i]);
	if (mmds_config_set(cfg, r->device_config) < 0)
		return api_fail(e, "mmds-config: too many device kinds");
	r->device_config = NULL;
	return 0;
}

static void mmds_config_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(mmds_config_store, t, r, rep);
}

static void mmds_refused(struct api_reply *rep, int err, const struct mmds_store *s)
{
	/* Firecracker's words first: clients may look for them (it answers
	 * the first with 413; the issue this implements asks for 400) */
	if (err == -EFBIG)
		api_reply_fault(rep, 400, "MMDS limit exceeded error: The MMDS patch request doesn't fit. (husk: the data "
		                "store would exceed its limit of %zu bytes, --mmds-size-limit)",
		                s->limit ? s->limit : (size_t)MMDS_STORE_DEFAULT_LIMIT);
	else if (err == -ENOENT)
		api_reply_fault(rep, 400, "MMDS error: The MMDS data store is not initialized. (husk: PUT /mmds first)");
	else
		api_reply_fault(rep, 500, "mmds: %s", strerror(-err));
}

static void mmds_get_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	api_reply_json(rep, mmds_store_get(&t->vmm->mmds.store));
}

static void mmds_reply(struct api_target *t, int ret, struct api_reply *rep)
{
	if (ret < 0)
		mmds_refused(rep, ret, &t->vmm->mmds.store);
	else
		rep->status = 204;
}

static void mmds_put_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	mmds_reply(t, mmds_store_put(&t->vmm->mmds.store, r->document), rep);
}

static void mmds_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	mmds_reply(t, mmds_store_patch(&t->vmm->mmds.store, r->document), rep);
}

static json_t *mmds_config_json(const struct vm_config *c)
{
	const struct mmds_config *m = mmds_config_of(c);
	char ip[INET_ADDRSTRLEN];
	if (!m)
		return json_null();
	struct in_addr a = { htonl(m->ipv4) };
	json_t *ifaces = json_array();
	for (int i = 0; i < m->nr_ifaces; i++)
		json_array_append_new(ifaces, json_string(m->ifaces[i]));
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	return json_pack("{s:s, s:o, s:s, s:b}", "version", m->version == 2 ? "V2" : "V1", "network_interfaces",
	                 ifaces, "ipv4_address", ip, "imds_compat", m->imds_compat);
}

static void mmds_data_free(struct api_request *r)
{
	json_decref(r->document);
}

static void mmds_config_request_free(struct api_request *r)
{
	mmds_config_free(r->device_config);
	r->device_config = NULL;
}

/* MMDS on the interfaces its configuration names; it takes no slot. */
static int mmds_config_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct mmds_config *mc = mmds_config_of(c);
	if (!mc)
		return 0;
	vmm->mmds.version = mc->version;
	vmm->mmds.imds_compat = mc->imds_compat;
	for (int i = 0; i < mc->nr_ifaces; i++) {
		struct net *n = vmm_device_find(vmm, &net_class, mc->ifaces[i]);
		if (!n) {
			log_err("mmds-config: no network interface %s", mc->ifaces[i]);
			return -EINVAL;
		}
		n->dev.mmds = mmds_stack_new(&vmm->mmds, mc->ipv4);
		if (!n->dev.mmds)
			return -ENOMEM;
	}
	return snapshot_device_register(&vmm->snap, "mmds", &mmds_snapshot_ops, &vmm->mmds);
}

static const struct api_method mmds_get = API_GET(mmds_get_apply);
static const struct api_method mmds_put = API_BODY(mmds_data_parse, mmds_put_apply, mmds_data_free);
static const struct api_method mmds_patch = API_BODY(mmds_data_parse, mmds_patch_apply, mmds_data_free);

const struct api_resource api_res_mmds = {
	.path = "/mmds", .metrics = "mmds", .fc_metrics = "mmds", .get = &mmds_get, .put = &mmds_put, .patch = &mmds_patch,
};

static const struct api_method mmds_config_put =
	API_BOOT_BODY(mmds_config_parse, mmds_config_apply, mmds_config_request_free);

const struct api_resource api_res_mmds_config = {
	.path = "/mmds/config", .metrics = "mmds", .fc_metrics = "mmds", .put = &mmds_config_put,
	.key = "mmds-config", .to_json = mmds_config_json, .store = mmds_config_store, .attach = mmds_config_attach,
};
