/* vm_state: PATCH /vm {"state": "Paused"|"Resumed"}, post-boot; GET /
 * (the instance and its state) and GET /version. */
#include <string.h>

#include "api/resource.h"
#include "vmm/vmm.h"

static int vm_patch_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "state", NULL };
	static const char *const names[] = { "Paused", "Resumed", NULL };
	int s = 0;
	(void)path_id;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "state", true, names, &s, NULL, e);
	r->pause = s == 0;
	return ret;
}

static void vm_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	int ret = r->pause ? vmm_pause(t->vmm) : vmm_resume(t->vmm);
	if (ret < 0) {
		api_reply_fault(rep, 400, "Internal VMM error: %s", r->pause ? "Failed to pause the vCPUs." :
		                "Failed to resume the vCPUs.");
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

static void info_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	/* started: the field before Firecracker 1.0's state, which Kata's
	 * driver still polls */
	api_reply_json(rep, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "id",
	                              t->instance_id ? t->instance_id : "anonymous-instance", "state",
	                              state_name(t), "started", t->vmm->state == VMM_RUNNING ||
	                              t->vmm->state == VMM_PAUSED, "vmm_version", FIRECRACKER_API_VERSION,
	                              "app_name", "husk", "husk_version", HUSK_VERSION));
}

/* the api thread answers it: it needs no VM */
static void version_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)t, (void)r;
	api_reply_json(rep, json_pack("{s:s, s:s}", "firecracker_version", FIRECRACKER_API_VERSION,
	                              "husk_version", HUSK_VERSION));
}

static enum metrics_latency vm_patch_latency(const struct api_request *r)
{
	return r->pause ? MLAT_PAUSE_VM : MLAT_RESUME_VM;
}

static const struct api_method vm_patch = { .parse = vm_patch_parse, .apply = vm_patch_apply,
	                                    .free = api_free_nothing, .latency = vm_patch_latency };
static const struct api_method info_get = API_GET(info_apply);
static const struct api_method version_get = { .apply = version_apply, .free = api_free_nothing,
	                                       .api_thread = true };

const struct api_resource api_res_vm = { .path = "/vm", .metrics = "vm", .patch = &vm_patch };
const struct api_resource api_res_info = { .path = "/", .metrics = "root", .fc_metrics = "instance_info", .get = &info_get };
const struct api_resource api_res_version = { .path = "/version", .metrics = "version", .fc_metrics = "vmm_version", .get = &version_get };
