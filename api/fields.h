/* fields: checked reads of JSON request fields. Every reader names the
 * field in err on failure ("vcpu_count: must be an integer in 1..32"),
 * so a 400's fault_message (or a config-file error) says what to fix. */
#ifndef HUSK_API_FIELDS_H
#define HUSK_API_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"

struct api_err {
	char msg[256];
};

/* Set the message (printf-style); returns -EINVAL for `return api_fail(...)`. */
int api_fail(struct api_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the message with "prefix: "; returns -EINVAL. */
int api_prefix(struct api_err *e, const char *prefix);

/* obj must be an object whose keys are all in allowed (NULL-terminated). */
int api_fields_check(const json_t *obj, const char *const allowed[], struct api_err *e);
/* Each reader: a missing field is -EINVAL if required, else 0 with
 * *present false (present may be NULL). A JSON null counts as missing. */
int api_field_u64(const json_t *obj, const char *key, bool required, uint64_t min, uint64_t max,
                  uint64_t *out, bool *present, struct api_err *e);
int api_field_bool(const json_t *obj, const char *key, bool required, bool *out, bool *present,
                   struct api_err *e);
/* A non-empty string, strdup'd into *out (freeing what was there). */
int api_field_str(const json_t *obj, const char *key, bool required, char **out, struct api_err *e);
/* One of the NULL-terminated names; *out is its index. */
int api_field_enum(const json_t *obj, const char *key, bool required, const char *const names[],
                   int *out, bool *present, struct api_err *e);
/* A token bucket {"size", "one_time_burst", "refill_time"}; absent or
 * null leaves out->set false. */
int api_field_token_bucket(const json_t *obj, const char *key, struct token_bucket_config *out,
                           struct api_err *e);
/* A rate limiter object {"bandwidth": {...}, "ops": {...}}. */
int api_field_rate_limiter(const json_t *obj, const char *key, struct rate_limiter_config *out,
                           bool *present, struct api_err *e);
/* Parse text as a JSON object (NULL or empty text: an error). */
json_t *api_json_parse(const char *text, size_t len, struct api_err *e);

#endif
