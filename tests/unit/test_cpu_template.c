/* CPU templates: the custom template parser (good input and every bad
 * field), the bitmap application, each static template's effect on
 * known leaves, and the checks against KVM's supported CPUID. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "api/resource.h"
#include "vmm/arch/x86_64/cpu_template.h"

static int parse(const char *text, struct cpu_config *c, struct api_err *e)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	assert_non_null(o);
	struct api_request r;
	int ret = api_request_parse(api_resource_by_path("/cpu-config")->put, o, NULL, &r, e);
	*c = r.cpu_config;
	json_decref(o);
	return ret;
}

static void test_parse_good(void **state)
{
	(void)state;
	struct cpu_config c;
	struct api_err e = { "" };
	assert_int_equal(parse("{\"cpuid_modifiers\": ["
	                       " {\"leaf\": \"0x80000001\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	                       "  {\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxx0xxx1xx\"},"
	                       "  {\"register\": \"edx\", \"bitmap\": \"1_0x\"}]},"
	                       " {\"leaf\": 7, \"subleaf\": \"0b1\", \"flags\": 1, \"modifiers\": []}],"
	                       " \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1x0\"}],"
	                       " \"kvm_capabilities\": []}",
	                       &c, &e),
	                 0);
	assert_true(c.set);
	assert_int_equal(c.nr_cpuid, 3);
	assert_int_equal(c.cpuid[0].leaf, 0x80000001);
	assert_int_equal(c.cpuid[0].reg, CPUID_ECX);
	assert_int_equal(c.cpuid[0].filter, 0x44);
	assert_int_equal(c.cpuid[0].value, 0x04);
	assert_int_equal(c.cpuid[1].reg, CPUID_EDX);
	assert_int_equal(c.cpuid[1].filter, 0x6); /* "1_0x": bits 2 and 1, underscore skipped */
	assert_int_equal(c.cpuid[1].value, 0x4);
	/* a leaf with no registers: its flags only */
	assert_int_equal(c.cpuid[2].leaf, 7);
	assert_int_equal(c.cpuid[2].subleaf, 1);
	assert_int_equal(c.cpuid[2].flags, 1);
	assert_int_equal(c.cpuid[2].filter, 0);
	assert_int_equal(c.nr_msr, 1);
	assert_int_equal(c.msr[0].addr, 0x10a);
	assert_int_equal(c.msr[0].filter, 0x5);
	assert_int_equal(c.msr[0].value, 0x4);
	config_cpu_config_free(&c);
}

static void bad(const char *text, const char *want)
{
	struct cpu_config c;
	struct api_err e = { "" };
	assert_int_equal(parse(text, &c, &e), -EINVAL);
	if (!strstr(e.msg, want))
		fail_msg("%s: got '%s', want '%s'", text, e.msg, want);
	config_cpu_config_free(&c);
}

#define LEAF(fields) "{\"cpuid_modifiers\": [{" fields "}]}"
#define REG(reg, bitmap) \
	"\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"modifiers\": [{\"register\": " reg ", \"bitmap\": " bitmap "}]"

