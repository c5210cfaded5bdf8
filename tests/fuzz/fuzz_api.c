/* libFuzzer target: the API request path. The input is the byte stream a
 * client sends on the socket: it goes through the HTTP framing
 * (api/http.c), the router, the JSON resource parsers and, for the
 * resources that only change the configuration, the apply step and the
 * GET replies. Requests that would build a VM, open log or metrics files
 * or touch devices are parsed and then dropped. The VM side is stubbed
 * in api_stubs.c so the target needs no KVM and stays small. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
	struct vmm vmm;
	struct vm_config cfg;
	struct metrics metrics;
	struct api_target t;
};

/* the methods that only change the configuration, or refuse pre-boot */
static bool safe_to_apply(const struct api_method *m)
{
	static const char *const whole[] = { "/machine-config", "/network-interfaces", NULL };
	static const char *const put[] = { "/boot-source", "/drives", "/vsock", "/entropy", NULL };
	static const char *const get[] = { "/", "/vm/config", NULL };
	for (int i = 0; whole[i]; i++) {
		const struct api_resource *res = api_resource_by_path(whole[i]);
		if (m == res->get || m == res->put || m == res->patch)
			return true;
	}
	for (int i = 0; put[i]; i++)
		if (m == api_resource_by_path(put[i])->put)
			return true;
	for (int i = 0; get[i]; i++)
		if (m == api_resource_by_path(get[i])->get)
			return true;
	return m == api_resource_by_path("/vm")->patch;
}

static void handle(void *opaque, const struct http_request *req, struct http_response *resp)
{
	struct fuzz_ctx *c = opaque;
	struct api_request r;
	struct api_reply rep = { 500, NULL };
	if (api_route_parse(req, &r, &rep)) {
		if (safe_to_apply(r.method))
			api_apply(&c->t, &r, &rep); /* PATCH /vm pre-boot: refused before the stub */
		else
			rep.status = 204;
		api_request_free(&r);
	}
	if (rep.status < 200 || rep.status > 599)
		abort();
	resp->status = rep.status;
	resp->body = rep.body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_set_level(LOG_ERROR);
		quiet = true;
	}
	struct fuzz_ctx *c = calloc(1, sizeof(*c));
	struct http_conn conn;
	config_init(&c->cfg);
	metrics_init(&c->metrics, NULL, NULL);
	c->t = (struct api_target){ .vmm = &c->vmm, .cfg = &c->cfg, .metrics = &c->metrics, .instance_id = "f" };
	http_conn_init(&conn, handle, c);
	if (size > 0 && data[0] >= 64) {
		/* one well-framed request to a real resource: the body is fuzzed */
		static const char *const heads[] = {
			"PUT /machine-config", "PATCH /machine-config", "PUT /boot-source", "PUT /drives/d",
			"PATCH /drives/d", "PUT /network-interfaces/e", "PATCH /network-interfaces/e",
			"PUT /vsock", "PUT /entropy", "PUT /logger", "PUT /metrics", "PUT /actions", "PATCH /vm",
			"PUT /snapshot/create", "PUT /snapshot/load", "GET /vm/config", "GET /",
		};
		char head[128];
		const char *h = heads[data[0] % (sizeof(heads) / sizeof(heads[0]))];
		int n = snprintf(head, sizeof(head), "%s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", h, size - 1);
		if (http_conn_feed(&conn, head, (size_t)n) == 0 && size > 1)
			http_conn_feed(&conn, (const char *)data + 1, size - 1);
		goto out;
	}
	if (size > 1 && data[0] >= 32) {
		/* a JSON object around the input: each resource with its real
		 * field names and fuzzed values, so the type and range checks run */
		static const char *const bodies[][2] = {
			{ "PUT /machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": " },
			{ "PATCH /machine-config", "{\"smt\": true, \"vcpu_count\": " },
			{ "PUT /drives/d", "{\"drive_id\": \"d\", \"path_on_host\": \"/\", \"is_root_device\": false, \"rate_limiter\": " },
			{ "PUT /network-interfaces/e", "{\"iface_id\": \"e\", \"host_dev_name\": \"t\", \"guest_mac\": " },
			{ "PATCH /network-interfaces/e", "{\"iface_id\": \"e\", \"tx_rate_limiter\": " },
			{ "PUT /vsock", "{\"uds_path\": \"/v\", \"guest_cid\": " },
			{ "PUT /snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_backend\": " },
			{ "PUT /snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": " },
		};
		const char *const *b = bodies[data[0] % (sizeof(bodies) / sizeof(bodies[0]))];
		size_t blen = strlen(b[1]) + size - 1 + 1;
		char *req = malloc(blen + 128);
		int n = snprintf(req, blen + 128, "%s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", b[0], blen, b[1]);
		memcpy(req + n, data + 1, size - 1);
		req[n + size - 1] = '}';
		http_conn_feed(&conn, req, (size_t)n + size);
		free(req);
		goto out;
	}
	/* the raw stream, split where a client's writes might land */
	size_t off = 0;
	while (off < size) {
		size_t n = 1 + (data[off] % 64) * 37;
		if (n > size - off)
			n = size - off;
		if (http_conn_feed(&conn, (const char *)data + off, n) < 0)
			break;
		off += n;
	}
out:
	http_conn_free(&conn);
	config_free(&c->cfg);
	free(c);
	return 0;
}
