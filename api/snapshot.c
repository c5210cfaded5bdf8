/* snapshot: /snapshot/create (paused VM) and /snapshot/load (fresh
 * husk), on vmm/snapshot/snapshot_vmm.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/snapshot/snapshot_vmm.h"
#include "vmm/vmm.h"

static int snapshot_create_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct api_snapshot_create *out = &r->snap_create;
	/* version: Firecracker's deprecated target-version field, ignored */
	static const char *const allowed[] = { "snapshot_type", "snapshot_path", "mem_file_path", "version",
		                               NULL };
	static const char *const types[] = { "Full", "Diff", NULL };
	char *version = NULL;
	int type = 0;
	int ret;

	(void)path_id;
	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "snapshot_type", false, types, &type, NULL, e);
	if (ret == 0)
		ret = api_field_str(o, "snapshot_path", true, &out->snapshot_path, e);
	if (ret == 0)
		ret = api_field_str(o, "mem_file_path", true, &out->mem_file_path, e);
	if (ret == 0)
		ret = api_field_str(o, "version", false, &version, e);
	free(version);
	out->type = type == 1 ? SNAPSHOT_DIFF : SNAPSHOT_FULL;
	return ret;
}

static int mem_backend_parse(const json_t *o, struct api_snapshot_load *out, struct api_err *e)
{
	static const char *const allowed[] = { "backend_path", "backend_type", NULL };
	static const char *const types[] = { "File", "Uffd", NULL };
	int type = 0;
	const json_t *mb = json_object_get(o, "mem_backend");
	int ret = api_fields_check(mb, allowed, e);
	if (ret == 0)
		ret = api_field_enum(mb, "backend_type", true, types, &type, NULL, e);
	if (ret == 0)
		ret = api_field_str(mb, "backend_path", true, &out->backend_path, e);
	out->backend = type == 1 ? SNAPSHOT_MEM_UFFD : SNAPSHOT_MEM_FILE;
	return ret < 0 ? api_prefix(e, "mem_backend") : 0;
}

/* The load body's keys: its own and each device's override key
 * (api_resource's load_override_key), NULL-terminated in out. */
static void load_allowed(const char **out, size_t cap, const char *const *own, size_t n_own)
{
	size_t n = 0;
	for (size_t i = 0; i < n_own && n + 1 < cap; i++)
		out[n++] = own[i];
	for (int i = 0; api_resources[i] && n + 1 < cap; i++)
		if (api_resources[i]->load_override_key)
			out[n++] = api_resources[i]->load_override_key;
	out[n] = NULL;
}

/* The devices' overrides (their resources' load_override_key), each checked by its resource
 * and kept for the load to apply. */
static int device_overrides_parse(const json_t *o, struct api_snapshot_load *out, struct api_err *e)
{
	for (int i = 0; api_resources[i]; i++) {
		const struct api_resource *res = api_resources[i];
		json_t *v = res->load_override_key ? json_object_get(o, res->load_override_key) : NULL;
		if (!v || json_is_null(v))
			continue;
		if (res->load_override_check(v, e) < 0)
			return api_prefix(e, res->load_override_key);
		if (!out->device_overrides)
			out->device_overrides = json_object();
		if (!out->device_overrides || json_object_set(out->device_overrides, res->load_override_key, v) < 0)
			return api_fail(e, "out of memory");
	}
	return 0;
}

/* Firecracker's words when mem_backend and mem_file_path are both given, or neither */
#define SNAPSHOT_TOO_MANY_FIELDS "too many fields: either `mem_backend` or `mem_file_path` exclusively is required"
#define SNAPSHOT_MISSING_FIELD "missing field: either `mem_backend` or `mem_file_path` is required"

/* husk-only: {"file", "record_ms" (learn), "mem_file_path" (learn, Uffd)} */
static int working_set_parse(const json_t *o, struct api_snapshot_load *out, struct api_err *e)
{
	static const char *const allowed[] = { "file", "record_ms", "mem_file_path", NULL };
	const json_t *ws = json_object_get(o, "working_set");
	uint64_t ms = 0;
	bool has_ms = false;
	if (!ws || json_is_null(ws))
		return 0;
	int ret = api_fields_check(ws, allowed, e);
	if (ret == 0)
		ret = api_field_str(ws, "file", true, &out->ws_file, e);
	if (ret == 0)
		ret = api_field_u64(ws, "record_ms", false, 1, WS_MAX_RECORD_MS, &ms, &has_ms, e);
	if (ret == 0)
		ret = api_field_str(ws, "mem_file_path", false, &out->ws_mem_file_path, e);
	if (ret == 0 && out->ws_mem_file_path && !has_ms)
		ret = api_fail(e, "mem_file_path: only for learning (with record_ms)");
	out->ws_record_ms = (uint32_t)ms;
	return ret < 0 ? api_prefix(e, "working_set") : 0;
}

