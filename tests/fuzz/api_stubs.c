/* The VM side of the API, stubbed for the targets that link the API
 * sources (api/fuzz_sources) without vmm.c: fuzz_api, fuzz_config and
 * fuzz_snapshot (whose device configuration the API's parsers read). No
 * input reaches these, so every stub aborts. device_stubs.c adds the
 * device calls for the targets that link no devices. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/net.h"
#include "vmm/seccomp.h"
#include "vmm/vmm.h"

int vmm_start(struct vmm *vmm, const struct vm_config *cfg) { (void)vmm; (void)cfg; abort(); }
int vmm_pause(struct vmm *vmm) { (void)vmm; abort(); }
int vmm_attach(struct vmm *vmm, const struct virtio_class *cls, const char *id, const void *cfg)
{
	(void)vmm;
	(void)cls;
	(void)id;
	(void)cfg;
	abort();
}
int vmm_resume(struct vmm *vmm) { (void)vmm; abort(); }
const char *vmm_start_error(const struct vmm *vmm) { (void)vmm; abort(); }
/* PATCH of a drive or an interface reaches a device only after start */
void *vmm_device_find(const struct vmm *vmm, const struct virtio_class *cls, const char *id)
{
	(void)vmm;
	(void)cls;
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
/* the server thread (which filters itself) never runs here */
int seccomp_install(enum seccomp_thread kind) { (void)kind; abort(); }
/* PATCH and GET of the balloon reach its device only after start */
void balloon_set_target(struct balloon *b, uint32_t amount_mib) { (void)b; (void)amount_mib; abort(); }
int balloon_set_interval(struct balloon *b, uint32_t seconds) { (void)b; (void)seconds; abort(); }
void balloon_view(struct balloon *b, struct balloon_view *v) { (void)b; (void)v; abort(); }
int balloon_hint_start(struct balloon *b, bool ack_on_stop) { (void)b; (void)ack_on_stop; abort(); }
int balloon_hint_stop(struct balloon *b) { (void)b; abort(); }
/* husk run's options of the resources are not parsed here */
int cli_set_str(char **field, const char *arg, char *err, size_t errlen)
{
	(void)field; (void)arg; (void)err; (void)errlen;
	abort();
}
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	(void)s; (void)min; (void)max; (void)out;
	abort();
}
