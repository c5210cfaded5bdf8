/* machine_config: /machine-config (GET, PUT, PATCH; pre-boot). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/arch/arch.h"

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

int api_parse_machine_config(const json_t *o, bool patch, struct api_machine *out, struct api_err *e)
{
	static const char *const allowed[] = { "vcpu_count", "mem_size_mib", "smt", "ht_enabled",
		                               "track_dirty_pages", "huge_pages", "cpu_template", NULL };
	uint64_t v;
	bool has;
	int huge = 0, tmpl = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = api_fields_check(o, allowed, e);
	if (ret < 0)
		return ret;
	ret = api_field_u64(o, "vcpu_count", !patch, 1, CONFIG_MAX_VCPUS, &v, &has, e);
	if (ret < 0)
		return ret;
	out->m.vcpu_count = (unsigned)v;
	out->set |= has ? MACHINE_VCPUS : 0;
	ret = api_field_u64(o, "mem_size_mib", !patch, 1, MEM_MAX_MIB, &out->m.mem_size_mib, &has, e);
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

json_t *api_machine_json(const struct machine_config *m)
{
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

void api_apply_machine(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	struct machine_config *cur = &t->cfg->machine;
	struct machine_config next = *cur;
	const struct api_machine *a = &r->machine;

	if (r->kind == API_GET_MACHINE) {
		api_reply_json(rep, api_machine_json(cur));
		return;
	}
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
	/* Firecracker: with SMT every core has two threads */
	if (next.smt && next.vcpu_count > 1 && next.vcpu_count % 2) {
		api_reply_fault(rep, 400, "vcpu_count: must be 1 or an even number when smt is enabled");
		return;
	}
	if (next.huge_pages_2m && next.mem_size_mib % 2) {
		api_reply_fault(rep, 400, "mem_size_mib: must be a multiple of 2 with huge_pages 2M");
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
