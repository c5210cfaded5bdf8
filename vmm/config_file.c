/* config_file: the whole pre-boot configuration from one JSON file. */
#include "vmm/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/resource.h"

/* known to Firecracker, not implemented by husk yet: refused by name
 * (null is accepted, as "not set") */
static const char *const unsupported[] = { "pmem", "memory-hotplug", NULL };

/* A key is a resource's (api/resources.c) or refused by name. */
static int key_check(const char *key, const json_t *v, char *err, size_t errlen)
{
	const struct api_resource *res = api_resource_by_key(key);
	if (res && res->put)
		return 0;
	for (int i = 0; unsupported[i]; i++)
		if (strcmp(unsupported[i], key) == 0)
			return json_is_null(v) ? 0 : (snprintf(err, errlen, "%s: not supported yet", key), -EINVAL);
	return snprintf(err, errlen, "%.64s: unknown key", key), -EINVAL;
}

static int keys_check(const json_t *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)doc, key, v)
		if (key_check(key, v, err, errlen) < 0)
			return -EINVAL;
	return 0;
}

/* One item of a section, parsed as its PUT; keys[n] says whose. */
static int item_parse(const struct api_resource *res, const json_t *v, struct api_request *reqs,
                      const char **keys, int *n, struct api_err *e)
{
	keys[*n] = res->key;
	return api_request_parse(res->put, v, NULL, &reqs[(*n)++], e);
}

/* Parse every section into reqs, in the resources' order, before
 * anything is applied. */
static int doc_parse(const json_t *doc, struct api_request *reqs, const char **keys, int *n, char *err,
                     size_t errlen)
{
	struct api_err e = { .msg = "" };
	for (int r = 0; api_resources[r]; r++) {
		const struct api_resource *res = api_resources[r];
		const json_t *v = res->key && res->put ? json_object_get(doc, res->key) : NULL;
		size_t i;
		json_t *item;
		if (!v || json_is_null(v))
			continue;
		if (!res->has_id) {
			if (item_parse(res, v, reqs, keys, n, &e) < 0)
				return snprintf(err, errlen, "%s: %s", res->key, e.msg), -EINVAL;
			continue;
		}
		if (!json_is_array(v))
			return snprintf(err, errlen, "%s: must be an array", res->key), -EINVAL;
		if (json_array_size(v) > (size_t)res->max_items)
			return snprintf(err, errlen, "%s: too many entries", res->key), -EINVAL;
		json_array_foreach(v, i, item) {
			if (item_parse(res, item, reqs, keys, n, &e) < 0)
				return snprintf(err, errlen, "%s[%zu]: %s", res->key, i, e.msg), -EINVAL;
		}
	}
	return 0;
}

int config_file_apply_text(const char *text, size_t len, struct api_target *t, char *err, size_t errlen)
{
	struct api_err e = { .msg = "" };
	int n = 0, ret;
	size_t max = (size_t)api_resources_max_items();
	struct api_request *reqs = calloc(max, sizeof(*reqs)); /* big: not on the stack */
	const char **keys = calloc(max, sizeof(*keys));
	json_t *doc = reqs && keys ? api_json_parse(text, len, &e) : NULL;
	if (!doc) {
		free(reqs);
		free(keys);
		snprintf(err, errlen, "%s", reqs && keys ? e.msg : "out of memory");
		return -EINVAL;
	}
	ret = keys_check(doc, err, errlen);
	if (ret == 0)
		ret = doc_parse(doc, reqs, keys, &n, err, errlen);
	for (int i = 0; ret == 0 && i < n; i++) {
		struct api_reply rep = { 500, NULL };
		char why[300];
		api_apply(t, &reqs[i], &rep);
		if (rep.status >= 400) {
			api_reply_reason(&rep, why, sizeof(why));
			snprintf(err, errlen, "%s: %s", keys[i], why);
			ret = -EINVAL;
		}
		free(rep.body);
	}
	for (int i = 0; i < n; i++)
		api_request_free(&reqs[i]);
	free(reqs);
	free(keys);
	json_decref(doc);
	return ret;
}

int config_file_load(const char *path, struct api_target *t, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	int ret = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX_BYTES) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path, CONFIG_FILE_MAX_BYTES);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ssize_t got = read(fd, buf, (size_t)st.st_size);
	if (got != st.st_size) {
		ret = -EIO;
		snprintf(err, errlen, "cannot read %s", path);
		goto out;
	}
	ret = config_file_apply_text(buf, (size_t)got, t, err, errlen);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}
