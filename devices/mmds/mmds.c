/* mmds: the per-VM service state (see mmds.h). */
#include "devices/mmds/mmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"

void mmds_init(struct mmds *m, size_t size_limit)
{
	memset(m, 0, sizeof(*m));
	mmds_store_init(&m->store, size_limit);
	mmds_tokens_init(&m->tokens);
	m->version = 1;
}

void mmds_destroy(struct mmds *m)
{
	const struct mmds_stats *s = &m->stats;
	/* what the guests asked, once, when there was anything */
	if (s->rx_requests || s->rx_bad_requests)
		log_info("mmds: %llu requests (%llu unparsable or oversized), %llu tokens issued, "
		         "%llu GETs without a token, %llu with an invalid one",
		         (unsigned long long)s->rx_requests, (unsigned long long)s->rx_bad_requests,
		         (unsigned long long)s->tokens_issued, (unsigned long long)s->rx_no_token,
		         (unsigned long long)s->rx_invalid_token);
	mmds_store_destroy(&m->store);
}

static int mmds_save(void *opaque, void **blob, size_t *len)
{
	const struct mmds *m = opaque;
	*blob = NULL;
	*len = 0;
	if (!m->store.data)
		return 0;
	*blob = json_dumps(m->store.data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!*blob)
		return -ENOMEM;
	*len = strlen(*blob);
	return 0;
}

/* The blob as a document (NULL for an empty one); -EINVAL when it is
 * not JSON, -EFBIG when it is over this process's size limit. */
static int mmds_blob_parse(const struct mmds *m, const uint8_t *blob, size_t len, json_t **out)
{
	json_error_t je;
	*out = NULL;
	if (len == 0)
		return 0;
	*out = json_loadb((const char *)blob, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!*out)
		return -EINVAL;
	struct mmds_store probe = { NULL, m->store.limit };
	int ret = mmds_store_put(&probe, *out);
	mmds_store_destroy(&probe);
	if (ret < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return ret;
}

static int mmds_check(void *opaque, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	json_t *doc;
	int ret = mmds_blob_parse(opaque, blob, len, &doc);
	json_decref(doc);
	if (ret == -EFBIG)
		snprintf(err, errlen, "the data store is larger than --mmds-size-limit");
	else if (ret < 0)
		snprintf(err, errlen, "the data store is not JSON");
	return ret;
}

static int mmds_restore(void *opaque, const uint8_t *blob, size_t len)
{
	struct mmds *m = opaque;
	json_t *doc;
	int ret = mmds_blob_parse(m, blob, len, &doc);
	if (ret < 0)
		return ret;
	mmds_store_destroy(&m->store);
	if (doc)
		ret = mmds_store_put(&m->store, doc);
	json_decref(doc);
	return ret;
}

const struct snapshot_dev_ops mmds_snapshot_ops = {
	.save = mmds_save,
	.check = mmds_check,
	.restore = mmds_restore,
};
