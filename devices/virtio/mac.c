/* mac: guest MAC addresses as text. */
#include "devices/virtio/mac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (!s || strlen(s) != 17)
		return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
	           &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	/* a multicast source address would be dropped by every switch */
	if (mac[0] & 1)
		return -EINVAL;
	return 0;
}

void net_format_mac(const uint8_t m[6], char out[NET_MAC_STR_LEN])
{
	snprintf(out, NET_MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}