static int snapshot_load_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct api_snapshot_load *out = &r->snap_load;
	/* Firecracker's order (an unknown field's answer lists them), then husk's */
	static const char *const own[] = { "snapshot_path", "mem_file_path", "mem_backend",
		                           "enable_diff_snapshots", "track_dirty_pages", "resume_vm",
		                           "clock_realtime", "working_set" };
	const char *allowed[sizeof(own) / sizeof(own[0]) + 16];
	int ret;

	(void)path_id;
	memset(out, 0, sizeof(*out));
	load_allowed(allowed, sizeof(allowed) / sizeof(allowed[0]), own, sizeof(own) / sizeof(own[0]));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "snapshot_path", true, &out->snapshot_path, e);
	if (ret < 0)
		return ret;
	/* mem_file_path: the older spelling of a File backend */
	bool has_mb = json_object_get(o, "mem_backend") && !json_is_null(json_object_get(o, "mem_backend"));
	bool has_mf = json_object_get(o, "mem_file_path") && !json_is_null(json_object_get(o, "mem_file_path"));
	if (has_mb && has_mf)
		return api_fail_serde(e, API_SERDE_CUSTOM, "mem_backend", SNAPSHOT_TOO_MANY_FIELDS, "mem_backend: %s",
		                      SNAPSHOT_TOO_MANY_FIELDS);
	if (!has_mb && !has_mf)
		return api_fail_serde(e, API_SERDE_CUSTOM, "mem_backend", SNAPSHOT_MISSING_FIELD, "mem_backend: %s",
		                      SNAPSHOT_MISSING_FIELD);
	ret = has_mb ? mem_backend_parse(o, out, e) : api_field_str(o, "mem_file_path", true, &out->backend_path, e);
	/* track_dirty_pages: Firecracker's newer name for enable_diff_snapshots;
	 * either one true turns tracking on, as in Firecracker */
	bool diff = false, track = false;
	if (ret == 0)
		ret = api_field_bool(o, "enable_diff_snapshots", false, &diff, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "track_dirty_pages", false, &track, NULL, e);
	out->enable_diff_snapshots = diff || track;
	if (has_mf || diff)
		r->deprecation = "PUT /snapshot/load: mem_file_path and enable_diff_snapshots fields are deprecated.";
	if (ret == 0)
		ret = api_field_bool(o, "resume_vm", false, &out->resume_vm, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "clock_realtime", false, &out->clock_realtime, NULL, e);
	if (ret == 0)
		ret = working_set_parse(o, out, e);
	if (ret == 0)
		ret = device_overrides_parse(o, out, e);
	return ret;
}

static void snapshot_create_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_snapshot_create *c = &r->snap_create;
	struct snapshot_create_params p = { .type = c->type, .snapshot_path = c->snapshot_path,
		                            .mem_file_path = c->mem_file_path };
	char err[256] = "";
	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	/* Firecracker's vCPUs answer this while they run */
	if (t->vmm->state != VMM_PAUSED) {
		api_reply_fault(rep, 400, "Create snapshot error: Cannot save the microVM state: Operation not allowed: "
		                "save/restore unavailable while running");
		return;
	}
	int ret = snapshot_create(t->vmm, &p, err, sizeof(err));
	if (ret < 0) {
		api_reply_fault(rep, 400, "Create snapshot error: %s", err[0] ? err : strerror(-ret));
		return;
	}
	rep->status = 204;
}

static void snapshot_load_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_snapshot_load *l = &r->snap_load;
	struct snapshot_load_params p = { .snapshot_path = l->snapshot_path, .mem_backend = l->backend,
		                          .backend_path = l->backend_path,
		                          .enable_diff_snapshots = l->enable_diff_snapshots,
		                          .clock_realtime = l->clock_realtime,
		                          .resume_vm = l->resume_vm };
	char err[256] = "";
	if (api_started(t) || t->failed) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (t->boot_configured) {
		api_reply_fault(rep, 400, "Load snapshot error: Loading a microVM snapshot not allowed after "
		                          "configuring boot-specific resources.");
		return;
	}
	/* the snapshot brings its devices; the overrides re-point them */
	p.device_overrides = l->device_overrides;
	p.ws = (struct ws_params){ l->ws_file, l->ws_record_ms, l->ws_mem_file_path };
	int ret = snapshot_load(t->vmm, t->cfg, &p, err, sizeof(err));
	if (ret < 0) {
		/* the half-built VM can only be torn down: refuse everything else */
		t->failed = t->vmm->vm_created;
		api_reply_fault(rep, 400, "Load snapshot error: Failed to restore from snapshot: %s",
		                err[0] ? err : strerror(-ret));
		return;
	}
	rep->status = 204;
}

static void snapshot_create_free(struct api_request *r)
{
	free(r->snap_create.snapshot_path);
	free(r->snap_create.mem_file_path);
}

static void snapshot_load_free(struct api_request *r)
{
	free(r->snap_load.snapshot_path);
	free(r->snap_load.backend_path);
	json_decref(r->snap_load.device_overrides);
	free(r->snap_load.ws_file);
	free(r->snap_load.ws_mem_file_path);
}

static enum metrics_latency snapshot_create_latency(const struct api_request *r)
{
	return r->snap_create.type == SNAPSHOT_DIFF ? MLAT_DIFF_CREATE_SNAPSHOT : MLAT_FULL_CREATE_SNAPSHOT;
}

static enum metrics_latency snapshot_load_latency(const struct api_request *r)
{
	(void)r;
	return MLAT_LOAD_SNAPSHOT;
}

static const struct api_method snapshot_create_put = { .parse = snapshot_create_parse,
	.apply = snapshot_create_apply, .free = snapshot_create_free, .latency = snapshot_create_latency };
static const struct api_method snapshot_load_put = { .parse = snapshot_load_parse,
	.apply = snapshot_load_apply, .free = snapshot_load_free, .latency = snapshot_load_latency };

const struct api_resource api_res_snapshot_create = {
	.path = "/snapshot/create", .metrics = "snapshot", .put = &snapshot_create_put,
};
const struct api_resource api_res_snapshot_load = {
	.path = "/snapshot/load", .metrics = "snapshot", .put = &snapshot_load_put,
};