static void test_parse_bad_fields(void **state)
{
	(void)state;
	bad("{\"cpuid\": []}", "unknown field `cpuid`");
	bad("{\"cpuid_modifiers\": {}}", "cpuid_modifiers: must be an array");
	bad("{\"cpuid_modifiers\": [7]}", "cpuid_modifiers[0]: expected a JSON object");
	bad(LEAF("\"subleaf\": \"0x0\", \"modifiers\": []"), "cpuid_modifiers[0]: missing field `leaf`");
	bad(LEAF("\"leaf\": \"12\", \"subleaf\": \"0x0\", \"modifiers\": []"), "cpuid_modifiers[0]: leaf: must be");
	bad(LEAF("\"leaf\": \"0xzz\", \"subleaf\": \"0x0\", \"modifiers\": []"), "leaf: must be");
	bad(LEAF("\"leaf\": \"0x100000000\", \"subleaf\": \"0x0\", \"modifiers\": []"), "leaf: must be");
	bad(LEAF("\"leaf\": -1, \"subleaf\": \"0x0\", \"modifiers\": []"), "leaf: must be");
	bad(LEAF("\"leaf\": \"0x1\", \"modifiers\": []"), "missing field `subleaf`");
	bad(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 8, \"modifiers\": []"), "flags: must be");
	bad(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\""), "cpuid_modifiers[0]: modifiers: missing");
	bad(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"modifiers\": [], \"x\": 1"), "unknown field `x`");
	bad(LEAF(REG("\"rax\"", "\"0b1\"")), "cpuid_modifiers[0]: modifiers[0]: register");
	bad(LEAF(REG("\"eax\"", "\"0b12\"")), "modifiers[0]: bitmap: '2' is not 0, 1, x or _");
	bad(LEAF(REG("\"eax\"", "\"0b\"")), "modifiers[0]: bitmap: no bits");
	bad(LEAF(REG("\"eax\"", "7")), "modifiers[0]: bitmap: missing or not a string");
	bad(LEAF(REG("\"eax\"", "\"0b111111111111111111111111111111111\"")), "bitmap: more than 32 bits");
	bad("{\"msr_modifiers\": [{\"bitmap\": \"0b1\"}]}", "msr_modifiers[0]: missing field `addr`");
	bad("{\"msr_modifiers\": [{\"addr\": \"0x10a\"}]}", "msr_modifiers[0]: bitmap: missing");
	bad("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1"
	    "1111111111111111111111111111111111111111111111111111111111111111\"}]}",
	    "msr_modifiers[0]: bitmap: more than 64 bits");
	bad("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\", \"value\": 1}]}",
	    "msr_modifiers[0]: unknown field `value`");
	bad("{\"kvm_capabilities\": [\"171\"]}", "kvm_capabilities: not supported");
}

/* ---- applying templates ---- */

static const uint32_t leaves[][2] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 }, { 0x80000008, 0 },
};
#define NR_LEAVES (sizeof(leaves) / sizeof(leaves[0]))

static struct kvm_cpuid2 *cpuid_filled(uint32_t base)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NR_LEAVES * sizeof(c->entries[0]));
	for (size_t i = 0; i < NR_LEAVES; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){ .function = leaves[i][0], .index = leaves[i][1],
			                                   .eax = base, .ebx = base, .ecx = base, .edx = base };
	c->nent = NR_LEAVES;
	return c;
}

static uint32_t reg_of(const struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub, enum cpuid_register r)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == leaf && e->index == sub)
			return r == CPUID_EAX ? e->eax : r == CPUID_EBX ? e->ebx : r == CPUID_ECX ? e->ecx : e->edx;
	}
	fail_msg("leaf 0x%x.%u missing", leaf, sub);
	return 0;
}

static void test_bitmap_application(void **state)
{
	(void)state;
	struct cpu_config c;
	struct api_err e = { "" };
	/* bit 0 forced on, bit 1 forced off, bit 2 left; on leaf 0x7.0 EBX */
	assert_int_equal(parse(LEAF("\"leaf\": \"0x7\", \"subleaf\": \"0x0\", \"flags\": 1, \"modifiers\": "
	                            "[{\"register\": \"ebx\", \"bitmap\": \"x10\"}]"),
	                       &c, &e),
	                 0);
	struct kvm_cpuid2 *k = cpuid_filled(0);
	k->entries[1].ebx = 0x5; /* bits 0 and 2 */
	cpu_template_apply_cpuid(&c, k);
	assert_int_equal(k->entries[1].ebx, 0x6); /* 0 off, 1 on, 2 kept */
	assert_int_equal(k->entries[1].flags, 1);
	assert_int_equal(k->entries[1].ecx, 0);   /* other registers untouched */
	assert_int_equal(k->entries[0].ebx, 0);   /* other leaves untouched */
	free(k);
	config_cpu_config_free(&c);
}

/* What KVM_GET_CPUID2 reads back after the template was set: the same
 * table passes; a bit the template sets or clears that reads back
 * otherwise is named; the bits KVM rewrites at run time (OSXSAVE) do not
 * count; a leaf missing from the read-back fails only if the template
 * sets a bit in it. */
