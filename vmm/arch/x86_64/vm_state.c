/* vm_state: capture and apply the VM-wide KVM state (order in vm_state.h). */
#include "vmm/arch/x86_64/vm_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/log.h"
#include "vmm/errmsg.h"
#include "vmm/vm.h"

static const struct {
	uint32_t type;
	uint32_t chip_id;
	const char *name;
} vm_chips[] = {
	{ SNAP_SEC_VM_PIC_MASTER, KVM_IRQCHIP_PIC_MASTER, "PIC master" },
	{ SNAP_SEC_VM_PIC_SLAVE, KVM_IRQCHIP_PIC_SLAVE, "PIC slave" },
	{ SNAP_SEC_VM_IOAPIC, KVM_IRQCHIP_IOAPIC, "IOAPIC" },
};
#define VM_NR_CHIPS (sizeof(vm_chips) / sizeof(vm_chips[0]))

int vm_state_save(const struct vm *vm, struct snap_writer *w)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct kvm_irqchip chip;

	for (size_t i = 0; i < VM_NR_CHIPS; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = vm_chips[i].chip_id;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
			int ret = -errno;
			log_err("KVM_GET_IRQCHIP %s: %s", vm_chips[i].name, strerror(errno));
			return ret;
		}
		snap_writer_add(w, vm_chips[i].type, 0, &chip, sizeof(chip));
	}
	memset(&pit, 0, sizeof(pit));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0) {
		int ret = -errno;
		log_err("KVM_GET_PIT2: %s", strerror(errno));
		return ret;
	}
	snap_writer_add(w, SNAP_SEC_VM_PIT2, 0, &pit, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0) {
		int ret = -errno;
		log_err("KVM_GET_CLOCK: %s", strerror(errno));
		return ret;
	}
	return snap_writer_add(w, SNAP_SEC_VM_CLOCK, 0, &clock, sizeof(clock));
}

int vm_state_check(const struct snap_file *f, char *err, size_t errlen)
{
	struct kvm_irqchip chip;
	for (size_t i = 0; i < VM_NR_CHIPS; i++) {
		if (snap_get(f, vm_chips[i].type, 0, &chip, sizeof(chip)) < 0)
			return errmsg_set(err, errlen, -EINVAL, "%s state missing or of the wrong size",
			                vm_chips[i].name);
		if (chip.chip_id != vm_chips[i].chip_id)
			return errmsg_set(err, errlen, -EINVAL, "%s state names chip %u", vm_chips[i].name,
			                chip.chip_id);
	}
	const struct snap_section *s = snap_find(f, SNAP_SEC_VM_PIT2, 0);
	if (!s || s->len != sizeof(struct kvm_pit_state2))
		return errmsg_set(err, errlen, -EINVAL, "PIT state missing or of the wrong size");
	s = snap_find(f, SNAP_SEC_VM_CLOCK, 0);
	if (!s || s->len != sizeof(struct kvm_clock_data))
		return errmsg_set(err, errlen, -EINVAL, "KVM clock state missing or of the wrong size");
	return 0;
}

/* The kvmclock as it was saved, or advanced by the host's realtime
 * since (KVM_CLOCK_REALTIME: KVM adds what CLOCK_REALTIME moved since
 * clock->realtime). Without it only the clock value is set: the saved
 * realtime/host TSC pair would make the guest see the time it spent on
 * disk. */
static int vm_clock_apply(const struct vm *vm, struct kvm_clock_data *clock, bool realtime,
                          char *err, size_t errlen)
{
	if (realtime && !(clock->flags & KVM_CLOCK_REALTIME))
		return errmsg_set(err, errlen, -EINVAL,
		                  "clock_realtime: the snapshot's kvmclock has no realtime reference (the "
		                  "host it was taken on did not use a TSC clocksource); load it without "
		                  "clock_realtime");
	clock->flags = realtime ? KVM_CLOCK_REALTIME : 0;
	memset(clock->pad, 0, sizeof(clock->pad));
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, clock) < 0)
		return errmsg_set(err, errlen, -errno, "KVM_SET_CLOCK%s: %s",
		                  realtime ? " (clock_realtime)" : "", strerror(errno));
	return 0;
}

int vm_state_apply(const struct vm *vm, const struct snap_file *f, bool clock_realtime, char *err,
                   size_t errlen)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	for (size_t i = 0; i < VM_NR_CHIPS; i++) {
		if (snap_get(f, vm_chips[i].type, 0, &chip, sizeof(chip)) < 0)
			return -EINVAL;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return errmsg_set(err, errlen, -errno, "KVM_SET_IRQCHIP %s: %s", vm_chips[i].name,
			                strerror(errno));
	}
	if (snap_get(f, SNAP_SEC_VM_PIT2, 0, &pit, sizeof(pit)) < 0)
		return -EINVAL;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return errmsg_set(err, errlen, -errno, "KVM_SET_PIT2: %s", strerror(errno));
	if (snap_get(f, SNAP_SEC_VM_CLOCK, 0, &clock, sizeof(clock)) < 0)
		return -EINVAL;
	return vm_clock_apply(vm, &clock, clock_realtime, err, errlen);
}
