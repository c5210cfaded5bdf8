/* libFuzzer target: the --config-file path. The input is the JSON
 * document; config_file_apply_text parses it with the API's resource
 * parsers and applies every section to a fresh configuration, as husk
 * does at start-up. Nothing is booted.
 *
 * The logger and metrics sections would open the files they name: tools/fuzz
 * links this target with -Wl,--wrap for log_set_path and metrics_open, and
 * the wrappers below answer without touching the file system (an absolute
 * path opens, anything else does not), so both outcomes are exercised. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/api.h"
#include "vmm/config_file.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_log_set_path(const char *path);
int __wrap_metrics_open(struct metrics *m, const char *path);

int __wrap_log_set_path(const char *path)
{
	return path[0] == '/' ? 0 : -ENOENT;
}

int __wrap_metrics_open(struct metrics *m, const char *path)
{
	(void)m;
	return path[0] == '/' ? 0 : -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm vmm = { 0 };
	struct vm_config cfg;
	struct metrics metrics;
	char err[512];
	/* the previous input's logger section may have raised the level or
	 * changed the format: every input starts quiet */
	log_set_level(LOG_ERROR);
	log_set_options(false, false);
	config_init(&cfg);
	metrics_init(&metrics, NULL, NULL);
	struct api_target t = { .vmm = &vmm, .cfg = &cfg, .metrics = &metrics, .instance_id = "f" };
	config_file_apply_text((const char *)data, size, &t, err, sizeof(err));
	config_free(&cfg);
	return 0;
}
