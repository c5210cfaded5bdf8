/* apply: the vmm-thread side of a request, dispatched by its method; replies and
 * freeing of typed requests. */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

void api_str_move(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

int api_reply_fault(struct api_reply *rep, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(rep->body);
	rep->status = status;
	rep->body = http_fault_body(msg);
	return -EINVAL;
}

void api_reply_json(struct api_reply *rep, json_t *body)
{
	free(rep->body);
	rep->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	rep->status = rep->body ? 200 : 500;
	json_decref(body);
}

void api_reply_reason(const struct api_reply *rep, char *buf, size_t len)
{
	json_t *o = rep->body ? json_loads(rep->body, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(o, "fault_message"));
	snprintf(buf, len, "%s", m ? m : "failed");
	json_decref(o);
}

bool api_started(const struct api_target *t)
{
	return t->failed || (t->vmm && t->vmm->state != VMM_NOT_STARTED);
}

void api_request_free(struct api_request *r)
{
	if (r->method)
		r->method->free(r);
	memset(r, 0, sizeof(*r));
}

int api_request_parse(const struct api_method *m, const json_t *o, const char *path_id, struct api_request *r,
                      struct api_err *e)
{
	memset(r, 0, sizeof(*r));
	r->method = m;
	if (!m->parse)
		return api_fail(e, "this request takes no body");
	return m->parse(o, path_id, r, e);
}

void api_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	rep->status = 500;
	if (!r->method) {
		api_reply_fault(rep, 500, "a request without a method");
		return;
	}
	/* as in Firecracker, the attempt counts, whether or not it succeeds */
	if (r->method->boot_path && !api_started(t))
		t->boot_configured = true;
	enum metrics_latency lat = r->method->latency ? r->method->latency(r) : MLAT_COUNT;
	unsigned long long t0 = log_now_us();
	r->method->apply(t, r, rep);
	if (lat != MLAT_COUNT && rep->status < 400)
		metrics_vmm_latency(t->metrics, lat, log_now_us() - t0);
}
