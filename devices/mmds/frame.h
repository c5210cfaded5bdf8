/* frame: the Ethernet, ARP, IPv4 and TCP headers MMDS reads and writes.
 * Parsing checks every field a hostile guest could set (lengths,
 * versions, checksums, fragments) before anything else looks at the
 * frame; building writes complete frames with their checksums. */
#ifndef HUSK_MMDS_FRAME_H
#define HUSK_MMDS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HLEN_ 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_FRAME_LEN (ETH_HLEN_ + 28)
#define IPV4_HLEN 20
#define TCP_HLEN 20
#define MMDS_MSS 1460
#define MMDS_FRAME_MAX (ETH_HLEN_ + IPV4_HLEN + TCP_HLEN + MMDS_MSS)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* A TCP segment the checks passed; addresses and ports in host order. */
struct tcp_seg {
	uint8_t src_mac[6];
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *data;
	size_t len;
};

/* What a frame from the guest is, for the detour decision and input. */
enum frame_kind { FRAME_OTHER, FRAME_ARP_FOR, FRAME_IPV4_TO };

/* Whether frame is an ARP request for ip, or an IPv4 packet to ip (the
 * only frames MMDS takes from the guest). Reads headers only. */
enum frame_kind frame_classify(const uint8_t *f, size_t len, uint32_t ip);

/* The ARP request for ip in f, answered with mac into out
 * (ARP_FRAME_LEN bytes). -EINVAL when f is not a well-formed request. */
int frame_arp_reply(const uint8_t *f, size_t len, uint32_t ip, const uint8_t mac[6], uint8_t *out);

/* Check and parse an IPv4/TCP frame. csum_partial: the guest left the
 * TCP checksum to the device (virtio's NEEDS_CSUM), so it is not
 * checked. -EINVAL for a malformed header, -EBADMSG for a bad checksum,
 * -EOPNOTSUPP for fragments and other protocols. */
int frame_tcp_parse(const uint8_t *f, size_t len, bool csum_partial, struct tcp_seg *s);

/* Build a TCP frame from s (s->data/len the payload, at most MMDS_MSS;
 * an MSS option with SYN) with ethernet addresses dst/src into out
 * (MMDS_FRAME_MAX bytes). Returns its length. */
size_t frame_tcp_build(const struct tcp_seg *s, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                       uint16_t ip_id, uint8_t *out);

/* The Internet checksum (RFC 1071) of buf, starting from sum. */
uint16_t frame_csum(const uint8_t *buf, size_t len, uint32_t sum);

#endif
