/* rng: virtio-rng (device id 4), one request queue whose device-writable
 * buffers are filled from getrandom(). */
#ifndef HUSK_VIRTIO_RNG_H
#define HUSK_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTIO_ID_RNG 4
/* The most one request gets: a guest asking for more gets this much
 * (virtio-rng lets the device return less than the buffer). */
#define RNG_MAX_REQUEST (64 * 1024)

/* Fill up to max bytes of the iovec list with random bytes; returns the
 * bytes written or -errno (getrandom failed). */
long rng_fill(const struct iovec *iov, int n, size_t max);

#endif
