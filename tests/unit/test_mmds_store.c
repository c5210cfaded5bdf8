/* MMDS: the data store (PUT, RFC 7396 PATCH, size limit, IMDS and JSON
 * rendering), the V2 session tokens and the guest's HTTP requests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/mmds/mmds.h"

static json_t *js(const char *text)
{
	json_t *o = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(o);
	return o;
}

static void assert_doc(const struct mmds_store *s, const char *want)
{
	json_t *got = mmds_store_get(s), *w = js(want);
	if (!json_equal(got, w)) {
		char *t = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		fail_msg("store is %s, want %s", t, want);
	}
	json_decref(got);
	json_decref(w);
}

static void test_put_get_patch(void **state)
{
	(void)state;
	struct mmds_store s;
	mmds_store_init(&s, 0);
	assert_doc(&s, "{}");
	json_t *p = js("{\"a\": 1}");
	assert_int_equal(mmds_store_patch(&s, p), -ENOENT); /* before any PUT */
	json_decref(p);
	json_t *d = js("{\"a\": {\"b\": 1, \"c\": [1, 2]}, \"x\": \"y\"}");
	assert_int_equal(mmds_store_put(&s, d), 0);
	json_decref(d);
	/* RFC 7396: null removes, objects merge, anything else replaces */
	p = js("{\"a\": {\"b\": null, \"c\": {\"d\": 2}}, \"x\": null, \"n\": [3]}");
	assert_int_equal(mmds_store_patch(&s, p), 0);
	json_decref(p);
	assert_doc(&s, "{\"a\": {\"c\": {\"d\": 2}}, \"n\": [3]}");
	p = js("\"flat\"");
	assert_int_equal(mmds_store_patch(&s, p), 0);
	json_decref(p);
	assert_doc(&s, "\"flat\"");
	mmds_store_destroy(&s);
}

/* Over the limit a PUT or a PATCH is refused and the store is unchanged. */
static void test_limit(void **state)
{
	(void)state;
	struct mmds_store s;
	mmds_store_init(&s, 20);
	json_t *small = js("{\"k\": \"0123456\"}"), *big = js("{\"k\": \"0123456789012345\"}");
	assert_int_equal(mmds_store_put(&s, big), -EFBIG);
	assert_doc(&s, "{}");
	assert_int_equal(mmds_store_put(&s, small), 0); /* {"k":"0123456"}: 15 bytes */
	json_t *p = js("{\"more\": \"xyz\"}");
	assert_int_equal(mmds_store_patch(&s, p), -EFBIG);
	assert_doc(&s, "{\"k\": \"0123456\"}");
	json_decref(p);
	json_decref(small);
	json_decref(big);
	mmds_store_destroy(&s);
}

static void assert_render(struct mmds_store *s, const char *path, enum mmds_format f, int status,
                          const char *want)
{
	char *body = NULL;
	assert_int_equal(mmds_store_render(s, path, f, &body), status);
	if (want) {
		assert_non_null(body);
		assert_string_equal(body, want);
	}
	free(body);
}

static void test_render(void **state)
{
	(void)state;
	struct mmds_store s;
	mmds_store_init(&s, 0);
	json_t *d = js("{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\", \"zone\": \"a\", \"net\": {}},"
	               " \"n\": 5, \"list\": [\"p\", \"q\"]}}");
	assert_int_equal(mmds_store_put(&s, d), 0);
	json_decref(d);
	assert_render(&s, "/", MMDS_FMT_IMDS, 200, "latest/");
	assert_render(&s, "/latest/meta-data", MMDS_FMT_IMDS, 200, "ami-id\nnet/\nzone");
	assert_render(&s, "//latest///meta-data/", MMDS_FMT_IMDS, 200, "ami-id\nnet/\nzone");
	assert_render(&s, "/latest/meta-data/ami-id", MMDS_FMT_IMDS, 200, "ami-1");
	assert_render(&s, "/latest/list/1", MMDS_FMT_IMDS, 200, "q");
	assert_render(&s, "/latest/n", MMDS_FMT_IMDS, 501, NULL);
	assert_render(&s, "/latest/n", MMDS_FMT_JSON, 200, "5");
	assert_render(&s, "/latest/meta-data/zone", MMDS_FMT_JSON, 200, "\"a\"");
	assert_render(&s, "/latest/nothing", MMDS_FMT_IMDS, 404, NULL);
	assert_render(&s, "/latest/list/01", MMDS_FMT_IMDS, 404, NULL);
	assert_render(&s, "/latest/list/x", MMDS_FMT_IMDS, 404, NULL);
	mmds_store_destroy(&s);
}

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

