/* http: the guest's HTTP requests to MMDS and their responses, with the
 * status codes and texts of Firecracker's MMDS: GET of a path into the
 * store (JSON with "Accept: application/json", else IMDS text), PUT
 * /latest/api/token for a V2 session token, 405 for anything else. */
#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "devices/mmds/mmds.h"

#define TOKEN_PATH "/latest/api/token"
#define VALUE_MAX 128

enum hdr { H_NONE, H_ACCEPT, H_TOKEN, H_TTL, H_FORWARDED, H_COUNT };

struct http_req {
	char path[MMDS_HTTP_MAX_REQUEST];
	char value[H_COUNT][VALUE_MAX + 1];
	size_t value_len[H_COUNT];
	bool present[H_COUNT];
	bool too_long; /* a header value we read is longer than VALUE_MAX */
	char ttl_name[40];  /* which of the two TTL header names, as sent */
	size_t ttl_name_len;
	enum hdr cur;
	bool complete;
	unsigned char method, major, minor;
};

/* The headers MMDS reads; EC2's names mean the same. */
static enum hdr hdr_kind(const char *at, size_t len)
{
	static const struct { const char *name; enum hdr h; } names[] = {
		{ "Accept", H_ACCEPT },
		{ "X-metadata-token", H_TOKEN },
		{ "X-aws-ec2-metadata-token", H_TOKEN },
		{ "X-metadata-token-ttl-seconds", H_TTL },
		{ "X-aws-ec2-metadata-token-ttl-seconds", H_TTL },
		{ "X-Forwarded-For", H_FORWARDED },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, at, len) == 0)
			return names[i].h;
	return H_NONE;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	struct http_parser_url u;
	http_parser_url_init(&u);
	/* "GET /a HTTP/1.1" or the proxy form "GET http://169.254.169.254/a" */
	if (http_parser_parse_url(at, len, 0, &u) != 0)
		return -1;
	if (u.field_set & (1 << UF_PATH))
		snprintf(r->path, sizeof(r->path), "%.*s", (int)u.field_data[UF_PATH].len,
		         at + u.field_data[UF_PATH].off);
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	r->cur = hdr_kind(at, len);
	if (r->cur == H_TTL) { /* at most 36 bytes: hdr_kind matched a known name */
		memcpy(r->ttl_name, at, len);
		r->ttl_name_len = len;
	}
	if (r->cur != H_NONE) {
		r->present[r->cur] = true;
		r->value_len[r->cur] = 0;
	}
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	if (r->cur == H_NONE)
		return 0;
	size_t have = r->value_len[r->cur];
	if (have + len > VALUE_MAX) {
		r->too_long = true;
		return 0;
	}
	memcpy(r->value[r->cur] + have, at, len);
	r->value_len[r->cur] = have + len;
	r->value[r->cur][have + len] = 0;
	return 0;
}

static int on_complete(http_parser *p)
{
	struct http_req *r = p->data;
	r->complete = true;
	r->method = (unsigned char)p->method;
	r->major = (unsigned char)p->http_major;
	r->minor = (unsigned char)p->http_minor;
	http_parser_pause(p, 1); /* one request at a time */
	return 0;
}

/* Where the request's head ends (after its blank line), or 0. As in
 * Firecracker's MMDS a request is its head: nothing after it is read as
 * its body (a body is the start of the next request). */
