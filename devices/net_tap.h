/* net_tap: the host side of a virtio-net device, a Linux tap interface
 * opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR so every frame carries the
 * same virtio_net_hdr the guest uses and offloads pass straight through. */
#ifndef HUSK_NET_TAP_H
#define HUSK_NET_TAP_H

#include <stdint.h>

#define TAP_NAME_MAX 16 /* IFNAMSIZ */

/* Open /dev/net/tun and attach to (or create) the tap called name; the fd
 * is non-blocking and close-on-exec, its vnet header is vnet_hdr_len bytes.
 * Returns the fd or -errno (-EINVAL for a bad name). */
int tap_open(const char *name, int vnet_hdr_len);
/* Take a tap fd handed in by a caller (a jailer, a test): check that it is
 * a tap with IFF_VNET_HDR, make it non-blocking and set the header length.
 * Returns 0 or -errno; the fd stays the caller's to close on failure. */
int tap_setup_fd(int fd, int vnet_hdr_len);
/* The tap's interface name (for logs), or -errno. */
int tap_get_name(int fd, char name[TAP_NAME_MAX]);
/* TUNSETOFFLOAD with TUN_F_* bits. If the kernel refuses UFO (it was gone
 * for a while), retry without it; *applied (may be NULL) gets what stuck. */
int tap_set_offload(int fd, unsigned tun_flags, unsigned *applied);
/* The TUN_F_* offloads the tap may use when the guest acked these
 * virtio-net features: what the tap hands us must be something the guest
 * said it can receive (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO). */
unsigned tap_offload_from_features(uint64_t guest_features);

#endif
