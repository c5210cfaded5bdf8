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
	/* an empty body parses as {} (Firecracker's /balloon/hinting/start) */
	bool body_optional;
};

/* A method row names all three steps, so none can be left out (the
 * unit test test_every_method_is_complete checks them too). */
#define API_GET(apply_fn) { .parse = NULL, .apply = (apply_fn), .free = api_free_nothing }
#define API_BODY(parse_fn, apply_fn, free_fn) { .parse = (parse_fn), .apply = (apply_fn), .free = (free_fn) }

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

/* Shared steps of method rows. */
void api_free_nothing(struct api_request *r);
/* A pre-boot PUT of a device: refused after start, then r is stored. */
void api_apply_store(int (*store)(struct vm_config *c, struct api_request *r, struct api_err *e),
                     struct api_target *t, struct api_request *r, struct api_reply *rep);

#endif
