/* cpu_template_tables: Firecracker's static CPU templates as husk data.
 *
 * Each row forces the bits of one CPUID register that are set in its
 * filter to the bits of its value. The effect is Firecracker's (its
 * static_cpu_templates/ and docs/cpu_templates/): the instance-family
 * feature set of T2 (Intel Skylake and later), T2S (T2 with the same
 * IA32_ARCH_CAPABILITIES everywhere, for moves between Skylake and
 * Cascade Lake), C3, T2CL (T2 for Cascade Lake and later) and T2A (the
 * T2CL feature set on AMD Milan, so a guest moves between them). */
#include "vmm/arch/x86_64/cpu_template.h"

#define SIGNIFICANT_INDEX 1 /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */
#define MSR_IA32_ARCH_CAPABILITIES 0x10a

#define ROW(l, s, f, r, filt, val) \
	{ .leaf = (l), .subleaf = (s), .flags = (f), .reg = (r), .filter = (filt), .value = (val) }

/* Leaf 1 EAX: family 6, model 0x3f, stepping 2 for T2*, model 0x3e
 * stepping 4 for C3; the processor type and extended family are kept. */
#define T2_FAMILY ROW(0x1, 0, 0, CPUID_EAX, 0x0fff3fff, 0x000306f2)
#define C3_FAMILY ROW(0x1, 0, 0, CPUID_EAX, 0x0fff3fff, 0x000306e4)

/* What T2, T2S, T2CL and T2A share: leaf 1 without DTES64, MONITOR,
 * DS-CPL, VMX, SMX, EIST, TM2, CNXT-ID, SDBG, xTPR, PDCM, DCA and with
 * MCE and MTRR; leaf 7 down to the T2 set (ERMS on); XSAVE state
 * components and XSAVE extensions (leaf 0xD) cut to x87/SSE/AVX. */
#define T2_COMMON \
	T2_FAMILY, \
	ROW(0x1, 0, 0, CPUID_ECX, 0x0004cdfc, 0), \
	ROW(0x1, 0, 0, CPUID_EDX, 0xe8641080, 0x00001080), \
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_EBX, 0xffefda14, 0x00000200), \
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_ECX, 0x40415f5e, 0), \
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_EDX, 0x0000011c, 0), \
	ROW(0xd, 0, SIGNIFICANT_INDEX, CPUID_EAX, 0x000002f8, 0), \
	ROW(0xd, 1, SIGNIFICANT_INDEX, CPUID_EAX, 0x0000000e, 0)

static const struct cpuid_modifier t2_cpuid[] = {
	T2_COMMON,
	ROW(0x80000001, 0, 0, CPUID_ECX, 0x20000100, 0),
	ROW(0x80000001, 0, 0, CPUID_EDX, 0x04000000, 0),
	ROW(0x80000008, 0, 0, CPUID_EBX, 0x00000200, 0),
};

static const struct cpuid_modifier t2cl_cpuid[] = {
	T2_COMMON,
	ROW(0x80000001, 0, 0, CPUID_ECX, 0x200001c0, 0),
	ROW(0x80000001, 0, 0, CPUID_EDX, 0x07c00000, 0),
	ROW(0x80000008, 0, 0, CPUID_EBX, 0x00000200, 0),
};

/* AMD's own bits off (SVM, SSE4A, MisAlignSse, 3DNowPrefetch, MwaitExtended;
 * MmxExt, FFXSR, Page1GB), and the Intel-side guarantees of T2CL on: FXSAVE error
 * pointers, IBRS preferred and same-mode, no EFER.LMSLE. */
static const struct cpuid_modifier t2a_cpuid[] = {
	T2_COMMON,
	ROW(0x80000001, 0, 0, CPUID_ECX, 0x200001c4, 0),
	ROW(0x80000001, 0, 0, CPUID_EDX, 0x06400000, 0),
	ROW(0x80000008, 0, 0, CPUID_EBX, 0x001c0205, 0x001c0004),
};

static const struct cpuid_modifier c3_cpuid[] = {
	C3_FAMILY,
	ROW(0x1, 0, 0, CPUID_ECX, 0x0040dd3c, 0),
	ROW(0x1, 0, 0, CPUID_EDX, 0xa8641080, 0x00001080),
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_EBX, 0xffafdd3c, 0),
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_ECX, 0x4041481e, 0),
	ROW(0x7, 0, SIGNIFICANT_INDEX, CPUID_EDX, 0x0000000c, 0),
	ROW(0xd, 0, SIGNIFICANT_INDEX, CPUID_EAX, 0x000002f8, 0),
	ROW(0xd, 1, SIGNIFICANT_INDEX, CPUID_EAX, 0x0000000e, 0),
	ROW(0x80000001, 0, 0, CPUID_ECX, 0x00000120, 0),
	ROW(0x80000001, 0, 0, CPUID_EDX, 0x04000000, 0),
};

/* T2S: one fixed IA32_ARCH_CAPABILITIES, the value of a Cascade Lake */
static const struct msr_modifier t2s_msrs[] = {
	{ MSR_IA32_ARCH_CAPABILITIES, ~0ULL, 0x0c0a0c4cULL },
};

/* T2CL: the bits of IA32_ARCH_CAPABILITIES in which the hosts it covers
 * differ are off */
static const struct msr_modifier t2cl_msrs[] = {
	{ MSR_IA32_ARCH_CAPABILITIES, 0xffffffffe2f51e00ULL, 0 },
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define CPUID_ONLY(c) { .set = true, .nr_cpuid = N(c), .cpuid = (struct cpuid_modifier *)(c) }
#define WITH_MSRS(c, m) \
	{ .set = true, .nr_cpuid = N(c), .cpuid = (struct cpuid_modifier *)(c), .nr_msr = N(m), \
	  .msr = (struct msr_modifier *)(m) }

static const struct cpu_config static_templates[] = {
	[CPU_TEMPLATE_C3] = CPUID_ONLY(c3_cpuid),
	[CPU_TEMPLATE_T2] = CPUID_ONLY(t2_cpuid),
	[CPU_TEMPLATE_T2S] = WITH_MSRS(t2_cpuid, t2s_msrs),
	[CPU_TEMPLATE_T2CL] = WITH_MSRS(t2cl_cpuid, t2cl_msrs),
	[CPU_TEMPLATE_T2A] = CPUID_ONLY(t2a_cpuid),
};

const struct cpu_config *cpu_template_static(enum cpu_template t)
{
	if (t <= CPU_TEMPLATE_NONE || t > CPU_TEMPLATE_T2A)
		return NULL;
	return &static_templates[t];
}

bool cpu_template_for_amd(enum cpu_template t)
{
	return t == CPU_TEMPLATE_T2A;
}
