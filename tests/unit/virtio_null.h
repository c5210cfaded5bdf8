/* virtio_null: a test-only device kind (virtio_null.c). */
#ifndef HUSK_TEST_VIRTIO_NULL_H
#define HUSK_TEST_VIRTIO_NULL_H

#include <stdint.h>

#include "devices/virtio/class.h"

/* no such device in the virtio spec: a guest driver never binds it */
#define VIRTIO_ID_NULL 0xfff0

extern const struct virtio_class vnull_class;
/* chains it has answered */
uint64_t vnull_chains(const void *dev);
/* devices destroyed so far (teardown order checks) */
extern int vnull_destroyed;

#endif
