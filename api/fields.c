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
	return -EINVAL;
}

int api_prefix(struct api_err *e, const char *prefix)
{
	char tmp[sizeof(e->msg)];
	memcpy(tmp, e->msg, sizeof(tmp));
	tmp[sizeof(tmp) - 1] = 0;
	return api_fail(e, "%s: %.200s", prefix, tmp);
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
		if (!ok)
			return api_fail(e, "unknown field `%.64s`", key);
	}
	return 0;
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
	*ret = (!v && required) ? api_fail(e, "missing field `%s`", key) : 0;
	return v;
}

int api_field_u64(const json_t *obj, const char *key, bool required, uint64_t min, uint64_t max,
                  uint64_t *out, bool *present, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, present, &ret, e);
	if (!v)
		return ret;
	/* jansson keeps integers as long long: a negative one is out of range */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return api_fail(e, "%s: must be an integer in %llu..%llu", key,
		                (unsigned long long)min, (unsigned long long)max);
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
	if (!json_is_boolean(v))
		return api_fail(e, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int api_field_str(const json_t *obj, const char *key, bool required, char **out, struct api_err *e)
{
	int ret;
	json_t *v = field_get(obj, key, required, NULL, &ret, e);
	if (!v)
		return ret;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return api_fail(e, "%s: must be a non-empty string", key);
	if (json_string_length(v) > 4096)
		return api_fail(e, "%s: longer than 4096 bytes", key);
	char *s = strdup(json_string_value(v));
	if (!s)
		return api_fail(e, "%s: out of memory", key);
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
	char list[160] = "";
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	return api_fail(e, "%s: must be one of %s", key, list);
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
		api_fail(e, "invalid JSON at line %d column %d: %.120s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		api_fail(e, "the body must be a JSON object");
		return NULL;
	}
	return v;
}
