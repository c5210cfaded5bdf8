/* tcp: the MMDS endpoint of one guest interface (see tcp.h). */
#include "devices/mmds/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vmm/log.h"

/* Firecracker's MMDS answers from this locally administered MAC. */
static const uint8_t mmds_mac[6] = { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 };

static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

struct mmds_stack *mmds_stack_new(struct mmds *m, uint32_t ip)
{
	struct mmds_stack *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->m = m;
	st->ip = ip;
	memcpy(st->mac, mmds_mac, 6);
	return st;
}

static void conn_free(struct mmds_conn *c)
{
	free(c->resp);
	c->resp = NULL;
	c->state = CONN_FREE;
}

/* A connection ends (reset, closed both ways or evicted): counted. */
static void conn_close(struct mmds_stack *st, struct mmds_conn *c)
{
	st->stats.conns_closed++;
	conn_free(c);
}

/* What the guest did to this endpoint, once, at the end. */
static void stack_log(const struct mmds_stack *st)
{
	const struct mmds_stack_stats *s = &st->stats;
	log_info("mmds %u.%u.%u.%u: %llu frames in (%llu malformed, %llu bad checksums, %llu unsupported, "
	         "%llu out of window, %llu resets ignored, %llu without connection, %llu oversized), "
	         "%llu frames out (%llu dropped), %llu connections (%llu evicted)",
	         st->ip >> 24, (st->ip >> 16) & 255, (st->ip >> 8) & 255, st->ip & 255,
	         (unsigned long long)s->rx_frames, (unsigned long long)s->rx_malformed,
	         (unsigned long long)s->rx_bad_csum, (unsigned long long)s->rx_unsupported,
	         (unsigned long long)s->rx_out_of_window, (unsigned long long)s->rx_rst_ignored,
	         (unsigned long long)s->rx_no_conn, (unsigned long long)s->rx_oversized,
	         (unsigned long long)s->tx_frames, (unsigned long long)s->tx_ctl_dropped,
	         (unsigned long long)s->conns_opened, (unsigned long long)s->conns_evicted);
}

void mmds_stack_free(struct mmds_stack *st)
{
	if (!st)
		return;
	stack_log(st);
	for (int i = 0; i < MMDS_CONNS; i++)
		conn_free(&st->conns[i]);
	free(st);
}

bool mmds_stack_claims(const struct mmds_stack *st, const uint8_t *f, size_t len)
{
	return frame_classify(f, len, st->ip) != FRAME_OTHER;
}

/* Queue a small frame; when the ring is full it is dropped (the guest
 * retransmits what it still wants answered). */
static void ctl_push(struct mmds_stack *st, const uint8_t *f, size_t len)
{
	if (st->ctl_count == MMDS_CTL_FRAMES || len > MMDS_CTL_FRAME_LEN) {
		st->stats.tx_ctl_dropped++;
		return;
	}
	unsigned i = (st->ctl_head + st->ctl_count++) % MMDS_CTL_FRAMES;
	memcpy(st->ctl[i], f, len);
	st->ctl_len[i] = (uint8_t)len;
}

static uint16_t conn_window(const struct mmds_conn *c)
{
	return (uint16_t)(sizeof(c->req) - c->req_len);
}

/* A segment without data from us to c's peer. */
static void ctl_segment(struct mmds_stack *st, const struct mmds_conn *c, uint8_t flags, uint32_t seq)
{
	uint8_t f[MMDS_FRAME_MAX];
	struct tcp_seg s = { .src_ip = st->ip, .dst_ip = c->peer_ip, .src_port = MMDS_PORT,
	                     .dst_port = c->peer_port, .seq = seq, .ack = c->rcv_nxt, .flags = flags,
	                     .win = conn_window(c) };
	ctl_push(st, f, frame_tcp_build(&s, c->peer_mac, st->mac, st->ip_id++, f));
}

/* RFC 793's reset for a segment that belongs to no connection. */
static void reply_rst(struct mmds_stack *st, const struct tcp_seg *in)
{
	struct mmds_conn c = { .peer_ip = in->src_ip, .peer_port = in->src_port,
	                       .rcv_nxt = in->seq + (uint32_t)in->len + !!(in->flags & TCP_SYN) + !!(in->flags & TCP_FIN),
	                       .req_len = sizeof(c.req) };
	memcpy(c.peer_mac, in->src_mac, 6);
	if (in->flags & TCP_ACK)
		ctl_segment(st, &c, TCP_RST, in->ack);
	else
		ctl_segment(st, &c, TCP_RST | TCP_ACK, 0);
}

static struct mmds_conn *conn_find(struct mmds_stack *st, const struct tcp_seg *s)
{
	for (int i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &st->conns[i];
		if (c->state != CONN_FREE && c->peer_ip == s->src_ip && c->peer_port == s->src_port)
			return c;
	}
	return NULL;
}

