/* vm_config: GET /vm/config, the whole configuration in the shape of the
 * config file: each resource's value under its key (api/resources.c). */
#include "api/resource.h"

json_t *api_rate_limiter_json(const struct rate_limiter_config *rl)
{
	/* what is in force: a bucket given as "no limit" is not shown */
	if (!token_bucket_config_in_force(&rl->bandwidth) && !token_bucket_config_in_force(&rl->ops))
		return json_null();
	json_t *o = json_object();
	const struct token_bucket_config *b[2] = { &rl->bandwidth, &rl->ops };
	const char *names[2] = { "bandwidth", "ops" };
	for (int i = 0; i < 2; i++) {
		if (!token_bucket_config_in_force(b[i]))
			continue;
		json_object_set_new(o, names[i],
		                    json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b[i]->size, "one_time_burst",
		                              (json_int_t)b[i]->one_time_burst, "refill_time",
		                              (json_int_t)b[i]->refill_time_ms));
	}
	return o;
}

json_t *api_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* {key: to_json(c)} of each resource that devices_only or not selects */
static json_t *resources_json(const struct vm_config *c, bool devices_only)
{
	json_t *o = json_object();
	for (int i = 0; o && api_resources[i]; i++) {
		const struct api_resource *res = api_resources[i];
		if (!res->key || !res->to_json || (devices_only && !res->store))
			continue;
		json_t *v = res->to_json(c);
		if (!v || json_object_set_new(o, res->key, v) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *api_devices_json(const struct vm_config *c)
{
	return resources_json(c, true);
}

static void vm_config_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	api_reply_json(rep, resources_json(t->cfg, false));
}

static const struct api_method vm_config_get = API_GET(vm_config_apply);

const struct api_resource api_res_vm_config = {
	.path = "/vm/config", .metrics = "vm_config", .get = &vm_config_get,
};
