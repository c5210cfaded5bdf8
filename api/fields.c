/* fields: typed, range-checked reads of JSON fields with named errors. */
#include "api/fields.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_fail(struct api_err *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->serde = API_SERDE_NONE;
	e->serde_msg[0] = e->key[0] = e->path[0] = 0;
	return -EINVAL;
}

int api_fail_serde(struct api_err *e, enum api_serde kind, const char *key, const char *serde_msg, const char *fmt,
                   ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->serde = kind;
	snprintf(e->serde_msg, sizeof(e->serde_msg), "%s", serde_msg);
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->path[0] = 0;
	return -EINVAL;
}

int api_prefix(struct api_err *e, const char *prefix)
{
	char tmp[sizeof(e->msg)];
	struct api_err keep = *e;
	memcpy(tmp, e->msg, sizeof(tmp));
	tmp[sizeof(tmp) - 1] = 0;
	/* an item's "[n]: ..." joins its array's key: "drives[0]: ..." */
	bool item = tmp[0] == '[';
	api_fail(e, "%s%s%.400s", prefix, item ? "" : ": ", tmp);
	e->serde = keep.serde;
	memcpy(e->serde_msg, keep.serde_msg, sizeof(e->serde_msg));
	memcpy(e->key, keep.key, sizeof(e->key));
	snprintf(e->path, sizeof(e->path), "%s%s%.100s", prefix, keep.path[0] && keep.path[0] != '[' ? "." : "",
	         keep.path);
	return -EINVAL;
}

/* serde's list of what it expected: "`a`", "`a` or `b`", "one of `a`, `b`, `c`". */
static void serde_one_of(const char *const names[], char *buf, size_t len)
{
	int n = 0;
	while (names[n])
		n++;
	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(buf);
		const char *sep = i == 0 ? (n > 2 ? "one of " : "") : (n == 2 ? " or " : ", ");
		snprintf(buf + l, len - l, "%s`%s`", sep, names[i]);
	}
}

int api_fields_check(const json_t *obj, const char *const allowed[], struct api_err *e)
{
	const char *key;
	json_t *v;
	if (!json_is_object(obj))
		return api_fail(e, "expected a JSON object");
	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = strcmp(allowed[i], key) == 0;
		if (!ok) {
			char expected[192], words[256];
			serde_one_of(allowed, expected, sizeof(expected));
			snprintf(words, sizeof(words), allowed[0] ? "unknown field `%.64s`, expected %.150s" :
			         "unknown field `%.64s`, there are no fields%.1s", key, expected);
			return api_fail_serde(e, API_SERDE_UNKNOWN, key, words, "unknown field `%.64s`", key);
		}
	}
	return 0;
}

/* Firecracker's Rust type of an unsigned field, as serde names it. */
static const char *rust_uint_type(const char *key, uint64_t *type_max)
{
	static const struct {
		const char *key, *type;
		uint64_t max;
	} types[] = {
		{ "vcpu_count", "u8", UINT8_MAX },          { "mem_size_mib", "usize", UINT64_MAX },
		{ "amount_mib", "u32", UINT32_MAX },         { "stats_polling_interval_s", "u16", UINT16_MAX },
		{ "guest_cid", "u32", UINT32_MAX },          { "mtu", "u16", UINT16_MAX },
		{ "size", "u64", UINT64_MAX },               { "one_time_burst", "u64", UINT64_MAX },
		{ "refill_time", "u64", UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(types[i].key, key) == 0) {
			*type_max = types[i].max;
			return types[i].type;
		}
	}
	return NULL;
}

/* A real as Rust prints an f64 (the shortest text that reads back, with
 * a ".0" when it has no point). */
static void rust_f64(double d, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".en"))
		strncat(buf, ".0", len - strlen(buf) - 1);
}

