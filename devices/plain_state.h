/* plain_state: a device whose whole guest-visible state is one plain
 * struct under a mutex describes it here, and its snapshot is a copy
 * (snapshot_plain_ops in vmm/snapshot/snapshot.h). */
#ifndef HUSK_PLAIN_STATE_H
#define HUSK_PLAIN_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot_plain {
	const char *name;  /* in error messages */
	uint32_t version;  /* bump when the struct changes */
	pthread_mutex_t *lock;
	void *state;
	size_t size;
	/* optional: can a copy from a state file be used (indexes in range)?
	 * 0, or -EINVAL with err saying why */
	int (*valid)(const void *state, char *err, size_t errlen);
};

#endif
