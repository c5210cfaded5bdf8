/* actions: /actions (PUT): InstanceStart, SendCtrlAltDel, FlushMetrics. */
#include <errno.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/errmsg.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

static const char *const action_names[] = { "InstanceStart", "SendCtrlAltDel", "FlushMetrics", NULL };

static int action_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "action_type", NULL };
	int a = 0;
	(void)path_id;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "action_type", true, action_names, &a, NULL, e);
	r->action = (enum api_action)a;
	return ret;
}

static void action_start(struct api_target *t, struct api_reply *rep)
{
	const char *what = NULL;
	if (t->failed) {
		api_reply_fault(rep, 400, "InstanceStart: an earlier start failed half-way; start a new husk");
		return;
	}
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	/* the checks that need the whole configuration, before anything is built */
	if (config_validate(t->cfg, &what) < 0) {
		api_reply_fault(rep, 400, "Start microvm error: %s", what);
		return;
	}
	int ret = vmm_start(t->vmm, t->cfg);
	if (ret < 0) {
		/* the VM is half built: it can only be torn down now */
		t->failed = true;
		const char *why = vmm_start_error(t->vmm);
		if (why)
			api_reply_fault(rep, 400, "Start microvm error: %s", why);
		else
			api_reply_fault(rep, 400, "Start microvm error: %s (the log has the details)",
			                strerror(-ret));
		return;
	}
	log_info("phase: InstanceStart done at %llu us", log_uptime_us());
	rep->status = 204;
}

static void action_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	char os[96];
	int ret;
	switch (r->action) {
	case ACTION_INSTANCE_START:
		action_start(t, rep);
		return;
	case ACTION_SEND_CTRL_ALT_DEL:
		if (!api_started(t)) {
			api_reply_fault(rep, 400, API_BEFORE_START);
			return;
		}
#ifndef LAYOUT_I8042
		/* as Firecracker: the keyboard controller is x86's; an Arm guest
		 * is asked to stop through its own means */
		api_reply_fault(rep, 400, "SendCtrlAltDel does not supported on aarch64.");
		return;
#endif
		if (i8042_send_ctrl_alt_del(&t->vmm->i8042) < 0) {
			api_reply_fault(rep, 400, "Internal VMM error: I8042 error: i8042 internal buffer full.");
			return;
		}
		rep->status = 204;
		return;
	case ACTION_FLUSH_METRICS:
		ret = t->metrics ? metrics_flush(t->metrics) : -ENODEV;
		if (ret == -ENODEV)
			api_reply_fault(rep, 400, "FlushMetrics: the metrics system is not initialized");
		else if (ret < 0)
			/* Firecracker's words. Its writer (a LineWriter, 1024 bytes
			 * of buffer) sends the line's first part while serde_json
			 * still writes it, so a file that takes nothing fails there
			 * and the io::Error is all it says (MetricsError::Serde);
			 * "Failed to write metrics: " comes only when the last part
			 * fails */
			api_reply_fault(rep, 400, "Internal VMM error: Metrics error: %s",
			                errmsg_os(-ret, os, sizeof(os)));
		else
			rep->status = 204;
		return;
	}
	api_reply_fault(rep, 400, "action_type: unknown");
}

static const struct api_method action_put = API_BODY(action_parse, action_apply, api_free_nothing);

const struct api_resource api_res_actions = { .path = "/actions", .metrics = "actions", .fc_metrics = "actions", .put = &action_put };
