/* boot_source: /boot-source (PUT, pre-boot). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "api/resource.h"
#include "vmm/errmsg.h"
#include "vmm/cli.h"

static int boot_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	struct boot_config *out = &r->boot;
	static const char *const allowed[] = { "kernel_image_path", "initrd_path", "boot_args", NULL };
	int ret;

	(void)path_id;
	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, "kernel_image_path", true, &out->kernel_image_path, e);
	if (ret == 0)
		ret = api_field_str(o, "initrd_path", false, &out->initrd_path, e);
	if (ret == 0)
		ret = api_field_text(o, "boot_args", "a string", &out->boot_args, e);
	return ret;
}

/* Firecracker's kernel command line capacity, the NUL included
 * (CMDLINE_MAX_SIZE, the same on x86_64 and aarch64) */
#define BOOT_CMDLINE_CAPACITY 2048

static bool boot_blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* s[0..n) without the blanks at either end; its length */
static size_t boot_trimmed(const char *s, size_t n)
{
	while (n && boot_blank(*s))
		s++, n--;
	while (n && boot_blank(s[n - 1]))
		n--;
	return n;
}

/* What linux-loader's Cmdline::try_from measures against the capacity:
 * the boot args and the init args (after the first " -- " with an even
 * number of '"' before it), each trimmed, " -- " between them when there
 * are init args, and the NUL. */
static size_t boot_cmdline_size(const char *s)
{
	static const char sep[] = " -- ";
	const size_t seplen = sizeof(sep) - 1;
	size_t len = strlen(s), at = boot_args_init_at(s);
	size_t boot = boot_trimmed(s, at);
	size_t init = at < len ? boot_trimmed(s + at + seplen, len - at - seplen) : 0;
	return boot + 1 + (init ? seplen + init : 0);
}

static void boot_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct boot_config *b = &r->boot;
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	/* Firecracker opens both files here, so a typo is a 400 now, not at boot */
	char os[96];
	if (access(b->kernel_image_path, R_OK) < 0) {
		api_reply_fault(rep, 400, "Boot source error: The kernel file cannot be opened: %s (kernel_image_path %s)",
		                errmsg_os(errno, os, sizeof(os)), b->kernel_image_path);
		return;
	}
	if (b->initrd_path && access(b->initrd_path, R_OK) < 0) {
		api_reply_fault(rep, 400, "Boot source error: The initrd file cannot be opened due to invalid path or "
		                "invalid permissions. %s (initrd_path %s)", errmsg_os(errno, os, sizeof(os)),
		                b->initrd_path);
		return;
	}
	/* Firecracker's words (BootSourceConfigError and linux-loader's), then husk's */
	size_t size = b->boot_args ? boot_cmdline_size(b->boot_args) : 0;
	if (size > BOOT_CMDLINE_CAPACITY) {
		api_reply_fault(rep, 400, "Boot source error: The kernel command line is invalid: Invalid cmdline "
		                "capacity provided. (boot_args: %zu bytes with the NUL, at most %d)", size,
		                BOOT_CMDLINE_CAPACITY);
		return;
	}
	api_str_move(&t->cfg->boot.kernel_image_path, &b->kernel_image_path);
	api_str_move(&t->cfg->boot.initrd_path, &b->initrd_path);
	api_str_move(&t->cfg->boot.boot_args, &b->boot_args);
	rep->status = 204;
}

static json_t *boot_json(const struct vm_config *c)
{
	const struct boot_config *b = &c->boot;
	if (!b->kernel_image_path)
		return json_null();
	return json_pack("{s:s, s:o, s:o}", "kernel_image_path", b->kernel_image_path, "initrd_path",
	                 api_str_or_null(b->initrd_path), "boot_args", api_str_or_null(b->boot_args));
}

static void boot_free(struct api_request *r)
{
	boot_config_free(&r->boot);
}

/* ---- husk run's options for the boot source ---- */

static int opt_kernel(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	return cli_set_str(&cfg->boot.kernel_image_path, arg, err, errlen);
}

static int opt_initrd(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	return cli_set_str(&cfg->boot.initrd_path, arg, err, errlen);
}

static int opt_cmdline(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	return cli_set_str(&cfg->boot.boot_args, arg, err, errlen);
}

static const struct cli_opt boot_opts[] = {
	{ "kernel", required_argument, "--kernel PATH", opt_kernel },
	{ "initrd", required_argument, "[--initrd PATH]", opt_initrd },
	{ "cmdline", required_argument, "[--cmdline ARGS]", opt_cmdline },
};

static const struct api_method boot_put = API_BOOT_BODY(boot_parse, boot_apply, boot_free);

const struct api_resource api_res_boot_source = {
	.path = "/boot-source", .metrics = "boot_source", .fc_metrics = "boot_source", .put = &boot_put,
	.key = "boot-source", .to_json = boot_json,
	.cli_opts = (const struct cli_opt *const[]){ &boot_opts[0], &boot_opts[1], &boot_opts[2], NULL },
};