static void test_tokens(void **state)
{
	(void)state;
	struct mmds_tokens tk;
	char a[MMDS_TOKEN_LEN + 1], b[MMDS_TOKEN_LEN + 1];
	mmds_tokens_init(&tk);
	tk.now_ns = fake_clock;
	fake_now = 1000;
	assert_int_equal(mmds_token_new(&tk, 0, a), -EINVAL);
	assert_int_equal(mmds_token_new(&tk, 21601, a), -EINVAL);
	assert_int_equal(mmds_token_new(&tk, 1, a), 0);
	assert_int_equal(mmds_token_new(&tk, 21600, b), 0);
	assert_int_equal(strlen(a), MMDS_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_true(mmds_token_valid(&tk, a, strlen(a)));
	a[5] ^= 1;
	assert_false(mmds_token_valid(&tk, a, strlen(a)));
	a[5] ^= 1;
	assert_false(mmds_token_valid(&tk, a, strlen(a) - 1));
	fake_now += 1000000000ull; /* a's second is over */
	assert_false(mmds_token_valid(&tk, a, strlen(a)));
	assert_true(mmds_token_valid(&tk, b, strlen(b)));
	/* a guest minting tokens in a loop only pushes out those closest to
	 * expiry: b (6 h) outlives 1000 one-minute tokens */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(mmds_token_new(&tk, 60, a), 0);
	assert_true(mmds_token_valid(&tk, b, strlen(b)));
	assert_true(mmds_token_valid(&tk, a, strlen(a)));
}

/* ---- the guest's HTTP ---- */

static int req(struct mmds *m, const char *text, char **resp)
{
	size_t len = 0;
	int n = mmds_http_handle(m, text, strlen(text), resp, &len);
	if (*resp)
		assert_int_equal(strlen(*resp), len);
	return n;
}

static void assert_resp(struct mmds *m, const char *text, const char *status_line, const char *body)
{
	char *resp = NULL;
	int n = req(m, text, &resp);
	assert_int_equal(n, (int)strlen(text));
	assert_non_null(resp);
	if (strncmp(resp, status_line, strlen(status_line)) != 0)
		fail_msg("response '%s' does not start with '%s'", resp, status_line);
	const char *b = strstr(resp, "\r\n\r\n");
	assert_non_null(b);
	if (body)
		assert_string_equal(b + 4, body);
	free(resp);
}

static void mmds_setup(struct mmds *m, int version)
{
	mmds_init(m, 0);
	m->version = version;
	json_t *d = js("{\"latest\": {\"meta-data\": {\"id\": \"i-1\"}}}");
	assert_int_equal(mmds_store_put(&m->store, d), 0);
	json_decref(d);
}

static void test_http_v1(void **state)
{
	(void)state;
	struct mmds m;
	mmds_setup(&m, 1);
	assert_resp(&m, "GET /latest/meta-data/id HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 \r\n", "i-1");
	assert_resp(&m, "GET http://169.254.169.254/latest HTTP/1.0\r\n\r\n", "HTTP/1.0 200 \r\n", "meta-data/");
	assert_resp(&m, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", "HTTP/1.1 200 \r\n",
	            "{\"meta-data\":{\"id\":\"i-1\"}}");
	assert_resp(&m, "GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 \r\n", "Resource not found: /nope.");
	assert_resp(&m, "POST /latest HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 \r\n", NULL);
	/* V1 takes a token too, and counts what V2 would refuse */
	assert_resp(&m, "GET /latest HTTP/1.1\r\nX-metadata-token: bad\r\n\r\n", "HTTP/1.1 200 \r\n", NULL);
	assert_int_equal(m.stats.rx_invalid_token, 1);
	assert_true(m.stats.rx_no_token >= 4);
	m.imds_compat = true; /* IMDS text whatever Accept says */
	assert_resp(&m, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", "HTTP/1.1 200 \r\n", "meta-data/");
	mmds_destroy(&m);
}

static void test_http_v2(void **state)
{
	(void)state;
	struct mmds m;
	char *resp = NULL, text[512];
	mmds_setup(&m, 2);
	assert_resp(&m, "GET /latest HTTP/1.1\r\n\r\n", "HTTP/1.1 401 \r\n", NULL);
	assert_resp(&m, "GET /latest HTTP/1.1\r\nX-metadata-token: wrong\r\n\r\n", "HTTP/1.1 401 \r\n",
	            "MMDS token not valid.");
	assert_resp(&m, "PUT /latest/api/token HTTP/1.1\r\n\r\n", "HTTP/1.1 400 \r\n", NULL);
	assert_resp(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n",
	            "HTTP/1.1 400 \r\n", NULL);
	assert_resp(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n",
	            "HTTP/1.1 400 \r\n", NULL);
	assert_resp(&m, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n"
	                "X-Forwarded-For: 1.2.3.4\r\n\r\n", "HTTP/1.1 400 \r\n", NULL);
	assert_resp(&m, "PUT /other HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n", "HTTP/1.1 404 \r\n", NULL);
	const char *put = "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n";
	assert_int_equal(req(&m, put, &resp), (int)strlen(put));
	assert_non_null(strstr(resp, "HTTP/1.1 200 \r\n"));
	assert_non_null(strstr(resp, "\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n"));
	const char *token = strstr(resp, "\r\n\r\n") + 4;
	assert_int_equal(strlen(token), MMDS_TOKEN_LEN);
	snprintf(text, sizeof(text), "GET /latest/meta-data/id HTTP/1.1\r\nx-metadata-token: %s\r\n\r\n", token);
	free(resp);
	assert_resp(&m, text, "HTTP/1.1 200 \r\n", "i-1");
	mmds_destroy(&m);
}

/* Partial, pipelined, malformed and oversized requests. */
static void test_http_framing(void **state)
{
	(void)state;
	struct mmds m;
	char *resp = NULL;
	size_t len;
	mmds_setup(&m, 1);
	const char *two = "GET /latest HTTP/1.1\r\n\r\nGET /latest HTTP/1.1\r\n\r\n";
	assert_int_equal(mmds_http_handle(&m, two, 10, &resp, &len), 0);
	assert_null(resp);
	assert_int_equal(mmds_http_handle(&m, two, strlen(two), &resp, &len), (int)strlen(two) / 2);
	free(resp);
	/* not HTTP: a 400, and the connection goes on after it */
	assert_int_equal(req(&m, "\x01\x02 garbage\r\n\r\n", &resp), 14);
	assert_non_null(strstr(resp, " 400 "));
	free(resp);
	/* a head that announces a body (Firecracker's "hang" case): 400 at
	 * once, not a wait for bytes that may never come */
	const char *body = "GET / HTTP/1.1\r\nContent-Length: 100\r\n\r\nsome body";
	assert_int_equal(req(&m, body, &resp), (int)strlen(body) - 9);
	assert_non_null(strstr(resp, " 400 "));
	assert_non_null(strstr(resp, "Invalid request."));
	free(resp);
	/* bare newlines end a head too */
	assert_int_equal(req(&m, "GET /latest HTTP/1.0\n\n", &resp), 22);
	assert_non_null(strstr(resp, " 200 "));
	free(resp);
	char *big = malloc(MMDS_HTTP_MAX_REQUEST + 100);
	strcpy(big, "GET /latest HTTP/1.1\r\nX-Pad: ");
	memset(big + strlen(big), 'a', MMDS_HTTP_MAX_REQUEST);
	big[MMDS_HTTP_MAX_REQUEST + 20] = 0;
	assert_int_equal(req(&m, big, &resp), -EINVAL);
	free(resp);
	free(big);
	assert_int_equal(m.stats.rx_bad_requests, 3);
	mmds_destroy(&m);
}

/* Snapshots keep the store: a round trip, an empty store, and blobs a
 * restore must refuse before it changes anything. */
static void test_snapshot_ops(void **state)
{
	(void)state;
	struct mmds a, b;
	void *blob = NULL;
	size_t len = 1;
	char err[128];
	mmds_init(&a, 0);
	mmds_init(&b, 40);
	assert_int_equal(mmds_snapshot_ops.save(&a, &blob, &len), 0);
	assert_int_equal(len, 0); /* never PUT */
	assert_int_equal(mmds_snapshot_ops.check(&b, blob, len, err, sizeof(err)), 0);
	json_t *d = js("{\"id\": \"i-1\", \"n\": [1, 2]}");
	assert_int_equal(mmds_store_put(&a.store, d), 0);
	json_decref(d);
	assert_int_equal(mmds_snapshot_ops.save(&a, &blob, &len), 0);
	assert_int_equal(mmds_snapshot_ops.check(&b, blob, len, err, sizeof(err)), 0);
	assert_int_equal(mmds_snapshot_ops.restore(&b, blob, len), 0);
	free(blob);
	assert_doc(&b.store, "{\"id\": \"i-1\", \"n\": [1, 2]}");
	const char *notjson = "{\"id\": ";
	assert_int_equal(mmds_snapshot_ops.check(&b, (const uint8_t *)notjson, strlen(notjson), err, sizeof(err)), -EINVAL);
	const char *big = "{\"id\": \"0123456789012345678901234567890123456789\"}";
	assert_int_equal(mmds_snapshot_ops.check(&b, (const uint8_t *)big, strlen(big), err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "--mmds-size-limit"));
	assert_doc(&b.store, "{\"id\": \"i-1\", \"n\": [1, 2]}");
	mmds_destroy(&a);
	mmds_destroy(&b);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_put_get_patch), cmocka_unit_test(test_limit),
	cmocka_unit_test(test_render), cmocka_unit_test(test_tokens),
	cmocka_unit_test(test_http_v1), cmocka_unit_test(test_http_v2),
	cmocka_unit_test(test_http_framing), cmocka_unit_test(test_snapshot_ops))
