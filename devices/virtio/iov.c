/* iov: the one walk over a popped chain's host iovecs (chain.h). Copies,
 * slices and gathers are callbacks on it, so the offset arithmetic that
 * keeps a device inside the guest's buffers is written once. */
#include "devices/virtio/chain.h"

#include <errno.h>

size_t vchain_iov_walk(const struct iovec *iov, int n, size_t off, size_t len,
                       vchain_piece_fn fn, void *ctx)
{
	size_t done = 0;
	for (int i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t room = iov[i].iov_len - off;
		size_t k = len - done < room ? len - done : room;
		if (!fn(ctx, (uint8_t *)iov[i].iov_base + off, k))
			break;
		done += k;
		off = 0;
	}
	return done;
}

struct iov_copy {
	uint8_t *buf;
	bool to_iov;
};

static bool iov_copy_piece(void *ctx, uint8_t *base, size_t len)
{
	struct iov_copy *c = ctx;
	if (c->to_iov)
		memcpy(base, c->buf, len);
	else
		memcpy(c->buf, base, len);
	c->buf += len;
	return true;
}

size_t vchain_iov_write(const struct iovec *iov, int n, size_t off, const void *src, size_t len)
{
	struct iov_copy c = { (uint8_t *)src, true };
	return vchain_iov_walk(iov, n, off, len, iov_copy_piece, &c);
}

size_t vchain_iov_read(const struct iovec *iov, int n, size_t off, void *dst, size_t len)
{
	struct iov_copy c = { dst, false };
	return vchain_iov_walk(iov, n, off, len, iov_copy_piece, &c);
}

struct iov_slice {
	struct iovec *out;
	int k, max;
};

static bool iov_slice_piece(void *ctx, uint8_t *base, size_t len)
{
	struct iov_slice *s = ctx;
	if (s->k == s->max) {
		s->k = -1;
		return false;
	}
	s->out[s->k++] = (struct iovec){ .iov_base = base, .iov_len = len };
	return true;
}

int vchain_iov_slice(const struct iovec *iov, int n, size_t off, size_t len,
                     struct iovec *out, int max, size_t *got)
{
	struct iov_slice s = { out, 0, max };
	size_t bytes = vchain_iov_walk(iov, n, off, len, iov_slice_piece, &s);
	if (got)
		*got = bytes;
	return s.k < 0 ? -EMSGSIZE : s.k;
}
