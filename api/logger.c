/* logger: /logger (PUT, pre-boot): where log lines go and how they look. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/errmsg.h"

static int logger_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct api_logger *out = &r->logger;
	/* module: Firecracker's per-module filter; husk logs as one module */
	static const char *const allowed[] = { "log_path", "level", "show_level", "show_log_origin",
		                               "module", NULL };
	char *level = NULL, *module = NULL;
	int ret;

	(void)path_id;
	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "log_path", false, &out->log_path, e);
	if (ret == 0)
		ret = api_field_text(o, "level", "a string", &level, e);
	if (ret == 0 && level) {
		out->has_level = true;
		/* Firecracker's words (its LevelFilter), then husk's */
		if (log_level_parse(level, &out->level) < 0)
			ret = api_fail_serde(e, API_SERDE_AFTER, "level", "Invalid LevelFilter",
			                     "level: must be one of \"Error\", \"Warning\", \"Info\", \"Debug\", "
			                     "\"Trace\", \"Off\"");
	}
	if (ret == 0)
		ret = api_field_bool(o, "show_level", false, &out->show_level, &out->has_show_level, e);
	if (ret == 0)
		ret = api_field_bool(o, "show_log_origin", false, &out->show_origin, &out->has_show_origin, e);
	if (ret == 0)
		ret = api_field_str(o, "module", false, &module, e);
	free(level);
	free(module);
	return ret;
}

static void logger_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct api_logger *l = &r->logger;
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (l->log_path) {
		int ret = log_set_path(l->log_path);
		if (ret < 0) {
			char os[96];
			api_reply_fault(rep, 400, "Logger error: Failed to open target file: %s (log_path %s)",
			                errmsg_os(-ret, os, sizeof(os)), l->log_path);
			return;
		}
	}
	if (l->has_level)
		log_set_level(l->level);
	if (l->has_show_level || l->has_show_origin)
		log_set_options(l->has_show_level && l->show_level, l->has_show_origin && l->show_origin);
	t->logger_set = true;
	rep->status = 204;
}

static void logger_free(struct api_request *r)
{
	free(r->logger.log_path);
}

/* Firecracker answers null; husk shows what is in force once a log path
 * is set (PUT /logger, --log-path). */
static json_t *logger_json(const struct vm_config *c)
{
	bool show_level, show_origin;
	const char *path = log_get_path();
	(void)c;
	if (!path)
		return json_null();
	log_get_options(&show_level, &show_origin);
	return json_pack("{s:s, s:s, s:b, s:b}", "log_path", path, "level", log_level_name(log_get_level()),
	                 "show_level", show_level, "show_log_origin", show_origin);
}

static const struct api_method logger_put = API_BODY(logger_parse, logger_apply, logger_free);

const struct api_resource api_res_logger = {
	.path = "/logger", .metrics = "logger", .fc_metrics = "logger", .put = &logger_put,
	.key = "logger", .to_json = logger_json,
};
