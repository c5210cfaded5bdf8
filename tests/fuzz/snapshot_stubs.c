/* The snapshot target links the VM side stubbed (api_stubs.c) and no
 * arch code: the architecture's snapshot id is the one thing answered. */
#include "devices/virtio/class.h"
#include "vmm/arch/arch.h"
#include "vmm/snapshot/format.h"

uint32_t arch_snapshot_id(void) { return SNAP_ARCH_X86_64; }

/* The API's network resource and the metrics find interfaces by this
 * class's address; the target links no virtio-net, so it is a stub. */
const struct virtio_class net_class;
