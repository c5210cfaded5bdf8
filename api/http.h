/* http: HTTP/1.1 over a Unix stream socket, on http-parser. One
 * connection object per client: bytes in, whole requests out to a
 * handler, responses queued in order (keep-alive, pipelining). The
 * socket side (api_server) runs every connection non-blocking on one
 * epoll, so a slow or broken client never holds up another. */
#ifndef HUSK_API_HTTP_H
#define HUSK_API_HTTP_H

#include <http_parser.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_BODY 51200   /* Firecracker's default payload limit */
#define HTTP_MAX_URL 1024
#define HTTP_MAX_HEADERS 8192 /* all header names and values of one request */
#define HTTP_MAX_OUT (1 << 20) /* unsent responses before we drop the client */

struct http_request {
	enum http_method method;
	char url[HTTP_MAX_URL + 1];
	char *body; /* NUL-terminated, body_len bytes */
	size_t body_len;
};

struct http_response {
	int status;
	char *body; /* malloc'd JSON or NULL; freed by the connection */
	bool deprecation; /* send "Deprecation: true" (a deprecated field was used) */
};

typedef void (*http_handler_fn)(void *opaque, const struct http_request *req,
                                struct http_response *resp);

struct http_conn {
	http_parser parser;
	http_parser_settings settings;
	http_handler_fn handler;
	void *opaque;
	struct http_request req;
	size_t url_len;
	size_t header_bytes;
	char hname[16]; /* the current header's name (enough for "Expect") */
	size_t hname_len;
	bool in_value;
	bool expect_continue;
	size_t body_cap;
	char *out; /* responses not yet written */
	size_t out_len, out_cap;
	bool closing; /* no more requests: close once out is written */
	const char *error; /* why the connection is closing, for the log */
	char errbuf[128];
	/* server side: our half is shut; what the client still sends is read
	 * and dropped (up to HTTP_MAX_OUT) so it gets our 400, not a reset */
	bool shut;
	size_t discarded;
};

void http_conn_init(struct http_conn *c, http_handler_fn handler, void *opaque);
void http_conn_free(struct http_conn *c);
/* Feed bytes read from the client (len 0: the client closed its side).
 * Complete requests go to the handler; their responses are appended to
 * c->out. Returns 0, or -EPROTO once the connection must close (after
 * c->out is written). */
int http_conn_feed(struct http_conn *c, const char *data, size_t len);
/* Drop the first n bytes of c->out (they were sent). */
void http_conn_consume(struct http_conn *c, size_t n);
/* Append one response to c->out. */
int http_conn_respond(struct http_conn *c, const struct http_response *r);
const char *http_status_text(int status);

/* --http-api-max-payload-size: the largest request body any connection
 * takes from now on (HTTP_MAX_BODY until set). */
void http_set_max_body(size_t bytes);

/* A JSON {"fault_message": msg} body, malloc'd. */
char *http_fault_body(const char *msg);

/* ---- the listening socket and its thread ---- */

#define HTTP_MAX_CONNS 64

struct http_server {
	int listen_fd;
	int epfd;
	int stop_efd;
	char *path;
	http_handler_fn handler;
	void *opaque;
	struct http_conn *conns[HTTP_MAX_CONNS];
	int conn_fds[HTTP_MAX_CONNS];
	/* when each connection last sent us bytes: with every slot taken, a new
	 * client evicts the quietest, so stalled clients cannot lock others out */
	unsigned long long last_active_us[HTTP_MAX_CONNS];
	pthread_t thread;
	bool started;
};

/* Create the socket at path (mode 0600; a stale socket file there is
 * replaced) and start listening. Requests go to handler on the server's
 * thread once http_server_start runs. */
int http_server_open(struct http_server *s, const char *path, http_handler_fn handler,
                     void *opaque);
int http_server_start(struct http_server *s);
/* Stop the thread, close every connection, remove the socket file. */
void http_server_close(struct http_server *s);

#endif
