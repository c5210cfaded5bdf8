/* msrs: the boot MSR values, filtered through the list KVM reports so a
 * host (or PVM) without one of them is not an error. */
#include "vmm/arch/x86_64/regs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff

#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_ENABLE 0x800ULL
#define MTRR_TYPE_WB 0x6ULL

static const struct { uint32_t index; uint64_t data; } boot_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0 },
	{ MSR_IA32_SYSENTER_ESP, 0 },
	{ MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_SYSCALL_MASK, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_IA32_TSC, 0 },
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
	/* all memory write-back unless the guest says otherwise */
	{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
};
#define NR_BOOT_MSRS (sizeof(boot_msrs) / sizeof(boot_msrs[0]))

struct kvm_msr_list *msrs_list(int kvm_fd, unsigned long req)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	/* the first call fails with E2BIG and tells the count */
	if (ioctl(kvm_fd, req, &probe) < 0 && errno != E2BIG)
		return NULL;
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, req, list) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

bool msr_listed(const struct kvm_msr_list *list, uint32_t index)
{
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (list->indices[i] == index)
			return true;
	return false;
}

int msrs_setup_boot(int kvm_fd, int vcpu_fd)
{
	int ret = 0;
	struct kvm_msr_list *list = msrs_list(kvm_fd, KVM_GET_MSR_INDEX_LIST);
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + NR_BOOT_MSRS * sizeof(struct kvm_msr_entry));
	if (!list || !msrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < NR_BOOT_MSRS; i++) {
		if (!msr_listed(list, boot_msrs[i].index))
			continue;
		msrs->entries[msrs->nmsrs].index = boot_msrs[i].index;
		msrs->entries[msrs->nmsrs].data = boot_msrs[i].data;
		msrs->nmsrs++;
	}
	int n = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	if (n < 0)
		ret = -errno;
	else if ((uint32_t)n != msrs->nmsrs)
		ret = -EIO; /* KVM stops at the first MSR it refuses */
out:
	free(list);
	free(msrs);
	return ret;
}

bool msrs_take_tsc_deadline(struct kvm_msrs *m, struct kvm_msr_entry *deadline)
{
	bool found = false;
	for (uint32_t i = 0; !found && i < m->nmsrs; i++) {
		if (m->entries[i].index != MSR_IA32_TSC_DEADLINE)
			continue;
		*deadline = m->entries[i];
		memmove(&m->entries[i], &m->entries[i + 1], (m->nmsrs - i - 1) * sizeof(m->entries[0]));
		m->nmsrs--;
		found = true;
	}
	for (uint32_t i = 0; found && deadline->data == 0 && i < m->nmsrs; i++)
		if (m->entries[i].index == MSR_IA32_TSC)
			deadline->data = m->entries[i].data;
	return found;
}
