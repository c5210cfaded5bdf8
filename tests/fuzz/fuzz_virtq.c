/* libFuzzer target: a hostile guest's split virtqueue. The input is the
 * guest memory holding descriptor table, avail and used rings, plus the
 * queue size and feature bits; every chain popped must lie inside guest
 * RAM, and nothing may read or write outside it (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "devices/virtio/chain.h"
#include "devices/virtio/queue.h"

#define RAM 0x10000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_chain(const struct guest_mem *gm, const struct virtq_chain *c)
{
	uint8_t *lo = gm->base, *hi = gm->base + RAM;
	for (unsigned i = 0; i < c->nr; i++) {
		uint8_t *b = c->iov[i].iov_base;
		if (c->iov[i].iov_len == 0)
			continue;
		if (b < lo || b + c->iov[i].iov_len > hi)
			abort();
		volatile uint8_t touch = b[c->iov[i].iov_len - 1]; /* must be mapped */
		(void)touch;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint8_t *ram = calloc(1, RAM);
	struct guest_mem gm;
	if (gm_init_from(&gm, ram, RAM, RAM) < 0)
		abort();
	memcpy(ram, data + 8, size - 8 < RAM ? size - 8 : RAM);

	struct virtq vq;
	virtq_reset(&vq);
	vq.size = (uint16_t)(1u << (data[0] % 10)); /* 1..512: 512 must be refused */
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.desc_gpa = (uint64_t)(data[2] | data[3] << 8) << 4;
	vq.avail_gpa = (uint64_t)(data[4] | data[5] << 8) << 1;
	vq.used_gpa = (uint64_t)(data[6] | data[7] << 8) << 2;
	if (virtq_activate(&vq, &gm) == 0) {
		static struct virtq_chain c;
		for (int n = 0; n < 64; n++) {
			int r = virtq_pop(&vq, &c);
			if (r == 0 || r == -EIO)
				break;
			if (r == 1) {
				check_chain(&gm, &c);
				uint8_t tmp[64];
				vchain_iov_read(c.iov, (int)c.nr_out, data[1], tmp, sizeof(tmp));
			}
			virtq_add_used(&vq, c.head, (uint32_t)c.in_len);
			virtq_publish_used(&vq);
			virtq_should_notify(&vq);
		}
	}
	free(ram);
	return 0;
}
