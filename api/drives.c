/* drives: /drives/{drive_id} (PUT pre-boot, PATCH post-boot: swap the
 * backing file). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/resource.h"
#include "vmm/errmsg.h"
#include "devices/virtio/blk.h"
#include "vmm/vmm.h"

static const char *const cache_names[] = { "Unsafe", "Writeback", NULL };
static const char *const engine_names[] = { "Sync", "Async", NULL };

static int drive_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	/* Firecracker's order: an unknown field's answer lists them */
	static const char *const allowed[] = { "drive_id", "partuuid", "is_root_device", "cache_type",
		                               "is_read_only", "path_on_host", "rate_limiter", "io_engine", NULL };
	int ret = api_id_record(o, allowed, "drive_id", path_id, sizeof(struct drive_config), r, e);
	struct drive_config *out = r->device_config;
	int cache = 0, engine = 0;
	if (ret < 0)
		return ret;
	ret = api_field_str(o, "path_on_host", true, &out->path_on_host, e);
	if (ret == 0)
		ret = api_field_bool(o, "is_root_device", true, &out->is_root_device, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "is_read_only", false, &out->is_read_only, NULL, e);
	if (ret == 0)
		ret = api_field_str(o, "partuuid", false, &out->partuuid, e);
	if (ret == 0)
		ret = api_field_enum(o, "cache_type", false, cache_names, &cache, NULL, e);
	if (ret == 0)
		ret = api_field_enum(o, "io_engine", false, engine_names, &engine, NULL, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, NULL, e);
	out->cache_type = (enum cache_type)cache;
	out->io_engine = (enum io_engine)engine;
	return ret;
}

static int drive_patch_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	int ret = api_id_record(o, allowed, "drive_id", path_id, sizeof(struct drive_patch), r, e);
	struct drive_patch *out = r->device_config;
	if (ret < 0)
		return ret;
	ret = api_field_str(o, "path_on_host", false, &out->path_on_host, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, &out->has_rate_limiter, e);
	return ret;
}

/* Checked against the other drives: how many, which one is the root. */
static int drive_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	struct drive_config *d = r->device_config;
	struct drive_configs *drives = drive_configs_in(cfg);
	if (!drives)
		return api_fail(e, "out of memory");
	int i = api_id_slot(drives->items, sizeof(drives->items[0]), drives->nr, BLK_MAX_DRIVES, "drive_id",
	                    d->drive_id, e);

	if (i < 0)
		return i;
	int root = d->is_root_device ? drive_configs_root(drives, i) : -1;
	if (root >= 0)
		return api_fail(e, "Drive config error: A root block device already exists! (is_root_device: drive %s is the root)",
		                drives->items[root].drive_id);
	if (i == drives->nr)
		drives->nr++;
	else
		drive_config_free(&drives->items[i]);
	drives->items[i] = *d;
	memset(d, 0, sizeof(*d)); /* the strings now belong to cfg */
	return 0;
}

static void drive_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	const struct drive_config *d = r->device_config;
	char os[96];
	if (!api_started(t) && access(d->path_on_host, d->is_read_only ? R_OK : R_OK | W_OK) < 0) {
		api_reply_fault(rep, 400, "Drive config error: Unable to create the virtio block device: Virtio backend "
		                "error: Error manipulating the backing file: %s %s", errmsg_os(errno, os, sizeof(os)),
		                d->path_on_host);
		return;
	}
	api_apply_store(drive_store, t, r, rep);
}

static void drive_patch_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct drive_patch *p = r->device_config;
	struct drive_configs *drives = config_device(t->cfg, &blk_class);
	int i = drives ? api_id_find(drives->items, sizeof(drives->items[0]), drives->nr, p->drive_id) : -1;

	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	struct blk *b = i < 0 ? NULL : vmm_device_find(t->vmm, &blk_class, p->drive_id);
	if (!b) {
		api_reply_fault(rep, 400, "Drive config error: Unable to patch the block device: Failed perform action on "
		                "device: Device not found Please verify the request arguments. (no drive %s)", p->drive_id);
		return;
	}
	if (p->path_on_host) {
		int ret = blk_swap_backing(b, p->path_on_host);
		if (ret < 0) {
			char os[96];
			api_reply_fault(rep, 400, "Drive config error: Unable to patch the block device: %s Please verify the "
			                "request arguments. (path_on_host %s)", errmsg_os(-ret, os, sizeof(os)),
			                p->path_on_host);
			return;
		}
		api_str_move(&drives->items[i].path_on_host, &p->path_on_host);
	}
	if (p->has_rate_limiter) {
		rate_limiter_config_merge(&drives->items[i].rate_limiter, &p->rate_limiter);
		blk_update_rate_limiter(b, &p->rate_limiter);
	}
	rep->status = 204;
}

