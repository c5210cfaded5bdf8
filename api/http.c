/* http: request framing on http-parser, responses, the socket thread. */
#include "api/http.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/seccomp.h"

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	default: return "Unknown";
	}
}

char *http_fault_body(const char *msg)
{
	json_t *o = json_pack("{s:s}", "fault_message", msg ? msg : "");
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static int out_reserve(struct http_conn *c, size_t more)
{
	if (c->out_len + more <= c->out_cap)
		return 0;
	size_t cap = c->out_cap ? c->out_cap : 512;
	while (cap < c->out_len + more)
		cap *= 2;
	char *p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

int http_conn_respond(struct http_conn *c, const struct http_response *r)
{
	char head[288];
	const char *body = r->status == 204 ? NULL : r->body;
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nServer: husk API\r\nConnection: %s\r\n%s%s"
	                 "Content-Length: %zu\r\n\r\n", r->status, http_status_text(r->status),
	                 c->closing ? "close" : "keep-alive", r->deprecation ? "Deprecation: true\r\n" : "",
	                 body ? "Content-Type: application/json\r\n" : "", blen);
	if (out_reserve(c, (size_t)n + blen) < 0)
		return -ENOMEM;
	memcpy(c->out + c->out_len, head, (size_t)n);
	if (blen)
		memcpy(c->out + c->out_len + n, body, blen);
	c->out_len += (size_t)n + blen;
	return 0;
}

void http_conn_consume(struct http_conn *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

/* ---- http-parser callbacks: each limit stops the parser with c->error ---- */

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;
	c->url_len = 0;
	c->req.url[0] = 0;
	c->header_bytes = 0;
	c->hname_len = 0;
	c->in_value = false;
	c->expect_continue = false;
	c->req.body_len = 0;
	if (c->req.body)
		c->req.body[0] = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->url_len + len > HTTP_MAX_URL) {
		c->error = "request URL too long";
		return 1;
	}
	memcpy(c->req.url + c->url_len, at, len);
	c->url_len += len;
	c->req.url[c->url_len] = 0;
	return 0;
}

static int header_budget(struct http_conn *c, size_t len)
{
	c->header_bytes += len;
	if (c->header_bytes > HTTP_MAX_HEADERS) {
		c->error = "request headers too large";
		return -1;
	}
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->in_value) {
		c->in_value = false;
		c->hname_len = 0;
	}
	/* only short names matter; a long one is marked as too long */
	for (size_t i = 0; i < len; i++) {
		if (c->hname_len < sizeof(c->hname))
			c->hname[c->hname_len] = at[i];
		c->hname_len++;
	}
	return header_budget(c, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	/* curl sends "Expect: 100-continue" with bodies over 1 KiB and waits
	 * for our go-ahead before sending them */
	if (!c->in_value && c->hname_len == 6 && strncasecmp(c->hname, "expect", 6) == 0 &&
	    len >= 12 && strncasecmp(at, "100-continue", 12) == 0)
		c->expect_continue = true;
	c->in_value = true;
	return header_budget(c, len);
}

static size_t g_max_body = HTTP_MAX_BODY;

void http_set_max_body(size_t bytes)
{
	g_max_body = bytes;
}

/* Why the connection closes, in Firecracker's (micro_http's) words; size
 * is what was announced or has come so far. -1 for on_headers_complete. */
