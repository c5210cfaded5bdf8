/* cpu_config: PUT /cpu-config, a custom CPU template in Firecracker's
 * JSON form (pre-boot; the config file's "cpu-config" too):
 *
 *   {"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
 *                         "modifiers": [{"register": "ecx",
 *                                        "bitmap": "0bxxxx...x0xx"}]}],
 *    "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b...64 chars..."}]}
 *
 * A bitmap's characters map to bits from the right: 0 and 1 force the
 * bit, x leaves it; "_" separates, "0b" may lead; at most 32 (64 for an
 * MSR) bits. Numbers are strings with 0x or 0b, or JSON integers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/resource.h"
#include "vmm/arch/arch.h"

#define CPUID_FLAGS_MAX 7 /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX | STATEFUL_FUNC | STATE_READ_NEXT */

static const char *const register_names[] = { "eax", "ebx", "ecx", "edx", NULL };

/* A bitmap string into filter (bits it forces) and value; bits: 32 or 64. */
static int parse_bitmap(const json_t *o, const char *key, unsigned bits, uint64_t *filter, uint64_t *value,
                        struct api_err *e)
{
	const json_t *v = json_object_get(o, key);
	if (!v || !json_is_string(v))
		return api_fail(e, "%s: missing or not a string", key);
	const char *s = json_string_value(v);
	if (strncmp(s, "0b", 2) == 0)
		s += 2;
	unsigned n = 0;
	*filter = *value = 0;
	for (const char *p = s + strlen(s); p > s; p--) {
		char c = p[-1];
		if (c == '_')
			continue;
		if (c != '0' && c != '1' && c != 'x')
			return api_fail(e, "%s: '%c' is not 0, 1, x or _", key, c);
		if (n == bits)
			return api_fail(e, "%s: more than %u bits", key, bits);
		if (c != 'x')
			*filter |= 1ULL << n;
		if (c == '1')
			*value |= 1ULL << n;
		n++;
	}
	return n ? 0 : api_fail(e, "%s: no bits", key);
}

/* "0x1f", "0b101" or an integer, at most max. */
static int parse_number(const json_t *o, const char *key, bool required, uint64_t max, uint64_t *out,
                        struct api_err *e)
{
	const json_t *v = json_object_get(o, key);
	*out = 0;
	if (!v || json_is_null(v))
		return required ? api_fail(e, "missing field `%s`", key) : 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) <= max) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	int base = strncmp(s, "0x", 2) == 0 ? 16 : strncmp(s, "0b", 2) == 0 ? 2 : 0;
	char *end = NULL;
	errno = 0;
	unsigned long long n = base && s[2] && s[2] != '-' && s[2] != '+' ? strtoull(s + 2, &end, base) : 0;
	if (!base || !end || *end || errno || n > max)
		return api_fail(e, "%s: must be a number up to 0x%llx, as \"0x..\", \"0b..\" or an integer", key,
		                (unsigned long long)max);
	*out = n;
	return 0;
}

static int cpuid_register_parse(const json_t *o, struct cpuid_modifier *m, struct api_err *e)
{
	static const char *const allowed[] = { "register", "bitmap", NULL };
	int reg = 0;
	uint64_t filter, value;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_enum(o, "register", true, register_names, &reg, NULL, e);
	if (ret == 0)
		ret = parse_bitmap(o, "bitmap", 32, &filter, &value, e);
	m->reg = (enum cpuid_register)reg;
	m->filter = (uint32_t)filter;
	m->value = (uint32_t)value;
	return ret;
}

