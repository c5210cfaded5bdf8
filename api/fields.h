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

/* Which of serde_json's errors Firecracker would answer a body with,
 * and where serde_json places it (api/json_pos.h). */
enum api_serde {
	API_SERDE_NONE,    /* husk's own check: msg only */
	API_SERDE_MISSING, /* "missing field `key`", after the object */
	API_SERDE_UNKNOWN, /* "unknown field `key`, expected ...", after the key */
	API_SERDE_VARIANT, /* "unknown variant `v`, expected ...", after the value of key */
	API_SERDE_INVALID, /* "invalid type: ..., expected u8" (or value), after the value of key */
	API_SERDE_INVALID_AT, /* the same for an array or object: at its first byte */
	API_SERDE_CUSTOM,  /* Firecracker's own text with no position */
	API_SERDE_VALUE,   /* a type's own words while serde_json reads the value (Ipv4Addr): after the value */
	API_SERDE_AFTER,   /* a type's own words about a string it was given (MacAddr, LevelFilter): where
	                    * serde_json's struct stops, after the value, blanks and a closing '}' */
};

struct api_err {
	char msg[512];
	enum api_serde serde;
	char serde_msg[256]; /* serde_json's words, without the position */
	char key[64];        /* the field serde_msg is about */
	char path[128];      /* the object it is in: "rate_limiter.bandwidth", "" the top */
};

/* Set the message (printf-style); returns -EINVAL for `return api_fail(...)`. */
int api_fail(struct api_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, with what serde_json would say (serde_msg) about key. */
int api_fail_serde(struct api_err *e, enum api_serde kind, const char *key, const char *serde_msg, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

/* Prefix the message with "prefix: " ("prefix" alone before an item's
 * "[n]: "); returns -EINVAL. A prefix that is a key ("rate_limiter",
 * "[0]") also goes before the serde path. */
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
/* A string a Firecracker type parses itself, empty included and of any
 * length (the body's limit bounds it): any other type is serde_json's
 * "invalid type: ..., expected <expected>"; a NUL inside is refused.
 * strdup'd into *out as api_field_str. */
int api_field_text(const json_t *obj, const char *key, const char *expected, char **out, struct api_err *e);
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