static void test_template_taken_check(void **state)
{
	(void)state;
	struct cpu_config c;
	struct api_err e = { "" };
	/* leaf 1 ECX: bit 0 off, bit 27 (OSXSAVE) on, bit 28 on; leaf 0xd.1 EAX bit 1 off */
	assert_int_equal(parse("{\"cpuid_modifiers\": ["
	                       " {\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	                       "  {\"register\": \"ecx\", \"bitmap\": \"0bxxx11xxxxxxxxxxxxxxxxxxxxxxxxxx0\"}]},"
	                       " {\"leaf\": \"0xd\", \"subleaf\": \"0x1\", \"flags\": 1, \"modifiers\": ["
	                       "  {\"register\": \"eax\", \"bitmap\": \"0b0x\"}]}]}",
	                       &c, &e),
	                 0);
	struct kvm_cpuid2 *k = cpuid_filled(0x5);
	cpu_template_apply_cpuid(&c, k);
	char err[256] = "";
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), 0);

	k->entries[0].ecx &= ~(1u << 27); /* the guest's CR4 has no OSXSAVE yet */
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), 0);

	k->entries[0].ecx |= 1; /* the CPU's own SSE3 shows through */
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "did not apply it: leaf 0x1 subleaf 0x0 register ecx bits 0 read back"));
	k->entries[0].ecx &= ~(1u << 28 | 1u);
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "register ecx bits 28 "));
	k->entries[0].ecx |= 1u << 28;

	/* the read-back lacks leaf 0xd.1: the template only clears there */
	k->entries[3] = k->entries[--k->nent];
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), 0);
	/* lacking leaf 1, where it sets bit 28, fails */
	k->entries[0] = k->entries[--k->nent];
	assert_int_equal(cpu_template_check_taken(&c, k, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "leaf 0x1 subleaf 0x0 register ecx bits 28 "));
	free(k);
	config_cpu_config_free(&c);
}

/* Each static template on all-zero and all-one registers: the expected
 * values were worked out from Firecracker's JSON form of the templates
 * (tests/data/custom_cpu_templates/), not from cpu_template_tables.c. */
