/* balloon: /balloon (PUT before boot, PATCH after, GET),
 * /balloon/statistics (GET, PATCH after boot) and /balloon/hinting/start,
 * status and stop (after boot), Firecracker's resources for the
 * virtio-balloon device. */
#include <errno.h>
#include <stdlib.h>

#include "api/resource.h"
#include "devices/virtio/balloon.h"
#include "vmm/vmm.h"

#define BALLOON_MIB_PAGES (1048576u / BALLOON_PAGE)

/* GET /balloon/statistics: Firecracker's name for each tag */
static const char *const balloon_stat_names[BSTAT_COUNT] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
	"total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
	"hugetlb_failures", "oom_kill", "alloc_stall", "async_scan", "direct_scan",
	"async_reclaim", "direct_reclaim",
};

static int balloon_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "amount_mib", "deflate_on_oom", "stats_polling_interval_s",
		                               "free_page_hinting", "free_page_reporting", NULL };
	struct balloon_config *out = calloc(1, sizeof(*out));
	uint64_t amount = 0, interval = 0;
	(void)path_id;
	r->device_config = out;
	if (!out)
		return api_fail(e, "out of memory");
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "amount_mib", true, 0, UINT32_MAX / BALLOON_MIB_PAGES, &amount, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "deflate_on_oom", true, &out->deflate_on_oom, NULL, e);
	if (ret == 0)
		ret = api_field_u64(o, "stats_polling_interval_s", false, 0, UINT16_MAX, &interval, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "free_page_hinting", false, &out->free_page_hinting, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "free_page_reporting", false, &out->free_page_reporting, NULL, e);
	out->amount_mib = (uint32_t)amount;
	out->stats_polling_interval_s = (uint32_t)interval;
	return ret;
}

static int balloon_patch_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "amount_mib", NULL };
	uint64_t v = 0;
	(void)path_id;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "amount_mib", true, 0, UINT32_MAX / BALLOON_MIB_PAGES, &v, NULL, e);
	r->number = v;
	return ret;
}

static int balloon_stats_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "stats_polling_interval_s", NULL };
	uint64_t v = 0;
	(void)path_id;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "stats_polling_interval_s", true, 0, UINT16_MAX, &v, NULL, e);
	r->number = v;
	return ret;
}

/* Firecracker refuses a balloon bigger than the machine, in other words
 * before boot (the configuration) than after (the device). */
static bool balloon_fits(struct api_target *t, uint32_t amount_mib, struct api_reply *rep)
{
	unsigned long long mem = t->cfg->machine.mem_size_mib;
	if (amount_mib <= mem)
		return true;
	if (!api_started(t))
		api_reply_fault(rep, 400, "Balloon config error: Amount of pages requested is too large. (amount_mib "
		                "%u, the machine has %llu MiB)", amount_mib, mem);
	else
		api_reply_fault(rep, 400, "Balloon update error: Failed perform action on device: Internal Device "
		                "error: Requested memory should be less than %lluMiB (amount_mib %u)", mem, amount_mib);
	return false;
}

static int balloon_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	if (balloon_config_set(cfg, r->device_config) < 0)
		return api_fail(e, "balloon: too many device kinds");
	r->device_config = NULL;
	return 0;
}

static void balloon_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	const struct balloon_config *bc = r->device_config;
	if (api_started(t) || balloon_fits(t, bc->amount_mib, rep))
		api_apply_store(balloon_store, t, r, rep);
}

static void balloon_request_free(struct api_request *r)
{
	balloon_config_free(r->device_config);
	r->device_config = NULL;
}

static int balloon_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct balloon_config *bc = balloon_config_of(c);
	return bc ? vmm_attach(vmm, &balloon_class, "", bc) : 0;
}

/* After boot, the device; a fault in rep when there is none (Firecracker
 * begins it with what the request was: "Balloon update error"). */
static struct balloon *balloon_device(struct api_target *t, const char *what, struct api_reply *rep)
{
	struct balloon *b = NULL;
	if (!api_started(t))
		api_reply_fault(rep, 400, API_BEFORE_START);
	else if (!balloon_config_of(t->cfg) || !(b = vmm_device_find(t->vmm, &balloon_class, "")))
		api_reply_fault(rep, 400, "%s: Failed perform action on device: Device not found", what);
	return b;
}

/* The configuration GET /balloon, /vm/config and snapshots show, which a
 * PATCH after boot updates; balloon_device found it there. */
