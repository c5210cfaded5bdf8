/* The VM side of the API, stubbed for the targets that link the API
 * sources (api/fuzz_sources) without vmm.c and the devices: fuzz_api and
 * fuzz_config. Each target applies only requests that never reach these,
 * so every stub aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "devices/serial.h"
#include "vmm/seccomp.h"
#include "vmm/vmm.h"

int vmm_start(struct vmm *vmm, const struct vm_config *cfg) { (void)vmm; (void)cfg; abort(); }
int vmm_pause(struct vmm *vmm) { (void)vmm; abort(); }
int vmm_resume(struct vmm *vmm) { (void)vmm; abort(); }
const char *vmm_start_error(const struct vmm *vmm) { (void)vmm; abort(); }
/* PATCH of a drive or an interface reaches a device only after start */
void *vmm_device_find(const struct vmm *vmm, enum virtio_kind kind, const char *id)
{
	(void)vmm;
	(void)kind;
	(void)id;
	abort();
}
/* metrics read COM1's counters only from a created VM */
void serial_get_stats(struct serial *s, struct serial_stats *out) { (void)s; (void)out; abort(); }
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
int blk_swap_backing(struct blk *b, const char *path) { (void)b; (void)path; abort(); }
void blk_update_rate_limiter(struct blk *b, const struct rate_limiter_config *cfg) { (void)b; (void)cfg; abort(); }
void net_update_rate_limiters(struct net *n, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx)
{
	(void)n; (void)rx; (void)tx;
	abort();
}
/* the server thread (which filters itself) never runs here */
int seccomp_install(enum seccomp_thread kind) { (void)kind; abort(); }
int i8042_send_ctrl_alt_del(struct i8042 *k) { (void)k; abort(); }
