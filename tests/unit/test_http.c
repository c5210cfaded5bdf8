/* HTTP framing (api/http.c): keep-alive, pipelining, limits, garbage,
 * partial requests; and the socket server: mode, stale file, a stalled
 * client next to a working one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/http.h"

struct seen {
	int calls;
	char url[HTTP_MAX_URL + 1];
	size_t body_len;
	enum http_method method;
};

/* Echo: 200 with {"n": call number, "len": body length}. */
static void echo(void *opaque, const struct http_request *req, struct http_response *resp)
{
	struct seen *s = opaque;
	char buf[128];
	s->calls++;
	snprintf(s->url, sizeof(s->url), "%s", req->url);
	s->body_len = req->body_len;
	s->method = req->method;
	snprintf(buf, sizeof(buf), "{\"n\":%d,\"len\":%zu}", s->calls, req->body_len);
	resp->status = 200;
	resp->body = strdup(buf);
}

static int count(const char *hay, size_t len, const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= len; i++)
		n += memcmp(hay + i, needle, nl) == 0;
	return n;
}

static int feed(struct http_conn *c, const char *s)
{
	return http_conn_feed(c, s, strlen(s));
}

static void test_get_then_keepalive(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "GET /machine-config HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.url, "/machine-config");
	assert_int_equal(s.method, HTTP_GET);
	assert_true(count(c.out, c.out_len, "HTTP/1.1 200 OK\r\n") == 1);
	assert_true(count(c.out, c.out_len, "Connection: keep-alive") == 1);
	assert_true(count(c.out, c.out_len, "{\"n\":1,\"len\":0}") == 1);
	http_conn_consume(&c, c.out_len);
	/* the same connection serves the next request */
	assert_int_equal(feed(&c, "PUT /actions HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"), 0);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.method, HTTP_PUT);
	assert_true(count(c.out, c.out_len, "{\"n\":2,\"len\":4}") == 1);
	assert_false(c.closing);
	http_conn_free(&c);
}

static void test_pipelined_in_order(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy"
	                          "GET /b HTTP/1.1\r\n\r\n"
	                          "PATCH /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"),
	                 0);
	assert_int_equal(s.calls, 3);
	assert_string_equal(s.url, "/c");
	char *p1 = memmem(c.out, c.out_len, "{\"n\":1,\"len\":2}", 15);
	char *p2 = memmem(c.out, c.out_len, "{\"n\":2,\"len\":0}", 15);
	char *p3 = memmem(c.out, c.out_len, "{\"n\":3,\"len\":3}", 15);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p1 < p2 && p2 < p3);
	http_conn_free(&c);
}

static void test_partial_body_waits(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "PUT /x HTTP/1.1\r\nContent-"), 0);
	assert_int_equal(feed(&c, "Length: 10\r\n\r\n01234"), 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(c.out_len, 0);
	assert_int_equal(feed(&c, "56789"), 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.body_len, 10);
	/* a client that leaves with half a request gets nothing */
	assert_int_equal(feed(&c, "PUT /y HTTP/1.1\r\nContent-Length: 10\r\n\r\n01"), 0);
	size_t before = c.out_len;
	assert_int_equal(http_conn_feed(&c, NULL, 0), -EPROTO);
	assert_int_equal(s.calls, 1);
	assert_int_equal(c.out_len, before);
	http_conn_free(&c);
}

static char *big_request(size_t body_len)
{
	size_t cap = body_len + 128;
	char *r = malloc(cap);
	int n = snprintf(r, cap, "PUT /drives/x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", body_len);
	memset(r + n, 'a', body_len);
	r[n + body_len] = 0;
	return r;
}

static void test_body_limit(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	/* exactly the limit, delivered in pieces: accepted */
	char *ok = big_request(HTTP_MAX_BODY);
	http_conn_init(&c, echo, &s);
	size_t len = strlen(ok);
	for (size_t off = 0; off < len; off += 4096)
		assert_int_equal(http_conn_feed(&c, ok + off, len - off < 4096 ? len - off : 4096), 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.body_len, HTTP_MAX_BODY);
	http_conn_free(&c);
	free(ok);
	/* one byte more: refused from the header, before any body arrives */
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "PUT /drives/x HTTP/1.1\r\nContent-Length: 51201\r\n\r\n"), -EPROTO);
	assert_int_equal(s.calls, 1);
	assert_true(count(c.out, c.out_len, "HTTP/1.1 400 ") == 1);
	assert_true(count(c.out, c.out_len, "\"fault_message\"") == 1);
	assert_true(count(c.out, c.out_len, "51200") == 1);
	assert_true(c.closing);
	http_conn_free(&c);
	/* a chunked body that grows past the limit */
	http_conn_init(&c, echo, &s);
	int ret = feed(&c, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	char chunk[8300];
	snprintf(chunk, sizeof(chunk), "2000\r\n%8192s\r\n", "");
	for (int i = 0; i < 8 && ret == 0; i++)
		ret = feed(&c, chunk);
	assert_int_equal(ret, -EPROTO);
	assert_int_equal(s.calls, 1);
	assert_true(count(c.out, c.out_len, "HTTP/1.1 400 ") == 1);
	http_conn_free(&c);
}

