/* snapshot_vmm: the snapshot API at the level of a whole husk (struct vmm),
 * what PUT /snapshot/create, PUT /snapshot/load and `husk snapshot ...`
 * call. */
#ifndef HUSK_SNAPSHOT_VMM_H
#define HUSK_SNAPSHOT_VMM_H

#include <stddef.h>

#include "vmm/snapshot/snapshot.h"

struct vmm;
struct vm_config;

/* A snapshot being loaded: set in vmm->restore only during snapshot_load,
 * it makes InstanceStart skip the kernel load and vCPU configuration and
 * run step_restore_snapshot instead. */
struct vmm_restore {
	const struct snapshot_image *img;
	const struct snapshot_load_params *p;
	char *err;
	size_t errlen;
};

/* PUT /snapshot/create: the VM must be paused. Errors: -EINVAL (not
 * started / not paused / bad params, reason in err), or what saving hit. */
int snapshot_create(struct vmm *vmm, const struct snapshot_create_params *p,
                    char *err, size_t errlen);

/* PUT /snapshot/load on a husk that has not started a VM. cfg (which must
 * outlive vmm, as for vmm_start) gets the machine configuration from the
 * snapshot; devices configured before the load stay as set
 * (p's device overrides re-point the snapshot's own).
 * Everything in the file is checked before any state is applied. On
 * failure the vmm may hold a half-built VM: tear it down with vmm_destroy
 * and vmm_init before the next attempt (the process stays usable). */
int snapshot_load(struct vmm *vmm, struct vm_config *cfg, const struct snapshot_load_params *p,
                  char *err, size_t errlen);

/* InstanceStart's "restore snapshot" step (vmm.c): after the VM, the
 * legacy devices and the (unconfigured) vCPUs exist, before the vCPU
 * threads start. A no-op when vmm->restore is NULL. */
int snapshot_restore_step(struct vmm *vmm);

#endif
