/* resource: an API resource, defined once. Each resource file,
 * api/<name>.c, defines one `const struct api_resource api_res_<name>`:
 * its path, how each HTTP method parses, applies and frees a request, its
 * key in the config file and in GET /vm/config with its value there, how
 * a parsed PUT is stored into a vm_config (a device's store step, which the
 * snapshot's device configuration reuses), its `husk run` options and a
 * device's group in the metrics line.
 * api/resources.c lists the resources, one line each; the router, the
 * config file, /vm/config, the snapshot's device configuration and husk
 * run's option table read that list and nothing else. */
#ifndef HUSK_API_RESOURCE_H
#define HUSK_API_RESOURCE_H

#include "api/api.h"
#include "vmm/metrics.h"

struct cli_opt;

struct api_method {
	/* NULL: the request has no body (a GET) */
	int (*parse)(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e);
	void (*apply)(struct api_target *t, struct api_request *r, struct api_reply *rep);
	void (*free)(struct api_request *r);
	/* optional: which of Firecracker's latencies_us it counts in
	 * (MLAT_COUNT: none) */
	enum metrics_latency (*latency)(const struct api_request *r);
	/* answered by the api thread itself: it reads no VM state */
	bool api_thread;
	/* an empty body parses as {} (a PATCH Firecracker takes without one) */
	bool body_optional;
	/* configures what a boot builds (Firecracker's boot_path): once such
	 * a request reached the VMM before start, a snapshot load is refused,
	 * since the snapshot would silently replace what it set up */
	bool boot_path;
};

/* A method row names all three steps, so none can be left out (the
 * unit test test_every_method_is_complete checks them too). */
#define API_GET(apply_fn) { .parse = NULL, .apply = (apply_fn), .free = api_free_nothing }
#define API_BODY(parse_fn, apply_fn, free_fn) { .parse = (parse_fn), .apply = (apply_fn), .free = (free_fn) }
#define API_BOOT_BODY(parse_fn, apply_fn, free_fn) \
	{ .parse = (parse_fn), .apply = (apply_fn), .free = (free_fn), .boot_path = true }

struct api_resource {
	const char *path;   /* "/drives" */
	bool has_id;        /* "/drives/{id}"; in the config file an array */
	/* its name in husk's api_responses metrics, and Firecracker's in
	 * get/put/patch_api_requests ("drive": drive_count, drive_fails),
	 * NULL where Firecracker counts none */
	const char *metrics, *fc_metrics;
	const struct api_method *get, *put, *patch; /* NULL: not taken */
	/* its key in the config file (applied through put) and in GET
	 * /vm/config (to_json); NULL: neither */
	const char *key;
	int max_items; /* has_id: how many the config file may list */
	json_t *(*to_json)(const struct vm_config *c);
	/* a device: put a parsed PUT into c, checked against the rest of c
	 * but not against the host (the apply step checks that first); its
	 * to_json is then part of the snapshot's device configuration.
	 * -EINVAL with e naming the field. */
	int (*store)(struct vm_config *c, struct api_request *r, struct api_err *e);
	/* a device kind kept in a config_device slot: attach it to vmm when c
	 * configures it (vmm_attach). The VMM attaches these in list order,
	 * which is their virtio-mmio slot order. */
	int (*attach)(struct vmm *vmm, const struct vm_config *c);
	/* a device a snapshot load can re-point (one of Firecracker's
	 * "<device>_override" keys): its key in the load body; check refuses a bad
	 * value when the request is parsed (e naming the field), apply puts
	 * it onto the restored configuration c (-EINVAL with err when c has
	 * no such device) */
	const char *load_override_key;
	int (*load_override_check)(const json_t *v, struct api_err *e);
	int (*load_override_apply)(struct vm_config *c, const json_t *v, char *err, size_t errlen);
	/* its `husk snapshot load` option (name without "--", usage), the
	 * command-line form of the override: its value for arg, NULL when
	 * out of memory (then checked by load_override_check) */
	const char *load_cli_name, *load_cli_usage;
	json_t *(*load_cli_override)(const char *arg);
	const struct cli_opt *const *cli_opts; /* NULL-terminated, or NULL */
	/* a device's group in the metrics line, or NULL */
	const struct metrics_device_group *metrics_group;
};

/* Every resource, NULL-terminated, in the order a config file is
 * applied in (api/resources.c). */
extern const struct api_resource *const api_resources[];
/* The resource at path (exactly, without its {id}), or NULL. */
const struct api_resource *api_resource_by_path(const char *path);
/* The resource whose config-file key is key, or NULL. */
const struct api_resource *api_resource_by_key(const char *key);
/* How many requests a config file can hold at most. */
int api_resources_max_items(void);
/* Attach every device kind c configures that has an attach step, in list
 * order; the first error. */
int api_resources_attach(struct vmm *vmm, const struct vm_config *c);
/* The resource whose load_override_key is key, or NULL. */
const struct api_resource *api_resource_by_override(const char *key);
/* Apply each of overrides (an object of load_override_key -> value, or
 * NULL) to a restored configuration; -EINVAL with err naming the key. */
int api_resources_load_overrides(struct vm_config *c, const json_t *overrides, char *err, size_t errlen);

/* Shared steps of method rows. */
void api_free_nothing(struct api_request *r);
/* A pre-boot PUT of a device: refused after start, then r is stored. */
void api_apply_store(int (*store)(struct vm_config *c, struct api_request *r, struct api_err *e),
                     struct api_target *t, struct api_request *r, struct api_reply *rep);

#endif
