/* drives: /drives/{drive_id} (PUT pre-boot, PATCH post-boot: swap the
 * backing file). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/vmm.h"

const char *const api_cache_names[] = { "Unsafe", "Writeback", NULL };
const char *const api_engine_names[] = { "Sync", "Async", NULL };

/* Firecracker's rule (checked_id) and words: letters, digits and '_'
 * only (api_field_str refuses an empty one). ASCII letters only, where
 * Firecracker takes any Unicode one, and at most 64: ids become metric
 * keys and the guest's serial. */
static int id_check(const char *key, const char *id, struct api_err *e)
{
	if (strlen(id) > 64)
		return api_fail(e, "%s: longer than 64 characters", key);
	for (const char *p = id; *p; p++) {
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return api_fail(e, "%s: API Resource IDs can only contain alphanumeric characters and "
			                   "underscores.", key);
	}
	return 0;
}

/* The body's id field must be there and equal the path's {id}. */
int api_id_match(const json_t *o, const char *key, const char *path_id, char **out, struct api_err *e)
{
	int ret = api_field_str(o, key, true, out, e);
	if (ret == 0)
		ret = id_check(key, *out, e);
	if (ret == 0 && path_id && strcmp(path_id, *out) != 0)
		ret = api_fail(e, "%s: the id in the body (%.64s) does not match the path (%.64s)", key, *out,
		               path_id);
	return ret;
}

int api_parse_drive(const json_t *o, const char *path_id, struct drive_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "drive_id", "path_on_host", "is_root_device", "is_read_only",
		                               "partuuid", "cache_type", "io_engine", "rate_limiter", NULL };
	int cache = 0, engine = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_id_match(o, "drive_id", path_id, &out->drive_id, e);
	if (ret == 0)
		ret = api_field_str(o, "path_on_host", true, &out->path_on_host, e);
	if (ret == 0)
		ret = api_field_bool(o, "is_root_device", true, &out->is_root_device, NULL, e);
	if (ret == 0)
		ret = api_field_bool(o, "is_read_only", false, &out->is_read_only, NULL, e);
	if (ret == 0)
		ret = api_field_str(o, "partuuid", false, &out->partuuid, e);
	if (ret == 0)
		ret = api_field_enum(o, "cache_type", false, api_cache_names, &cache, NULL, e);
	if (ret == 0)
		ret = api_field_enum(o, "io_engine", false, api_engine_names, &engine, NULL, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, NULL, e);
	out->cache_type = (enum cache_type)cache;
	out->io_engine = (enum io_engine)engine;
	return ret;
}

int api_parse_drive_patch(const json_t *o, const char *path_id, struct api_drive_patch *out,
                          struct api_err *e)
{
	static const char *const allowed[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_id_match(o, "drive_id", path_id, &out->drive_id, e);
	if (ret == 0)
		ret = api_field_str(o, "path_on_host", false, &out->path_on_host, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, &out->has_rate_limiter, e);
	return ret;
}

static int drive_find(const struct vm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_drives; i++)
		if (strcmp(cfg->drives[i].drive_id, id) == 0)
			return i;
	return -1;
}

static void drive_free(struct drive_config *d)
{
	free(d->drive_id);
	free(d->path_on_host);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

void api_apply_drive(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct vm_config *cfg = t->cfg;
	struct drive_config *d = &r->drive;
	int i = drive_find(cfg, d->drive_id);

	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (i < 0 && cfg->nr_drives >= CONFIG_MAX_DRIVES) {
		api_reply_fault(rep, 400, "drive_id: at most %d drives", CONFIG_MAX_DRIVES);
		return;
	}
	for (int k = 0; d->is_root_device && k < cfg->nr_drives; k++) {
		if (k != i && cfg->drives[k].is_root_device) {
			api_reply_fault(rep, 400, "is_root_device: drive %s is already the root device",
			                cfg->drives[k].drive_id);
			return;
		}
	}
	if (access(d->path_on_host, d->is_read_only ? R_OK : R_OK | W_OK) < 0) {
		api_reply_fault(rep, 400, "path_on_host: cannot open %s: %s", d->path_on_host, strerror(errno));
		return;
	}
	if (i < 0)
		i = cfg->nr_drives++;
	else
		drive_free(&cfg->drives[i]);
	cfg->drives[i] = *d;
	memset(d, 0, sizeof(*d)); /* the strings now belong to cfg */
	rep->status = 204;
}

void api_apply_drive_patch(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_drive_patch *p = &r->drive_patch;
	int i = drive_find(t->cfg, p->drive_id);

	if (!api_started(t)) {
		api_reply_fault(rep, 400, API_BEFORE_START);
		return;
	}
	struct blk *b = i < 0 ? NULL : vmm_device_find(t->vmm, &blk_class, p->drive_id);
	if (!b) {
		api_reply_fault(rep, 400, "drive_id: no drive %s", p->drive_id);
		return;
	}
	if (p->path_on_host) {
		int ret = blk_swap_backing(b, p->path_on_host);
		if (ret < 0) {
			api_reply_fault(rep, 400, "path_on_host: cannot use %s: %s", p->path_on_host,
			                strerror(-ret));
			return;
		}
		api_str_move(&t->cfg->drives[i].path_on_host, &p->path_on_host);
	}
	if (p->has_rate_limiter) {
		rate_limiter_config_merge(&t->cfg->drives[i].rate_limiter, &p->rate_limiter);
		blk_update_rate_limiter(b, &p->rate_limiter);
	}
	rep->status = 204;
}
