/* api: the Firecracker-compatible control API. The api thread (http.c +
 * router.c) parses and validates a request into a typed struct
 * api_request; the vmm thread applies it to the VM (api_apply) and
 * returns a typed reply. The config file (vmm/config_file.c) goes
 * through the same parsers and the same apply step. */
#ifndef HUSK_API_H
#define HUSK_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/fields.h"
#include "api/http.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

struct vmm;
struct metrics;

enum api_kind {
	API_GET_INFO,
	API_GET_MACHINE,
	API_PUT_MACHINE,
	API_PATCH_MACHINE,
	API_PUT_BOOT,
	API_PUT_DRIVE,
	API_PATCH_DRIVE,
	API_PUT_NET,
	API_PATCH_NET,
	API_PUT_VSOCK,
	API_PUT_ENTROPY,
	API_PUT_LOGGER,
	API_PUT_METRICS,
	API_ACTION,
	API_PATCH_VM,
	API_GET_VM_CONFIG,
	API_SNAPSHOT_CREATE,
	API_SNAPSHOT_LOAD,
	API_PUT_SERIAL,
	API_PUT_BALLOON,
	API_PATCH_BALLOON,
	API_GET_BALLOON,
	API_GET_BALLOON_STATS,
	API_PATCH_BALLOON_STATS,
	API_GET_MMDS,
	API_PUT_MMDS,
	API_PATCH_MMDS,
	API_PUT_MMDS_CONFIG,
	API_PUT_CPU_CONFIG,
	API_KIND_COUNT
};

/* which machine-config fields a request set */
enum {
	MACHINE_VCPUS = 1 << 0,
	MACHINE_MEM = 1 << 1,
	MACHINE_SMT = 1 << 2,
	MACHINE_DIRTY = 1 << 3,
	MACHINE_HUGE = 1 << 4,
	MACHINE_TEMPLATE = 1 << 5,
};

struct api_machine {
	unsigned set;
	struct machine_config m;
};

struct api_drive_patch {
	char *drive_id;
	char *path_on_host;
	bool has_rate_limiter;
	struct rate_limiter_config rate_limiter;
};

struct api_net_patch {
	char *iface_id;
	bool has_rx, has_tx;
	struct rate_limiter_config rx, tx;
};

struct api_entropy {
	struct rate_limiter_config rate_limiter;
};

struct api_logger {
	char *log_path;
	bool has_level, has_show_level, has_show_origin;
	enum log_level level;
	bool show_level, show_origin;
};

struct api_metrics {
	char *metrics_path;
};

enum api_action { ACTION_INSTANCE_START, ACTION_SEND_CTRL_ALT_DEL, ACTION_FLUSH_METRICS };

struct api_snapshot_create {
	enum snapshot_type type;
	char *snapshot_path;
	char *mem_file_path;
};

struct api_net_override {
	char *iface_id;
	char *host_dev_name;
};

struct api_snapshot_load {
	char *snapshot_path;
	enum snapshot_mem_backend backend;
	char *backend_path;
	bool enable_diff_snapshots;
	bool resume_vm;
	bool clock_realtime;
	int nr_overrides;
	struct api_net_override overrides[CONFIG_MAX_NETS];
	char *vsock_uds_override;
	/* husk-only "working_set" (vmm/snapshot/working_set.h) */
	char *ws_file;
	uint32_t ws_record_ms;
	char *ws_mem_file_path;
};

struct api_request {
	enum api_kind kind;
	union {
		struct api_machine machine;
		struct boot_config boot;
		struct drive_config drive;
		struct api_drive_patch drive_patch;
		struct net_config net;
		struct api_net_patch net_patch;
		struct vsock_config vsock;
		struct api_entropy entropy;
		struct api_logger logger;
		struct api_metrics metrics;
		enum api_action action;
		bool pause; /* PATCH /vm: Paused (true) or Resumed */
		struct api_snapshot_create snap_create;
		struct api_snapshot_load snap_load;
		char *serial_out_path; /* PUT /serial */
		struct balloon_config balloon; /* PUT /balloon */
		uint32_t balloon_amount_mib;   /* PATCH /balloon */
		uint32_t balloon_interval_s;   /* PATCH /balloon/statistics */
		json_t *mmds_data;     /* PUT, PATCH /mmds */
		struct mmds_config mmds_config;
		struct cpu_config cpu_config; /* PUT /cpu-config */
	};
};

