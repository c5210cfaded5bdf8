/* store: the MMDS data store (see store.h). */
#include "devices/mmds/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	s->data = NULL;
	s->limit = limit ? limit : MMDS_STORE_DEFAULT_LIMIT;
}

void mmds_store_destroy(struct mmds_store *s)
{
	json_decref(s->data);
	s->data = NULL;
}

/* Size as Firecracker measures it: the compact serialisation. */
static size_t store_size(const json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* 0 (a store that was zeroed, not initialised) is the default too */
static size_t store_limit(const struct mmds_store *s)
{
	return s->limit ? s->limit : MMDS_STORE_DEFAULT_LIMIT;
}

int mmds_store_put(struct mmds_store *s, json_t *data)
{
	if (store_size(data) > store_limit(s))
		return -EFBIG;
	json_incref(data);
	json_decref(s->data);
	s->data = data;
	return 0;
}

int mmds_merge_patch(json_t **target, const json_t *patch)
{
	const char *key;
	json_t *v;
	if (!json_is_object(patch)) {
		json_decref(*target);
		*target = json_deep_copy(patch);
		return *target ? 0 : -ENOMEM;
	}
	if (!json_is_object(*target)) {
		json_decref(*target);
		*target = json_object();
		if (!*target)
			return -ENOMEM;
	}
	json_object_foreach((json_t *)patch, key, v) {
		if (json_is_null(v)) {
			json_object_del(*target, key);
			continue;
		}
		json_t *child = json_incref(json_object_get(*target, key));
		int ret = mmds_merge_patch(&child, v);
		if (ret == 0 && json_object_set_new(*target, key, child) < 0)
			ret = -ENOMEM;
		if (ret < 0)
			return ret;
	}
	return 0;
}

int mmds_store_patch(struct mmds_store *s, const json_t *patch)
{
	if (!s->data)
		return -ENOENT;
	/* on a copy: a patch over the limit must leave the store untouched */
	json_t *copy = json_deep_copy(s->data);
	int ret = copy ? mmds_merge_patch(&copy, patch) : -ENOMEM;
	if (ret == 0 && store_size(copy) > store_limit(s))
		ret = -EFBIG;
	if (ret < 0) {
		json_decref(copy);
		return ret;
	}
	json_decref(s->data);
	s->data = copy;
	return 0;
}

json_t *mmds_store_get(const struct mmds_store *s)
{
	return s->data ? json_incref(s->data) : json_object();
}

/* One path segment [seg, seg+len) into v: an object's key or an array's
 * decimal index, as a JSON pointer reads it. */
static json_t *store_step(json_t *v, const char *seg, size_t len)
{
	if (json_is_object(v))
		return json_object_getn(v, seg, len);
	if (!json_is_array(v) || len == 0 || len > 9 || (len > 1 && seg[0] == '0'))
		return NULL;
	size_t i = 0;
	for (size_t k = 0; k < len; k++) {
		if (seg[k] < '0' || seg[k] > '9')
			return NULL;
		i = i * 10 + (size_t)(seg[k] - '0');
	}
	return json_array_get(v, i);
}

static json_t *store_lookup(json_t *root, const char *path)
{
	json_t *v = root;
	const char *p = path;
	while (v && *p) {
		if (*p == '/') {
			p++;
			continue;
		}
		size_t len = strcspn(p, "/");
		v = store_step(v, p, len);
		p += len;
	}
	return v;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* IMDS: a dict lists its keys, sorted, one a line, a dict's with "/". */
static int imds_keys(json_t *obj, char **body)
{
	size_t n = json_object_size(obj), k = 0, total = 1;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	const char *key;
	json_t *v;
	if (!keys)
		return -ENOMEM;
	json_object_foreach(obj, key, v) {
		keys[k++] = key;
		total += strlen(key) + 2;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	char *out = malloc(total), *p = out;
	if (out) {
		for (size_t i = 0; i < n; i++) {
			bool dir = json_is_object(json_object_get(obj, keys[i]));
			p = stpcpy(p, keys[i]);
			if (dir)
				*p++ = '/';
			if (i + 1 < n)
				*p++ = '\n';
		}
		*p = 0;
	}
	free(keys);
	*body = out;
	return out ? 0 : -ENOMEM;
}

int mmds_store_render(const struct mmds_store *s, const char *path, enum mmds_format fmt, char **body)
{
	json_t *root = mmds_store_get(s);
	json_t *v = store_lookup(root, path);
	int status = 200;
	*body = NULL;
	if (!v) {
		status = 404;
	} else if (fmt == MMDS_FMT_JSON) {
		*body = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	} else if (json_is_object(v)) {
		if (imds_keys(v, body) < 0)
			*body = NULL;
	} else if (json_is_string(v)) {
		*body = strndup(json_string_value(v), json_string_length(v));
	} else {
		status = 501;
	}
	json_decref(root);
	if (status == 200 && !*body)
		status = 500;
	return status;
}
