/* cpu_template_msrs: the MSR half of a CPU template (cpu_template.h). */
#include "vmm/arch/x86_64/cpu_template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/arch/x86_64/regs.h"
#include "vmm/errmsg.h"

struct one_msr {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e;
};

/* fd: the system fd (a feature MSR's supported value) or a vCPU's. */
static int msr_read(int fd, uint32_t index, uint64_t *val)
{
	struct one_msr m = { .hdr.nmsrs = 1, .e.index = index };
	int n = ioctl(fd, KVM_GET_MSRS, &m);
	if (n < 0)
		return -errno;
	if (n != 1)
		return -EIO;
	*val = m.e.data;
	return 0;
}

static int msr_write(int vcpu_fd, uint32_t index, uint64_t val)
{
	struct one_msr m = { .hdr.nmsrs = 1, .e.index = index, .e.data = val };
	int n = ioctl(vcpu_fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return -errno;
	return n == 1 ? 0 : -EINVAL; /* KVM refused the value */
}

static int msr_check(const struct msr_modifier *m, int kvm_fd, const struct kvm_msr_list *all,
                     const struct kvm_msr_list *features, char *err, size_t errlen)
{
	uint64_t sup = 0; /* set by msr_read; -O2 cannot tell */
	if (msr_listed(features, m->addr)) {
		int ret = msr_read(kvm_fd, m->addr, &sup);
		if (ret < 0)
			return errmsg_set(err, errlen, ret, "cpu template: MSR 0x%x: %s", m->addr, strerror(-ret));
		uint64_t missing = m->filter & m->value & ~sup;
		if (missing)
			return errmsg_set(err, errlen, -EINVAL,
			                  "cpu template: MSR 0x%x bits 0x%llx are not supported by this host's KVM",
			                  m->addr, (unsigned long long)missing);
		return 0;
	}
	if (!msr_listed(all, m->addr))
		return errmsg_set(err, errlen, -EINVAL, "cpu template: MSR 0x%x is not one this host's KVM has",
		                  m->addr);
	return 0;
}

int cpu_template_check_msrs(const struct cpu_config *t, int kvm_fd, char *err, size_t errlen)
{
	int ret = 0;
	if (t->nr_msr == 0)
		return 0;
	struct kvm_msr_list *all = msrs_list(kvm_fd, KVM_GET_MSR_INDEX_LIST);
	struct kvm_msr_list *features = msrs_list(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST);
	if (!all || !features) {
		ret = errmsg_set(err, errlen, -EIO, "cpu template: KVM did not list its MSRs");
		goto out;
	}
	for (int i = 0; i < t->nr_msr && ret == 0; i++)
		ret = msr_check(&t->msr[i], kvm_fd, all, features, err, errlen);
out:
	free(all);
	free(features);
	return ret;
}

int cpu_template_apply_msrs(const struct cpu_config *t, int vcpu_fd)
{
	for (int i = 0; i < t->nr_msr; i++) {
		const struct msr_modifier *m = &t->msr[i];
		uint64_t v = 0; /* set by msr_read; -O2 cannot tell */
		int ret = msr_read(vcpu_fd, m->addr, &v);
		if (ret == 0)
			ret = msr_write(vcpu_fd, m->addr, (v & ~m->filter) | (m->value & m->filter));
		if (ret < 0)
			return ret;
	}
	return 0;
}