static json_t *drive_json(const void *item)
{
	const struct drive_config *d = item;
	return json_pack("{s:s, s:s, s:b, s:b, s:o, s:s, s:s, s:o}", "drive_id", d->drive_id, "path_on_host",
	                 d->path_on_host, "is_root_device", d->is_root_device, "is_read_only",
	                 d->is_read_only, "partuuid", api_str_or_null(d->partuuid), "cache_type",
	                 cache_names[d->cache_type == CACHE_WRITEBACK], "io_engine",
	                 engine_names[d->io_engine == IO_ENGINE_ASYNC], "rate_limiter",
	                 api_rate_limiter_json(&d->rate_limiter));
}

static json_t *drives_json(const struct vm_config *c)
{
	const struct drive_configs *drives = drive_configs_of(c);
	return drives ? api_items_json(drives->items, sizeof(drives->items[0]), drives->nr, drive_json)
	              : json_array();
}

static void drive_request_free(struct api_request *r)
{
	if (r->device_config)
		drive_config_free(r->device_config);
	free(r->device_config);
	r->device_config = NULL;
}

static void drive_patch_free(struct api_request *r)
{
	struct drive_patch *p = r->device_config;
	if (p) {
		free(p->drive_id);
		free(p->path_on_host);
	}
	free(p);
	r->device_config = NULL;
}

/* Slots 0.. in the order the drives were first put, the root drive first
 * so the guest sees it as /dev/vda. */
static int drives_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct drive_configs *drives = drive_configs_of(c);
	for (int pass = 0; drives && pass < 2; pass++) {
		for (int i = 0; i < drives->nr; i++) {
			const struct drive_config *d = &drives->items[i];
			if (d->is_root_device != (pass == 0))
				continue;
			int ret = vmm_attach(vmm, &blk_class, d->drive_id, d);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Firecracker's "block" group and each drive's "block_<drive_id>" */
static const char *const block_leaves[] = {
	"activate_fails", "cfg_fails", "no_avail_buffer", "event_fails", "execute_fails",
	"invalid_reqs_count", "flush_count", "queue_event_count", "rate_limiter_event_count",
	"update_count", "update_fails", "read_bytes", "write_bytes", "read_count", "write_count",
	"rate_limiter_throttled_events", "io_engine_throttled_events", "remaining_reqs_count", NULL };

static void block_metrics(json_t *g, json_t *total, const void *dev)
{
	const struct blk *b = dev;
	metrics_add(g, total, "read_count", b->stats.reads);
	metrics_add(g, total, "write_count", b->stats.writes);
	metrics_add(g, total, "flush_count", b->stats.flushes);
	metrics_add(g, total, "read_bytes", b->stats.bytes_read);
	metrics_add(g, total, "write_bytes", b->stats.bytes_written);
	metrics_add(g, total, "execute_fails", b->stats.errors);
	metrics_add(g, total, "rate_limiter_throttled_events", b->rl.throttled);
}

static const struct metrics_device_group block_group = {
	.name = "block", .leaves = block_leaves, .aggs = (const char *const[]){ "read_agg", "write_agg", NULL },
	.cls = &blk_class, .per_device = true, .fill = block_metrics,
};

static const struct api_method drive_put = API_BOOT_BODY(drive_parse, drive_apply, drive_request_free);
static const struct api_method drive_patch = API_BODY(drive_patch_parse, drive_patch_apply, drive_patch_free);

const struct api_resource api_res_drives = {
	.path = "/drives", .has_id = true, .metrics = "drives", .fc_metrics = "drive",
	.put = &drive_put, .patch = &drive_patch,
	.key = "drives", .max_items = BLK_MAX_DRIVES, .to_json = drives_json, .store = drive_store,
	.attach = drives_attach,
	.cli_opts = (const struct cli_opt *const[]){ &blk_cli_opt, NULL },
	.metrics_group = &block_group,
};