static size_t http_head_end(const char *req, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (req[i] != '\n')
			continue;
		if (req[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && req[i + 1] == '\r' && req[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Parse the head [0, end); true when it is one whole request (a head
 * that announces a body is not). */
static bool http_parse(const char *req, size_t end, struct http_req *r)
{
	http_parser p;
	http_parser_settings s;
	http_parser_init(&p, HTTP_REQUEST);
	http_parser_settings_init(&s);
	s.on_url = on_url;
	s.on_header_field = on_field;
	s.on_header_value = on_value;
	s.on_message_complete = on_complete;
	p.data = r;
	http_parser_execute(&p, &s, req, end);
	return r->complete && !r->too_long;
}

/* The whole response: Firecracker's MMDS status line has no reason
 * phrase ("HTTP/1.1 200 "). */
static int http_reply_with(const struct http_req *r, int status, bool json, const char *body, const char *extra,
                           char **out, size_t *out_len)
{
	size_t blen = body ? strlen(body) : 0;
	char *s = NULL;
	int n = asprintf(&s, "HTTP/%u.%u %d \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
	                     "Content-Type: %s\r\n%sContent-Length: %zu\r\n\r\n%s",
	                 r->major ? r->major : 1, r->major ? r->minor : 1, status,
	                 json ? "application/json" : "text/plain", extra, blen, body ? body : "");
	if (n < 0)
		return -ENOMEM;
	*out = s;
	*out_len = (size_t)n;
	return 0;
}

static int http_reply(const struct http_req *r, int status, bool json, const char *body, char **out,
                      size_t *out_len)
{
	return http_reply_with(r, status, json, body, "", out, out_len);
}

static int http_put_token(struct mmds *m, const struct http_req *r, char **out, size_t *out_len)
{
	char token[MMDS_TOKEN_LEN + 1], msg[256];
	if (r->present[H_FORWARDED])
		return http_reply(r, 400, false, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For",
		                  out, out_len);
	if (strcmp(r->path, TOKEN_PATH) != 0) {
		snprintf(msg, sizeof(msg), "Resource not found: %.200s.", r->path);
		return http_reply(r, 404, false, msg, out, out_len);
	}
	if (!r->present[H_TTL])
		return http_reply(r, 400, false,
		                  "Token time to live value not found. Use `X-metadata-token-ttl-seconds` header "
		                  "to specify the token's lifetime.", out, out_len);
	char *end;
	unsigned long ttl = strtoul(r->value[H_TTL], &end, 10);
	if (!r->value_len[H_TTL] || *end || r->value[H_TTL][0] == '-' ||
	    mmds_token_new(&m->tokens, ttl > MMDS_TOKEN_TTL_MAX ? 0 : (uint32_t)ttl, token) < 0) {
		snprintf(msg, sizeof(msg), "Invalid time to live value provided for token: %.32s. Please provide "
		         "a value between %d and %d.", r->value[H_TTL], MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
		return http_reply(r, 400, false, msg, out, out_len);
	}
	m->stats.tokens_issued++;
	/* the lifetime back under the name it came by, as EC2's IMDS does */
	snprintf(msg, sizeof(msg), "%.*s: %lu\r\n", (int)r->ttl_name_len, r->ttl_name, ttl);
	return http_reply_with(r, 200, false, token, msg, out, out_len);
}

/* V2 needs a live token; V1 only counts what V2 would refuse. 0 or the
 * 401 to answer. */
static int http_token_check(struct mmds *m, const struct http_req *r, const char **why)
{
	if (!r->present[H_TOKEN]) {
		m->stats.rx_no_token++;
		*why = "No MMDS token provided. Use `X-metadata-token` header to specify the session token.";
		return m->version == 2 ? 401 : 0;
	}
	if (!mmds_token_valid(&m->tokens, r->value[H_TOKEN], r->value_len[H_TOKEN])) {
		m->stats.rx_invalid_token++;
		*why = "MMDS token not valid.";
		return m->version == 2 ? 401 : 0;
	}
	return 0;
}

static int http_get(struct mmds *m, const struct http_req *r, char **out, size_t *out_len)
{
	const char *why = NULL;
	char msg[300], *body = NULL;
	int status = http_token_check(m, r, &why);
	if (status)
		return http_reply(r, status, false, why, out, out_len);
	bool json = !m->imds_compat && r->present[H_ACCEPT] && strcmp(r->value[H_ACCEPT], "application/json") == 0;
	status = mmds_store_render(&m->store, r->path, json ? MMDS_FMT_JSON : MMDS_FMT_IMDS, &body);
	if (status == 404)
		snprintf(msg, sizeof(msg), "Resource not found: %.200s.", r->path);
	else if (status == 501)
		snprintf(msg, sizeof(msg), "Cannot retrieve value. The value has an unsupported type.");
	else if (status != 200)
		snprintf(msg, sizeof(msg), "Internal error.");
	int ret = http_reply(r, status, json && status == 200, status == 200 ? body : msg, out, out_len);
	free(body);
	return ret;
}

static int http_dispatch(struct mmds *m, const struct http_req *r, char **resp, size_t *resp_len)
{
	if (!r->path[0])
		return http_reply(r, 400, false, "Invalid URI.", resp, resp_len);
	if (r->method == HTTP_GET)
		return http_get(m, r, resp, resp_len);
	if (r->method == HTTP_PUT)
		return http_put_token(m, r, resp, resp_len);
	return http_reply(r, 405, false, "Not allowed HTTP method.", resp, resp_len);
}

int mmds_http_handle(struct mmds *m, const char *req, size_t len, char **resp, size_t *resp_len)
{
	static __thread struct http_req r; /* 5 KiB: kept off the vmm stack */
	memset(&r, 0, sizeof(r));
	*resp = NULL;
	size_t end = http_head_end(req, len);
	int ret;
	if (!end && len < MMDS_HTTP_MAX_REQUEST)
		return 0;
	if (!end) { /* no end in sight: answer, then close */
		m->stats.rx_bad_requests++;
		ret = http_reply(&r, 400, false, "Invalid request.", resp, resp_len);
		return ret < 0 ? ret : -EINVAL;
	}
	if (http_parse(req, end, &r)) {
		m->stats.rx_requests++;
		ret = http_dispatch(m, &r, resp, resp_len);
	} else {
		m->stats.rx_bad_requests++;
		ret = http_reply(&r, 400, false, "Invalid request.", resp, resp_len);
	}
	return ret < 0 ? ret : (int)end;
}
