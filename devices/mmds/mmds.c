/* mmds: the per-VM service state (see mmds.h). */
#include "devices/mmds/mmds.h"

#include <string.h>

void mmds_init(struct mmds *m, size_t size_limit)
{
	memset(m, 0, sizeof(*m));
	mmds_store_init(&m->store, size_limit);
	mmds_tokens_init(&m->tokens);
	m->version = 1;
}

void mmds_destroy(struct mmds *m)
{
	mmds_store_destroy(&m->store);
}