static const struct {
	enum cpu_template t;
	uint32_t leaf, sub;
	enum cpuid_register reg;
	uint32_t on_zero, on_ones;
} expected[] = {
	{ CPU_TEMPLATE_C3, 0x1, 0x0, CPUID_EAX, 0x000306e4, 0xf003c6e4 },
	{ CPU_TEMPLATE_C3, 0x1, 0x0, CPUID_ECX, 0x00000000, 0xffbf22c3 },
	{ CPU_TEMPLATE_C3, 0x1, 0x0, CPUID_EDX, 0x00001080, 0x579bffff },
	{ CPU_TEMPLATE_C3, 0x7, 0x0, CPUID_EBX, 0x00000000, 0x005022c3 },
	{ CPU_TEMPLATE_C3, 0x7, 0x0, CPUID_ECX, 0x00000000, 0xbfbeb7e1 },
	{ CPU_TEMPLATE_C3, 0x7, 0x0, CPUID_EDX, 0x00000000, 0xfffffff3 },
	{ CPU_TEMPLATE_C3, 0xd, 0x0, CPUID_EAX, 0x00000000, 0xfffffd07 },
	{ CPU_TEMPLATE_C3, 0xd, 0x1, CPUID_EAX, 0x00000000, 0xfffffff1 },
	{ CPU_TEMPLATE_C3, 0x80000001, 0x0, CPUID_ECX, 0x00000000, 0xfffffedf },
	{ CPU_TEMPLATE_C3, 0x80000001, 0x0, CPUID_EDX, 0x00000000, 0xfbffffff },
	{ CPU_TEMPLATE_T2, 0x1, 0x0, CPUID_EAX, 0x000306f2, 0xf003c6f2 },
	{ CPU_TEMPLATE_T2, 0x1, 0x0, CPUID_ECX, 0x00000000, 0xfffb3203 },
	{ CPU_TEMPLATE_T2, 0x1, 0x0, CPUID_EDX, 0x00001080, 0x179bffff },
	{ CPU_TEMPLATE_T2, 0x7, 0x0, CPUID_EBX, 0x00000200, 0x001027eb },
	{ CPU_TEMPLATE_T2, 0x7, 0x0, CPUID_ECX, 0x00000000, 0xbfbea0a1 },
	{ CPU_TEMPLATE_T2, 0x7, 0x0, CPUID_EDX, 0x00000000, 0xfffffee3 },
	{ CPU_TEMPLATE_T2, 0xd, 0x0, CPUID_EAX, 0x00000000, 0xfffffd07 },
	{ CPU_TEMPLATE_T2, 0xd, 0x1, CPUID_EAX, 0x00000000, 0xfffffff1 },
	{ CPU_TEMPLATE_T2, 0x80000001, 0x0, CPUID_ECX, 0x00000000, 0xdffffeff },
	{ CPU_TEMPLATE_T2, 0x80000001, 0x0, CPUID_EDX, 0x00000000, 0xfbffffff },
	{ CPU_TEMPLATE_T2, 0x80000008, 0x0, CPUID_EBX, 0x00000000, 0xfffffdff },
	{ CPU_TEMPLATE_T2S, 0x1, 0x0, CPUID_EAX, 0x000306f2, 0xf003c6f2 },
	{ CPU_TEMPLATE_T2S, 0x1, 0x0, CPUID_ECX, 0x00000000, 0xfffb3203 },
	{ CPU_TEMPLATE_T2S, 0x1, 0x0, CPUID_EDX, 0x00001080, 0x179bffff },
	{ CPU_TEMPLATE_T2S, 0x7, 0x0, CPUID_EBX, 0x00000200, 0x001027eb },
	{ CPU_TEMPLATE_T2S, 0x7, 0x0, CPUID_ECX, 0x00000000, 0xbfbea0a1 },
	{ CPU_TEMPLATE_T2S, 0x7, 0x0, CPUID_EDX, 0x00000000, 0xfffffee3 },
	{ CPU_TEMPLATE_T2S, 0xd, 0x0, CPUID_EAX, 0x00000000, 0xfffffd07 },
	{ CPU_TEMPLATE_T2S, 0xd, 0x1, CPUID_EAX, 0x00000000, 0xfffffff1 },
	{ CPU_TEMPLATE_T2S, 0x80000001, 0x0, CPUID_ECX, 0x00000000, 0xdffffeff },
	{ CPU_TEMPLATE_T2S, 0x80000001, 0x0, CPUID_EDX, 0x00000000, 0xfbffffff },
	{ CPU_TEMPLATE_T2S, 0x80000008, 0x0, CPUID_EBX, 0x00000000, 0xfffffdff },
	{ CPU_TEMPLATE_T2CL, 0x1, 0x0, CPUID_EAX, 0x000306f2, 0xf003c6f2 },
	{ CPU_TEMPLATE_T2CL, 0x1, 0x0, CPUID_ECX, 0x00000000, 0xfffb3203 },
	{ CPU_TEMPLATE_T2CL, 0x1, 0x0, CPUID_EDX, 0x00001080, 0x179bffff },
	{ CPU_TEMPLATE_T2CL, 0x7, 0x0, CPUID_EBX, 0x00000200, 0x001027eb },
	{ CPU_TEMPLATE_T2CL, 0x7, 0x0, CPUID_ECX, 0x00000000, 0xbfbea0a1 },
	{ CPU_TEMPLATE_T2CL, 0x7, 0x0, CPUID_EDX, 0x00000000, 0xfffffee3 },
	{ CPU_TEMPLATE_T2CL, 0xd, 0x0, CPUID_EAX, 0x00000000, 0xfffffd07 },
	{ CPU_TEMPLATE_T2CL, 0xd, 0x1, CPUID_EAX, 0x00000000, 0xfffffff1 },
	{ CPU_TEMPLATE_T2CL, 0x80000001, 0x0, CPUID_ECX, 0x00000000, 0xdffffe3f },
	{ CPU_TEMPLATE_T2CL, 0x80000001, 0x0, CPUID_EDX, 0x00000000, 0xf83fffff },
	{ CPU_TEMPLATE_T2CL, 0x80000008, 0x0, CPUID_EBX, 0x00000000, 0xfffffdff },
	{ CPU_TEMPLATE_T2A, 0x1, 0x0, CPUID_EAX, 0x000306f2, 0xf003c6f2 },
	{ CPU_TEMPLATE_T2A, 0x1, 0x0, CPUID_ECX, 0x00000000, 0xfffb3203 },
	{ CPU_TEMPLATE_T2A, 0x1, 0x0, CPUID_EDX, 0x00001080, 0x179bffff },
	{ CPU_TEMPLATE_T2A, 0x7, 0x0, CPUID_EBX, 0x00000200, 0x001027eb },
	{ CPU_TEMPLATE_T2A, 0x7, 0x0, CPUID_ECX, 0x00000000, 0xbfbea0a1 },
	{ CPU_TEMPLATE_T2A, 0x7, 0x0, CPUID_EDX, 0x00000000, 0xfffffee3 },
	{ CPU_TEMPLATE_T2A, 0xd, 0x0, CPUID_EAX, 0x00000000, 0xfffffd07 },
	{ CPU_TEMPLATE_T2A, 0xd, 0x1, CPUID_EAX, 0x00000000, 0xfffffff1 },
	{ CPU_TEMPLATE_T2A, 0x80000001, 0x0, CPUID_ECX, 0x00000000, 0xdffffe3b },
	{ CPU_TEMPLATE_T2A, 0x80000001, 0x0, CPUID_EDX, 0x00000000, 0xf9bfffff },
	{ CPU_TEMPLATE_T2A, 0x80000008, 0x0, CPUID_EBX, 0x001c0004, 0xfffffdfe },
};

