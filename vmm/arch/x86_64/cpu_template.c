/* cpu_template: see cpu_template.h. */
#include "vmm/arch/x86_64/cpu_template.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/arch/arch.h"
#include "vmm/errmsg.h"

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };

/* Registers whose bits each announce a feature the host's KVM must be
 * able to give; the other registers hold values (family and model,
 * sizes, topology) a template may set freely. not_checked: bits that
 * need no KVM support -- set per vCPU by husk (hypervisor, HTT) or by
 * KVM from the guest's CR4 (OSXSAVE, OSPKE), or advisory: a promise
 * about the hardware rather than something KVM emulates (ERMS; on AMD,
 * FXSAVE error pointers, IBRS preferred and same-mode, no EFER.LMSLE),
 * which KVM does not list even where true and T2A sets by design. */
static const struct feature_reg {
	uint32_t leaf, subleaf;
	enum cpuid_register reg;
	uint32_t not_checked;
} feature_regs[] = {
	{ 0x1, 0, CPUID_ECX, 1u << 31 | 1u << 27 },
	{ 0x1, 0, CPUID_EDX, 1u << 28 },
	{ 0x7, 0, CPUID_EBX, 1u << 9 },
	{ 0x7, 0, CPUID_ECX, 1u << 4 },
	{ 0x7, 0, CPUID_EDX, 0 },
	{ 0x7, 1, CPUID_EAX, 0 },
	{ 0xd, 0, CPUID_EAX, 0 },
	{ 0xd, 1, CPUID_EAX, 0 },
	{ 0x80000001, 0, CPUID_ECX, 0 },
	{ 0x80000001, 0, CPUID_EDX, 0 },
	{ 0x80000008, 0, CPUID_EBX, 1u << 2 | 1u << 18 | 1u << 19 | 1u << 20 },
};
#define NR_FEATURE_REGS (sizeof(feature_regs) / sizeof(feature_regs[0]))

static const struct feature_reg *feature_reg_find(uint32_t leaf, uint32_t subleaf, enum cpuid_register reg)
{
	for (size_t i = 0; i < NR_FEATURE_REGS; i++) {
		const struct feature_reg *f = &feature_regs[i];
		if (f->leaf == leaf && f->subleaf == subleaf && f->reg == reg)
			return f;
	}
	return NULL;
}

static struct kvm_cpuid_entry2 *entry_find(const struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == leaf && e->index == subleaf)
			return (struct kvm_cpuid_entry2 *)e;
	}
	return NULL;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, enum cpuid_register reg)
{
	uint32_t *regs[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };
	return regs[reg];
}

/* "2,18,19" */
static void bit_list(uint64_t bits, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (unsigned b = 0; b < 64 && off < len; b++)
		if (bits & (1ULL << b))
			off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? "," : "", b);
}

/* The bits of want (in register reg of leaf/subleaf) that the host's
 * KVM cannot give: -EINVAL naming them, with what (who wants them). */
static int bits_check(const char *what, uint32_t leaf, uint32_t subleaf, enum cpuid_register reg,
                      uint32_t want, const struct kvm_cpuid2 *supported, char *err, size_t errlen)
{
	const struct feature_reg *f = feature_reg_find(leaf, subleaf, reg);
	if (!f)
		return 0;
	struct kvm_cpuid_entry2 *s = entry_find(supported, leaf, subleaf);
	uint32_t missing = want & ~f->not_checked & ~(s ? *entry_reg(s, reg) : 0);
	if (!missing)
		return 0;
	char bits[100];
	bit_list(missing, bits, sizeof(bits));
	return errmsg_set(err, errlen, -EINVAL,
	                  "%s: leaf 0x%x subleaf 0x%x register %s bits %s (0x%x) are not supported by this "
	                  "host's KVM", what, leaf, subleaf, reg_names[reg], bits, missing);
}

