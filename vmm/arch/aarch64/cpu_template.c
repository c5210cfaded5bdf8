/* cpu_template: aarch64's side of arch.h's CPU templates. Firecracker's
 * static templates (C3, T2, T2S, T2CL, T2A) and the CPUID/MSR modifiers of
 * a custom template are x86's; here only "None" and an empty custom
 * template are taken, and anything else is refused by name; so is smt. */
#include "vmm/arch/arch.h"

#include <errno.h>

#include "vmm/config.h"
#include "vmm/errmsg.h"

int arch_cpu_template_check(enum cpu_template t, char *err, size_t errlen)
{
	if (t == CPU_TEMPLATE_NONE)
		return 0;
	return errmsg_set(err, errlen, -EINVAL, "%s is an x86 template and this host is aarch64",
	                  cpu_template_names[t]);
}

int arch_cpu_config_check(const struct cpu_config *c, char *err, size_t errlen)
{
	if (c->nr_cpuid == 0 && c->nr_msr == 0)
		return 0;
	return errmsg_set(err, errlen, -EINVAL, "%s: x86's modifiers; an aarch64 host takes none",
	                  c->nr_cpuid ? "cpuid_modifiers" : "msr_modifiers");
}

/* Firecracker's MachineConfigError::SmtNotSupported, in its words: each
 * arm64 vCPU is a core of its own (KVM's reset MPIDR, no threads level in
 * the device tree), so smt would be a setting the guest never sees;
 * refused rather than ignored, as there. */
int arch_smt_check(bool smt, char *err, size_t errlen)
{
	if (!smt)
		return 0;
	return errmsg_set(err, errlen, -EINVAL, "Enabling simultaneous multithreading is not supported on aarch64.");
}

int arch_vm_cpu_template(struct vm *vm, enum cpu_template t, const struct cpu_config *custom, char *err,
                         size_t errlen)
{
	(void)vm;
	/* both were checked when they were set; this is the last line */
	if (custom && custom->set)
		return arch_cpu_config_check(custom, err, errlen);
	return arch_cpu_template_check(t, err, errlen);
}
