/* serial: /serial (PUT, pre-boot): where COM1's output goes, as
 * Firecracker's serial_out_path (husk run's --serial-out). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int api_parse_serial(const json_t *o, char **serial_out_path, struct api_err *e)
{
	static const char *const allowed[] = { "serial_out_path", NULL };
	*serial_out_path = NULL;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "serial_out_path", true, serial_out_path, e);
	return ret;
}

void api_apply_serial(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	api_str_move(&t->cfg->serial_out_path, &r->serial_out_path);
	rep->status = 204;
}