/* One leaf: its registers appended at out->cpuid[out->nr_cpuid..]. */
static int cpuid_leaf_parse(const json_t *o, struct cpu_config *out, struct api_err *e)
{
	static const char *const allowed[] = { "leaf", "subleaf", "flags", "modifiers", NULL };
	uint64_t leaf, subleaf, flags;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = parse_number(o, "leaf", true, UINT32_MAX, &leaf, e);
	if (ret == 0)
		ret = parse_number(o, "subleaf", true, UINT32_MAX, &subleaf, e);
	if (ret == 0)
		ret = api_field_u64(o, "flags", false, 0, CPUID_FLAGS_MAX, &flags, NULL, e);
	const json_t *mods = json_object_get(o, "modifiers");
	if (ret == 0 && !json_is_array(mods))
		ret = api_fail(e, "modifiers: missing or not an array");
	if (ret < 0)
		return ret;
	/* a leaf without registers still sets its flags: one entry forcing nothing */
	size_t n = json_array_size(mods) ? json_array_size(mods) : 1;
	if ((size_t)out->nr_cpuid + n > CONFIG_MAX_CPUID_MODIFIERS)
		return api_fail(e, "modifiers: more than %d registers in all", CONFIG_MAX_CPUID_MODIFIERS);
	for (size_t i = 0; i < n; i++) {
		struct cpuid_modifier *m = &out->cpuid[out->nr_cpuid++];
		*m = (struct cpuid_modifier){ .leaf = (uint32_t)leaf, .subleaf = (uint32_t)subleaf,
			                      .flags = (uint32_t)flags };
		if (!json_array_size(mods))
			break;
		ret = cpuid_register_parse(json_array_get(mods, i), m, e);
		if (ret < 0) {
			char where[32];
			snprintf(where, sizeof(where), "modifiers[%zu]", i);
			return api_prefix(e, where);
		}
	}
	return 0;
}

static int msr_parse(const json_t *o, struct msr_modifier *m, struct api_err *e)
{
	static const char *const allowed[] = { "addr", "bitmap", NULL };
	uint64_t addr;
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = parse_number(o, "addr", true, UINT32_MAX, &addr, e);
	if (ret == 0)
		ret = parse_bitmap(o, "bitmap", 64, &m->filter, &m->value, e);
	m->addr = (uint32_t)addr;
	return ret;
}

/* key: an array (or absent) of at most max objects, each through one(). */
typedef int parse_one_fn(const json_t *o, void *ctx, struct api_err *e);

static int parse_list(const json_t *o, const char *key, size_t max, parse_one_fn *one, void *ctx,
                      struct api_err *e)
{
	const json_t *arr = json_object_get(o, key);
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return api_fail(e, "%s: must be an array", key);
	if (json_array_size(arr) > max)
		return api_fail(e, "%s: at most %zu entries", key, max);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (one(json_array_get(arr, i), ctx, e) < 0) {
			char where[48];
			snprintf(where, sizeof(where), "%s[%zu]", key, i);
			return api_prefix(e, where);
		}
	}
	return 0;
}

static int one_leaf(const json_t *o, void *ctx, struct api_err *e)
{
	return cpuid_leaf_parse(o, ctx, e);
}

static int one_msr(const json_t *o, void *ctx, struct api_err *e)
{
	struct cpu_config *c = ctx;
	return msr_parse(o, &c->msr[c->nr_msr++], e);
}

static int cpu_config_parse(const json_t *o, const char *path_id, struct api_request *r, struct api_err *e)
{
	static const char *const allowed[] = { "cpuid_modifiers", "msr_modifiers", "kvm_capabilities", NULL };
	struct cpu_config *out = &r->cpu_config;
	(void)path_id;
	int ret = api_fields_check(o, allowed, e);
	if (ret < 0)
		return ret;
	/* Firecracker's capability overrides change what KVM does, not what the guest sees */
	const json_t *caps = json_object_get(o, "kvm_capabilities");
	if (caps && !json_is_null(caps) && !(json_is_array(caps) && json_array_size(caps) == 0))
		return api_fail(e, "kvm_capabilities: not supported by husk");
	out->cpuid = calloc(CONFIG_MAX_CPUID_MODIFIERS, sizeof(*out->cpuid));
	out->msr = calloc(CONFIG_MAX_MSR_MODIFIERS, sizeof(*out->msr));
	if (!out->cpuid || !out->msr)
		return api_fail(e, "out of memory");
	out->set = true;
	ret = parse_list(o, "cpuid_modifiers", CONFIG_MAX_CPUID_MODIFIERS, one_leaf, out, e);
	if (ret == 0)
		ret = parse_list(o, "msr_modifiers", CONFIG_MAX_MSR_MODIFIERS, one_msr, out, e);
	return ret;
}

