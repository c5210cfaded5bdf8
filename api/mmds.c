/* mmds: /mmds (GET, PUT, PATCH: the metadata store, any time) and
 * /mmds/config (PUT, pre-boot: version, interfaces, address), and the
 * config file's mmds-config. The store itself is devices/mmds/store.c;
 * its size limit is --mmds-size-limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/vmm.h"

int api_parse_mmds_data(const json_t *o, json_t **out, struct api_err *e)
{
	/* a copy: the router frees o on the api thread */
	*out = json_deep_copy(o);
	return *out ? 0 : api_fail(e, "out of memory");
}

static int parse_ifaces(const json_t *o, struct mmds_config *out, struct api_err *e)
{
	const json_t *a = json_object_get(o, "network_interfaces");
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return api_fail(e, "network_interfaces: must be an array of iface_id strings");
	if (json_array_size(a) == 0)
		return api_fail(e, "network_interfaces: the list of interfaces that may reach MMDS is empty");
	if (json_array_size(a) > CONFIG_MAX_NETS)
		return api_fail(e, "network_interfaces: at most %d", CONFIG_MAX_NETS);
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
	const json_t *v = json_object_get(o, "ipv4_address");
	struct in_addr a;
	out->ipv4 = MMDS_DEFAULT_IPV4;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || inet_pton(AF_INET, json_string_value(v), &a) != 1)
		return api_fail(e, "ipv4_address: must be a dotted IPv4 address");
	out->ipv4 = ntohl(a.s_addr);
	if ((out->ipv4 >> 16) != 0xa9fe)
		return api_fail(e, "ipv4_address: must be link local (169.254.0.0/16)");
	return 0;
}

int api_parse_mmds_config(const json_t *o, struct mmds_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "version", "network_interfaces", "ipv4_address", "imds_compat", NULL };
	static const char *const versions[] = { "V1", "V2", NULL };
	int version = 0;
	memset(out, 0, sizeof(*out));
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
	out->set = ret == 0;
	if (ret < 0)
		config_mmds_free(out);
	return ret;
}

static bool iface_known(const struct vm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_nets; i++)
		if (strcmp(c->nets[i].iface_id, id) == 0)
			return true;
	return false;
}

void api_apply_mmds_config(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct mmds_config *m = &r->mmds_config;
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	for (int i = 0; i < m->nr_ifaces; i++) {
		if (!iface_known(t->cfg, m->ifaces[i])) {
			api_reply_fault(rep, 400, "network_interfaces: no network interface %s (attach it first)",
			                m->ifaces[i]);
			return;
		}
	}
	config_mmds_free(&t->cfg->mmds);
	t->cfg->mmds = *m;
	memset(m, 0, sizeof(*m));
	rep->status = 204;
}

static void mmds_refused(struct api_reply *rep, int err, const struct mmds_store *s)
{
	/* Firecracker's words first: clients may look for them (it answers
	 * the first with 413; the issue this implements asks for 400) */
	if (err == -EFBIG)
		api_reply_fault(rep, 400, "The MMDS patch request doesn't fit: the data store would exceed its limit "
		                "of %zu bytes (--mmds-size-limit).", s->limit ? s->limit : (size_t)MMDS_STORE_DEFAULT_LIMIT);
	else if (err == -ENOENT)
		api_reply_fault(rep, 400, "The MMDS data store is not initialized. PUT /mmds first.");
	else
		api_reply_fault(rep, 500, "mmds: %s", strerror(-err));
}

void api_apply_mmds(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct mmds *m = &t->vmm->mmds;
	int ret = 0;
	if (r->kind == API_GET_MMDS) {
		api_reply_json(rep, mmds_store_get(&m->store));
		return;
	}
	if (r->kind == API_PUT_MMDS)
		ret = mmds_store_put(&m->store, r->mmds_data);
	else
		ret = mmds_store_patch(&m->store, r->mmds_data);
	if (ret < 0) {
		mmds_refused(rep, ret, &m->store);
		return;
	}
	rep->status = 204;
}

json_t *api_mmds_config_json(const struct mmds_config *m)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(m->ipv4) };
	if (!m->set)
		return json_null();
	json_t *ifaces = json_array();
	for (int i = 0; i < m->nr_ifaces; i++)
		json_array_append_new(ifaces, json_string(m->ifaces[i]));
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	return json_pack("{s:s, s:o, s:s, s:b}", "version", m->version == 2 ? "V2" : "V1", "network_interfaces",
	                 ifaces, "ipv4_address", ip, "imds_compat", m->imds_compat);
}
