/* entropy: /entropy (PUT, pre-boot): a virtio-rng device. */
#include <string.h>

#include "api/api.h"

int api_parse_entropy(const json_t *o, struct api_entropy *out, struct api_err *e)
{
	static const char *const allowed[] = { "rate_limiter", NULL };
	memset(out, 0, sizeof(*out));
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_rate_limiter(o, "rate_limiter", &out->rate_limiter, NULL, e);
	return ret;
}

void api_apply_entropy(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	t->cfg->entropy = true;
	t->cfg->entropy_rate_limiter = r->entropy.rate_limiter;
	rep->status = 204;
}