static void cpu_config_apply(struct api_target *t, struct api_request *r, struct api_reply *rep)
{
	char why[160];
	if (api_started(t)) {
		api_reply_fault(rep, 400, API_AFTER_START);
		return;
	}
	if (arch_cpu_config_check(&r->cpu_config, why, sizeof(why)) < 0) {
		api_reply_fault(rep, 400, "cpu-config: %s", why);
		return;
	}
	/* the later of this and a static cpu_template wins, as in Firecracker */
	config_cpu_config_free(&t->cfg->cpu_config);
	t->cfg->cpu_config = r->cpu_config;
	memset(&r->cpu_config, 0, sizeof(r->cpu_config));
	t->cfg->machine.cpu_template = CPU_TEMPLATE_NONE;
	rep->status = 204;
}

/* "0b" and one of 0, 1, x a bit, highest first */
static json_t *bitmap_json(uint64_t filter, uint64_t value, unsigned bits)
{
	char s[2 + 64 + 1] = "0b";
	for (unsigned i = 0; i < bits; i++) {
		uint64_t b = 1ULL << (bits - 1 - i);
		s[2 + i] = !(filter & b) ? 'x' : (value & b) ? '1' : '0';
	}
	s[2 + bits] = 0;
	return json_string(s);
}

static json_t *hex_json(uint32_t n)
{
	char s[16];
	snprintf(s, sizeof(s), "0x%x", n);
	return json_string(s);
}

/* The entries of one leaf from i on (consecutive, as parsed); *next: the first of the next leaf. */
static json_t *leaf_json(const struct cpu_config *c, int i, int *next)
{
	const struct cpuid_modifier *first = &c->cpuid[i];
	json_t *mods = json_array();
	for (; i < c->nr_cpuid && c->cpuid[i].leaf == first->leaf && c->cpuid[i].subleaf == first->subleaf; i++) {
		const struct cpuid_modifier *m = &c->cpuid[i];
		if (m->filter)
			json_array_append_new(mods, json_pack("{s:s, s:o}", "register", register_names[m->reg], "bitmap",
			                                      bitmap_json(m->filter, m->value, 32)));
	}
	*next = i;
	return json_pack("{s:o, s:o, s:i, s:o}", "leaf", hex_json(first->leaf), "subleaf",
	                 hex_json(first->subleaf), "flags", (int)first->flags, "modifiers", mods);
}

/* null when none */
static json_t *cpu_config_json(const struct vm_config *cfg)
{
	const struct cpu_config *c = &cfg->cpu_config;
	if (!c->set)
		return json_null();
	json_t *leaves = json_array(), *msrs = json_array();
	for (int i = 0; i < c->nr_cpuid;)
		json_array_append_new(leaves, leaf_json(c, i, &i));
	for (int i = 0; i < c->nr_msr; i++)
		json_array_append_new(msrs, json_pack("{s:o, s:o}", "addr", hex_json(c->msr[i].addr), "bitmap",
		                                      bitmap_json(c->msr[i].filter, c->msr[i].value, 64)));
	return json_pack("{s:o, s:o}", "cpuid_modifiers", leaves, "msr_modifiers", msrs);
}

static void cpu_config_free(struct api_request *r)
{
	config_cpu_config_free(&r->cpu_config);
}

static const struct api_method cpu_config_put = API_BODY(cpu_config_parse, cpu_config_apply, cpu_config_free);

const struct api_resource api_res_cpu_config = {
	.path = "/cpu-config", .metrics = "cpu_config", .fc_metrics = "cpu_cfg", .put = &cpu_config_put,
	.key = "cpu-config", .to_json = cpu_config_json,
};
