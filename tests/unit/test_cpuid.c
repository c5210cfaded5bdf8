/* cpuid_normalize on a synthetic KVM_GET_SUPPORTED_CPUID result. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/arch/x86_64/cpuid.h"

static struct kvm_cpuid2 *make_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(struct kvm_cpuid_entry2));
	struct kvm_cpuid_entry2 *e = c->entries;
	e[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x0a100800, .edx = 0 };
	e[1] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0xfc004121 }; /* L1d */
	e[2] = (struct kvm_cpuid_entry2){ .function = 4, .index = 3, .eax = 0xfc01c163 }; /* L3 */
	e[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .eax = 1, .ebx = 2, .ecx = 0x100 };
	e[4] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1, .eax = 7, .ebx = 64, .ecx = 0x201 };
	e[5] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2, .eax = 0, .ecx = 2 };
	e[6] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b };
	c->nent = 7;
	return c;
}

static void test_apic_ids_and_topology(void **state)
{
	(void)state;
	for (unsigned id = 0; id < 4; id++) {
		struct kvm_cpuid2 *c = make_cpuid();
		assert_int_equal(cpuid_normalize(c, id, 4, false), 0);
		struct kvm_cpuid_entry2 *e = c->entries;
		assert_int_equal(e[0].ebx >> 24, id);
		assert_int_equal((e[0].ebx >> 16) & 0xff, 4);
		assert_int_equal(e[0].ebx & 0xffff, 0x0800); /* CLFLUSH size kept */
		assert_true(e[0].ecx & (1u << 31));      /* hypervisor */
		assert_true(e[0].edx & (1u << 28));      /* HTT: more than one logical CPU */
		assert_int_equal((e[1].eax >> 14) & 0xfff, 0); /* L1 not shared */
		assert_int_equal((e[2].eax >> 14) & 0xfff, 3); /* L3 shared by all 4 */
		assert_int_equal(e[1].eax >> 26, 3);           /* 4 cores */
		assert_int_equal(e[1].eax & 0x3fff, 0x0121);   /* type/level kept */
		assert_int_equal(e[3].edx, id);
		assert_int_equal(e[3].ebx, 1);
		assert_int_equal(e[4].ebx, 4);
		assert_int_equal(e[4].eax, 2); /* shift to the package id */
		assert_int_equal(e[5].ecx >> 8, 0); /* walk ends */
		assert_int_equal(e[6].ebx, 0x4b4d564b); /* hypervisor leaves untouched */
		free(c);
	}
}

static void test_single_and_smt(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = make_cpuid();
	c->entries[0].edx = 1u << 28;
	assert_int_equal(cpuid_normalize(c, 0, 1, false), 0);
	assert_false(c->entries[0].edx & (1u << 28));
	assert_int_equal(c->entries[4].eax, 0);
	free(c);
	c = make_cpuid();
	assert_int_equal(cpuid_normalize(c, 3, 4, true), 0);
	assert_int_equal(c->entries[3].ebx, 2); /* 2 threads per core */
	assert_int_equal(c->entries[3].eax, 1);
	assert_int_equal((c->entries[1].eax >> 14) & 0xfff, 1); /* L1 shared by the 2 threads */
	free(c);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = make_cpuid();
	assert_int_equal(cpuid_normalize(c, 4, 4, false), -EINVAL);
	assert_int_equal(cpuid_normalize(c, 0, 0, false), -EINVAL);
	assert_int_equal(cpuid_normalize(NULL, 0, 1, false), -EINVAL);
	assert_int_equal(c->entries[0].ebx, 0x0a100800); /* untouched on error */
	free(c);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_apic_ids_and_topology),
	cmocka_unit_test(test_single_and_smt),
	cmocka_unit_test(test_bad_arguments))