static const struct {
	enum cpu_template t;
	uint32_t addr;
	uint64_t on_zero, on_ones;
} expected_msrs[] = {
	{ CPU_TEMPLATE_T2S, 0x10a, 0x000000000c0a0c4cULL, 0x000000000c0a0c4cULL },
	{ CPU_TEMPLATE_T2CL, 0x10a, 0x0000000000000000ULL, 0x000000001d0ae1ffULL },
};

static void test_static_templates_table(void **state)
{
	(void)state;
	assert_null(cpu_template_static(CPU_TEMPLATE_NONE));
	for (enum cpu_template t = CPU_TEMPLATE_C3; t <= CPU_TEMPLATE_T2A; t++) {
		const struct cpu_config *tmpl = cpu_template_static(t);
		struct kvm_cpuid2 *zero = cpuid_filled(0), *ones = cpuid_filled(~0u);
		assert_non_null(tmpl);
		cpu_template_apply_cpuid(tmpl, zero);
		cpu_template_apply_cpuid(tmpl, ones);
		unsigned rows = 0;
		for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
			if (expected[i].t != t)
				continue;
			rows++;
			assert_int_equal(reg_of(zero, expected[i].leaf, expected[i].sub, expected[i].reg), expected[i].on_zero);
			assert_int_equal(reg_of(ones, expected[i].leaf, expected[i].sub, expected[i].reg), expected[i].on_ones);
		}
		/* and nothing else: every register the template touches has its row */
		assert_int_equal(rows, (unsigned)tmpl->nr_cpuid);
		unsigned msrs = 0;
		for (size_t i = 0; i < sizeof(expected_msrs) / sizeof(expected_msrs[0]); i++) {
			if (expected_msrs[i].t != t)
				continue;
			assert_int_equal(tmpl->msr[msrs].addr, expected_msrs[i].addr);
			assert_int_equal(tmpl->msr[msrs].value & tmpl->msr[msrs].filter, expected_msrs[i].on_zero);
			assert_int_equal(~tmpl->msr[msrs].filter | tmpl->msr[msrs].value, expected_msrs[i].on_ones);
			msrs++;
		}
		assert_int_equal(msrs, (unsigned)tmpl->nr_msr);
		free(zero);
		free(ones);
	}
}

/* ---- checks against the host ---- */