/* A free slot, else the least recently active connection's. */
static struct mmds_conn *conn_alloc(struct mmds_stack *st)
{
	struct mmds_conn *lru = &st->conns[0];
	for (int i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &st->conns[i];
		if (c->state == CONN_FREE)
			return c;
		if (c->last_active < lru->last_active)
			lru = c;
	}
	st->stats.conns_evicted++;
	conn_close(st, lru);
	return lru;
}

static void on_syn(struct mmds_stack *st, const struct tcp_seg *s)
{
	uint32_t iss;
	if (getrandom(&iss, sizeof(iss), GRND_NONBLOCK) != sizeof(iss))
		iss = (uint32_t)st->tick * 2654435761u;
	struct mmds_conn *c = conn_alloc(st);
	c->state = CONN_SYN_RCVD;
	memcpy(c->peer_mac, s->src_mac, 6);
	c->peer_ip = s->src_ip;
	c->peer_port = s->src_port;
	c->rcv_nxt = s->seq + 1; /* data on a SYN is not taken */
	c->snd_una = iss;
	c->snd_nxt = iss + 1;
	c->snd_wnd = s->win;
	c->peer_fin = c->close_after = c->fin_sent = false;
	c->resp = NULL;
	c->req_len = 0;
	c->last_active = st->tick;
	st->stats.conns_opened++;
	ctl_segment(st, c, TCP_SYN | TCP_ACK, iss);
}

/* Give the buffered request to HTTP when no response is on its way. */
static void conn_serve(struct mmds_stack *st, struct mmds_conn *c)
{
	char *resp = NULL;
	size_t rlen = 0;
	if (c->resp || c->close_after || c->req_len == 0)
		return;
	int n = mmds_http_handle(st->m, c->req, c->req_len, &resp, &rlen);
	if (n == 0)
		return;
	if (n < 0) {
		/* a 400 (when there is one) and then the end */
		st->stats.rx_oversized += c->req_len >= sizeof(c->req);
		c->close_after = true;
		c->req_len = 0;
	} else {
		memmove(c->req, c->req + n, c->req_len - (size_t)n);
		c->req_len -= (size_t)n;
	}
	c->resp = resp;
	c->resp_len = resp ? rlen : 0;
	c->resp_seq = c->snd_nxt;
}

/* The ACK field: move snd_una, finish the handshake, drop what is acked.
 * false when the segment is to be dropped. */
static bool conn_ack(struct mmds_stack *st, struct mmds_conn *c, const struct tcp_seg *s)
{
	if (!(s->flags & TCP_ACK))
		return false;
	if (seq_lt(c->snd_nxt, s->ack)) {
		/* acks what we never sent: tell the peer where we are */
		st->stats.rx_out_of_window++;
		ctl_segment(st, c, TCP_ACK, c->snd_nxt);
		return false;
	}
	if (c->state == CONN_SYN_RCVD) {
		if (s->ack != c->snd_nxt) {
			reply_rst(st, s);
			return false;
		}
		c->state = CONN_OPEN;
	}
	if (seq_lt(c->snd_una, s->ack))
		c->snd_una = s->ack;
	c->snd_wnd = s->win;
	if (c->resp && seq_le(c->resp_seq + (uint32_t)c->resp_len, c->snd_una)) {
		free(c->resp);
		c->resp = NULL;
		conn_serve(st, c); /* a request that came in behind it */
	}
	return true;
}

/* In-order data and FIN; true when they call for an ACK. */
static bool conn_data(struct mmds_stack *st, struct mmds_conn *c, const struct tcp_seg *s)
{
	if (!s->len && !(s->flags & TCP_FIN))
		return false;
	if (s->seq != c->rcv_nxt || c->peer_fin) {
		st->stats.rx_out_of_window++;
		return true; /* a duplicate ACK says what we expect */
	}
	size_t n = s->len, room = sizeof(c->req) - c->req_len;
	if (n > room) {
		/* past the window we gave: keep what fits (a full buffer that
		 * is still no request gets its 400 below) */
		st->stats.rx_oversized++;
		n = room;
	}
	memcpy(c->req + c->req_len, s->data, n);
	c->req_len += n;
	c->rcv_nxt += (uint32_t)n;
	if ((s->flags & TCP_FIN) && n == s->len) {
		c->rcv_nxt++;
		c->peer_fin = true;
	}
	conn_serve(st, c);
	return true;
}

static bool conn_can_send_data(const struct mmds_conn *c)
{
	if (!c->resp)
		return false;
	uint32_t sent = c->snd_nxt - c->resp_seq, in_flight = c->snd_nxt - c->snd_una;
	return sent < c->resp_len && in_flight < c->snd_wnd;
}

static bool conn_wants_fin(const struct mmds_conn *c)
{
	if (c->state != CONN_OPEN || c->fin_sent || !(c->peer_fin || c->close_after))
		return false;
	return !c->resp || c->snd_nxt - c->resp_seq >= c->resp_len;
}

