/* serial: /serial (PUT, pre-boot): where COM1's output goes, as
 * Firecracker's serial_out_path (husk run's --serial-out; absent: stdout),
 * and its rate_limiter, a token bucket of bytes: output past it is
 * dropped and counted (uart.rate_limiter_dropped_bytes), as Firecracker
 * does, so a chatty guest cannot flood the host's log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/cli.h"
#include "vmm/errmsg.h"

static int serial_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "serial_out_path", "rate_limiter", NULL };
	(void)path_id;
	memset(&r->serial, 0, sizeof(r->serial));
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "serial_out_path", false, &r->serial.out_path, e);
	if (ret == 0)
		ret = api_field_token_bucket(o, "rate_limiter", &r->serial.rate_limiter, e);
	return ret;
}

static void serial_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	api_str_move(&t->cfg->serial_out_path, &r->serial.out_path);
	t->cfg->serial_rate_limiter = r->serial.rate_limiter;
	rep->status = 204;
}

static void serial_free(struct api_request *r)
{
	free(r->serial.out_path);
}

/* ---- husk run's options for the serial console ---- */

static int opt_serial_out(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	return cli_set_str(&cfg->serial_out_path, arg, err, errlen);
}

static int opt_serial_limit(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t v;
	if (cli_parse_u64(arg, 0, UINT64_MAX >> 20, &v) < 0)
		return errmsg_set(err, errlen, -EINVAL,
		                  "--serial-out-limit must be a number of MiB (0: no cap), got '%s'", arg);
	cfg->serial_out_limit = v << 20;
	return 0;
}

static const struct cli_opt serial_opts[] = {
	{ "serial-out", required_argument, "[--serial-out PATH]", opt_serial_out },
	{ "serial-out-limit", required_argument, "[--serial-out-limit MiB]", opt_serial_limit },
};

static const struct api_method serial_put = API_BODY(serial_parse, serial_apply, serial_free);

const struct api_resource api_res_serial = {
	.path = "/serial", .metrics = "serial", .fc_metrics = "serial", .put = &serial_put,
	.cli_opts = (const struct cli_opt *const[]){ &serial_opts[0], &serial_opts[1], NULL },
};