static void test_vendor_check(void **state)
{
	(void)state;
	char err[160];
	assert_int_equal(cpu_template_vendor_check(CPU_TEMPLATE_T2A, "AuthenticAMD", err, sizeof(err)), 0);
	assert_int_equal(cpu_template_vendor_check(CPU_TEMPLATE_NONE, "AuthenticAMD", err, sizeof(err)), 0);
	for (enum cpu_template t = CPU_TEMPLATE_C3; t <= CPU_TEMPLATE_T2CL; t++) {
		assert_int_equal(cpu_template_vendor_check(t, "GenuineIntel", err, sizeof(err)), 0);
		assert_int_equal(cpu_template_vendor_check(t, "AuthenticAMD", err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "made for Intel CPUs and this host's is AuthenticAMD"));
		assert_non_null(strstr(err, cpu_template_names[t]));
	}
	assert_int_equal(cpu_template_vendor_check(CPU_TEMPLATE_T2A, "GenuineIntel", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "T2A is made for AMD CPUs and this host's is GenuineIntel");
}

/* Parse a template and check it against what KVM supports: taken
 * (want_err NULL), or refused with exactly want_err. */
static void kvm_check(const struct kvm_cpuid2 *sup, const char *text, const char *want_err)
{
	struct cpu_config c;
	struct api_err e = { "" };
	char err[200];
	assert_int_equal(parse(text, &c, &e), 0);
	assert_int_equal(cpu_template_check_cpuid(&c, sup, err, sizeof(err)), want_err ? -EINVAL : 0);
	if (want_err)
		assert_string_equal(err, want_err);
	config_cpu_config_free(&c);
}

static void test_kvm_support_check(void **state)
{
	(void)state;
	char err[200];
	struct kvm_cpuid2 *sup = cpuid_filled(0);
	sup->entries[1].ebx = 0x1; /* leaf 7 EBX: only FSGSBASE */
	/* forcing a supported bit on, and any bit off, is fine */
	kvm_check(sup, LEAF("\"leaf\": \"0x7\", \"subleaf\": \"0x0\", \"modifiers\": "
	                    "[{\"register\": \"ebx\", \"bitmap\": \"0b0000000000000000000000000000x001\"}]"),
	          NULL);
	/* AVX2 (bit 5) and SMEP (bit 7) on: refused, named */
	kvm_check(sup, LEAF("\"leaf\": \"0x7\", \"subleaf\": \"0x0\", \"modifiers\": "
	                    "[{\"register\": \"ebx\", \"bitmap\": \"1x1xxxx1\"}]"),
	          "cpu template: leaf 0x7 subleaf 0x0 register ebx bits 5,7 (0xa0) are not supported by this "
	          "host's KVM");
	/* a value register (leaf 1 EAX, the family) may be anything */
	kvm_check(sup, LEAF(REG("\"eax\"", "\"0b11111111\"")), NULL);
	/* a leaf KVM does not have: bits forced off there are off already, one forced on is refused */
	kvm_check(sup, LEAF("\"leaf\": \"0x14\", \"subleaf\": \"0x0\", \"modifiers\": "
	                    "[{\"register\": \"eax\", \"bitmap\": \"000\"}]"),
	          NULL);
	kvm_check(sup, LEAF("\"leaf\": \"0x14\", \"subleaf\": \"0x0\", \"modifiers\": "
	                    "[{\"register\": \"eax\", \"bitmap\": \"010\"}]"),
	          "cpu template: leaf 0x14 subleaf 0x0 is not one this host's KVM has");
	/* T2A needs MCE and MTRR from KVM, not its advisory bits (ERMS, 0x80000008 EBX 2,18-20) */
	const struct cpu_config *t2a = cpu_template_static(CPU_TEMPLATE_T2A);
	assert_int_equal(cpu_template_check_cpuid(t2a, sup, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "leaf 0x1 subleaf 0x0 register edx bits 7,12"));
	sup->entries[0].edx = 1u << 7 | 1u << 12;
	assert_int_equal(cpu_template_check_cpuid(t2a, sup, err, sizeof(err)), 0);
	free(sup);
}

static void test_snapshot_cpuid_check(void **state)
{
	(void)state;
	char err[200];
	struct kvm_cpuid2 *sup = cpuid_filled(0), *saved = cpuid_filled(0);
	sup->entries[4].ecx = 0x44; /* 0x80000001 ECX: SVM, SSE4A */
	saved->entries[4].ecx = 0x4;
	/* set by husk or KVM per vCPU: hypervisor, OSXSAVE, HTT, OSPKE */
	saved->entries[0].ecx = 1u << 31 | 1u << 27;
	saved->entries[0].edx = 1u << 28;
	saved->entries[1].ecx = 1u << 4;
	saved->entries[0].eax = 0xa00f11; /* family: a value, never checked */
	assert_int_equal(cpuid_check_supported(saved, sup, err, sizeof(err)), 0);
	saved->entries[4].ecx |= 1u << 11; /* XOP: not on this host */
	assert_int_equal(cpuid_check_supported(saved, sup, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "CPUID: leaf 0x80000001 subleaf 0x0 register ecx bits 11 (0x800) are not supported "
	                         "by this host's KVM");
	free(sup);
	free(saved);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_parse_good),
	cmocka_unit_test(test_parse_bad_fields),
	cmocka_unit_test(test_bitmap_application),
	cmocka_unit_test(test_template_taken_check),
	cmocka_unit_test(test_static_templates_table),
	cmocka_unit_test(test_vendor_check),
	cmocka_unit_test(test_kvm_support_check),
	cmocka_unit_test(test_snapshot_cpuid_check))
