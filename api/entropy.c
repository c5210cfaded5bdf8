/* entropy: /entropy (PUT, pre-boot): a virtio-rng device. */
#include <stdlib.h>

#include "api/resource.h"
#include "devices/virtio/rng.h"
#include "vmm/vmm.h"

static int entropy_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "rate_limiter", NULL };
	struct rng_config *out = calloc(1, sizeof(*out));
	(void)path_id;
	r->device_config = out;
	if (!out)
		return api_fail(e, "out of memory");
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, NULL, e);
	return ret;
}

static int entropy_store(struct vm_config *cfg, struct api_request *r, struct api_err *e)
{
	if (rng_config_set(cfg, r->device_config) < 0)
		return api_fail(e, "entropy: too many device kinds");
	r->device_config = NULL;
	return 0;
}

static void entropy_free(struct api_request *r)
{
	rng_config_free(r->device_config);
	r->device_config = NULL;
}

static int entropy_attach(struct vmm *vmm, const struct vm_config *c)
{
	const struct rng_config *rc = rng_config_of(c);
	return rc ? vmm_attach(vmm, &rng_class, "", rc) : 0;
}

static void entropy_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	api_apply_store(entropy_store, t, r, rep);
}

static json_t *entropy_json(const struct vm_config *c)
{
	const struct rng_config *rc = rng_config_of(c);
	if (!rc)
		return json_null();
	return json_pack("{s:o}", "rate_limiter", api_rate_limiter_json(&rc->rate_limiter));
}

static void entropy_metrics(json_t *g, json_t *total, const void *dev)
{
	const struct rng *r = dev;
	metrics_add(g, total, "entropy_event_count", r->dev.requests);
	metrics_add(g, total, "entropy_bytes", r->dev.bytes);
	metrics_add(g, total, "entropy_rate_limiter_throttled", r->rl.throttled);
}

static const struct metrics_device_group entropy_group = {
	.name = "entropy",
	.leaves = (const char *const[]){ "activate_fails", "entropy_event_fails", "entropy_event_count",
	  "entropy_bytes", "host_rng_fails", "entropy_rate_limiter_throttled", "rate_limiter_event_count", NULL },
	.cls = &rng_class, .fill = entropy_metrics,
};

static const struct api_method entropy_put = API_BOOT_BODY(entropy_parse, entropy_apply, entropy_free);

const struct api_resource api_res_entropy = {
	.path = "/entropy", .metrics = "entropy", .put = &entropy_put,
	.key = "entropy", .to_json = entropy_json, .store = entropy_store, .attach = entropy_attach,
	.cli_opts = (const struct cli_opt *const[]){ &rng_cli_opt, NULL },
	.metrics_group = &entropy_group,
};
