/* boot_source: /boot-source (PUT, pre-boot). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"

int api_parse_boot_source(const json_t *o, struct boot_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "kernel_image_path", "initrd_path", "boot_args", NULL };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "kernel_image_path", true, &out->kernel_image_path, e);
	if (ret == 0)
		ret = api_field_str(o, "initrd_path", false, &out->initrd_path, e);
	if (ret == 0)
		ret = api_field_str(o, "boot_args", false, &out->boot_args, e);
	if (ret == 0 && out->boot_args && strlen(out->boot_args) >= 2048)
		ret = api_fail(e, "boot_args: longer than 2047 bytes");
	return ret;
}

void api_apply_boot_source(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct boot_config *b = &r->boot;
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	/* Firecracker opens both files here, so a typo is a 400 now, not at boot */
	if (access(b->kernel_image_path, R_OK) < 0) {
		api_reply_fault(rep, 400, "kernel_image_path: cannot open %s: %s", b->kernel_image_path,
		                strerror(errno));
		return;
	}
	if (b->initrd_path && access(b->initrd_path, R_OK) < 0) {
		api_reply_fault(rep, 400, "initrd_path: cannot open %s: %s", b->initrd_path, strerror(errno));
		return;
	}
	api_str_move(&t->cfg->boot.kernel_image_path, &b->kernel_image_path);
	api_str_move(&t->cfg->boot.initrd_path, &b->initrd_path);
	api_str_move(&t->cfg->boot.boot_args, &b->boot_args);
	rep->status = 204;
}
