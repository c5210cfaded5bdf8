/* machine_config: /machine-config (GET, PUT, PATCH; pre-boot). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/arch/arch.h"
#include "vmm/cli.h"
#include "vmm/errmsg.h"

#define MEM_MAX_MIB (1024ULL * 1024) /* 1 TiB */

static const char *const huge_names[] = { "None", "2M", NULL };

/* smt, or ht_enabled: its name before Firecracker 1.0, which Kata's
 * driver still sends (Firecracker itself now refuses it) */
static int smt_field(const json_t *o, bool *smt, bool *has, struct api_err *e)
{
	bool old, has_old;
	int ret = api_field_bool(o, "smt", false, smt, has, e);
	if (ret == 0)
		ret = api_field_bool(o, "ht_enabled", false, &old, &has_old, e);
	if (ret == 0 && has_old && *has && old != *smt)
		ret = api_fail(e, "ht_enabled: contradicts smt (its newer name)");
	if (ret == 0 && has_old && !*has) {
		*smt = old;
		*has = true;
	}
	return ret;
}

/* Firecracker's words (MachineConfigError) */
#define MACHINE_BAD_VCPUS                                                                              \
	"Machine config error: The number of vCPUs must be greater than 0, less than %d and must be 1 or " \
	"an even number if SMT is enabled."
#define MACHINE_BAD_MEM                                                                                \
	"Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured "   \
	"page size."

static int machine_parse(const json_t *o, bool patch, struct api_machine *out, struct api_err *e)
{
	/* Firecracker's order (an unknown field's answer lists them), then husk's */
	static const char *const allowed[] = { "vcpu_count", "mem_size_mib", "smt", "cpu_template",
		                               "track_dirty_pages", "huge_pages", "ht_enabled", NULL };
	uint64_t v;
	bool has;
	int huge = 0, tmpl = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret < 0)
		return ret;
	/* Firecracker's field is a u8; its range is checked in its words
	 * here, so a config file is refused before any of it is applied */
	ret = api_field_u64(o, "vcpu_count", !patch, 0, UINT8_MAX, &v, &has, e);
	if (ret == 0 && has && (v == 0 || v > CONFIG_MAX_VCPUS))
		ret = api_fail(e, MACHINE_BAD_VCPUS " (vcpu_count %llu)", CONFIG_MAX_VCPUS, (unsigned long long)v);
	if (ret < 0)
		return ret;
	out->m.vcpu_count = (unsigned)v;
	out->set |= has ? MACHINE_VCPUS : 0;
	ret = api_field_u64(o, "mem_size_mib", !patch, 0, MEM_MAX_MIB, &out->m.mem_size_mib, &has, e);
	if (ret == 0 && has && !out->m.mem_size_mib)
		ret = api_fail(e, MACHINE_BAD_MEM " (mem_size_mib 0)");
	if (ret < 0)
		return ret;
	out->set |= has ? MACHINE_MEM : 0;
	ret = smt_field(o, &out->m.smt, &has, e);
	if (ret < 0)
		return ret;
	out->set |= has ? MACHINE_SMT : 0;
	ret = api_field_bool(o, "track_dirty_pages", false, &out->m.track_dirty_pages, &has, e);
	if (ret < 0)
		return ret;
	out->set |= has ? MACHINE_DIRTY : 0;
	ret = api_field_enum(o, "huge_pages", false, huge_names, &huge, &has, e);
	if (ret < 0)
		return ret;
	out->m.huge_pages_2m = huge == 1;
	out->set |= has ? MACHINE_HUGE : 0;
	ret = api_field_enum(o, "cpu_template", false, cpu_template_names, &tmpl, &has, e);
	if (ret < 0)
		return ret;
	out->m.cpu_template = (enum cpu_template)tmpl;
	out->set |= has ? MACHINE_TEMPLATE : 0;
	/* a PUT replaces the whole object: what it leaves out gets the default */
	if (!patch)
		out->set = MACHINE_VCPUS | MACHINE_MEM | MACHINE_SMT | MACHINE_DIRTY | MACHINE_HUGE |
		           MACHINE_TEMPLATE;
	return 0;
}

static json_t *machine_json(const struct vm_config *c)
{
	const struct machine_config *m = &c->machine;
	json_t *o = json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", (int)m->vcpu_count, "mem_size_mib",
	                      (json_int_t)m->mem_size_mib, "smt", m->smt, "track_dirty_pages",
	                      m->track_dirty_pages, "huge_pages", m->huge_pages_2m ? "2M" : "None");
	/* as Firecracker: shown when a static template is in force */
	if (o && m->cpu_template != CPU_TEMPLATE_NONE)
		json_object_set_new(o, "cpu_template", json_string(cpu_template_names[m->cpu_template]));
	return o;
}

/* A static template must be one the host's CPU vendor runs; setting one
 * replaces a custom template (the later request wins, as in Firecracker). */
static int machine_template(struct api_target *t, enum cpu_template tmpl, struct api_reply *rep)
{
	char why[160];
	if (arch_cpu_template_check(tmpl, why, sizeof(why)) < 0)
		return api_reply_fault(rep, 400, "cpu_template: %s", why);
	if (tmpl != CPU_TEMPLATE_NONE)
		config_cpu_config_free(&t->cfg->cpu_config);
	return 0;
}

