/* vsock_mux: connections between guest vsock ports and host Unix sockets. */
#include "devices/virtio/vsock_mux.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/chain.h"
#include "vmm/log.h"

enum vsock_conn_state {
	VC_HOST_CONNECT, /* host accepted, its CONNECT line not read yet */
	VC_CONNECTING,   /* REQUEST sent to the guest, RESPONSE not seen */
	VC_ESTABLISHED,
	VC_DEAD,         /* socket closed; freed once its RST is out */
};

/* control packets a connection owes the guest */
#define P_REQUEST (1u << 0)
#define P_RESPONSE (1u << 1)
#define P_RST (1u << 2)
#define P_CREDIT_UPDATE (1u << 3)

struct vsock_conn {
	struct vsock_mux *mux;
	int fd;
	uint32_t events;        /* what the loop watches now */
	bool unwatched;         /* hung up: out of the loop, read to the end */
	enum vsock_conn_state state;
	uint32_t local_port;    /* host side */
	uint32_t peer_port;     /* guest side */
	unsigned pending;       /* P_* */
	bool host_readable;     /* the socket has data or EOF for the guest */
	bool peer_shut_rcv;     /* the guest will not take more data */
	bool peer_shut_send;    /* the guest will not send more */
	bool closing;           /* guest shut both ways: RST once drained */
	bool queued;            /* on the mux's pending list */

	/* guest -> host: the guest may have VSOCK_BUF_ALLOC bytes not yet
	 * written to the socket; what did not fit waits in buf */
	uint32_t rx_cnt;        /* bytes the guest sent */
	uint32_t fwd_cnt;       /* of those, written to the socket */
	uint32_t last_fwd_sent; /* fwd_cnt the guest last heard */
	uint8_t *buf;
	size_t buf_head, buf_tail;

	/* host -> guest: the guest's advertised room */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t tx_cnt;        /* bytes sent to the guest */

	uint64_t deadline_us;   /* 0: none; else reset when it passes */

	char line[VSOCK_CONNECT_LINE_MAX];
	size_t line_len;

	struct vsock_conn *prev, *next; /* mux->conns */
	struct vsock_conn *pnext;       /* pending list */
};

/* ---- parsing ---- */

int vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload_len)
{
	if (le64toh(h->src_cid) != guest_cid || le64toh(h->dst_cid) != VSOCK_HOST_CID)
		return -EINVAL;
	uint32_t len = le32toh(h->len);
	if (len > VSOCK_MAX_PAYLOAD || len > payload_len)
		return -EINVAL;
	if (len && le16toh(h->op) != VSOCK_OP_RW)
		return -EINVAL;
	return 0;
}

static int vsock_parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int vsock_parse_connect(const char *line, uint32_t *port)
{
	char num[16];
	if (strncmp(line, "CONNECT ", 8))
		return -EINVAL;
	const char *p = line + 8;
	size_t n = strlen(p);
	while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--; /* tolerate "\r\n" and trailing blanks */
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, p, n);
	num[n] = '\0';
	return vsock_parse_u32(num, port);
}

int vsock_parse_cli(const char *arg, uint32_t *cid, char **uds, const char **what)
{
	char *dup = strdup(arg ? arg : "");
	char *save = NULL;
	bool have_cid = false;
	int ret = -EINVAL;
	*uds = NULL;
	*what = NULL;
	if (!dup)
		return -ENOMEM;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		if (!val) {
			*what = "--vsock: expected key=value";
			goto out;
		}
		*val++ = '\0';
		if (!strcmp(kv, "cid") && !have_cid) {
			/* 0-2 are reserved (hypervisor, local, host); -1 is "any" */
			if (vsock_parse_u32(val, cid) < 0 || *cid < 3 || *cid == UINT32_MAX) {
				*what = "--vsock: cid must be a number from 3 to 4294967294";
				goto out;
			}
			have_cid = true;
		} else if (!strcmp(kv, "uds") && !*uds) {
			/* room for "_<port>" behind it in a sockaddr_un */
			if (!*val || strlen(val) + 11 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
				*what = "--vsock: uds path empty or too long";
				goto out;
			}
			*uds = strdup(val);
		} else {
			*what = "--vsock: unknown or repeated key (cid, uds)";
			goto out;
		}
	}
	if (!have_cid || !*uds) {
		*what = "--vsock: cid=N and uds=PATH are required";
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		free(*uds);
		*uds = NULL;
	}
	free(dup);
	return ret;
}