int cpu_template_check_cpuid(const struct cpu_config *t, const struct kvm_cpuid2 *supported, char *err,
                             size_t errlen)
{
	for (int i = 0; i < t->nr_cpuid; i++) {
		const struct cpuid_modifier *m = &t->cpuid[i];
		/* a leaf KVM lacks reads as zeros: clearing bits there is already
		 * done (T2A's XSAVE leaves on a host without XSAVE), setting any
		 * is not possible */
		if (!entry_find(supported, m->leaf, m->subleaf) && (m->filter & m->value))
			return errmsg_set(err, errlen, -EINVAL,
			                  "cpu template: leaf 0x%x subleaf 0x%x is not one this host's KVM has",
			                  m->leaf, m->subleaf);
		int ret = bits_check("cpu template", m->leaf, m->subleaf, m->reg, m->filter & m->value, supported,
		                     err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void cpu_template_apply_cpuid(const struct cpu_config *t, struct kvm_cpuid2 *c)
{
	for (int i = 0; i < t->nr_cpuid; i++) {
		const struct cpuid_modifier *m = &t->cpuid[i];
		struct kvm_cpuid_entry2 *e = entry_find(c, m->leaf, m->subleaf);
		if (!e)
			continue;
		e->flags = m->flags;
		uint32_t *r = entry_reg(e, m->reg);
		*r = (*r & ~m->filter) | (m->value & m->filter);
	}
}

/* Bits KVM itself rewrites in a vCPU's CPUID as the guest runs -- from
 * its CR4 (OSXSAVE, OSPKE), APIC base (APIC), MISC_ENABLE (MONITOR) and
 * XCR0 (the XSAVE sizes) -- so they may read back other than set. */
static uint32_t kvm_runtime_bits(uint32_t leaf, uint32_t subleaf, enum cpuid_register reg)
{
	if (leaf == 0x1 && reg == CPUID_ECX)
		return 1u << 27 | 1u << 3;
	if (leaf == 0x1 && reg == CPUID_EDX)
		return 1u << 9;
	if (leaf == 0x7 && subleaf == 0 && reg == CPUID_ECX)
		return 1u << 4;
	if (leaf == 0xd && subleaf <= 1 && reg == CPUID_EBX)
		return ~0u;
	return 0;
}

int cpu_template_check_taken(const struct cpu_config *t, const struct kvm_cpuid2 *got, char *err,
                             size_t errlen)
{
	for (int i = 0; i < t->nr_cpuid; i++) {
		const struct cpuid_modifier *m = &t->cpuid[i];
		uint32_t mask = m->filter & ~kvm_runtime_bits(m->leaf, m->subleaf, m->reg);
		struct kvm_cpuid_entry2 *e = entry_find(got, m->leaf, m->subleaf);
		uint32_t wrong = ((e ? *entry_reg(e, m->reg) : 0) ^ m->value) & mask;
		if (!wrong)
			continue;
		char bits[100];
		bit_list(wrong, bits, sizeof(bits));
		return errmsg_set(err, errlen, -ENOTSUP,
		                  "cpu template: this host's KVM did not apply it: leaf 0x%x subleaf 0x%x register "
		                  "%s bits %s read back otherwise (its guests likely read the CPU's own CPUID, "
		                  "as under PVM)",
		                  m->leaf, m->subleaf, reg_names[m->reg], bits);
	}
	return 0;
}

int cpuid_check_supported(const struct kvm_cpuid2 *c, const struct kvm_cpuid2 *supported, char *err,
                          size_t errlen)
{
	for (size_t i = 0; i < NR_FEATURE_REGS; i++) {
		const struct feature_reg *f = &feature_regs[i];
		struct kvm_cpuid_entry2 *e = entry_find(c, f->leaf, f->subleaf);
		if (!e)
			continue;
		int ret = bits_check("CPUID", f->leaf, f->subleaf, f->reg, *entry_reg(e, f->reg), supported, err,
		                     errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int cpu_template_vendor_check(enum cpu_template t, const char vendor[12], char *err, size_t errlen)
{
	if (t == CPU_TEMPLATE_NONE)
		return 0;
	const char *want = cpu_template_for_amd(t) ? "AuthenticAMD" : "GenuineIntel";
	if (memcmp(vendor, want, 12) == 0)
		return 0;
	return errmsg_set(err, errlen, -EINVAL, "%s is made for %s CPUs and this host's is %.12s",
	                  cpu_template_names[t], cpu_template_for_amd(t) ? "AMD" : "Intel", vendor);
}

/* ---- x86_64's side of arch.h's CPU template checks ---- */

int arch_cpu_template_check(enum cpu_template t, char *err, size_t errlen)
{
	unsigned a, b, c, d;
	char vendor[12];
	__cpuid(0, a, b, c, d);
	(void)a;
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	return cpu_template_vendor_check(t, vendor, err, errlen);
}

int arch_cpu_config_check(const struct cpu_config *c, char *err, size_t errlen)
{
	(void)c, (void)err, (void)errlen;
	return 0; /* CPUID and MSR modifiers are x86's own */
}

int arch_smt_check(bool smt, char *err, size_t errlen)
{
	(void)smt, (void)err, (void)errlen;
	return 0; /* two threads a core, in CPUID's topology leaves (cpuid.c) */
}
