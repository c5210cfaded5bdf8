/* metrics: /metrics (PUT, pre-boot, once): where metrics lines go. */
#include <errno.h>
#include <string.h>

#include "api/api.h"
#include "vmm/metrics.h"

int api_parse_metrics(const json_t *o, struct api_metrics *out, struct api_err *e)
{
	static const char *const allowed[] = { "metrics_path", NULL };
	memset(out, 0, sizeof(*out));
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "metrics_path", true, &out->metrics_path, e);
	return ret;
}

void api_apply_metrics(struct api_target *t, struct api_request *r, struct api_reply *rep)
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
		api_reply_fault(rep, 400, "metrics_path: reinitialization of metrics is not allowed");
		return;
	}
	if (ret < 0) {
		api_reply_fault(rep, 400, "metrics_path: cannot open %s: %s", r->metrics.metrics_path,
		                ret == -ENXIO ? "a FIFO needs a reader first" : strerror(-ret));
		return;
	}
	rep->status = 204;
}
