/* tcp: the MMDS endpoint one guest interface talks to: it answers ARP
 * for the MMDS address and runs a minimal passive TCP server on port 80
 * of it, whose bytes go to http.c. Small on purpose: a fixed table of
 * connections (the least recently active one makes room, so a flood of
 * half-open connections only pushes out the guest's own), in-order data
 * only (anything else is answered with an ACK of what we have), no
 * options but MSS, no window scaling, and no retransmission: what we
 * send waits in the guest's receive queue, never on a wire that loses
 * it. Every frame the guest sends is checked field by field and a bad
 * one is dropped and counted, never answered in kind.
 *
 * Output is pulled: mmds_stack_pop() builds the next frame when the
 * device has room for it, so a large response costs no queue and a
 * guest that stops reading stops the sending. */
#ifndef HUSK_MMDS_TCP_H
#define HUSK_MMDS_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/mmds/frame.h"
#include "devices/mmds/mmds.h"

#define MMDS_CONNS 16
#define MMDS_CTL_FRAMES 32
#define MMDS_CTL_FRAME_LEN 64 /* ARP replies, SYN/ACKs, ACKs, RSTs */
#define MMDS_PORT 80

struct mmds_stack_stats {
	uint64_t rx_frames, rx_malformed, rx_bad_csum, rx_unsupported;
	uint64_t rx_out_of_window, rx_rst_ignored, rx_no_conn, rx_oversized;
	uint64_t conns_opened, conns_closed, conns_evicted;
	uint64_t tx_frames, tx_bytes, tx_ctl_dropped; /* tx_bytes: TCP payload */
};

enum mmds_conn_state { CONN_FREE, CONN_SYN_RCVD, CONN_OPEN };

struct mmds_conn {
	enum mmds_conn_state state;
	uint8_t peer_mac[6];
	uint32_t peer_ip;
	uint16_t peer_port;
	uint32_t rcv_nxt;           /* the next byte we expect */
	uint32_t snd_una, snd_nxt;  /* oldest unacked, next to send */
	uint32_t snd_wnd;           /* the peer's window */
	uint64_t last_active;       /* stack tick: the least recent is evicted */
	bool peer_fin, close_after, fin_sent;
	char *resp;                 /* the response being sent, or NULL */
	size_t resp_len;
	uint32_t resp_seq;          /* the sequence number of resp[0] */
	size_t req_len;
	char req[MMDS_HTTP_MAX_REQUEST];
};

struct mmds_stack {
	struct mmds *m;
	uint32_t ip;
	uint8_t mac[6];
	uint16_t ip_id;
	uint64_t tick;
	unsigned next_conn;         /* round robin for sending */
	struct mmds_conn conns[MMDS_CONNS];
	uint8_t ctl[MMDS_CTL_FRAMES][MMDS_CTL_FRAME_LEN];
	uint8_t ctl_len[MMDS_CTL_FRAMES];
	unsigned ctl_head, ctl_count;
	struct mmds_stack_stats stats;
};

/* ip in host order. */
struct mmds_stack *mmds_stack_new(struct mmds *m, uint32_t ip);
void mmds_stack_free(struct mmds_stack *st);
/* Whether the guest's frame is for MMDS (an ARP request for its address
 * or an IPv4 packet to it): those are handed to mmds_stack_input and
 * never reach the tap. */
bool mmds_stack_claims(const struct mmds_stack *st, const uint8_t *f, size_t len);
/* One frame from the guest. csum_partial: virtio's NEEDS_CSUM was set. */
void mmds_stack_input(struct mmds_stack *st, const uint8_t *f, size_t len, bool csum_partial);
/* The next frame for the guest into out (MMDS_FRAME_MAX bytes): its
 * length, or 0 when there is nothing to send. */
size_t mmds_stack_pop(struct mmds_stack *st, uint8_t *out);
bool mmds_stack_has_output(const struct mmds_stack *st);

#endif
