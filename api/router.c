/* router: an HTTP request to a typed request (api thread): path and
 * method lookup in the resource list (api/resources.c), JSON parsing
 * through the resource's parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/metrics.h"

/* Find the resource of path; *id gets the {id} of "/drives/{id}". */
static const struct api_resource *route_find(const char *path, size_t len, char *id, size_t idlen)
{
	for (int i = 0; api_resources[i]; i++) {
		const struct api_resource *r = api_resources[i];
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

static const struct api_resource *route_resource(const struct http_request *req)
{
	char id[HTTP_MAX_URL + 1];
	return route_find(req->url, strcspn(req->url, "?"), id, sizeof(id));
}

static const struct api_method *route_method_of(const struct api_resource *rt, enum http_method m)
{
	if (m == HTTP_GET)
		return rt->get;
	if (m == HTTP_PUT)
		return rt->put;
	if (m == HTTP_PATCH)
		return rt->patch;
	return NULL;
}

int api_route_parse(const struct http_request *req, struct api_request *r, struct api_reply *rep)
{
	char id[HTTP_MAX_URL + 1];
	struct api_err e = { "" };
	size_t len = strcspn(req->url, "?");
	const struct api_resource *rt = route_find(req->url, len, id, sizeof(id));
	const struct api_method *m = rt ? route_method_of(rt, req->method) : NULL;

	memset(r, 0, sizeof(*r));
	if (!m)
		return route_invalid(req, len, rep);
	r->method = m;
	if (m->api_thread) {
		m->apply(NULL, r, rep);
		return 0;
	}
	if (!m->parse)
		return 1;
	json_t *o = !req->body_len && m->body_optional ? json_object() : api_json_parse(req->body, req->body_len, &e);
	int ret = o ? api_request_parse(m, o, rt->has_id ? id : NULL, r, &e) : -EINVAL;
	json_decref(o);
	if (ret < 0) {
		api_request_free(r);
		api_reply_fault(rep, 400, "%s", e.msg);
		return 0;
	}
	return 1;
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
		enum metrics_latency lat = r.method->latency ? r.method->latency(&r) : MLAT_COUNT;
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
