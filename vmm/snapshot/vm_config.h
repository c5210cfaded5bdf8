/* vm_config: the devices a snapshot was taken with (each device resource
 * of api/resources.c), stored as JSON in SNAP_SEC_VM_CONFIG and
 * rebuilt from it on load, with the load's overrides applied (a clone
 * gets another tap and other host sockets). */
#ifndef HUSK_SNAPSHOT_VM_CONFIG_H
#define HUSK_SNAPSHOT_VM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/snapshot/snapshot.h"

struct vm_config;

/* A malloc'd NUL-terminated JSON text. 0 or -ENOMEM. */
int snapshot_vm_config_encode(const struct vm_config *cfg, char **json);
/* Replace cfg's devices by those in the section (every field checked),
 * then apply p's device overrides. -EINVAL with the
 * reason in err; cfg's strings stay owned by cfg (config_free). */
int snapshot_vm_config_apply(const uint8_t *data, size_t len, struct vm_config *cfg,
                             const struct snapshot_load_params *p, char *err, size_t errlen);

#endif