static struct balloon_config *balloon_config_kept(struct api_target *t)
{
	return config_device(t->cfg, &balloon_class);
}

static void balloon_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, "Balloon update error", rep);
	uint32_t amount_mib = (uint32_t)r->number;
	if (!b || !balloon_fits(t, amount_mib, rep))
		return;
	balloon_set_target(b, amount_mib);
	balloon_config_kept(t)->amount_mib = amount_mib;
	rep->status = 204;
}

static void balloon_stats_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, "Balloon update error", rep);
	uint32_t interval_s = (uint32_t)r->number;
	if (!b)
		return;
	if (balloon_set_interval(b, interval_s) < 0) {
		api_reply_fault(rep, 400, "Balloon update error: Failed perform action on device: Internal Device error: "
		                "Statistics cannot be enabled/disabled after activation. (stats_polling_interval_s: "
		                "cannot be turned %s)", interval_s ? "on" : "off");
		return;
	}
	balloon_config_kept(t)->stats_polling_interval_s = interval_s;
	rep->status = 204;
}

static json_t *balloon_json(const struct vm_config *cfg)
{
	const struct balloon_config *c = balloon_config_of(cfg);
	if (!c)
		return json_null();
	return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib", (json_int_t)c->amount_mib, "deflate_on_oom",
	                 c->deflate_on_oom, "stats_polling_interval_s", (json_int_t)c->stats_polling_interval_s,
	                 "free_page_hinting", c->free_page_hinting, "free_page_reporting", c->free_page_reporting);
}

static void balloon_get_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	if (!balloon_config_of(t->cfg)) {
		if (api_started(t))
			api_reply_fault(rep, 400, "Internal VMM error: Failed perform action on device: Device not found");
		else
			api_reply_fault(rep, 400, "Balloon config error: No balloon device found.");
		return;
	}
	api_reply_json(rep, balloon_json(t->cfg));
}

/* target and actual, then each statistic the guest has sent */
static void balloon_stats_get_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, "Internal VMM error", rep);
	struct balloon_view v;
	(void)r;
	if (!b)
		return;
	if (!balloon_config_of(t->cfg)->stats_polling_interval_s) {
		api_reply_fault(rep, 400, "Internal VMM error: Failed perform action on device: Internal Device error: "
		                "Received stats query when stats are disabled.");
		return;
	}
	balloon_view(b, &v);
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)v.target_pages, "actual_pages",
	                      (json_int_t)v.actual_pages, "target_mib",
	                      (json_int_t)(v.target_pages / BALLOON_MIB_PAGES), "actual_mib",
	                      (json_int_t)(v.actual_pages / BALLOON_MIB_PAGES));
	for (int i = 0; o && i < BSTAT_COUNT; i++)
		if (v.st.have & (1u << i))
			json_object_set_new(o, balloon_stat_names[i], json_integer((json_int_t)v.st.v[i]));
	api_reply_json(rep, o);
}

/* ---- free page hinting: /balloon/hinting/start, status, stop ---- */

static int balloon_hint_start_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "acknowledge_on_stop", NULL };
	(void)path_id;
	r->flag = true; /* acknowledge_on_stop: Firecracker's default */
	int ret = api_fields_check(o, allowed, e);
	return ret ? ret : api_field_bool(o, "acknowledge_on_stop", false, &r->flag, NULL, e);
}

static int balloon_hint_stop_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { NULL };
	(void)path_id;
	(void)r;
	return api_fields_check(o, allowed, e);
}

/* After boot, the device with hinting; a fault in rep when not. */
static struct balloon *balloon_hint_device(struct api_target *t, struct api_reply *rep)
{
	/* Firecracker answers every hinting request's failure as a Balloon update error */
	struct balloon *b = balloon_device(t, "Balloon update error", rep);
	if (b && !balloon_config_of(t->cfg)->free_page_hinting) {
		api_reply_fault(rep, 400, "Free page hinting was not enabled when the balloon device was configured "
		                "(free_page_hinting).");
		return NULL;
	}
	return b;
}

/* what balloon_dev_hint_start/stop answered */
static void balloon_hint_reply(int ret, struct api_reply *rep)
{
	if (ret == -ENODEV)
		api_reply_fault(rep, 400, "The balloon device is not active: the guest's driver has not started it.");
	else if (ret == -EOPNOTSUPP)
		api_reply_fault(rep, 400, "The guest's balloon driver did not take free page hinting.");
	else
		rep->status = 204;
}

static void balloon_hint_start_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_hint_device(t, rep);
	if (b)
		balloon_hint_reply(balloon_hint_start(b, r->flag), rep);
}