static int body_too_large(struct http_conn *c, unsigned long long size)
{
	snprintf(c->errbuf, sizeof(c->errbuf), "Request payload with size %llu is larger than the limit of %zu "
	         "allowed by server.", size, g_max_body);
	c->error = c->errbuf;
	return -1;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	/* ULLONG_MAX: no Content-Length; a chunked body is counted in on_body */
	if (p->content_length != ULLONG_MAX && p->content_length > g_max_body)
		return body_too_large(c, p->content_length); /* -1, not 1: from here 1 means "no body" */
	if (c->expect_continue && p->content_length != ULLONG_MAX && p->content_length > 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (out_reserve(c, sizeof(cont) - 1) < 0) {
			c->error = "out of memory";
			return -1;
		}
		memcpy(c->out + c->out_len, cont, sizeof(cont) - 1);
		c->out_len += sizeof(cont) - 1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->req.body_len + len > g_max_body) {
		body_too_large(c, c->req.body_len + len);
		return 1; /* stop parsing: the connection answers 400 and closes */
	}
	if (c->req.body_len + len + 1 > c->body_cap) {
		size_t cap = c->req.body_len + len + 1;
		cap = cap < 1024 ? 1024 : cap;
		char *b = realloc(c->req.body, cap);
		if (!b) {
			c->error = "out of memory";
			return 1;
		}
		c->req.body = b;
		c->body_cap = cap;
	}
	memcpy(c->req.body + c->req.body_len, at, len);
	c->req.body_len += len;
	c->req.body[c->req.body_len] = 0;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_response resp = { .status = 500, .body = NULL };
	c->req.method = (enum http_method)p->method;
	if (!http_should_keep_alive(p))
		c->closing = true;
	c->handler(c->opaque, &c->req, &resp);
	if (http_conn_respond(c, &resp) < 0)
		c->error = "out of memory";
	free(resp.body);
	/* stop here: bytes after a closing request are not read */
	return c->closing || c->error ? 1 : 0;
}

void http_conn_init(struct http_conn *c, http_handler_fn handler, void *opaque)
{
	memset(c, 0, sizeof(*c));
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	http_parser_settings_init(&c->settings);
	c->settings.on_message_begin = on_message_begin;
	c->settings.on_url = on_url;
	c->settings.on_header_field = on_header_field;
	c->settings.on_header_value = on_header_value;
	c->settings.on_headers_complete = on_headers_complete;
	c->settings.on_body = on_body;
	c->settings.on_message_complete = on_message_complete;
	c->handler = handler;
	c->opaque = opaque;
}

void http_conn_free(struct http_conn *c)
{
	free(c->req.body);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

/* A request we could not frame: one 400 naming why, then close. */
static int conn_fail(struct http_conn *c, const char *why)
{
	struct http_response resp = { .status = 400, .body = http_fault_body(why) };
	c->closing = true;
	c->error = why;
	http_conn_respond(c, &resp);
	free(resp.body);
	return -EPROTO;
}

int http_conn_feed(struct http_conn *c, const char *data, size_t len)
{
	if (c->closing)
		return -EPROTO;
	if (len == 0) {
		c->closing = true; /* EOF: a half-sent request is dropped unanswered */
		return -EPROTO;
	}
	size_t n = http_parser_execute(&c->parser, &c->settings, data, len);
	if (c->closing && !c->error)
		return -EPROTO; /* Connection: close or HTTP/1.0: done */
	if (c->error && c->closing)
		return -EPROTO;
	if (c->error)
		return conn_fail(c, c->error);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e != HPE_OK || n != len) {
		snprintf(c->errbuf, sizeof(c->errbuf), "malformed HTTP request: %s",
		         http_errno_description(e));
		return conn_fail(c, c->errbuf);
	}
	return 0;
}

/* ---- the server thread ---- */

int http_server_open(struct http_server *s, const char *path, http_handler_fn handler,
                     void *opaque)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	s->listen_fd = s->epfd = s->stop_efd = -1;
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		s->conn_fds[i] = -1;
	s->handler = handler;
	s->opaque = opaque;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("API socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	s->path = strdup(path);
	if (!s->path)
		return -ENOMEM;
	/* a socket left by a previous run is ours to replace; anything else is not */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("API socket path %s exists and is not a socket", path);
			ret = -EEXIST;
			goto fail;
		}
		unlink(path);
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		goto fail_errno;
	/* created 0600 from the start: no window where others may connect */
	mode_t old = umask(0177);
	ret = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0)
		goto fail_errno;
	if (listen(s->listen_fd, 64) < 0)
		goto fail_errno;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->stop_efd < 0)
		goto fail_errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		goto fail_errno;
	ev.data.u32 = UINT32_MAX - 1;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_efd, &ev) < 0)
		goto fail_errno;
	return 0;
fail_errno:
	ret = -errno;
	log_err("API socket %s: %s", path, strerror(errno));
fail:
	http_server_close(s);
	return ret;
}