/* serde's serde::de::Unexpected for v: `string "x"`, `integer `5``... */
static void serde_unexpected(const json_t *v, char *buf, size_t len)
{
	char num[40];
	if (json_is_string(v)) {
		size_t o = (size_t)snprintf(buf, len, "string \"");
		for (const char *s = json_string_value(v); *s && o + 8 < len; s++) {
			const char *esc = *s == '"' ? "\\\"" : *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" :
			                  *s == '\t' ? "\\t" : *s == '\r' ? "\\r" : NULL;
			if (esc) {
				o += (size_t)snprintf(buf + o, len - o, "%s", esc);
			} else {
				buf[o++] = *s;
				buf[o] = 0;
			}
		}
		snprintf(buf + o, len - o, "\"");
	} else if (json_is_integer(v)) {
		snprintf(buf, len, "integer `%lld`", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		rust_f64(json_real_value(v), num, sizeof(num));
		snprintf(buf, len, "floating point `%s`", num);
	} else if (json_is_boolean(v)) {
		snprintf(buf, len, "boolean `%s`", json_is_true(v) ? "true" : "false");
	} else {
		snprintf(buf, len, "%s", json_is_array(v) ? "sequence" : "map");
	}
}

/* v is not what key takes: serde_json's "invalid type" (or, for an
 * integer out of the Rust type's range, "invalid value") with husk's
 * words as the detail. */
static int field_invalid(struct api_err *e, const char *key, const json_t *v, const char *expected,
                         const char *husk_words)
{
	char what[128], words[256];
	/* an integer where an unsigned Rust type is expected is out of its
	 * range ("value"); anything else is of the wrong type */
	bool range = json_is_integer(v) && expected[0] == 'u' && (expected[1] == 's' || (expected[1] >= '0' &&
	                                                                                  expected[1] <= '9'));
	serde_unexpected(v, what, sizeof(what));
	snprintf(words, sizeof(words), "invalid %s: %s, expected %s", range ? "value" : "type", what, expected);
	return api_fail_serde(e, json_is_array(v) || json_is_object(v) ? API_SERDE_INVALID_AT : API_SERDE_INVALID,
	                      key, words, "%s", husk_words);
}

/* The field, or NULL when absent or null; -EINVAL in *ret if required. */
static json_t *field_get(const json_t *obj, const char *key, bool required, bool *present,
                         int *ret, struct api_err *e)
{
	json_t *v = json_object_get(obj, key);
	if (v && json_is_null(v))
		v = NULL;
	if (present)
		*present = v != NULL;
	*ret = 0;
	if (!v && required) {
		char words[128];
		snprintf(words, sizeof(words), "missing field `%.64s`", key);
		*ret = api_fail_serde(e, API_SERDE_MISSING, key, words, "%s", words);
	}
	return v;
}

int api_field_u64(const json_t *obj, const char *key, bool required, uint64_t min, uint64_t max,
                  uint64_t *out, bool *present, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, present, &ret, e);
	if (!v)
		return ret;
	char words[160];
	uint64_t type_max = UINT64_MAX;
	const char *type = rust_uint_type(key, &type_max);
	snprintf(words, sizeof(words), "%s: must be an integer in %llu..%llu", key, (unsigned long long)min,
	         (unsigned long long)max);
	/* jansson keeps integers as long long: a negative one is out of range */
	bool integer = json_is_integer(v);
	if (type && (!integer || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > type_max))
		return field_invalid(e, key, v, type, words);
	if (!integer || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
	    (uint64_t)json_integer_value(v) > max)
		return api_fail(e, "%s", words);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int api_field_bool(const json_t *obj, const char *key, bool required, bool *out, bool *present,
                   struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, present, &ret, e);
	if (!v)
		return ret;
	if (!json_is_boolean(v)) {
		char words[96];
		snprintf(words, sizeof(words), "%.64s: must be true or false", key);
		return field_invalid(e, key, v, "a boolean", words);
	}
	*out = json_is_true(v);
	return 0;
}

int api_field_str(const json_t *obj, const char *key, bool required, char **out, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, NULL, &ret, e);
	if (!v)
		return ret;
	char words[96];
	snprintf(words, sizeof(words), "%.64s: must be a non-empty string", key);
	if (!json_is_string(v))
		return field_invalid(e, key, v, "a string", words);
	if (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v))
		return api_fail(e, "%s", words);
	if (json_string_length(v) > 4096)
		return api_fail(e, "%s: longer than 4096 bytes", key);
	char *s = strdup(json_string_value(v));
	if (!s)
		return api_fail(e, "%s: out of memory", key);
	free(*out);
	*out = s;
	return 0;
}

