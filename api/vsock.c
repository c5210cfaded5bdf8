/* vsock: /vsock (PUT, pre-boot). */
#include <string.h>
#include <sys/un.h>

#include "api/api.h"

int api_parse_vsock(const json_t *o, struct vsock_config *out, struct api_err *e)
{
	/* vsock_id: accepted and ignored, as Firecracker does since v1.0 */
	static const char *const allowed[] = { "guest_cid", "uds_path", "vsock_id", NULL };
	struct sockaddr_un sa;
	char *id = NULL;
	uint64_t cid = 0; /* read below even when a check failed first */
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	/* 0-2 are the hypervisor, local and host; the field is 32 bits */
	if (ret == 0)
		ret = api_field_u64(o, "guest_cid", true, 3, UINT32_MAX - 1, &cid, NULL, e);
	if (ret == 0)
		ret = api_field_str(o, "uds_path", true, &out->uds_path, e);
	/* room for the "_<port>" suffix of guest-initiated connections */
	if (ret == 0 && strlen(out->uds_path) + 12 > sizeof(sa.sun_path))
		ret = api_fail(e, "uds_path: longer than %zu bytes", sizeof(sa.sun_path) - 12);
	if (ret == 0)
		ret = api_field_str(o, "vsock_id", false, &id, e);
	free(id);
	out->guest_cid = (uint32_t)cid;
	out->set = ret == 0;
	return ret;
}

void api_apply_vsock(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	t->cfg->vsock.guest_cid = r->vsock.guest_cid;
	api_str_move(&t->cfg->vsock.uds_path, &r->vsock.uds_path);
	t->cfg->vsock.set = true;
	rep->status = 204;
}