/* Firecracker deprecates cpu_template (whatever its value) in favour of
 * PUT /cpu-config. */
static bool has_cpu_template(const json_t *o)
{
	const json_t *v = json_object_get(o, "cpu_template");
	return v && !json_is_null(v);
}

static int machine_put_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	(void)path_id;
	int ret = machine_parse(o, false, &r->machine, e);
	if (ret == 0 && has_cpu_template(o))
		r->deprecation = "PUT /machine-config: cpu_template field is deprecated.";
	return ret;
}

static int machine_patch_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	(void)path_id;
	int ret = machine_parse(o, true, &r->machine, e);
	if (ret == 0 && !r->machine.set)
		return api_fail(e, "Empty PATCH request.");
	if (ret == 0 && has_cpu_template(o))
		r->deprecation = "PATCH /machine-config: cpu_template field is deprecated.";
	return ret;
}

static void machine_get_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	(void)r;
	api_reply_json(rep, machine_json(t->cfg));
}

/* PUT and PATCH: the fields the request set */
static void machine_set_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct machine_config *cur = &t->cfg->machine;
	struct machine_config next = *cur;
	const struct api_machine *a = &r->machine;
	char why[160];

	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (a->set & MACHINE_VCPUS)
		next.vcpu_count = a->m.vcpu_count;
	if (a->set & MACHINE_MEM)
		next.mem_size_mib = a->m.mem_size_mib;
	if (a->set & MACHINE_SMT)
		next.smt = a->m.smt;
	if (a->set & MACHINE_DIRTY)
		next.track_dirty_pages = a->m.track_dirty_pages;
	if (a->set & MACHINE_HUGE)
		next.huge_pages_2m = a->m.huge_pages_2m;
	/* Firecracker checks the architecture before the vCPU count */
	if (arch_smt_check(next.smt, why, sizeof(why)) < 0) {
		api_reply_fault(rep, 400, "Machine config error: %s", why);
		return;
	}
	/* Firecracker: with SMT every core has two threads */
	if (!next.vcpu_count || next.vcpu_count > CONFIG_MAX_VCPUS ||
	    (next.smt && next.vcpu_count > 1 && next.vcpu_count % 2)) {
		api_reply_fault(rep, 400, MACHINE_BAD_VCPUS, CONFIG_MAX_VCPUS);
		return;
	}
	if (!next.mem_size_mib || (next.huge_pages_2m && next.mem_size_mib % 2)) {
		api_reply_fault(rep, 400, MACHINE_BAD_MEM);
		return;
	}
	if (a->set & MACHINE_TEMPLATE) {
		if (machine_template(t, a->m.cpu_template, rep) < 0)
			return;
		next.cpu_template = a->m.cpu_template;
	}
	*cur = next;
	rep->status = 204;
}

/* ---- husk run's options for the machine ---- */

static int opt_vcpus(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t v;
	if (cli_parse_u64(arg, 1, CONFIG_MAX_VCPUS, &v) < 0)
		return errmsg_set(err, errlen, -EINVAL, "--vcpus must be 1..%d, got '%s'", CONFIG_MAX_VCPUS, arg);
	cfg->machine.vcpu_count = (unsigned)v;
	return 0;
}

static int opt_mem(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t v;
	if (cli_parse_u64(arg, 1, UINT64_MAX >> 20, &v) < 0)
		return errmsg_set(err, errlen, -EINVAL, "--mem must be a positive number of MiB, got '%s'", arg);
	cfg->machine.mem_size_mib = v;
	return 0;
}

static int opt_huge_pages(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	if (strcmp(arg, "2M") && strcmp(arg, "None"))
		return errmsg_set(err, errlen, -EINVAL, "--huge-pages must be 2M or None, got '%s'", arg);
	cfg->machine.huge_pages_2m = arg[0] == '2';
	return 0;
}

static int opt_no_acpi(const char *arg, struct vm_config *cfg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	cfg->no_acpi = true;
	return 0;
}

static const struct cli_opt machine_opts[] = {
	{ "vcpus", required_argument, "[--vcpus N]", opt_vcpus },
	{ "mem", required_argument, "[--mem MiB]", opt_mem },
	{ "huge-pages", required_argument, "[--huge-pages 2M|None]", opt_huge_pages },
	{ "no-acpi", no_argument, "[--no-acpi]", opt_no_acpi },
};

static const struct api_method machine_get = API_GET(machine_get_apply);
static const struct api_method machine_put = API_BOOT_BODY(machine_put_parse, machine_set_apply, api_free_nothing);
static const struct api_method machine_patch = API_BOOT_BODY(machine_patch_parse, machine_set_apply, api_free_nothing);

const struct api_resource api_res_machine_config = {
	.path = "/machine-config", .metrics = "machine_config", .fc_metrics = "machine_cfg",
	.get = &machine_get, .put = &machine_put, .patch = &machine_patch,
	.key = "machine-config", .to_json = machine_json,
	.cli_opts = (const struct cli_opt *const[]){ &machine_opts[0], &machine_opts[1], &machine_opts[2],
	                                             &machine_opts[3], NULL },
};
