/* router: an HTTP request to a typed request (api thread): path and
 * method lookup in the resource list (api/resources.c), JSON parsing
 * through the resource's parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_pos.h"
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

/* Under /balloon (GET, PATCH) and /mmds (PUT) Firecracker names an
 * unknown second part itself. */
static bool route_unrecognized(const struct http_request *req, const char *path, size_t first,
                               struct api_reply *rep)
{
	bool balloon = first == 7 && strncmp(path, "balloon", 7) == 0 &&
	               (req->method == HTTP_GET || req->method == HTTP_PATCH);
	bool mmds = first == 4 && strncmp(path, "mmds", 4) == 0 && req->method == HTTP_PUT;
	if ((!balloon && !mmds) || path[first] != '/')
		return false;
	const char *second = path + first + 1;
	size_t n = strcspn(second, "/?");
	api_reply_fault(rep, 400, "Unrecognized %s request path `%.*s`.", http_method_str(req->method),
	                (int)(n > 200 ? 200 : n), second);
	return true;
}

/* An unknown path, or a method a path does not take: Firecracker answers
 * both with 400 and these words, naming the path's first part ("PUT vm.";
 * under /snapshot the whole path). */
static int route_invalid(const struct http_request *req, size_t len, struct api_reply *rep)
{
	const char *path = req->url + (len > 0 && req->url[0] == '/');
	size_t first = strcspn(path, "/?");
	const char *method = http_method_str(req->method);
	if (route_unrecognized(req, path, first, rep))
		return 0;
	if (req->method == HTTP_PUT && first == 8 && strncmp(path, "snapshot", 8) == 0) {
		if (path[first] != '/')
			return api_reply_fault(rep, 400, "Missing snapshot operation type."), 0;
		size_t whole = len - 1 > 200 ? 200 : len - 1;
		api_reply_fault(rep, 400, "Invalid request method and/or path: %s /%.*s.", method, (int)whole, path);
		return 0;
	}
	api_reply_fault(rep, 400, "Invalid request method and/or path: %s %.*s.", method,
	                (int)(first > 200 ? 200 : first), path);
	return 0;
}

/* What Firecracker answers before it looks at the path: a GET with a
 * body, a PUT or PATCH without one. 0 when the request has neither. */
static int route_body_presence(const struct http_request *req, const struct api_method *m,
                               struct api_reply *rep)
{
	if (req->method == HTTP_GET && req->body_len)
		return api_reply_fault(rep, 400, "GET request cannot have a body.");
	/* a method of no body, or an optional one (PATCH /balloon/hinting/start) */
	if (req->body_len || (m && (!m->parse || m->body_optional)))
		return 0;
	if (req->method == HTTP_PUT)
		return api_reply_fault(rep, 400, "Empty PUT request.");
	if (req->method == HTTP_PATCH)
		return api_reply_fault(rep, 400, "Empty PATCH request.");
	return 0;
}

/* A body Firecracker's serde_json refuses: its words and where it stops,
 * then husk's naming of a nested field. */
static void route_parse_fault(const struct http_request *req, const struct api_err *e, struct api_reply *rep)
{
	static const enum json_pos_at at[] = { [API_SERDE_MISSING] = JSON_POS_OBJECT_END,
		                               [API_SERDE_UNKNOWN] = JSON_POS_KEY_END,
		                               [API_SERDE_VARIANT] = JSON_POS_VALUE_END,
		                               [API_SERDE_INVALID] = JSON_POS_VALUE_END,
		                               [API_SERDE_INVALID_AT] = JSON_POS_VALUE_START,
		                               [API_SERDE_VALUE] = JSON_POS_VALUE_END,
		                               [API_SERDE_AFTER] = JSON_POS_STRUCT_STOP };
	struct json_pos pos;
	bool value = e->serde == API_SERDE_VARIANT || e->serde == API_SERDE_INVALID || e->serde == API_SERDE_INVALID_AT ||
	             e->serde == API_SERDE_VALUE || e->serde == API_SERDE_AFTER;
	const char *in = e->path[0] || value ? e->msg : NULL;
	if (e->serde == API_SERDE_NONE) {
		api_reply_fault(rep, 400, "%s", e->msg);
		return;
	}
	if (e->serde == API_SERDE_CUSTOM ||
	    json_pos_find(req->body, req->body_len, e->path, at[e->serde], e->key, &pos) < 0)
		api_reply_fault(rep, 400, API_SERDE_FAULT "%s.%s%s%s", e->serde_msg, in ? " (" : "", in ? in : "",
		                in ? ")" : "");
	else
		api_reply_fault(rep, 400, API_SERDE_FAULT "%s at line %d column %d.%s%s%s", e->serde_msg, pos.line,
		                pos.column, in ? " (" : "", in ? in : "", in ? ")" : "");
}

/* A has_id resource named without its id: "PUT /drives". */
static bool route_without_id(const struct http_request *req, size_t len)
{
	for (int i = 0; api_resources[i]; i++) {
		const struct api_resource *r = api_resources[i];
		size_t pl = strlen(r->path);
		if (r->has_id && (len == pl || len == pl + 1) && memcmp(req->url, r->path, pl) == 0)
			return req->method == HTTP_PUT || req->method == HTTP_PATCH;
	}
	return false;
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
	struct api_err e = { .msg = "" };
	size_t len = strcspn(req->url, "?");
	const struct api_resource *rt = route_find(req->url, len, id, sizeof(id));
	const struct api_method *m = rt ? route_method_of(rt, req->method) : NULL;

	memset(r, 0, sizeof(*r));
	if (route_body_presence(req, m, rep) < 0)
		return 0;
	if (!m && route_without_id(req, len))
		return api_reply_fault(rep, 400, "The ID cannot be empty."), 0;
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
		route_parse_fault(req, &e, rep);
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

	const char *deprecation = NULL;
	if (api_route_parse(req, &r, &rep)) {
		enum metrics_latency lat = r.method->latency ? r.method->latency(&r) : MLAT_COUNT;
		deprecation = r.deprecation;
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
	/* as Firecracker: whatever the outcome, once the body was taken */
	if (deprecation) {
		log_warn("%s", deprecation);
		metrics_count_deprecated(m);
	}
	resp->deprecation = deprecation != NULL;
	resp->status = rep.status;
	resp->body = rep.body;
}
