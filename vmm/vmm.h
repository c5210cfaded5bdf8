/* vmm: one microVM from configuration to exit: builds the VM from a
 * vm_config, runs the vmm thread's loop, stops everything on exit. */
#ifndef HUSK_VMM_H
#define HUSK_VMM_H

#include <stdbool.h>

#include "devices/boottimer.h"
#include "devices/i8042.h"
#include "devices/mmds/mmds.h"
#include "devices/serial.h"
#include "devices/vmgenid.h"
#include "vmm/arch/arch.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/device.h"
#include "vmm/loop.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm.h"

enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

struct vmm {
	struct loop loop;
	struct vm vm;
	bool vm_created;
	enum vmm_state state;
	const struct vm_config *cfg;

	struct serial serial;
	struct i8042 i8042;
	struct boottimer boottimer;
	int serial_irq_efd;
	int kbd_irq_efd;
	int serial_out_fd;
	struct console console; /* terminal input to COM1 */
	int signal_fd;

	struct device_list devices; /* virtio, in slot order (vmm/device.h) */
	struct vmgenid vmgenid;
	struct mmds mmds; /* the metadata store and tokens, whether or not a guest reaches them */
	int vmgenid_irq_efd;

	struct boot_info boot;
	char cmdline[2048];

	/* snapshot bookkeeping (devices register their persist ops here) */
	struct snapshot_state snap;
	/* set only while snapshot_load runs InstanceStart (snapshot_vmm.h) */
	struct vmm_restore *restore;
};

/* Set up the loop and signal handling; nothing about the VM yet. */
int vmm_init(struct vmm *vmm);
/* Build the VM from cfg (which must outlive the vmm) and start its vCPUs:
 * the InstanceStart step. Errors are logged with their reason. */
int vmm_start(struct vmm *vmm, const struct vm_config *cfg);
/* Run the vmm loop until the VM ends (or a stop signal). Returns the exit
 * code: 0 for a guest reset/poweroff. */
int vmm_run(struct vmm *vmm);
int vmm_pause(struct vmm *vmm);
int vmm_resume(struct vmm *vmm);
/* Stop every vCPU thread and free everything. */
void vmm_destroy(struct vmm *vmm);
const char *vmm_exit_reason(const struct vmm *vmm);
/* After a failed vmm_start: the reason in words when the VM itself could
 * not be made (no /dev/kvm, too little memory ...), else NULL. */
const char *vmm_start_error(const struct vmm *vmm);

#endif
