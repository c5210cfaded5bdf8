/* router: an HTTP request to a typed request (api thread): path and
 * method lookup, JSON parsing through the resource parsers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/metrics.h"

#define NO_KIND (-1)
#define UNSUPPORTED (-2) /* known resource without an implementation yet */
#define VERSION (-3)     /* answered by the api thread itself */

struct route {
	const char *path;
	bool has_id; /* path + "/{id}" */
	enum metrics_resource res;
	int get, put, patch;
};

static const struct route routes[] = {
	{ "/", false, MRES_ROOT, API_GET_INFO, NO_KIND, NO_KIND },
	{ "/version", false, MRES_VERSION, VERSION, NO_KIND, NO_KIND },
	{ "/machine-config", false, MRES_MACHINE_CONFIG, API_GET_MACHINE, API_PUT_MACHINE, API_PATCH_MACHINE },
	{ "/boot-source", false, MRES_BOOT_SOURCE, NO_KIND, API_PUT_BOOT, NO_KIND },
	{ "/drives", true, MRES_DRIVES, NO_KIND, API_PUT_DRIVE, API_PATCH_DRIVE },
	{ "/network-interfaces", true, MRES_NETWORK, NO_KIND, API_PUT_NET, API_PATCH_NET },
	{ "/vsock", false, MRES_VSOCK, NO_KIND, API_PUT_VSOCK, NO_KIND },
	{ "/entropy", false, MRES_ENTROPY, NO_KIND, API_PUT_ENTROPY, NO_KIND },
	{ "/logger", false, MRES_LOGGER, NO_KIND, API_PUT_LOGGER, NO_KIND },
	{ "/metrics", false, MRES_METRICS, NO_KIND, API_PUT_METRICS, NO_KIND },
	{ "/actions", false, MRES_ACTIONS, NO_KIND, API_ACTION, NO_KIND },
	{ "/vm", false, MRES_VM, NO_KIND, NO_KIND, API_PATCH_VM },
	{ "/vm/config", false, MRES_VM_CONFIG, API_GET_VM_CONFIG, NO_KIND, NO_KIND },
	{ "/snapshot/create", false, MRES_SNAPSHOT, NO_KIND, API_SNAPSHOT_CREATE, NO_KIND },
	{ "/snapshot/load", false, MRES_SNAPSHOT, NO_KIND, API_SNAPSHOT_LOAD, NO_KIND },
	{ "/serial", false, MRES_SERIAL, NO_KIND, API_PUT_SERIAL, NO_KIND },
	{ "/balloon", false, MRES_BALLOON, API_GET_BALLOON, API_PUT_BALLOON, API_PATCH_BALLOON },
	{ "/balloon/statistics", false, MRES_BALLOON, API_GET_BALLOON_STATS, NO_KIND, API_PATCH_BALLOON_STATS },
	{ "/mmds", false, MRES_MMDS, API_GET_MMDS, API_PUT_MMDS, API_PATCH_MMDS },
	{ "/mmds/config", false, MRES_MMDS, NO_KIND, API_PUT_MMDS_CONFIG, NO_KIND },
	{ "/cpu-config", false, MRES_OTHER, NO_KIND, API_PUT_CPU_CONFIG, NO_KIND },
};

/* Find the route of path; *id points into path for "/drives/{id}". */
static const struct route *route_find(const char *path, size_t len, char *id, size_t idlen)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t pl = strlen(r->path);
		if (!r->has_id) {
			if (len == pl && memcmp(path, r->path, pl) == 0)
				return r;
			continue;
		}
		if (len <= pl + 1 || memcmp(path, r->path, pl) != 0 || path[pl] != '/')
			continue;
		size_t il = len - pl - 1;
		if (memchr(path + pl + 1, '/', il) || il >= idlen)
			continue;
		memcpy(id, path + pl + 1, il);
		id[il] = 0;
		return r;
	}
	return NULL;
}

/* An unknown path, or a method a path does not take: Firecracker answers
 * both with 400 and these words ("PUT vm.": the path without its slash). */
static int route_invalid(const struct http_request *req, size_t len, struct api_reply *rep)
{
	const char *path = req->url + (len > 0 && req->url[0] == '/');
	int n = (int)(len > 200 ? 200 : len) - (path != req->url);
	api_reply_fault(rep, 400, "Invalid request method and/or path: %s %.*s.", http_method_str(req->method), n,
	                path);
	return 0;
}