/* Free what r owns (api_kinds[r->kind].free) and clear it. */
void api_request_free(struct api_request *r);
/* Move an owned string: free *dst, take *src, clear *src. */
void api_str_move(char **dst, char **src);
#define API_AFTER_START "The requested operation is not supported after starting the microVM."
#define API_BEFORE_START "The requested operation is not supported before starting the microVM."

struct api_reply {
	int status;
	char *body; /* malloc'd JSON, or NULL */
};

/* Set a 400 (or other) reply with {"fault_message": ...}; returns -EINVAL. */
int api_reply_fault(struct api_reply *rep, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The fault_message of a refused reply, into buf. */
void api_reply_reason(const struct api_reply *rep, char *buf, size_t len);
/* A 200 with body (stolen, may be NULL: then 500). */
void api_reply_json(struct api_reply *rep, json_t *body);

/* What the vmm thread applies requests to. */
struct api_target {
	struct vmm *vmm;
	struct vm_config *cfg;
	struct metrics *metrics;
	const char *instance_id;
	bool logger_set;
	bool failed; /* a snapshot load failed half-way: nothing more runs */
};

/* On the vmm thread: apply r (its owned strings may move into t->cfg). */
void api_apply(struct api_target *t, struct api_request *r, struct api_reply *rep);
bool api_started(const struct api_target *t);

/* ---- the table of request kinds (kinds.c) ----
 * parse is NULL for the kinds without a body (the GETs); apply and free
 * are never NULL (tests/unit/test_api_resources.c checks every kind). */
struct api_kind_ops {
	int (*parse)(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e);
	void (*apply)(struct api_target *t, struct api_request *r, struct api_reply *rep);
	void (*free)(struct api_request *r);
};
extern const struct api_kind_ops api_kinds[API_KIND_COUNT];
/* Parse o as a request of kind into r (cleared first); -EINVAL with e. */
int api_request_parse(enum api_kind kind, const json_t *o, const char *path_id, struct api_request *r,
                      struct api_err *e);

/* ---- resource parsers, shared with the config file ----
 * Each reads a JSON object into the typed request; -EINVAL with e naming
 * the field. path_id is the {id} of the URL (NULL from a config file). */
int api_parse_machine_config(const json_t *o, bool patch, struct api_machine *out, struct api_err *e);
int api_parse_boot_source(const json_t *o, struct boot_config *out, struct api_err *e);
int api_parse_drive(const json_t *o, const char *path_id, struct drive_config *out, struct api_err *e);
int api_parse_drive_patch(const json_t *o, const char *path_id, struct api_drive_patch *out,
                          struct api_err *e);
int api_parse_net(const json_t *o, const char *path_id, struct net_config *out, struct api_err *e);
int api_parse_net_patch(const json_t *o, const char *path_id, struct api_net_patch *out,
                        struct api_err *e);
int api_parse_vsock(const json_t *o, struct vsock_config *out, struct api_err *e);
int api_parse_entropy(const json_t *o, struct api_entropy *out, struct api_err *e);
int api_parse_logger(const json_t *o, struct api_logger *out, struct api_err *e);
int api_parse_metrics(const json_t *o, struct api_metrics *out, struct api_err *e);
int api_parse_action(const json_t *o, enum api_action *out, struct api_err *e);
int api_parse_vm_state(const json_t *o, bool *pause, struct api_err *e);
int api_parse_snapshot_create(const json_t *o, struct api_snapshot_create *out, struct api_err *e);
int api_parse_snapshot_load(const json_t *o, struct api_snapshot_load *out, struct api_err *e);
int api_parse_serial(const json_t *o, char **serial_out_path, struct api_err *e);
int api_parse_balloon(const json_t *o, struct balloon_config *out, struct api_err *e);
int api_parse_balloon_patch(const json_t *o, uint32_t *amount_mib, struct api_err *e);
int api_parse_balloon_stats(const json_t *o, uint32_t *interval_s, struct api_err *e);
int api_parse_mmds_data(const json_t *o, json_t **out, struct api_err *e);
int api_parse_mmds_config(const json_t *o, struct mmds_config *out, struct api_err *e);
int api_parse_cpu_config(const json_t *o, struct cpu_config *out, struct api_err *e);

/* The body's id field (key) must be present, plain and equal to path_id
 * (when not NULL). */
int api_id_match(const json_t *o, const char *key, const char *path_id, char **out, struct api_err *e);

/* ---- resource appliers (vmm thread) ---- */
void api_apply_info(struct api_target *t, struct api_reply *rep);
void api_apply_machine(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_boot_source(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_drive(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_drive_patch(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_net(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_net_patch(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_vsock(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_entropy(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_logger(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_metrics(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_action(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_vm_state(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_vm_config(struct api_target *t, struct api_reply *rep);
void api_apply_snapshot_create(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_snapshot_load(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_serial(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_balloon(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_balloon_patch(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_balloon_get(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_balloon_stats_get(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_balloon_stats_patch(struct api_target *t, struct api_request *r, struct api_reply *rep);
/* GET, PUT and PATCH /mmds */
void api_apply_mmds(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_cpu_config(struct api_target *t, struct api_request *r, struct api_reply *rep);
void api_apply_mmds_config(struct api_target *t, struct api_request *r, struct api_reply *rep);

/* JSON of parts of the configuration, for GET /machine-config and /vm/config. */
json_t *api_machine_json(const struct machine_config *m);
json_t *api_rate_limiter_json(const struct rate_limiter_config *rl);
/* A resource as the API and the config file write it (api_parse_* reads
 * it back): GET /vm/config and the snapshot's device configuration. */
json_t *api_drive_json(const struct drive_config *d);
json_t *api_net_json(const struct net_config *n);
/* PUT /balloon's body, or null when there is no balloon */
json_t *api_balloon_json(const struct balloon_config *c);
/* mmds-config as PUT /mmds/config takes it, or null */
json_t *api_mmds_config_json(const struct mmds_config *m);
/* a custom CPU template as PUT /cpu-config takes it; null when none */
json_t *api_cpu_config_json(const struct cpu_config *c);
/* {"drives", "network-interfaces", "vsock", "entropy", "mmds-config", "balloon"} of c */
json_t *api_devices_json(const struct vm_config *c);
/* cache_type and io_engine by enum value */
extern const char *const api_cache_names[];
extern const char *const api_engine_names[];

/* ---- the API as a whole: socket, api thread, queue to the vmm thread ---- */

struct api_queue {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int efd; /* the vmm loop waits on it */
	struct api_request *req; /* in flight, or NULL */
	struct api_reply *rep;
	bool finished;
	bool closed; /* the vmm loop is gone: answer 500 */
};

struct api {
	struct http_server server;
	struct api_queue queue;
	struct api_target *target;
	struct loop *loop;
};

/* Open the socket, register the queue in the vmm loop, start the api
 * thread. t is used on the vmm thread only. */
int api_start(struct api *a, const char *sock_path, struct loop *loop, struct api_target *t);
/* api thread: hand r to the vmm thread and wait for its reply (a
 * closed queue answers 400 "shutting down"). */
void api_submit(struct api *a, struct api_request *r, struct api_reply *rep);
/* Refuse new requests (call when the vmm loop has ended), stop the
 * thread, remove the socket. */
void api_stop(struct api *a);

/* Router (api thread): one HTTP request to a reply, via the queue.
 * Exposed for the unit tests with a NULL api (then requests that need
 * the vmm thread are applied to api_route_target directly). */
void api_route(struct api *a, const struct http_request *req, struct http_response *resp);
/* Parse an HTTP request into r, or fill rep (404/405/400, or a reply the
 * api thread gives itself like /version): returns 1 when r is to be
 * applied, 0 when rep is final. */
int api_route_parse(const struct http_request *req, struct api_request *r, struct api_reply *rep);

#endif