static void test_garbage_refused(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "\x01\x02 hello there\r\n\r\n"), -EPROTO);
	assert_int_equal(s.calls, 0);
	assert_true(count(c.out, c.out_len, "HTTP/1.1 400 ") == 1);
	assert_true(count(c.out, c.out_len, "malformed HTTP request") == 1);
	/* nothing more is read after the error */
	size_t before = c.out_len;
	assert_int_equal(feed(&c, "GET / HTTP/1.1\r\n\r\n"), -EPROTO);
	assert_int_equal(c.out_len, before);
	assert_int_equal(s.calls, 0);
	http_conn_free(&c);
}

static void test_oversized_headers_and_url(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	char *hdr = malloc(HTTP_MAX_HEADERS + 64);
	int n = sprintf(hdr, "X-Big: ");
	memset(hdr + n, 'b', HTTP_MAX_HEADERS);
	hdr[n + HTTP_MAX_HEADERS] = 0;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(feed(&c, hdr), -EPROTO);
	assert_true(count(c.out, c.out_len, "headers too large") == 1);
	assert_int_equal(s.calls, 0);
	http_conn_free(&c);
	free(hdr);

	char url[HTTP_MAX_URL + 64];
	memset(url, 'u', sizeof(url));
	memcpy(url, "GET /", 5);
	memcpy(url + sizeof(url) - 1, "", 1);
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, url), -EPROTO);
	assert_true(count(c.out, c.out_len, "URL too long") == 1);
	http_conn_free(&c);
}

static void test_connection_close(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	/* the second request after "Connection: close" is not served */
	assert_int_equal(feed(&c, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
	                 -EPROTO);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.url, "/a");
	assert_true(count(c.out, c.out_len, "Connection: close") == 1);
	http_conn_free(&c);
	/* HTTP/1.0 without keep-alive closes too */
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "GET /c HTTP/1.0\r\n\r\n"), -EPROTO);
	assert_int_equal(s.calls, 2);
	http_conn_free(&c);
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_conn c;
	http_conn_init(&c, echo, &s);
	assert_int_equal(feed(&c, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"), 0);
	/* the go-ahead comes before the body does */
	assert_int_equal(s.calls, 0);
	assert_int_equal(c.out_len, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
	assert_memory_equal(c.out, "HTTP/1.1 100 Continue\r\n\r\n", c.out_len);
	assert_int_equal(feed(&c, "abc"), 0);
	assert_int_equal(s.calls, 1);
	assert_true(count(c.out, c.out_len, "HTTP/1.1 200 OK") == 1);
	http_conn_consume(&c, c.out_len);
	/* no Expect: no 100 */
	assert_int_equal(feed(&c, "PUT /x HTTP/1.1\r\nExpected: 100-continue\r\nContent-Length: 1\r\n\r\na"), 0);
	assert_true(count(c.out, c.out_len, "100 Continue") == 0);
	http_conn_free(&c);
}

/* ---- the server over a real socket ---- */

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read until a whole response with body `want` arrived (poll, no sleeps). */
static void expect_reply(int fd, const char *want)
{
	char buf[1024];
	size_t got = 0;
	while (!memmem(buf, got, want, strlen(want))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void test_server_socket(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct http_server srv;
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/tmp/husk-test-http-%d.sock", (int)getpid());

	/* a stale socket file from an earlier run is replaced */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	assert_int_equal(http_server_open(&srv, path, echo, &s), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(http_server_start(&srv), 0);

	/* a client that stalls mid-request does not hold up another */
	int slow = sock_connect(path);
	assert_int_equal(write(slow, "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01", 41), 41);
	int fast = sock_connect(path);
	const char *get = "GET /fast HTTP/1.1\r\n\r\n";
	assert_int_equal(write(fast, get, strlen(get)), (ssize_t)strlen(get));
	expect_reply(fast, "{\"n\":1,\"len\":0}");
	/* the slow one finishes later and is served on its connection */
	assert_int_equal(write(slow, "23456789", 8), 8);
	expect_reply(slow, "{\"n\":2,\"len\":10}");
	close(slow);
	close(fast);

	/* every slot held by a client that stalls mid-request: a new client
	 * still gets served (the quietest stalled one makes room) */
	int stalled[HTTP_MAX_CONNS];
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		stalled[i] = sock_connect(path);
		assert_int_equal(write(stalled[i], "PUT /x HTTP/1.1\r\n", 17), 17);
	}
	int late = sock_connect(path);
	assert_int_equal(write(late, get, strlen(get)), (ssize_t)strlen(get));
	expect_reply(late, "{\"n\":3,\"len\":0}");
	close(late);
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		close(stalled[i]);

	http_server_close(&srv);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* a path that is not a socket is never deleted */
	FILE *f = fopen(path, "w");
	fclose(f);
	assert_int_equal(http_server_open(&srv, path, echo, &s), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_get_then_keepalive),
	cmocka_unit_test(test_pipelined_in_order),
	cmocka_unit_test(test_partial_body_waits),
	cmocka_unit_test(test_body_limit),
	cmocka_unit_test(test_garbage_refused),
	cmocka_unit_test(test_oversized_headers_and_url),
	cmocka_unit_test(test_connection_close),
	cmocka_unit_test(test_expect_continue),
	cmocka_unit_test(test_server_socket))
