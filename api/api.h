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

/* How a resource takes one HTTP method (api/resource.h). */
struct api_method;

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

struct api_snapshot_load {
	char *snapshot_path;
	enum snapshot_mem_backend backend;
	char *backend_path;
	bool enable_diff_snapshots;
	bool resume_vm;
	bool clock_realtime;
	/* the device overrides (a resource's load_override_key -> its
	 * value, checked), or NULL */
	json_t *device_overrides;
	/* husk-only "working_set" (vmm/snapshot/working_set.h) */
	char *ws_file;
	uint32_t ws_record_ms;
	char *ws_mem_file_path;
};

/* One parsed request; method says what it is, the union holds its body
 * (the member its resource's parser fills in). */
/* PUT /serial: Firecracker's SerialDevice */
struct api_serial {
	char *out_path; /* NULL: stdout */
	struct token_bucket_config rate_limiter;
};

struct api_request {
	const struct api_method *method;
	/* Firecracker's warning when the request used a deprecated field or
	 * value ("PUT /machine-config: cpu_template field is deprecated."): the answer
	 * carries a Deprecation header, the log and metrics count it */
	const char *deprecation;
	union {
		struct api_machine machine;
		struct boot_config boot;
		/* a device kind's own configuration struct (config_device),
		 * malloc'd: its resource's parse makes it, store takes it;
		 * or a PATCH's own struct of changes, which its free frees */
		void *device_config;
		struct api_logger logger;
		struct api_metrics metrics;
		enum api_action action;
		bool pause; /* PATCH /vm: Paused (true) or Resumed */
		struct api_snapshot_create snap_create;
		struct api_snapshot_load snap_load;
		struct api_serial serial; /* PUT /serial */
		/* a body of one number or one flag: its resource's parse
		 * and apply say which field it is */
		uint64_t number;
		bool flag;
		json_t *document; /* a free-form JSON body, kept as it came */
		struct cpu_config cpu_config; /* PUT /cpu-config */
	};
};

/* Free what r owns (r->method->free) and clear it. */
void api_request_free(struct api_request *r);
/* Move an owned string: free *dst, take *src, clear *src. */
void api_str_move(char **dst, char **src);
#define API_AFTER_START "The requested operation is not supported after starting the microVM."
#define API_BEFORE_START "The requested operation is not supported before starting the microVM."
/* how Firecracker begins the answer to a body serde_json refuses */
#define API_SERDE_FAULT "An error occurred when deserializing the json body of a request: "

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
	bool boot_configured; /* a boot_path request came before start */
	bool failed; /* a snapshot load failed half-way: nothing more runs */
};

/* On the vmm thread: apply r (its owned strings may move into t->cfg). */
void api_apply(struct api_target *t, struct api_request *r, struct api_reply *rep);
bool api_started(const struct api_target *t);

/* Parse o as a request of method m into r (cleared first); -EINVAL with e. */
int api_request_parse(const struct api_method *m, const json_t *o, const char *path_id, struct api_request *r,
                      struct api_err *e);

/* o is an object of the allowed keys whose id field (key) is present,
 * plain and equal to path_id (when not NULL); the id into *out. */
int api_id_object(const json_t *o, const char *const allowed[], const char *key, const char *path_id, char **out,
                  struct api_err *e);
/* A body that is one item: a zeroed record of size bytes, whose first
 * member is its char *id, becomes r->device_config (r owns it, also when
 * this fails) and gets its id from api_id_object. */
int api_id_record(const json_t *o, const char *const allowed[], const char *key, const char *path_id,
                  size_t size, struct api_request *r, struct api_err *e);
/* The index of id among n items of size bytes at items, each a struct
 * whose first member is its char *id; -1 if none has it. */
int api_id_find(const void *items, size_t size, int n, const char *id);
/* Where the item id goes among n: its index, or n for a new one (-EINVAL
 * with e naming key when there are max already). */
int api_id_slot(const void *items, size_t size, int n, int max, const char *key, const char *id,
                struct api_err *e);
/* The n items as a JSON array, each by item_json. */
json_t *api_items_json(const void *items, size_t size, int n, json_t *(*item_json)(const void *item));

/* JSON of shared parts of a configuration. */
json_t *api_rate_limiter_json(const struct rate_limiter_config *rl);
json_t *api_str_or_null(const char *s);
/* The devices of c (every resource with a store step), keyed as in the
 * config file: the snapshot's device configuration. */
json_t *api_devices_json(const struct vm_config *c);

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
