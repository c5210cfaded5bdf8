/* snapshot_state: aarch64's VM and vCPU state in a snapshot. Not done
 * yet (the vCPU register list, the vGIC's attributes and the timer): a
 * snapshot of an aarch64 VM is refused with that said, never half-saved. */
#include "vmm/arch/arch.h"

#include <errno.h>
#include <stdio.h>

#include "vmm/log.h"

#define NOT_YET "snapshots of aarch64 VMs are not supported yet"

int vm_state_save(const struct vm *vm, struct snap_writer *w)
{
	(void)vm;
	(void)w;
	log_err(NOT_YET);
	return -ENOTSUP;
}

int vm_state_check(const struct snap_file *f, char *err, size_t errlen)
{
	(void)f;
	snprintf(err, errlen, NOT_YET);
	return -ENOTSUP;
}

int vm_state_apply(const struct vm *vm, const struct snap_file *f, bool clock_realtime, char *err,
                   size_t errlen)
{
	(void)vm;
	(void)f;
	(void)clock_realtime;
	snprintf(err, errlen, NOT_YET);
	return -ENOTSUP;
}

int vcpu_state_save(const struct vm *vm, int vcpu_fd, unsigned index, struct snap_writer *w)
{
	(void)vm;
	(void)vcpu_fd;
	(void)index;
	(void)w;
	log_err(NOT_YET);
	return -ENOTSUP;
}

int vcpu_state_check(const struct vm *vm, const struct snap_file *f, unsigned index, char *err,
                     size_t errlen)
{
	(void)vm;
	(void)f;
	(void)index;
	snprintf(err, errlen, NOT_YET);
	return -ENOTSUP;
}

int vcpu_state_apply(const struct vm *vm, int vcpu_fd, const struct snap_file *f, unsigned index,
                     char *err, size_t errlen)
{
	(void)vm;
	(void)vcpu_fd;
	(void)f;
	(void)index;
	snprintf(err, errlen, NOT_YET);
	return -ENOTSUP;
}
