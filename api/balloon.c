/* balloon: /balloon (PUT before boot, PATCH after, GET) and
 * /balloon/statistics (GET, PATCH after boot), Firecracker's resources
 * for the virtio-balloon device. */
#include <string.h>

#include "api/api.h"
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

int api_parse_balloon(const json_t *o, struct balloon_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "amount_mib", "deflate_on_oom", "stats_polling_interval_s",
		                               "free_page_reporting", NULL };
	uint64_t amount = 0, interval = 0;
	memset(out, 0, sizeof(*out));
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "amount_mib", true, 0, UINT32_MAX / BALLOON_MIB_PAGES, &amount, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "deflate_on_oom", true, &out->deflate_on_oom, NULL, e);
	if (ret == 0)
		ret = api_field_u64(o, "stats_polling_interval_s", false, 0, UINT16_MAX, &interval, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "free_page_reporting", false, &out->free_page_reporting, NULL, e);
	out->amount_mib = (uint32_t)amount;
	out->stats_polling_interval_s = (uint32_t)interval;
	out->set = ret == 0;
	return ret;
}

int api_parse_balloon_patch(const json_t *o, uint32_t *amount_mib, struct api_err *e)
{
	static const char *const allowed[] = { "amount_mib", NULL };
	uint64_t v = 0;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "amount_mib", true, 0, UINT32_MAX / BALLOON_MIB_PAGES, &v, NULL, e);
	*amount_mib = (uint32_t)v;
	return ret;
}

int api_parse_balloon_stats(const json_t *o, uint32_t *interval_s, struct api_err *e)
{
	static const char *const allowed[] = { "stats_polling_interval_s", NULL };
	uint64_t v = 0;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_u64(o, "stats_polling_interval_s", true, 0, UINT16_MAX, &v, NULL, e);
	*interval_s = (uint32_t)v;
	return ret;
}

/* Firecracker refuses a balloon bigger than the machine */
static bool balloon_fits(struct api_target *t, uint32_t amount_mib, struct api_reply *rep)
{
	if (amount_mib <= t->cfg->machine.mem_size_mib)
		return true;
	api_reply_fault(rep, 400, "amount_mib: %u MiB is more than the machine's %llu MiB", amount_mib,
	                (unsigned long long)t->cfg->machine.mem_size_mib);
	return false;
}

void api_apply_balloon(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (!balloon_fits(t, r->balloon.amount_mib, rep))
		return;
	t->cfg->balloon = r->balloon;
	rep->status = 204;
}

/* After boot, the device; a fault in rep when there is none. */
static struct balloon *balloon_device(struct api_target *t, struct api_reply *rep)
{
	struct balloon *b = NULL;
	if (!api_started(t))
		api_reply_fault(rep, 400, API_BEFORE_START);
	else if (!t->cfg->balloon.set || !(b = vmm_device_find(t->vmm, &balloon_class, "")))
		api_reply_fault(rep, 400, "No balloon device configured.");
	return b;
}

void api_apply_balloon_patch(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, rep);
	if (!b || !balloon_fits(t, r->balloon_amount_mib, rep))
		return;
	balloon_set_target(b, r->balloon_amount_mib);
	t->cfg->balloon.amount_mib = r->balloon_amount_mib; /* GET /balloon, /vm/config, snapshots */
	rep->status = 204;
}

void api_apply_balloon_stats_patch(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, rep);
	if (!b)
		return;
	if (balloon_set_interval(b, r->balloon_interval_s) < 0) {
		api_reply_fault(rep, 400, "stats_polling_interval_s: statistics cannot be turned %s after boot",
		                r->balloon_interval_s ? "on" : "off");
		return;
	}
	t->cfg->balloon.stats_polling_interval_s = r->balloon_interval_s;
	rep->status = 204;
}

json_t *api_balloon_json(const struct balloon_config *c)
{
	if (!c->set)
		return json_null();
	return json_pack("{s:I, s:b, s:I, s:b}", "amount_mib", (json_int_t)c->amount_mib, "deflate_on_oom",
	                 c->deflate_on_oom, "stats_polling_interval_s", (json_int_t)c->stats_polling_interval_s,
	                 "free_page_reporting", c->free_page_reporting);
}

void api_apply_balloon_get(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	if (!t->cfg->balloon.set) {
		api_reply_fault(rep, 400, "No balloon device configured.");
		return;
	}
	api_reply_json(rep, api_balloon_json(&t->cfg->balloon));
}

/* target and actual, then each statistic the guest has sent */
void api_apply_balloon_stats_get(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct balloon *b = balloon_device(t, rep);
	struct balloon_view v;
	(void)r;
	if (!b)
		return;
	if (!t->cfg->balloon.stats_polling_interval_s) {
		api_reply_fault(rep, 400, "Statistics for the balloon device are not enabled.");
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