static void on_segment(struct mmds_stack *st, struct mmds_conn *c, const struct tcp_seg *s)
{
	if (s->flags & TCP_RST) {
		/* only an exact hit closes (RFC 5961): a blind RST storm cannot */
		if (s->seq == c->rcv_nxt)
			conn_close(st, c);
		else
			st->stats.rx_rst_ignored++;
		return;
	}
	if (s->flags & TCP_SYN) {
		/* our SYN/ACK was lost to the guest: say it again */
		if (c->state == CONN_SYN_RCVD && s->seq + 1 == c->rcv_nxt)
			ctl_segment(st, c, TCP_SYN | TCP_ACK, c->snd_una);
		else
			st->stats.rx_out_of_window++;
		return;
	}
	c->last_active = ++st->tick;
	if (!conn_ack(st, c, s))
		return;
	bool need_ack = conn_data(st, c, s);
	if (c->fin_sent && c->snd_una == c->snd_nxt && c->peer_fin) {
		if (need_ack)
			ctl_segment(st, c, TCP_ACK, c->snd_nxt);
		conn_close(st, c);
		return;
	}
	/* data or a FIN on its way carries the ACK; else send it alone */
	if (need_ack && !conn_can_send_data(c) && !conn_wants_fin(c))
		ctl_segment(st, c, TCP_ACK, c->snd_nxt);
}

static void tcp_input(struct mmds_stack *st, const uint8_t *f, size_t len, bool csum_partial)
{
	struct tcp_seg s;
	int ret = frame_tcp_parse(f, len, csum_partial, &s);
	if (ret < 0) {
		if (ret == -EBADMSG)
			st->stats.rx_bad_csum++;
		else if (ret == -EOPNOTSUPP)
			st->stats.rx_unsupported++;
		else
			st->stats.rx_malformed++;
		return;
	}
	struct mmds_conn *c = s.dst_port == MMDS_PORT ? conn_find(st, &s) : NULL;
	if (c) {
		on_segment(st, c, &s);
	} else if (s.flags & TCP_RST) {
		st->stats.rx_rst_ignored++; /* never answer a reset */
	} else if (s.dst_port == MMDS_PORT && (s.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) == TCP_SYN) {
		st->tick++;
		on_syn(st, &s);
	} else {
		st->stats.rx_no_conn++;
		reply_rst(st, &s);
	}
}

void mmds_stack_input(struct mmds_stack *st, const uint8_t *f, size_t len, bool csum_partial)
{
	uint8_t reply[ARP_FRAME_LEN];
	st->stats.rx_frames++;
	switch (frame_classify(f, len, st->ip)) {
	case FRAME_ARP_FOR:
		if (frame_arp_reply(f, len, st->ip, st->mac, reply) == 0)
			ctl_push(st, reply, sizeof(reply));
		else
			st->stats.rx_malformed++;
		break;
	case FRAME_IPV4_TO: tcp_input(st, f, len, csum_partial); break;
	default: st->stats.rx_malformed++; break;
	}
}

/* The next data segment or FIN of c into out; 0 if it has none. */
static size_t conn_pop(struct mmds_stack *st, struct mmds_conn *c, uint8_t *out)
{
	struct tcp_seg s = { .src_ip = st->ip, .dst_ip = c->peer_ip, .src_port = MMDS_PORT,
	                     .dst_port = c->peer_port, .seq = c->snd_nxt, .ack = c->rcv_nxt,
	                     .flags = TCP_ACK, .win = conn_window(c) };
	if (conn_can_send_data(c)) {
		size_t off = c->snd_nxt - c->resp_seq, n = c->resp_len - off;
		size_t room = c->snd_wnd - (c->snd_nxt - c->snd_una);
		n = n < room ? n : room;
		n = n < MMDS_MSS ? n : MMDS_MSS;
		s.data = (const uint8_t *)c->resp + off;
		s.len = n;
		s.flags |= TCP_PSH;
		c->snd_nxt += (uint32_t)n;
		st->stats.tx_bytes += n;
	} else if (conn_wants_fin(c)) {
		s.flags |= TCP_FIN;
		c->snd_nxt++;
		c->fin_sent = true;
	} else {
		return 0;
	}
	return frame_tcp_build(&s, c->peer_mac, st->mac, st->ip_id++, out);
}

size_t mmds_stack_pop(struct mmds_stack *st, uint8_t *out)
{
	size_t len = 0;
	if (st->ctl_count) {
		len = st->ctl_len[st->ctl_head];
		memcpy(out, st->ctl[st->ctl_head], len);
		st->ctl_head = (st->ctl_head + 1) % MMDS_CTL_FRAMES;
		st->ctl_count--;
	}
	for (int i = 0; !len && i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &st->conns[st->next_conn];
		st->next_conn = (st->next_conn + 1) % MMDS_CONNS;
		if (c->state == CONN_OPEN)
			len = conn_pop(st, c, out);
	}
	st->stats.tx_frames += len != 0;
	return len;
}

bool mmds_stack_has_output(const struct mmds_stack *st)
{
	if (st->ctl_count)
		return true;
	for (int i = 0; i < MMDS_CONNS; i++) {
		const struct mmds_conn *c = &st->conns[i];
		if (c->state == CONN_OPEN && (conn_can_send_data(c) || conn_wants_fin(c)))
			return true;
	}
	return false;
}
