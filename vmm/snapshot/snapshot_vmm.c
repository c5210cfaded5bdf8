/* snapshot_vmm: snapshot create/load for a whole husk (snapshot_vmm.h). */
#include "vmm/snapshot/snapshot_vmm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/vm_config.h"
#include "vmm/vmm.h"

int snapshot_create(struct vmm *vmm, const struct snapshot_create_params *p,
                    char *err, size_t errlen)
{
	if (vmm->state != VMM_PAUSED) {
		snprintf(err, errlen, "the microVM must be paused to create a snapshot");
		return -EINVAL;
	}
	char *json = NULL;
	int ret = snapshot_vm_config_encode(vmm->cfg, &json);
	if (ret < 0) {
		snprintf(err, errlen, "encoding the device configuration: %s", strerror(-ret));
		return ret;
	}
	vmm->snap.vm_config_json = json;
	ret = snapshot_save(&vmm->snap, &vmm->vm, &vmm->cfg->machine, p, err, errlen);
	vmm->snap.vm_config_json = NULL;
	free(json);
	return ret;
}

int snapshot_restore_step(struct vmm *vmm)
{
	const struct vmm_restore *r = vmm->restore;
	if (!r)
		return 0;
	int ret = snapshot_restore(&vmm->snap, &vmm->vm, r->img, r->p, r->err, r->errlen);
	if (ret == 0 && r->p->ws.file && r->p->ws.record_ms) {
		ret = ws_record_arm(&vmm->snap.ws_rec, &vmm->loop, r->p->ws.record_ms);
		if (ret < 0)
			errmsg_set(r->err, r->errlen, ret, "working set: cannot arm the timer: %s", strerror(-ret));
	}
	if (ret < 0)
		return ret;
	/* resume_vm false: the vCPU threads park as soon as they start */
	if (!r->p->resume_vm)
		atomic_store(&vmm->vm.pause_requested, true);
	return 0;
}

/* The snapshot's machine and (when it names them) its devices, in place of
 * what was configured. */
static int snapshot_load_config(const struct snapshot_image *img, struct vm_config *cfg,
                                const struct snapshot_load_params *p, char *err, size_t errlen)
{
	const struct snap_section *vc = snap_find(&img->f, SNAP_SEC_VM_CONFIG, 0);
	int ret = 0;
	if (vc)
		ret = snapshot_vm_config_apply(vc->data, (size_t)vc->len, cfg, p, err, errlen);
	else if (p->device_overrides)
		ret = errmsg_set(err, errlen, -EINVAL, "the snapshot has no device configuration to override");
	if (ret < 0)
		return ret;
	cfg->machine.vcpu_count = img->machine.vcpu_count;
	cfg->machine.mem_size_mib = img->machine.mem_size_mib;
	cfg->machine.smt = img->machine.flags & SNAP_MACHINE_SMT;
	cfg->machine.huge_pages_2m = img->machine.flags & SNAP_MACHINE_HUGE_2M;
	/* dirty logging is switched on by the restore when asked for */
	cfg->machine.track_dirty_pages = false;
	return 0;
}

int snapshot_load(struct vmm *vmm, struct vm_config *cfg, const struct snapshot_load_params *p,
                  char *err, size_t errlen)
{
	struct snapshot_image img;
	if (vmm->state != VMM_NOT_STARTED || vmm->vm_created) {
		snprintf(err, errlen, "a snapshot can only be loaded before the microVM is started");
		return -EINVAL;
	}
	if (!p->snapshot_path || !*p->snapshot_path) {
		snprintf(err, errlen, "snapshot_path is required");
		return -EINVAL;
	}
	int ret = snapshot_image_open(p->snapshot_path, &img, err, errlen);
	if (ret < 0)
		return ret;
	/* What was configured before, put back if the load fails before a VM
	 * exists: a later InstanceStart must not boot with half a snapshot's
	 * devices or machine. (Once a VM exists, only teardown is left.) */
	struct vm_config before;
	config_init(&before);
	config_move_devices(&before, cfg);
	before.machine = cfg->machine;
	ret = snapshot_load_config(&img, cfg, p, err, errlen);
	if (ret < 0) {
		snapshot_image_close(&img);
		goto out;
	}
	struct vmm_restore r = { .img = &img, .p = p, .err = err, .errlen = errlen };
	err[0] = '\0';
	vmm->restore = &r;
	ret = vmm_start(vmm, cfg);
	vmm->restore = NULL;
	snapshot_image_close(&img);
	if (ret < 0) {
		/* the VM's own reason when it has one (too few huge pages) */
		const char *why = vmm_start_error(vmm);
		if (!err[0])
			snprintf(err, errlen, "building the microVM failed: %s", why ? why : strerror(-ret));
		goto out;
	}
	cfg->machine.track_dirty_pages = p->enable_diff_snapshots;
	if (!p->resume_vm)
		vmm->state = VMM_PAUSED;
	log_info("snapshot %s loaded (%s backend)%s", p->snapshot_path,
	         p->mem_backend == SNAPSHOT_MEM_UFFD ? "Uffd" : "File", p->resume_vm ? ", resumed" : "");
out:
	if (ret < 0 && !vmm->vm_created) {
		config_move_devices(cfg, &before);
		cfg->machine = before.machine;
	}
	/* the machine's strings are cfg's, shared with the copy */
	memset(&before.machine, 0, sizeof(before.machine));
	config_free(&before);
	return ret;
}
