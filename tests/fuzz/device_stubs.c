/* The device calls the API makes, stubbed for the targets that link the
 * API sources and no devices (fuzz_api, fuzz_config): no input there
 * reaches a created VM, so every stub aborts. */
#include <stdlib.h>

#include "devices/i8042.h"
#include "devices/mmds/tcp.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "vmm/cli.h"

/* metrics read COM1's counters only from a created VM */
void serial_get_stats(struct serial *s, struct serial_stats *out) { (void)s; (void)out; abort(); }
int blk_swap_backing(struct blk *b, const char *path) { (void)b; (void)path; abort(); }
void blk_update_rate_limiter(struct blk *b, const struct rate_limiter_config *cfg) { (void)b; (void)cfg; abort(); }
int i8042_send_ctrl_alt_del(struct i8042 *k) { (void)k; abort(); }
/* MMDS is attached only to a created VM */
struct mmds_stack *mmds_stack_new(struct mmds *m, uint32_t ip) { (void)m; (void)ip; abort(); }
int snapshot_device_register(struct snapshot_state *s, const char *name, const struct snapshot_dev_ops *ops,
                             void *opaque)
{
	(void)s; (void)name; (void)ops; (void)opaque;
	abort();
}
/* classes are compared by address only (no device is ever attached) */
const struct virtio_class blk_class;
const struct virtio_class net_class;
const struct virtio_class vsock_class;
const struct virtio_class rng_class;
const struct virtio_class balloon_class;
/* the resources list their devices' husk run options (never parsed here) */
const struct cli_opt blk_cli_opt;
const struct cli_opt net_cli_opt;
const struct cli_opt vsock_cli_opt;
const struct cli_opt rng_cli_opt;
const struct cli_opt balloon_cli_opt;
