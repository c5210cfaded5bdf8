/* vm_state: PATCH /vm {"state": "Paused"|"Resumed"}, post-boot. */
#include <string.h>

#include "api/api.h"
#include "vmm/vmm.h"

int api_parse_vm_state(const json_t *o, bool *pause, struct api_err *e)
{
	static const char *const allowed[] = { "state", NULL };
	static const char *const names[] = { "Paused", "Resumed", NULL };
	int s = 0;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "state", true, names, &s, NULL, e);
	*pause = s == 0;
	return ret;
}

void api_apply_vm_state(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	int ret = r->pause ? vmm_pause(t->vmm) : vmm_resume(t->vmm);
	if (ret < 0) {
		api_reply_fault(rep, 400, "state: cannot change the VM state");
		return;
	}
	log_info("VM %s", r->pause ? "paused" : "resumed");
	rep->status = 204;
}

static const char *state_name(const struct api_target *t)
{
	/* the VMM's own state: a failed start is still "Not started" */
	switch (t->vmm->state) {
	case VMM_RUNNING: return "Running";
	case VMM_PAUSED: return "Paused";
	default: return "Not started";
	}
}

void api_apply_info(struct api_target *t, struct api_reply *rep)
{
	/* started: the field before Firecracker 1.0's state, which Kata's
	 * driver still polls */
	api_reply_json(rep, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "id",
	                              t->instance_id ? t->instance_id : "anonymous-instance", "state",
	                              state_name(t), "started", t->vmm->state == VMM_RUNNING ||
	                              t->vmm->state == VMM_PAUSED, "vmm_version", FIRECRACKER_API_VERSION,
	                              "app_name", "husk", "husk_version", HUSK_VERSION));
}
