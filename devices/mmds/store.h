/* store: the MMDS data store, one JSON document the host writes (PUT
 * replaces it, PATCH merges into it, RFC 7396) and the guest reads by
 * path, as JSON or in the IMDS text form. Every change is checked
 * against the size limit (--mmds-size-limit) on a copy, so a refused one
 * leaves the store as it was. Used on the vmm thread only. */
#ifndef HUSK_MMDS_STORE_H
#define HUSK_MMDS_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Firecracker's default: the API's largest body (51200 bytes) */
#define MMDS_STORE_DEFAULT_LIMIT 51200

struct mmds_store {
	json_t *data;      /* NULL until the first PUT */
	size_t limit;      /* bytes of the compact JSON text */
};

void mmds_store_init(struct mmds_store *s, size_t limit);
void mmds_store_destroy(struct mmds_store *s);
/* Replace the document by data (a reference is taken on success).
 * -EFBIG over the limit. */
int mmds_store_put(struct mmds_store *s, json_t *data);
/* Merge patch into the document. -ENOENT before any PUT (Firecracker:
 * "not initialized"), -EFBIG over the limit; both change nothing. */
int mmds_store_patch(struct mmds_store *s, const json_t *patch);
/* The document (a new reference), or {} before any PUT. */
json_t *mmds_store_get(const struct mmds_store *s);
/* RFC 7396 merge of patch into *target (replaced when not an object). */
int mmds_merge_patch(json_t **target, const json_t *patch);

enum mmds_format { MMDS_FMT_IMDS, MMDS_FMT_JSON };

/* The value at path ("/a/b", repeated and trailing slashes ignored) in
 * fmt, as a malloc'd text in *body. Returns 200, 404 (no such path) or
 * 501 (IMDS has no text form for numbers, arrays, booleans, null). */
int mmds_store_render(const struct mmds_store *s, const char *path, enum mmds_format fmt, char **body);

#endif