static void server_drop(struct http_server *s, int i)
{
	if (s->conn_fds[i] < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->conn_fds[i], NULL);
	close(s->conn_fds[i]);
	s->conn_fds[i] = -1;
	http_conn_free(s->conns[i]);
	free(s->conns[i]);
	s->conns[i] = NULL;
}

/* A free slot, or the one whose client has been quiet the longest
 * (dropped to make room). */
static int server_free_slot(struct http_server *s)
{
	int oldest = 0;
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		if (s->conn_fds[i] < 0)
			return i;
		if (s->last_active_us[i] < s->last_active_us[oldest])
			oldest = i;
	}
	log_guest_warn("API: %d connections open, dropping the longest idle one", HTTP_MAX_CONNS);
	server_drop(s, oldest);
	return oldest;
}

static void server_accept(struct http_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		int i = server_free_slot(s);
		struct http_conn *c = malloc(sizeof(*c));
		if (!c) {
			log_warn("API: out of memory, refusing a connection");
			close(fd);
			continue;
		}
		http_conn_init(c, s->handler, s->opaque);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c);
			close(fd);
			continue;
		}
		s->conns[i] = c;
		s->conn_fds[i] = fd;
		s->last_active_us[i] = log_now_us();
	}
}

/* Write what the socket takes; returns false when the client is done. */
static bool server_flush(struct http_server *s, int i)
{
	struct http_conn *c = s->conns[i];
	while (c->out_len) {
		ssize_t n = send(s->conn_fds[i], c->out, c->out_len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		http_conn_consume(c, (size_t)n);
	}
	if (c->out_len > HTTP_MAX_OUT)
		return false; /* a client that sends but never reads */
	if (!c->out_len && c->closing && !c->shut) {
		/* closing with unread input would reset the connection and
		 * lose our answer: shut our side, drain theirs until EOF */
		shutdown(s->conn_fds[i], SHUT_WR);
		c->shut = true;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (c->out_len ? EPOLLOUT : 0),
		                  .data.u32 = (uint32_t)i };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->conn_fds[i], &ev);
	return true;
}

static void server_read(struct http_server *s, int i)
{
	struct http_conn *c = s->conns[i];
	char buf[4096];
	ssize_t n = read(s->conn_fds[i], buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 && (n < 0 || c->shut)) {
		server_drop(s, i);
		return;
	}
	s->last_active_us[i] = log_now_us();
	if (c->closing) {
		c->discarded += (size_t)n;
		if (c->discarded > HTTP_MAX_OUT)
			server_drop(s, i);
		return;
	}
	if (http_conn_feed(c, buf, (size_t)n) < 0 && c->error)
		log_warn("API: closing a connection: %s", c->error);
	if (!server_flush(s, i))
		server_drop(s, i);
}

static void *server_thread(void *opaque)
{
	struct http_server *s = opaque;
	/* before the first client byte: from here on this thread parses
	 * whatever a client sends */
	if (seccomp_install(SECCOMP_THREAD_API) < 0) {
		log_err("api: cannot install the api thread's seccomp filter; not serving");
		return NULL;
	}
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(s->epfd, evs, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			if (id == UINT32_MAX - 1)
				return NULL;
			if (id == UINT32_MAX) {
				server_accept(s);
				continue;
			}
			if (id >= HTTP_MAX_CONNS || s->conn_fds[id] < 0)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				server_read(s, (int)id);
			else if (!server_flush(s, (int)id))
				server_drop(s, (int)id);
		}
	}
	return NULL;
}

int http_server_start(struct http_server *s)
{
	int ret = pthread_create(&s->thread, NULL, server_thread, s);
	if (ret)
		return -ret;
	pthread_setname_np(s->thread, "fc_api");
	s->started = true;
	return 0;
}

void http_server_close(struct http_server *s)
{
	if (s->started) {
		uint64_t one = 1;
		if (write(s->stop_efd, &one, sizeof(one)) < 0)
			log_warn("API: cannot wake the server thread");
		pthread_join(s->thread, NULL);
		s->started = false;
	}
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		server_drop(s, i);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path)
			unlink(s->path);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	free(s->path);
	s->path = NULL;
	s->listen_fd = s->epfd = s->stop_efd = -1;
}
