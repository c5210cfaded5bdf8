/* kinds: one row a request kind: how its body is parsed, how the vmm
 * thread applies it, what it owns and frees. The router, the config file,
 * api_apply and api_request_free all read this table and nothing else,
 * so a kind cannot have a parser and lack a free; the unit tests check
 * that every kind has its row. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/* ---- parsers with one signature ---- */

static int parse_machine_put(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_machine_config(o, false, &r->machine, e);
}

static int parse_machine_patch(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_machine_config(o, true, &r->machine, e);
}

static int parse_boot(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_boot_source(o, &r->boot, e);
}

static int parse_drive(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	return api_parse_drive(o, id, &r->drive, e);
}

static int parse_drive_patch(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	return api_parse_drive_patch(o, id, &r->drive_patch, e);
}

static int parse_net(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	return api_parse_net(o, id, &r->net, e);
}

static int parse_net_patch(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	return api_parse_net_patch(o, id, &r->net_patch, e);
}

static int parse_vsock(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_vsock(o, &r->vsock, e);
}

static int parse_entropy(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_entropy(o, &r->entropy, e);
}

static int parse_logger(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_logger(o, &r->logger, e);
}

static int parse_metrics(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_metrics(o, &r->metrics, e);
}

static int parse_action(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_action(o, &r->action, e);
}

static int parse_vm_state(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_vm_state(o, &r->pause, e);
}

static int parse_snap_create(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_snapshot_create(o, &r->snap_create, e);
}

static int parse_snap_load(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_snapshot_load(o, &r->snap_load, e);
}

static int parse_serial(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_serial(o, &r->serial_out_path, e);
}

static int parse_balloon(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_balloon(o, &r->balloon, e);
}

static int parse_balloon_patch(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_balloon_patch(o, &r->balloon_amount_mib, e);
}

static int parse_balloon_stats(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_balloon_stats(o, &r->balloon_interval_s, e);
}

static int parse_mmds(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_mmds_data(o, &r->mmds_data, e);
}

static int parse_mmds_config(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_mmds_config(o, &r->mmds_config, e);
}

static int parse_cpu_config(const json_t *o, const char *id, struct api_request *r, struct api_err *e)
{
	(void)id;
	return api_parse_cpu_config(o, &r->cpu_config, e);
}

/* ---- appliers that need no request ---- */

static void apply_info(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	api_apply_info(t, rep);
}

static void apply_vm_config(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	api_apply_vm_config(t, rep);
}

/* ---- what each kind owns ---- */

static void free_nothing(struct api_request *r) { (void)r; }

static void free_boot(struct api_request *r)
{
	free(r->boot.kernel_image_path);
	free(r->boot.initrd_path);
	free(r->boot.boot_args);
}

static void free_drive(struct api_request *r)
{
	free(r->drive.drive_id);
	free(r->drive.path_on_host);
	free(r->drive.partuuid);
}

static void free_drive_patch(struct api_request *r)
{
	free(r->drive_patch.drive_id);
	free(r->drive_patch.path_on_host);
}

static void free_net(struct api_request *r)
{
	free(r->net.iface_id);
	free(r->net.host_dev_name);
}

static void free_net_patch(struct api_request *r) { free(r->net_patch.iface_id); }
static void free_vsock(struct api_request *r) { free(r->vsock.uds_path); }
static void free_logger(struct api_request *r) { free(r->logger.log_path); }
static void free_metrics(struct api_request *r) { free(r->metrics.metrics_path); }

static void free_serial(struct api_request *r) { free(r->serial_out_path); }

static void free_mmds(struct api_request *r) { json_decref(r->mmds_data); }
static void free_mmds_config(struct api_request *r) { config_mmds_free(&r->mmds_config); }
static void free_cpu_config(struct api_request *r) { config_cpu_config_free(&r->cpu_config); }

static void free_snap_create(struct api_request *r)
{
	free(r->snap_create.snapshot_path);
	free(r->snap_create.mem_file_path);
}

static void free_snap_load(struct api_request *r)
{
	free(r->snap_load.snapshot_path);
	free(r->snap_load.backend_path);
	free(r->snap_load.vsock_uds_override);
	free(r->snap_load.ws_file);
	free(r->snap_load.ws_mem_file_path);
	for (int i = 0; i < r->snap_load.nr_overrides; i++) {
		free(r->snap_load.overrides[i].iface_id);
		free(r->snap_load.overrides[i].host_dev_name);
	}
}

const struct api_kind_ops api_kinds[API_KIND_COUNT] = {
	[API_GET_INFO] = { NULL, apply_info, free_nothing },
	[API_GET_MACHINE] = { NULL, api_apply_machine, free_nothing },
	[API_PUT_MACHINE] = { parse_machine_put, api_apply_machine, free_nothing },
	[API_PATCH_MACHINE] = { parse_machine_patch, api_apply_machine, free_nothing },
	[API_PUT_BOOT] = { parse_boot, api_apply_boot_source, free_boot },
	[API_PUT_DRIVE] = { parse_drive, api_apply_drive, free_drive },
	[API_PATCH_DRIVE] = { parse_drive_patch, api_apply_drive_patch, free_drive_patch },
	[API_PUT_NET] = { parse_net, api_apply_net, free_net },
	[API_PATCH_NET] = { parse_net_patch, api_apply_net_patch, free_net_patch },
	[API_PUT_VSOCK] = { parse_vsock, api_apply_vsock, free_vsock },
	[API_PUT_ENTROPY] = { parse_entropy, api_apply_entropy, free_nothing },
	[API_PUT_LOGGER] = { parse_logger, api_apply_logger, free_logger },
	[API_PUT_METRICS] = { parse_metrics, api_apply_metrics, free_metrics },
	[API_ACTION] = { parse_action, api_apply_action, free_nothing },
	[API_PATCH_VM] = { parse_vm_state, api_apply_vm_state, free_nothing },
	[API_GET_VM_CONFIG] = { NULL, apply_vm_config, free_nothing },
	[API_SNAPSHOT_CREATE] = { parse_snap_create, api_apply_snapshot_create, free_snap_create },
	[API_SNAPSHOT_LOAD] = { parse_snap_load, api_apply_snapshot_load, free_snap_load },
	[API_PUT_SERIAL] = { parse_serial, api_apply_serial, free_serial },
	[API_PUT_BALLOON] = { parse_balloon, api_apply_balloon, free_nothing },
	[API_PATCH_BALLOON] = { parse_balloon_patch, api_apply_balloon_patch, free_nothing },
	[API_GET_BALLOON] = { NULL, api_apply_balloon_get, free_nothing },
	[API_GET_BALLOON_STATS] = { NULL, api_apply_balloon_stats_get, free_nothing },
	[API_PATCH_BALLOON_STATS] = { parse_balloon_stats, api_apply_balloon_stats_patch, free_nothing },
	[API_GET_MMDS] = { NULL, api_apply_mmds, free_nothing },
	[API_PUT_MMDS] = { parse_mmds, api_apply_mmds, free_mmds },
	[API_PATCH_MMDS] = { parse_mmds, api_apply_mmds, free_mmds },
	[API_PUT_MMDS_CONFIG] = { parse_mmds_config, api_apply_mmds_config, free_mmds_config },
	[API_PUT_CPU_CONFIG] = { parse_cpu_config, api_apply_cpu_config, free_cpu_config },
};