int api_field_text(const json_t *obj, const char *key, const char *expected, char **out, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, false, NULL, &ret, e);
	if (!v)
		return ret;
	char words[96];
	snprintf(words, sizeof(words), "%.64s: must be a string", key);
	if (!json_is_string(v))
		return field_invalid(e, key, v, expected, words);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return api_fail(e, "%.64s: holds a NUL byte", key);
	char *s = strdup(json_string_value(v));
	if (!s)
		return api_fail(e, "%.64s: out of memory", key);
	free(*out);
	*out = s;
	return 0;
}

int api_field_enum(const json_t *obj, const char *key, bool required, const char *const names[],
                   int *out, bool *present, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, present, &ret, e);
	if (!v)
		return ret;
	for (int i = 0; json_is_string(v) && names[i]; i++) {
		if (strcmp(names[i], json_string_value(v)) == 0) {
			*out = i;
			return 0;
		}
	}
	char list[160] = "", expected[192], words[256];
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	if (!json_is_string(v))
		return api_fail(e, "%s: must be one of %s", key, list);
	serde_one_of(names, expected, sizeof(expected));
	snprintf(words, sizeof(words), "unknown variant `%.48s`, expected %.150s", json_string_value(v), expected);
	return api_fail_serde(e, API_SERDE_VARIANT, key, words, "%s: must be one of %s", key, list);
}

int api_field_token_bucket(const json_t *obj, const char *key, struct token_bucket_config *b,
                           struct api_err *e)
{
	static const char *const allowed[] = { "size", "one_time_burst", "refill_time", NULL };
	json_t *v = json_object_get(obj, key);
	int ret;
	memset(b, 0, sizeof(*b));
	if (!v || json_is_null(v))
		return 0;
	if (api_fields_check(v, allowed, e) < 0)
		return api_prefix(e, key);
	ret = api_field_u64(v, "size", true, 0, UINT64_MAX >> 1, &b->size, NULL, e);
	if (ret == 0)
		ret = api_field_u64(v, "one_time_burst", false, 0, UINT64_MAX >> 1, &b->one_time_burst,
		                    NULL, e);
	/* Firecracker: refill_time in ms; a size or refill_time of 0 is "no
	 * limit", which a PATCH uses to lift one */
	if (ret == 0)
		ret = api_field_u64(v, "refill_time", true, 0, UINT64_MAX >> 1, &b->refill_time_ms, NULL, e);
	if (ret < 0)
		return api_prefix(e, key);
	b->set = true;
	return 0;
}

int api_field_rate_limiter(const json_t *obj, const char *key, struct rate_limiter_config *out,
                           bool *present, struct api_err *e)
{
	static const char *const allowed[] = { "bandwidth", "ops", NULL };
	int ret;
	json_t *v = field_get(obj, key, false, present, &ret, e);
	memset(out, 0, sizeof(*out));
	if (!v)
		return 0;
	ret = api_fields_check(v, allowed, e);
	if (ret == 0)
		ret = api_field_token_bucket(v, "bandwidth", &out->bandwidth, e);
	if (ret == 0)
		ret = api_field_token_bucket(v, "ops", &out->ops, e);
	return ret < 0 ? api_prefix(e, key) : 0;
}

json_t *api_json_parse(const char *text, size_t len, struct api_err *e)
{
	json_error_t je;
	if (!text || len == 0) {
		api_fail(e, "a JSON body is required");
		return NULL;
	}
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		char words[200];
		/* jansson's words and place, not serde_json's */
		snprintf(words, sizeof(words), "%.120s at line %d column %d", je.text, je.line, je.column);
		api_fail_serde(e, API_SERDE_CUSTOM, "", words, "invalid JSON at line %d column %d: %.120s", je.line,
		               je.column, je.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		api_fail(e, "the body must be a JSON object");
		return NULL;
	}
	return v;
}
