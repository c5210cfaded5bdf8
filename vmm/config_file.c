/* config_file: the whole pre-boot configuration from one JSON file. */
#include "vmm/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"

/* Applied in this order: the logger first, so what follows logs there. */
static const struct {
	const char *key;
	enum api_kind kind;
	bool array;
} sections[] = {
	{ "logger", API_PUT_LOGGER, false },
	{ "metrics", API_PUT_METRICS, false },
	{ "machine-config", API_PUT_MACHINE, false },
	/* after machine-config: a custom template replaces a static one */
	{ "cpu-config", API_PUT_CPU_CONFIG, false },
	{ "boot-source", API_PUT_BOOT, false },
	{ "drives", API_PUT_DRIVE, true },
	{ "network-interfaces", API_PUT_NET, true },
	{ "vsock", API_PUT_VSOCK, false },
	{ "entropy", API_PUT_ENTROPY, false },
	{ "balloon", API_PUT_BALLOON, false },
	/* after network-interfaces: it names them */
	{ "mmds-config", API_PUT_MMDS_CONFIG, false },
};

/* known to Firecracker, not implemented by husk yet: refused by name
 * (null is accepted, as "not set") */
static const char *const unsupported[] = { "pmem", "memory-hotplug", NULL };

#define MAX_REQS (CONFIG_MAX_DRIVES + CONFIG_MAX_NETS + 8)

static int keys_check(const json_t *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)doc, key, v) {
		bool known = false;
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]) && !known; i++)
			known = strcmp(sections[i].key, key) == 0;
		for (int i = 0; unsupported[i] && !known; i++) {
			if (strcmp(unsupported[i], key) == 0) {
				if (json_is_null(v))
					known = true;
				else
					return snprintf(err, errlen, "%s: not supported yet", key), -EINVAL;
			}
		}
		if (!known)
			return snprintf(err, errlen, "%.64s: unknown key", key), -EINVAL;
	}
	return 0;
}

/* Parse every section into reqs before anything is applied. */
static int doc_parse(const json_t *doc, struct api_request *reqs, int *n, char *err, size_t errlen)
{
	struct api_err e = { "" };
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		const char *key = sections[s].key;
		const json_t *v = json_object_get(doc, key);
		size_t i;
		json_t *item;
		if (!v || json_is_null(v))
			continue;
		if (!sections[s].array) {
			if (api_request_parse(sections[s].kind, v, NULL, &reqs[(*n)++], &e) < 0)
				return snprintf(err, errlen, "%s: %s", key, e.msg), -EINVAL;
			continue;
		}
		if (!json_is_array(v))
			return snprintf(err, errlen, "%s: must be an array", key), -EINVAL;
		if (json_array_size(v) > (sections[s].kind == API_PUT_DRIVE ? CONFIG_MAX_DRIVES : CONFIG_MAX_NETS))
			return snprintf(err, errlen, "%s: too many entries", key), -EINVAL;
		json_array_foreach(v, i, item) {
			if (api_request_parse(sections[s].kind, item, NULL, &reqs[(*n)++], &e) < 0)
				return snprintf(err, errlen, "%s[%zu]: %s", key, i, e.msg), -EINVAL;
		}
	}
	return 0;
}

static const char *section_key(enum api_kind kind)
{
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
		if (sections[s].kind == kind)
			return sections[s].key;
	return "?";
}

int config_file_apply_text(const char *text, size_t len, struct api_target *t, char *err, size_t errlen)
{
	struct api_err e = { "" };
	int n = 0, ret;
	struct api_request *reqs = calloc(MAX_REQS, sizeof(*reqs)); /* big: not on the stack */
	if (!reqs)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	json_t *doc = api_json_parse(text, len, &e);
	if (!doc) {
		free(reqs);
		snprintf(err, errlen, "%s", e.msg);
		return -EINVAL;
	}
	ret = keys_check(doc, err, errlen);
	if (ret == 0)
		ret = doc_parse(doc, reqs, &n, err, errlen);
	for (int i = 0; ret == 0 && i < n; i++) {
		struct api_reply rep = { 500, NULL };
		char why[300];
		api_apply(t, &reqs[i], &rep);
		if (rep.status >= 400) {
			api_reply_reason(&rep, why, sizeof(why));
			snprintf(err, errlen, "%s: %s", section_key(reqs[i].kind), why);
			ret = -EINVAL;
		}
		free(rep.body);
	}
	for (int i = 0; i < n; i++)
		api_request_free(&reqs[i]);
	free(reqs);
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
