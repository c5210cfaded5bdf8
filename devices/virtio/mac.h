/* mac: a guest MAC address as text, the one parser and the one formatter
 * (the API, the CLI, /vm/config, snapshots and logs all use these). */
#ifndef HUSK_VIRTIO_MAC_H
#define HUSK_VIRTIO_MAC_H

#include <stdint.h>

#define NET_MAC_STR_LEN 18 /* "06:00:ac:10:00:02" and its NUL */

/* "aa:bb:cc:dd:ee:ff" -> mac; a multicast address is refused. 0 or -EINVAL. */
int net_parse_mac(const char *s, uint8_t mac[6]);
void net_format_mac(const uint8_t mac[6], char out[NET_MAC_STR_LEN]);

#endif
