/* ids: the items of a resource that has many, each with its {id} (the
 * last part of its path): plain enough for a file name, equal in the body
 * and the path, found among the configured ones, written as an array. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/* Firecracker's rule (checked_id) and words: letters, digits and '_'
 * only (api_field_str refuses an empty one). ASCII letters only, where
 * Firecracker takes any Unicode one, and at most 64: ids become metric
 * keys and the guest's serial. */
static int id_check(const char *key, const char *id, struct api_err *e)
{
	if (strlen(id) > 64)
		return api_fail(e, "%s: longer than 64 characters", key);
	for (const char *p = id; *p; p++) {
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return api_fail(e, "API Resource IDs can only contain alphanumeric characters and "
			                   "underscores. (%s)", key);
	}
	return 0;
}

int api_id_object(const json_t *o, const char *const allowed[], const char *key, const char *path_id, char **out,
                  struct api_err *e)
{
	int ret = api_fields_check(o, allowed, e);
	if (ret == 0)
		ret = api_field_str(o, key, true, out, e);
	if (ret == 0)
		ret = id_check(key, *out, e);
	/* Firecracker's words: the network interface's name both ids */
	if (ret == 0 && path_id && strcmp(path_id, *out) != 0 && strcmp(key, "iface_id") == 0)
		ret = api_fail(e, "The id from the path [%.64s] does not match the id from the body [%.64s]!",
		               path_id, *out);
	else if (ret == 0 && path_id && strcmp(path_id, *out) != 0)
		ret = api_fail(e, "The id from the path does not match the id from the body! (%s: %.64s in the "
		               "body, %.64s in the path)", key, *out, path_id);
	return ret;
}

int api_id_record(const json_t *o, const char *const allowed[], const char *key, const char *path_id,
                  size_t size, struct api_request *r, struct api_err *e)
{
	char **id = calloc(1, size); /* the record's first member is its id */
	r->device_config = id; /* freed with the request, also on an error */
	if (!id)
		return api_fail(e, "out of memory");
	return api_id_object(o, allowed, key, path_id, id, e);
}

int api_id_find(const void *items, size_t size, int n, const char *id)
{
	for (int i = 0; i < n; i++) {
		const char *const *item_id = (const void *)((const char *)items + (size_t)i * size);
		if (strcmp(*item_id, id) == 0)
			return i;
	}
	return -1;
}

int api_id_slot(const void *items, size_t size, int n, int max, const char *key, const char *id,
                struct api_err *e)
{
	int i = api_id_find(items, size, n, id);
	if (i >= 0)
		return i;
	return n < max ? n : api_fail(e, "%s: %s would be one more than the %d there can be", key, id, max);
}

json_t *api_items_json(const void *items, size_t size, int n, json_t *(*item_json)(const void *item))
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, item_json((const char *)items + (size_t)i * size));
	return a;
}
