/* metrics: /metrics (PUT, pre-boot, once): where metrics lines go. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/errmsg.h"
#include "vmm/metrics.h"

static int metrics_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "metrics_path", NULL };
	struct api_metrics *out = &r->metrics;
	(void)path_id;
	memset(out, 0, sizeof(*out));
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "metrics_path", true, &out->metrics_path, e);
	return ret;
}

static void metrics_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (!t->metrics) {
		api_reply_fault(rep, 500, "metrics are not available");
		return;
	}
	int ret = metrics_open(t->metrics, r->metrics.metrics_path);
	if (ret == -EALREADY) {
		api_reply_fault(rep, 400, "Metrics error: Cannot initialize the metrics system due to bad user input: "
		                "Reinitialization of metrics not allowed.");
		return;
	}
	if (ret < 0) {
		char os[96];
		api_reply_fault(rep, 400, "Metrics error: Cannot initialize the metrics system due to bad user input: "
		                "%s (metrics_path %s%s)", errmsg_os(-ret, os, sizeof(os)), r->metrics.metrics_path,
		                ret == -ENXIO ? ": a FIFO needs a reader first" : "");
		return;
	}
	t->cfg->metrics_path = t->metrics->path;
	rep->status = 204;
}

/* Firecracker answers null; husk shows the file once one is set */
static json_t *metrics_json(const struct vm_config *c)
{
	return c->metrics_path ? json_pack("{s:s}", "metrics_path", c->metrics_path) : json_null();
}

static void metrics_free(struct api_request *r)
{
	free(r->metrics.metrics_path);
}

static const struct api_method metrics_put = API_BODY(metrics_parse, metrics_apply, metrics_free);

const struct api_resource api_res_metrics = {
	.path = "/metrics", .metrics = "metrics", .fc_metrics = "metrics", .put = &metrics_put,
	.key = "metrics", .to_json = metrics_json,
};
