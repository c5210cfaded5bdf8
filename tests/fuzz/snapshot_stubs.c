/* The snapshot target links the VM side stubbed (api_stubs.c) and no
 * arch code: the architecture's snapshot id is the one thing answered.
 * Of the device kinds it links blk and rng; the classes of the others are
 * only compared by address (the API and metrics look for them). */
#include "devices/virtio/class.h"
#include "vmm/cli.h"
#include "vmm/arch/arch.h"
#include "vmm/snapshot/format.h"

uint32_t arch_snapshot_id(void) { return SNAP_ARCH_X86_64; }

const struct virtio_class net_class;
const struct virtio_class vsock_class;
const struct virtio_class balloon_class;
/* the resources list their devices' husk run options (never parsed here) */
const struct cli_opt net_cli_opt;
const struct cli_opt vsock_cli_opt;
const struct cli_opt balloon_cli_opt;