static enum metrics_resource route_resource(const struct http_request *req)
{
	char id[HTTP_MAX_URL + 1];
	size_t len = strcspn(req->url, "?");
	const struct route *rt = route_find(req->url, len, id, sizeof(id));
	return rt ? rt->res : MRES_OTHER;
}

int api_route_parse(const struct http_request *req, struct api_request *r, struct api_reply *rep)
{
	char id[HTTP_MAX_URL + 1];
	struct api_err e = { "" };
	size_t len = strcspn(req->url, "?");
	const struct route *rt = route_find(req->url, len, id, sizeof(id));
	int kind;

	memset(r, 0, sizeof(*r));
	if (!rt)
		return route_invalid(req, len, rep);
	switch (req->method) {
	case HTTP_GET: kind = rt->get; break;
	case HTTP_PUT: kind = rt->put; break;
	case HTTP_PATCH: kind = rt->patch; break;
	default: kind = NO_KIND; break;
	}
	if (kind == NO_KIND)
		return route_invalid(req, len, rep);
	if (kind == UNSUPPORTED) {
		api_reply_fault(rep, 400, "%s is not supported yet", rt->path);
		return 0;
	}
	if (kind == VERSION) {
		api_reply_json(rep, json_pack("{s:s, s:s}", "firecracker_version", FIRECRACKER_API_VERSION,
		                              "husk_version", HUSK_VERSION));
		return 0;
	}
	r->kind = (enum api_kind)kind;
	if (req->method == HTTP_GET)
		return 1;
	json_t *o = api_json_parse(req->body, req->body_len, &e);
	int ret = o ? api_request_parse(r->kind, o, rt->has_id ? id : NULL, r, &e) : -EINVAL;
	json_decref(o);
	if (ret < 0) {
		api_request_free(r);
		r->kind = (enum api_kind)kind;
		api_reply_fault(rep, 400, "%s", e.msg);
		return 0;
	}
	return 1;
}

/* Which of Firecracker's latencies_us r is, or MLAT_COUNT. */
static enum metrics_latency route_latency(const struct api_request *r)
{
	switch (r->kind) {
	case API_SNAPSHOT_CREATE:
		return r->snap_create.type == SNAPSHOT_DIFF ? MLAT_DIFF_CREATE_SNAPSHOT : MLAT_FULL_CREATE_SNAPSHOT;
	case API_SNAPSHOT_LOAD: return MLAT_LOAD_SNAPSHOT;
	case API_PATCH_VM: return r->pause ? MLAT_PAUSE_VM : MLAT_RESUME_VM;
	default: return MLAT_COUNT;
	}
}

static enum metrics_method route_method(const struct http_request *req)
{
	switch (req->method) {
	case HTTP_GET: return MM_GET;
	case HTTP_PUT: return MM_PUT;
	case HTTP_PATCH: return MM_PATCH;
	default: return MM_OTHER;
	}
}

void api_route(struct api *a, const struct http_request *req, struct http_response *resp)
{
	struct api_request r;
	struct api_reply rep = { 500, NULL };
	unsigned long long t0 = log_now_us();
	struct metrics *m = a->target ? a->target->metrics : NULL;

	if (api_route_parse(req, &r, &rep)) {
		enum metrics_latency lat = route_latency(&r);
		if (a->loop)
			api_submit(a, &r, &rep);
		else
			api_apply(a->target, &r, &rep); /* no vmm loop: tests */
		api_request_free(&r);
		if (lat != MLAT_COUNT && rep.status < 400)
			metrics_latency(m, lat, log_now_us() - t0);
	}
	metrics_count_api(m, route_resource(req), route_method(req), rep.status);
	if (rep.status >= 400)
		log_warn("API %s %.200s -> %d %.300s", http_method_str(req->method), req->url, rep.status,
		         rep.body ? rep.body : "");
	else
		log_info("API %s %.200s -> %d (%llu us)", http_method_str(req->method), req->url, rep.status,
		         log_now_us() - t0);
	resp->status = rep.status;
	resp->body = rep.body;
}