static void balloon_hint_stop_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_hint_device(t, rep);
	(void)r;
	if (b)
		balloon_hint_reply(balloon_hint_stop(b), rep);
}

/* host_cmd, and guest_cmd once the driver has sent one (null before) */
static void balloon_hint_status_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_hint_device(t, rep);
	struct balloon_view v;
	(void)r;
	if (!b)
		return;
	balloon_view(b, &v);
	api_reply_json(rep, json_pack("{s:I, s:o}", "host_cmd", (json_int_t)v.hint.host_cmd, "guest_cmd",
	                              v.hint.guest_seen ? json_integer(v.hint.guest_cmd) : json_null()));
}

static void balloon_metrics(json_t *g, json_t *total, const void *dev)
{
	const struct balloon *b = dev;
	metrics_add(g, total, "inflate_count", b->dev.n.inflate_count);
	metrics_add(g, total, "deflate_count", b->dev.n.deflate_count);
	metrics_add(g, total, "stats_updates_count", b->dev.n.stats_updates);
	metrics_add(g, total, "stats_update_fails", b->dev.n.stats_fails);
	metrics_add(g, total, "free_page_report_count", b->dev.n.report_count);
	metrics_add(g, total, "free_page_report_freed", b->dev.n.report_freed);
	metrics_add(g, total, "free_page_report_fails", b->dev.n.report_fails);
	metrics_add(g, total, "free_page_hint_count", b->dev.n.hint_count);
	metrics_add(g, total, "free_page_hint_freed", b->dev.n.hint_freed);
	metrics_add(g, total, "free_page_hint_fails", b->dev.n.hint_fails);
	/* Firecracker's event_fails: what the guest sent that was refused */
	metrics_add(g, total, "event_fails", b->dev.n.refused);
}

static const struct metrics_device_group balloon_group = {
	.name = "balloon",
	.leaves = (const char *const[]){ "activate_fails", "inflate_count", "stats_updates_count",
	  "stats_update_fails", "deflate_count", "event_fails", "free_page_report_count",
	  "free_page_report_freed", "free_page_report_fails", "free_page_hint_count",
	  "free_page_hint_freed", "free_page_hint_fails", NULL },
	.cls = &balloon_class, .fill = balloon_metrics,
};

static const struct api_method balloon_put = API_BOOT_BODY(balloon_parse, balloon_apply, balloon_request_free);
static const struct api_method balloon_patch = API_BODY(balloon_patch_parse, balloon_patch_apply, api_free_nothing);
static const struct api_method balloon_get = API_GET(balloon_get_apply);

const struct api_resource api_res_balloon = {
	.path = "/balloon", .metrics = "balloon",
	.get = &balloon_get, .put = &balloon_put, .patch = &balloon_patch,
	.key = "balloon", .to_json = balloon_json, .store = balloon_store, .attach = balloon_attach,
	.cli_opts = (const struct cli_opt *const[]){ &balloon_cli_opt, NULL },
	.metrics_group = &balloon_group,
};

static const struct api_method balloon_stats_get = API_GET(balloon_stats_get_apply);
static const struct api_method balloon_stats_patch =
	API_BODY(balloon_stats_parse, balloon_stats_patch_apply, api_free_nothing);

const struct api_resource api_res_balloon_stats = {
	.path = "/balloon/statistics", .metrics = "balloon",
	.get = &balloon_stats_get, .patch = &balloon_stats_patch,
};

static const struct api_method balloon_hint_start_patch = {
	.parse = balloon_hint_start_parse, .apply = balloon_hint_start_apply, .free = api_free_nothing,
	.body_optional = true,
};
static const struct api_method balloon_hint_stop_patch = {
	.parse = balloon_hint_stop_parse, .apply = balloon_hint_stop_apply, .free = api_free_nothing,
	.body_optional = true,
};
static const struct api_method balloon_hint_status_get = API_GET(balloon_hint_status_apply);

const struct api_resource api_res_balloon_hint_start = {
	.path = "/balloon/hinting/start", .metrics = "balloon", .patch = &balloon_hint_start_patch,
};
const struct api_resource api_res_balloon_hint_status = {
	.path = "/balloon/hinting/status", .metrics = "balloon", .get = &balloon_hint_status_get,
};
const struct api_resource api_res_balloon_hint_stop = {
	.path = "/balloon/hinting/stop", .metrics = "balloon", .patch = &balloon_hint_stop_patch,
};