/* ---- deadlines ---- */

static uint64_t vsock_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void vsock_mux_arm_timer(struct vsock_mux *m)
{
	uint64_t next = 0;
	for (struct vsock_conn *c = m->conns; c; c = c->next)
		if (c->deadline_us && (!next || c->deadline_us < next))
			next = c->deadline_us;
	struct itimerspec its = { 0 };
	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000000u);
		its.it_value.tv_nsec = (long)(next % 1000000u) * 1000;
	}
	if (m->timer_fd >= 0)
		timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void vsock_conn_set_deadline(struct vsock_conn *c, bool on)
{
	c->deadline_us = on ? vsock_now_us() + (uint64_t)c->mux->timeout_ms * 1000u : 0;
	vsock_mux_arm_timer(c->mux);
}

/* ---- connection bookkeeping ---- */

static struct vsock_conn *vsock_conn_find(struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = m->conns; c; c = c->next)
		if (c->state != VC_HOST_CONNECT && c->state != VC_DEAD &&
		    c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void vsock_conn_watch(struct vsock_conn *c, uint32_t events)
{
	if (c->fd < 0 || c->unwatched || c->events == events)
		return;
	if (loop_mod(c->mux->loop, c->fd, events) == 0)
		c->events = events;
}

/* The kick may run RX processing at once, and that frees connections
 * whose RST is out. A handler still holding a connection must not see it
 * vanish under it, so inside an entry point the kick is only noted and
 * vsock_mux_release runs it once the outermost one is done. */
static void vsock_mux_kick(struct vsock_mux *m)
{
	if (m->depth > 0) {
		m->kick_wanted = true;
		return;
	}
	if (m->kick)
		m->kick(m->kick_opaque);
}

/* Bracket every entry point that may touch a connection after queueing
 * it: loop handlers (through vsock_mux_enter) and vsock_mux_guest_tx. */
static void vsock_mux_hold(struct vsock_mux *m)
{
	m->depth++;
}

static void vsock_mux_release(struct vsock_mux *m)
{
	if (--m->depth > 0 || !m->kick_wanted)
		return;
	m->kick_wanted = false;
	vsock_mux_kick(m);
}

static uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool vsock_conn_has_work(const struct vsock_conn *c)
{
	if (c->pending)
		return true;
	return c->state == VC_ESTABLISHED && c->host_readable && !c->peer_shut_rcv &&
	       vsock_conn_peer_credit(c) > 0;
}

static void vsock_conn_queue(struct vsock_conn *c)
{
	struct vsock_mux *m = c->mux;
	if (c->queued || !vsock_conn_has_work(c))
		return;
	c->queued = true;
	c->pnext = NULL;
	if (m->pend_tail)
		m->pend_tail->pnext = c;
	else
		m->pend_head = c;
	m->pend_tail = c;
	vsock_mux_kick(m);
}

static void vsock_conn_close_fd(struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	if (!c->unwatched)
		loop_del(c->mux->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void vsock_conn_free(struct vsock_conn *c)
{
	struct vsock_mux *m = c->mux;
	vsock_conn_close_fd(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->nr_conns--;
	m->stats.conns_closed++;
	if (c->deadline_us) {
		c->deadline_us = 0;
		vsock_mux_arm_timer(m);
	}
	free(c->buf);
	free(c);
}

/* The guest is done with it (or never knew it): free now unless it still
 * sits on the pending list, which then frees it. */
static void vsock_conn_kill(struct vsock_conn *c)
{
	vsock_conn_close_fd(c);
	c->state = VC_DEAD;
	c->pending = 0;
	if (!c->queued)
		vsock_conn_free(c);
}

/* Tell the guest the connection is gone, then forget it. */
static void vsock_conn_reset(struct vsock_conn *c)
{
	bool known = c->state != VC_HOST_CONNECT;
	vsock_conn_close_fd(c);
	c->state = VC_DEAD;
	if (!known) {
		vsock_conn_kill(c);
		return;
	}
	c->pending = P_RST;
	if (!c->queued)
		vsock_conn_queue(c);
}

static void vsock_conn_event(void *opaque, uint32_t events);

static struct vsock_conn *vsock_conn_new(struct vsock_mux *m, int fd, enum vsock_conn_state st)
{
	if (m->nr_conns >= VSOCK_MAX_CONNS)
		return NULL;
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mux = m;
	c->fd = fd;
	c->state = st;
	if (loop_add(m->loop, fd, 0, vsock_conn_event, c) < 0) {
		free(c);
		return NULL;
	}
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	m->nr_conns++;
	m->stats.conns_opened++;
	return c;
}

static void vsock_orphan_rst(struct vsock_mux *m, const struct vsock_hdr *h)
{
	if (m->orphan_len == VSOCK_MAX_ORPHAN_RST)
		return; /* the guest is flooding us with junk: drop */
	int i = (m->orphan_head + m->orphan_len++) % VSOCK_MAX_ORPHAN_RST;
	/* the answer goes back: its source is the packet's destination */
	m->orphan[i].src_port = le32toh(h->dst_port);
	m->orphan[i].dst_port = le32toh(h->src_port);
	vsock_mux_kick(m);
}

/* ---- guest -> host data ---- */

/* Write what is buffered; returns 0 or -errno for a dead socket. */
static int vsock_conn_flush(struct vsock_conn *c)
{
	while (c->buf_head < c->buf_tail) {
		ssize_t n = send(c->fd, c->buf + c->buf_head, c->buf_tail - c->buf_head,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->buf_head += (size_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->buf_head == c->buf_tail)
		c->buf_head = c->buf_tail = 0;
	return 0;
}

static void vsock_conn_update_watch(struct vsock_conn *c)
{
	uint32_t ev = 0;
	if (c->state == VC_ESTABLISHED && !c->host_readable && !c->peer_shut_rcv)
		ev |= EPOLLIN;
	if (c->buf_tail > c->buf_head)
		ev |= EPOLLOUT;
	vsock_conn_watch(c, ev);
}

/* After data moved to the socket: close what the guest asked to close
 * once everything is out, and tell the guest about freed room. */
static void vsock_conn_after_flush(struct vsock_conn *c)
{
	bool drained = c->buf_head == c->buf_tail;
	if (drained && c->closing) {
		vsock_conn_reset(c); /* the guest waits for our RST */
		return;
	}
	if (drained && c->peer_shut_send)
		shutdown(c->fd, SHUT_WR);
	if (c->fwd_cnt - c->last_fwd_sent >= VSOCK_CREDIT_THRESHOLD) {
		c->pending |= P_CREDIT_UPDATE;
		vsock_conn_queue(c);
	}
	vsock_conn_update_watch(c);
}

static int vsock_conn_buffer(struct vsock_conn *c, const struct iovec *iov, int niov,
                             size_t skip, size_t len)
{
	if (!c->buf) {
		c->buf = malloc(VSOCK_BUF_ALLOC);
		if (!c->buf)
			return -ENOMEM;
	}
	if (c->buf_tail + len > VSOCK_BUF_ALLOC) {
		memmove(c->buf, c->buf + c->buf_head, c->buf_tail - c->buf_head);
		c->buf_tail -= c->buf_head;
		c->buf_head = 0;
	}
	if (c->buf_tail + len > VSOCK_BUF_ALLOC)
		return -ENOBUFS; /* cannot happen while the credit check holds */
	for (int i = 0; i < niov && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - skip < len ? iov[i].iov_len - skip : len;
		memcpy(c->buf + c->buf_tail, (uint8_t *)iov[i].iov_base + skip, k);
		c->buf_tail += k;
		len -= k;
		skip = 0;
	}
	return 0;
}

static void vsock_conn_rw(struct vsock_conn *c, const struct iovec *iov, int niov, uint32_t len)
{
	/* the guest must stay within the credit we gave it */
	if (c->state != VC_ESTABLISHED || c->peer_shut_send ||
	    (uint64_t)(c->rx_cnt - c->fwd_cnt) + len > VSOCK_BUF_ALLOC) {
		vsock_conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	c->mux->stats.tx_bytes += len;
	size_t sent = 0;
	if (c->buf_head == c->buf_tail) {
		/* the usual case: straight from guest memory to the socket */
		struct iovec v[64];
		int n = 0;
		size_t left = len;
		for (int i = 0; i < niov && left && n < 64; i++) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
			v[n++] = (struct iovec){ iov[i].iov_base, k };
			left -= k;
		}
		struct msghdr msg = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			vsock_conn_reset(c);
			return;
		}
		if (w > 0) {
			sent = (size_t)w;
			c->fwd_cnt += (uint32_t)w;
		}
	}
	if (sent < len && vsock_conn_buffer(c, iov, niov, sent, len - sent) < 0) {
		vsock_conn_reset(c);
		return;
	}
	vsock_conn_after_flush(c);
}

/* ---- guest packets ---- */

static int vsock_sockaddr(struct sockaddr_un *sa, const char *path, uint32_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n;
	if (port == UINT32_MAX)
		n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	else
		n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s_%u", path, port);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -ENAMETOOLONG : 0;
}

static void vsock_guest_connect(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct sockaddr_un sa;
	uint32_t port = le32toh(h->dst_port);
	int fd = -1;
	struct vsock_conn *c;
	if (port == UINT32_MAX || vsock_sockaddr(&sa, m->uds_path, port) < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* non-blocking: a full backlog must not stall the vmm thread */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("vsock: guest connect to %s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
	c = vsock_conn_new(m, fd, VC_ESTABLISHED);
	if (!c)
		goto fail;
	c->local_port = port;
	c->peer_port = le32toh(h->src_port);
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	c->pending = P_RESPONSE;
	vsock_conn_update_watch(c);
	vsock_conn_queue(c);
	return;
fail:
	if (fd >= 0)
		close(fd);
	vsock_orphan_rst(m, h);
}

static void vsock_conn_response(struct vsock_conn *c)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
	if (c->state != VC_CONNECTING) {
		vsock_conn_reset(c);
		return;
	}
	/* a fresh socket's buffer always has room for one short line */
	if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		vsock_conn_reset(c);
		return;
	}
	c->state = VC_ESTABLISHED;
	vsock_conn_set_deadline(c, false);
	vsock_conn_update_watch(c);
}

static void vsock_conn_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV)
		c->peer_shut_rcv = true;
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->peer_shut_send = true;
	if (c->peer_shut_rcv && c->peer_shut_send && !c->closing) {
		c->closing = true;
		/* a host that never reads must not keep it forever */
		vsock_conn_set_deadline(c, true);
	}
	vsock_conn_after_flush(c);
}

static void vsock_guest_packet(struct vsock_mux *m, const struct vsock_hdr *h,
                               const struct iovec *iov, int niov)
{
	size_t avail = 0;
	for (int i = 0; i < niov; i++)
		avail += iov[i].iov_len;
	if (vsock_hdr_check(h, m->guest_cid, avail) < 0) {
		m->stats.tx_dropped++;
		return;
	}
	m->stats.tx_packets++;
	uint16_t op = le16toh(h->op);
	if (le16toh(h->type) != VSOCK_TYPE_STREAM) {
		if (op != VSOCK_OP_RST)
			vsock_orphan_rst(m, h);
		return;
	}
	struct vsock_conn *c = vsock_conn_find(m, le32toh(h->dst_port), le32toh(h->src_port));
	if (!c) {
		if (op == VSOCK_OP_REQUEST)
			vsock_guest_connect(m, h);
		else if (op != VSOCK_OP_RST)
			vsock_orphan_rst(m, h);
		return;
	}
	/* every packet carries the guest's current room */
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (op) {
	case VSOCK_OP_RESPONSE:
		vsock_conn_response(c);
		break;
	case VSOCK_OP_RW:
		vsock_conn_rw(c, iov, niov, le32toh(h->len));
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	case VSOCK_OP_SHUTDOWN:
		vsock_conn_shutdown(c, le32toh(h->flags));
		break;
	case VSOCK_OP_RST:
		vsock_conn_kill(c);
		return;
	default: /* a second REQUEST, INVALID, unknown */
		vsock_conn_reset(c);
		return;
	}
	vsock_conn_queue(c); /* new credit may let host data through */
}

void vsock_mux_guest_tx(struct vsock_mux *m, const struct vsock_hdr *h,
                        const struct iovec *iov, int niov)
{
	/* the packet's handling uses its connection after queueing it */
	vsock_mux_hold(m);
	vsock_guest_packet(m, h, iov, niov);
	vsock_mux_release(m);
}

/* ---- host events ---- */

static void vsock_conn_read_line(struct vsock_conn *c)
{
	struct vsock_mux *m = c->mux;
	/* one byte at a time: bytes after the newline belong to the stream */
	for (;;) {
		char ch;
		ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || c->line_len + 1 >= sizeof(c->line)) {
			vsock_conn_kill(c);
			return;
		}
		if (ch != '\n') {
			c->line[c->line_len++] = ch;
			continue;
		}
		c->line[c->line_len] = '\0';
		uint32_t port;
		if (vsock_parse_connect(c->line, &port) < 0) {
			log_debug("vsock: bad host line '%s'", c->line);
			vsock_conn_kill(c);
			return;
		}
		uint32_t local;
		do {
			local = m->next_port++;
			if (m->next_port < VSOCK_EPHEMERAL_BASE)
				m->next_port = VSOCK_EPHEMERAL_BASE;
		} while (vsock_conn_find(m, local, port));
		c->local_port = local;
		c->peer_port = port;
		c->state = VC_CONNECTING;
		c->pending = P_REQUEST;
		vsock_conn_set_deadline(c, true);
		vsock_conn_watch(c, 0); /* nothing to read before the guest answers */
		vsock_conn_queue(c);
		return;
	}
}

static void vsock_mux_enter(struct vsock_mux *m)
{
	if (m->lock)
		m->lock(m->lock_ctx);
	vsock_mux_hold(m);
}

/* A kick held back by the handler runs here, still under the lock (the
 * device expects it there) but after the handler let go of its conn. */
static void vsock_mux_leave(struct vsock_mux *m)
{
	vsock_mux_release(m);
	if (m->unlock)
		m->unlock(m->lock_ctx);
}

static void vsock_conn_handle(struct vsock_conn *c, uint32_t events);

static void vsock_conn_event(void *opaque, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct vsock_mux *m = c->mux;
	vsock_mux_enter(m);
	vsock_conn_handle(c, events);
	vsock_mux_leave(m);
}

static void vsock_conn_handle(struct vsock_conn *c, uint32_t events)
{
	switch (c->state) {
	case VC_HOST_CONNECT:
		vsock_conn_read_line(c);
		return;
	case VC_CONNECTING:
		/* the host gave up before the guest answered */
		if (events & (EPOLLHUP | EPOLLERR))
			vsock_conn_reset(c);
		return;
	case VC_ESTABLISHED:
		break;
	case VC_DEAD:
		return;
	}
	if (events & EPOLLOUT) {
		if (vsock_conn_flush(c) < 0) {
			vsock_conn_reset(c);
			return;
		}
		vsock_conn_after_flush(c);
		/* reset once drained: its RST waits for the guest, and it is
		 * freed only after that is out, after this handler returned */
		if (c->state == VC_DEAD)
			return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* reported whatever we ask for: leave the loop or it spins;
		 * what is still unread goes to the guest, then EOF */
		loop_del(c->mux->loop, c->fd);
		c->unwatched = true;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* read when the guest has room, in vsock_mux_guest_rx */
		c->host_readable = true;
		vsock_conn_update_watch(c);
		vsock_conn_queue(c);
	}
}

static void vsock_listen_event(void *opaque, uint32_t events)
{
	struct vsock_mux *m = opaque;
	(void)events;
	vsock_mux_enter(m);
	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		struct vsock_conn *c = vsock_conn_new(m, fd, VC_HOST_CONNECT);
		if (!c) {
			close(fd);
			continue;
		}
		vsock_conn_watch(c, EPOLLIN);
		vsock_conn_set_deadline(c, true); /* for its CONNECT line */
	}
	vsock_mux_leave(m);
}

static void vsock_timer_event(void *opaque, uint32_t events)
{
	struct vsock_mux *m = opaque;
	uint64_t ticks;
	(void)events;
	if (read(m->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	vsock_mux_enter(m);
	uint64_t now = vsock_now_us();
	/* a reset frees a connection the guest never heard of right away:
	 * start over after each one (its deadline is cleared first) */
	for (bool again = true; again;) {
		again = false;
		for (struct vsock_conn *c = m->conns; c; c = c->next) {
			if (!c->deadline_us || c->deadline_us > now)
				continue;
			c->deadline_us = 0;
			m->stats.timeouts++;
			log_debug("vsock: connection %u:%u timed out", c->local_port, c->peer_port);
			vsock_conn_reset(c); /* RST to the guest, EOF to the host */
			again = true;
			break;
		}
	}
	vsock_mux_arm_timer(m);
	vsock_mux_leave(m);
}

/* ---- packets for the guest ---- */

static void vsock_fill_hdr(struct vsock_mux *m, struct vsock_hdr *h, uint32_t src_port,
                           uint32_t dst_port, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(m->guest_cid);
	h->src_port = htole32(src_port);
	h->dst_port = htole32(dst_port);
	h->type = htole16(VSOCK_TYPE_STREAM);
	h->op = htole16(op);
}

/* One packet from c, or 0 when it turned out to have none. */
/* The control packet this connection owes the guest, if any (RST first:
 * it cancels the rest). */
static bool vsock_conn_take_control(struct vsock_conn *c, uint16_t *op)
{
	static const struct { unsigned bit; uint16_t op; } order[] = {
		{ P_REQUEST, VSOCK_OP_REQUEST },
		{ P_RESPONSE, VSOCK_OP_RESPONSE },
		{ P_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE },
	};
	if (c->pending & P_RST) {
		*op = VSOCK_OP_RST;
		c->pending = 0;
		c->mux->stats.rst_sent++;
		return true;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (c->pending & order[i].bit) {
			*op = order[i].op;
			c->pending &= ~order[i].bit;
			return true;
		}
	}
	return false;
}

/* Read host bytes into the guest's buffer, within the guest's credit:
 * 1 with a RW (or, at the host's EOF, a SHUTDOWN) packet to send, 0 for
 * nothing now, -1 when the read failed (the connection is to be reset). */
static int vsock_conn_read_host(struct vsock_conn *c, const struct iovec *iov, int niov,
                                uint16_t *op, uint32_t *flags, uint32_t *len)
{
	uint32_t room = vsock_conn_peer_credit(c);
	struct iovec v[VCHAIN_MAX_IOV];
	int n = vchain_iov_slice(iov, niov, 0, room < VSOCK_MAX_PAYLOAD ? room : VSOCK_MAX_PAYLOAD,
	                         v, VCHAIN_MAX_IOV, NULL);
	if (n <= 0)
		return 0;
	ssize_t r = readv(c->fd, v, n);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->host_readable = false;
		vsock_conn_update_watch(c);
		return 0;
	}
	if (r < 0)
		return -1;
	if (r == 0) {
		/* host closed: ask the guest to close, it answers RST */
		c->host_readable = false;
		c->peer_shut_rcv = true;
		vsock_conn_update_watch(c);
		vsock_conn_set_deadline(c, true); /* for the guest's RST */
		*op = VSOCK_OP_SHUTDOWN;
		*flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
		return 1;
	}
	*op = VSOCK_OP_RW;
	*len = (uint32_t)r;
	c->tx_cnt += *len;
	c->mux->stats.rx_bytes += *len;
	return 1;
}

static int vsock_conn_rx(struct vsock_conn *c, struct vsock_hdr *h,
                         const struct iovec *iov, int niov)
{
	struct vsock_mux *m = c->mux;
	uint16_t op;
	uint32_t flags = 0, len = 0;
	if (!vsock_conn_take_control(c, &op)) {
		int r = vsock_conn_has_work(c) ? vsock_conn_read_host(c, iov, niov, &op, &flags, &len) : 0;
		if (r < 0) {
			vsock_conn_reset(c);
			return vsock_conn_rx(c, h, iov, niov); /* its RST */
		}
		if (r == 0)
			return 0;
	}
	vsock_fill_hdr(m, h, c->local_port, c->peer_port, op);
	h->len = htole32(len);
	h->flags = htole32(flags);
	h->buf_alloc = htole32(VSOCK_BUF_ALLOC);
	h->fwd_cnt = htole32(c->fwd_cnt);
	c->last_fwd_sent = c->fwd_cnt;
	m->stats.rx_packets++;
	return 1;
}

int vsock_mux_guest_rx(struct vsock_mux *m, struct vsock_hdr *h,
                       const struct iovec *iov, int niov)
{
	if (m->orphan_len) {
		int i = m->orphan_head;
		m->orphan_head = (m->orphan_head + 1) % VSOCK_MAX_ORPHAN_RST;
		m->orphan_len--;
		vsock_fill_hdr(m, h, m->orphan[i].src_port, m->orphan[i].dst_port, VSOCK_OP_RST);
		h->buf_alloc = htole32(VSOCK_BUF_ALLOC);
		m->stats.rst_sent++;
		m->stats.rx_packets++;
		return 1;
	}
	/* one round over the queue at most: a connection whose data cannot go
	 * into this buffer (a guest may post one with no room past the
	 * header) goes back in line, and meeting it again means nobody has
	 * anything for this buffer: stop, instead of cycling for ever */
	struct vsock_conn *first_idle = NULL;
	while (m->pend_head && m->pend_head != first_idle) {
		struct vsock_conn *c = m->pend_head;
		m->pend_head = c->pnext;
		if (!m->pend_head)
			m->pend_tail = NULL;
		/* still marked queued while it works, so nothing re-queues it */
		int got = vsock_conn_rx(c, h, iov, niov);
		c->queued = false;
		if (c->state == VC_DEAD && !c->pending) {
			vsock_conn_free(c);
		} else if (vsock_conn_has_work(c)) {
			/* round robin: back of the line */
			c->queued = true;
			c->pnext = NULL;
			if (m->pend_tail)
				m->pend_tail->pnext = c;
			else
				m->pend_head = c;
			m->pend_tail = c;
			if (!got && !first_idle)
				first_idle = c;
		}
		if (got)
			return 1;
	}
	return 0;
}

bool vsock_mux_has_rx(const struct vsock_mux *m)
{
	return m->orphan_len || m->pend_head;
}

/* ---- life cycle ---- */

int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, const char *uds_path,
                   struct loop *loop, void (*kick)(void *), void *kick_opaque)
{
	struct sockaddr_un sa;
	int ret;
	memset(m, 0, sizeof(*m));
	m->listen_fd = -1;
	m->timer_fd = -1;
	m->timeout_ms = VSOCK_TIMEOUT_MS;
	m->guest_cid = guest_cid;
	m->loop = loop;
	m->kick = kick;
	m->kick_opaque = kick_opaque;
	m->next_port = VSOCK_EPHEMERAL_BASE;
	if (guest_cid < 3 || guest_cid >= UINT32_MAX || vsock_sockaddr(&sa, uds_path, UINT32_MAX) < 0)
		return -EINVAL;
	m->uds_path = strdup(uds_path);
	if (!m->uds_path)
		return -ENOMEM;
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0) {
		ret = -errno;
		goto out;
	}
	if (bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(m->listen_fd, 64) < 0) {
		ret = -errno;
		log_err("vsock: listen on %s: %s", uds_path, strerror(-ret));
		goto out;
	}
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->timer_fd < 0) {
		ret = -errno;
		unlink(uds_path);
		goto out;
	}
	ret = loop_add(loop, m->timer_fd, EPOLLIN, vsock_timer_event, m);
	if (ret < 0) {
		unlink(uds_path);
		goto out;
	}
	ret = loop_add(loop, m->listen_fd, EPOLLIN, vsock_listen_event, m);
	if (ret < 0) {
		loop_del(loop, m->timer_fd);
		unlink(uds_path);
		goto out;
	}
	return 0;
out:
	if (m->timer_fd >= 0)
		close(m->timer_fd);
	m->timer_fd = -1;
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	m->listen_fd = -1;
	free(m->uds_path);
	m->uds_path = NULL;
	return ret;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	while (m->conns)
		vsock_conn_free(m->conns);
	m->pend_head = m->pend_tail = NULL;
	m->orphan_len = 0;
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	vsock_mux_reset(m);
	if (m->listen_fd >= 0) {
		loop_del(m->loop, m->listen_fd);
		close(m->listen_fd);
		unlink(m->uds_path);
	}
	m->listen_fd = -1;
	if (m->timer_fd >= 0) {
		loop_del(m->loop, m->timer_fd);
		close(m->timer_fd);
	}
	m->timer_fd = -1;
	free(m->uds_path);
	m->uds_path = NULL;
}
