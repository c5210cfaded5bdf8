/* rng: virtio-rng entropy from the host kernel. */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <sys/random.h>

long rng_fill(const struct iovec *iov, int n, size_t max)
{
	size_t done = 0;
	for (int i = 0; i < n && done < max; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t want = iov[i].iov_len < max - done ? iov[i].iov_len : max - done;
		while (want) {
			/* flags 0: the pool is initialised long before a VM runs,
			 * and a short read of more than 256 bytes is legal */
			ssize_t r = getrandom(p, want, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			p += r;
			want -= (size_t)r;
			done += (size_t)r;
		}
	}
	return (long)done;
}
