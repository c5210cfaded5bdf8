/* What the snapshot target links through the API's parsers (the device
 * configuration a state file carries is read by them) without the VM
 * side: nothing a state file can reach calls these, so they abort. The
 * architecture's snapshot id is the one thing answered. */
#include <stdlib.h>

#include "api/api.h"
#include "vmm/arch/arch.h"
#include "vmm/seccomp.h"
#include "vmm/snapshot/format.h"
#include "vmm/vmm.h"

uint32_t arch_snapshot_id(void) { return SNAP_ARCH_X86_64; }
int vmm_start(struct vmm *vmm, const struct vm_config *cfg) { (void)vmm; (void)cfg; abort(); }
int vmm_pause(struct vmm *vmm) { (void)vmm; abort(); }
int vmm_resume(struct vmm *vmm) { (void)vmm; abort(); }
const char *vmm_start_error(const struct vmm *vmm) { (void)vmm; abort(); }
void *vmm_device_find(const struct vmm *vmm, enum virtio_kind kind, const char *id)
{
	(void)vmm;
	(void)kind;
	(void)id;
	abort();
}
int snapshot_create(struct vmm *vmm, const struct snapshot_create_params *p, char *err, size_t errlen)
{
	(void)vmm; (void)p; (void)err; (void)errlen;
	abort();
}
int snapshot_load(struct vmm *vmm, struct vm_config *cfg, const struct snapshot_load_params *p, char *err,
                  size_t errlen)
{
	(void)vmm; (void)cfg; (void)p; (void)err; (void)errlen;
	abort();
}
void net_update_rate_limiters(struct net *n, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx)
{
	(void)n; (void)rx; (void)tx;
	abort();
}
int seccomp_install(enum seccomp_thread kind) { (void)kind; abort(); }
