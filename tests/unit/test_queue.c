/* The split-ring walker against rings crafted in a malloc'd guest memory:
 * valid chains, indirect tables, event-idx, and every malformed case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include "devices/virtio/chain.h"
#include "devices/virtio/queue.h"
#include "vmm/guest_mem.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000
#define QSIZE 16

struct fx {
	uint8_t *ram;
	struct guest_mem gm;
	struct virtq vq;
	uint16_t avail_idx;
	struct virtq_chain c;
};

/* what a device does to hand one chain back */
static void push(struct virtq *vq, uint16_t head, uint32_t len)
{
	virtq_add_used(vq, head, len);
	virtq_publish_used(vq);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->ram = calloc(1, RAM);
	assert_int_equal(gm_init_from(&f->gm, f->ram, RAM, 0xd0000000ull), 0);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	f->vq.indirect = true;
	assert_int_equal(virtq_activate(&f->vq, &f->gm), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->ram);
	free(f);
	return 0;
}

static void set_desc_at(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
	memcpy(f->ram + table + 16ull * i, &d, sizeof(d));
}

static void set_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
	set_desc_at(f, DESC, i, addr, len, flags, next);
}

static uint16_t *avail16(struct fx *f, unsigned i)
{
	return (uint16_t *)(f->ram + AVAIL) + i;
}

static void offer(struct fx *f, uint16_t head)
{
	*avail16(f, 2 + f->avail_idx % QSIZE) = head;
	f->avail_idx++;
	*avail16(f, 1) = f->avail_idx;
}

static uint16_t used_idx(struct fx *f)
{
	return *(uint16_t *)(f->ram + USED + 2);
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned i)
{
	struct virtq_used_elem e;
	memcpy(&e, f->ram + USED + 4 + 8 * (i % QSIZE), sizeof(e));
	return e;
}

#define R 0
#define W VIRTQ_DESC_F_WRITE
#define N VIRTQ_DESC_F_NEXT
#define I VIRTQ_DESC_F_INDIRECT

/* header (readable), data (writable), status (writable) */
static void make_blk_like_chain(struct fx *f, uint16_t first)
{
	set_desc(f, first, DATA, 16, R | N, first + 1);
	set_desc(f, first + 1, DATA + 0x1000, 512, W | N, first + 2);
	set_desc(f, first + 2, DATA + 0x2000, 1, W, 0);
}

static void test_valid_chain_pop_push(void **state)
{
	struct fx *f = *state;
	make_blk_like_chain(f, 3);
	offer(f, 3);
	assert_int_equal(virtq_pending(&f->vq), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nr, 3);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->c.iov[0].iov_base, f->ram + DATA);
	assert_ptr_equal(f->c.iov[1].iov_base, f->ram + DATA + 0x1000);
	assert_int_equal(f->c.iov[1].iov_len, 512);
	assert_ptr_equal(f->c.iov[2].iov_base, f->ram + DATA + 0x2000);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 0);

	push(&f->vq, 3, 513);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(used_elem(f, 0).id, 3);
	assert_int_equal(used_elem(f, 0).len, 513);
}

static void test_ring_wraps(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 8, R, 0);
	for (unsigned i = 0; i < 3 * QSIZE + 1; i++) {
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
		push(&f->vq, 0, 0);
	}
	assert_int_equal(used_idx(f), 3 * QSIZE + 1);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 0);
}

static void test_zero_length_descriptors_dropped(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 16, R | N, 1);
	set_desc(f, 1, 0xdeadbeef000ull, 0, R | N, 2); /* no bytes: never mapped */
	set_desc(f, 2, DATA + 64, 1, W, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.nr, 2);
	assert_int_equal(f->c.nr_out, 1);
}

static void test_chain_read_spans_buffers(void **state)
{
	struct fx *f = *state;
	memcpy(f->ram + DATA, "abcd", 4);
	memcpy(f->ram + DATA + 0x100, "efgh", 4);
	set_desc(f, 0, DATA, 4, R | N, 1);
	set_desc(f, 1, DATA + 0x100, 4, R, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	char buf[8];
	assert_int_equal(vchain_iov_read(f->c.iov, (int)f->c.nr_out, 2, buf, 8), 6);
	assert_memory_equal(buf, "cdefgh", 6);
}

static void test_indirect_chain(void **state)
{
	struct fx *f = *state;
	uint64_t table = 0x8000;
	set_desc_at(f, table, 0, DATA, 16, R | N, 1);
	set_desc_at(f, table, 1, DATA + 0x1000, 4096, W | N, 2);
	set_desc_at(f, table, 2, DATA + 0x3000, 1, W, 0);
	set_desc(f, 5, table, 3 * 16, I, 0);
	offer(f, 5);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.nr, 3);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.in_len, 4097);
	assert_ptr_equal(f->c.iov[2].iov_base, f->ram + DATA + 0x3000);
}

static void test_direct_then_indirect(void **state)
{
	struct fx *f = *state;
	uint64_t table = 0x8000;
	set_desc_at(f, table, 0, DATA + 0x1000, 8, W, 0);
	set_desc(f, 0, DATA, 16, R | N, 1);
	set_desc(f, 1, table, 16, I, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.nr, 2);
	assert_int_equal(f->c.nr_out, 1);
}

/* a malformed chain is consumed and reported; the next one still works */
static void expect_bad_then_recover(struct fx *f, uint16_t head)
{
	offer(f, head);
	assert_int_equal(virtq_pop(&f->vq, &f->c), -EBADMSG);
	assert_int_equal(f->c.head, head);
	assert_int_equal(f->c.nr, 0);
	make_blk_like_chain(f, 12);
	offer(f, 12);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 12);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;
	f->vq.indirect = false;
	set_desc_at(f, 0x8000, 0, DATA, 16, R, 0);
	set_desc(f, 0, 0x8000, 16, I, 0);
	expect_bad_then_recover(f, 0);
}

static void test_loop_refused(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 16, R | N, 1);
	set_desc(f, 1, DATA, 16, R | N, 0);
	expect_bad_then_recover(f, 0);
}

static void test_self_loop_refused(void **state)
{
	struct fx *f = *state;
	set_desc(f, 4, DATA, 16, W | N, 4);
	expect_bad_then_recover(f, 4);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 16, R | N, QSIZE);
	expect_bad_then_recover(f, 0);
}

static void test_buffer_outside_ram(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, RAM - 8, 16, R, 0);             /* straddles the end */
	expect_bad_then_recover(f, 0);
	set_desc(f, 1, 0xfffffffffffffff0ull, 0x20, R, 0); /* wraps */
	expect_bad_then_recover(f, 1);
	set_desc(f, 2, 0xd0000000ull, 4, W, 0);         /* device memory */
	expect_bad_then_recover(f, 2);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 16, W | N, 1);
	set_desc(f, 1, DATA + 16, 16, R, 0);
	expect_bad_then_recover(f, 0);
}

static void test_readable_after_writable_indirect(void **state)
{
	struct fx *f = *state;
	set_desc_at(f, 0x8000, 0, DATA, 16, W | N, 1);
	set_desc_at(f, 0x8000, 1, DATA, 16, R, 0);
	set_desc(f, 0, 0x8000, 32, I, 0);
	expect_bad_then_recover(f, 0);
}

static void test_indirect_in_indirect(void **state)
{
	struct fx *f = *state;
	set_desc_at(f, 0x9000, 0, DATA, 16, R, 0);
	set_desc_at(f, 0x8000, 0, 0x9000, 16, I, 0);
	set_desc(f, 0, 0x8000, 16, I, 0);
	expect_bad_then_recover(f, 0);
}

static void test_indirect_bad_table(void **state)
{
	struct fx *f = *state;
	set_desc_at(f, 0x8000, 0, DATA, 16, R, 0);
	set_desc(f, 0, 0x8000, 0, I, 0);          /* empty */
	expect_bad_then_recover(f, 0);
	set_desc(f, 1, 0x8000, 17, I, 0);         /* not whole descriptors */
	expect_bad_then_recover(f, 1);
	set_desc(f, 2, RAM - 16, 32, I, 0);       /* outside RAM */
	expect_bad_then_recover(f, 2);
	set_desc(f, 3, 0x8000, 16 * (VIRTQ_MAX_SEGS + 1), I, 0); /* too big */
	expect_bad_then_recover(f, 3);
	set_desc(f, 4, 0x8000, 16, I | N, 5);     /* INDIRECT with NEXT */
	expect_bad_then_recover(f, 4);
}

static void test_indirect_loop_and_range(void **state)
{
	struct fx *f = *state;
	set_desc_at(f, 0x8000, 0, DATA, 16, R | N, 1);
	set_desc_at(f, 0x8000, 1, DATA, 16, R | N, 0);
	set_desc(f, 0, 0x8000, 32, I, 0);
	expect_bad_then_recover(f, 0);
	set_desc_at(f, 0x8000, 1, DATA, 16, R | N, 2); /* past the table */
	expect_bad_then_recover(f, 0);
}

static void test_too_many_segments(void **state)
{
	struct fx *f = *state;
	/* a full-size indirect table is fine; the limit is VIRTQ_MAX_SEGS */
	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc_at(f, 0x8000, (uint16_t)i, DATA + i, 1, R | (i + 1 < VIRTQ_MAX_SEGS ? N : 0),
		            (uint16_t)(i + 1));
	set_desc(f, 0, DATA, 1, R | N, 1);
	set_desc(f, 1, 0x8000, 16 * VIRTQ_MAX_SEGS, I, 0);
	expect_bad_then_recover(f, 0); /* 1 + 256 > 256 */
	set_desc(f, 2, 0x8000, 16 * VIRTQ_MAX_SEGS, I, 0);
	offer(f, 2);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.nr, VIRTQ_MAX_SEGS);
}

static void test_avail_idx_jump_is_fatal(void **state)
{
	struct fx *f = *state;
	make_blk_like_chain(f, 0);
	*avail16(f, 1) = QSIZE + 1;
	assert_int_equal(virtq_pop(&f->vq, &f->c), -EIO);
	*avail16(f, 1) = QSIZE; /* exactly a full ring is legal */
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
}

static void test_head_out_of_range_is_fatal(void **state)
{
	struct fx *f = *state;
	offer(f, QSIZE);
	assert_int_equal(virtq_pop(&f->vq, &f->c), -EIO);
}

static void test_activate_checks_rings(void **state)
{
	struct fx *f = *state;
	struct virtq vq = f->vq;
	vq.size = 12;
	assert_int_equal(virtq_activate(&vq, &f->gm), -EINVAL);
	vq.size = 0;
	assert_int_equal(virtq_activate(&vq, &f->gm), -EINVAL);
	vq.size = VIRTQ_MAX_SIZE * 2;
	assert_int_equal(virtq_activate(&vq, &f->gm), -EINVAL);
	vq = f->vq;
	vq.desc_gpa = DESC + 8;
	assert_int_equal(virtq_activate(&vq, &f->gm), -EFAULT);
	vq = f->vq;
	vq.used_gpa = RAM - 16; /* ring runs past the end */
	assert_int_equal(virtq_activate(&vq, &f->gm), -EFAULT);
	assert_false(vq.active);
	vq = f->vq;
	vq.avail_gpa = 0xfffffffffffffffeull;
	assert_int_equal(virtq_activate(&vq, &f->gm), -EFAULT);
}

static void test_inactive_queue_is_inert(void **state)
{
	struct fx *f = *state;
	make_blk_like_chain(f, 0);
	offer(f, 0);
	virtq_reset(&f->vq);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 0);
	push(&f->vq, 0, 1);
	assert_int_equal(used_idx(f), 0);
	assert_false(virtq_should_notify(&f->vq));
}

static void test_notify_without_event_idx(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 8, R, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_false(virtq_should_notify(&f->vq)); /* nothing pushed yet */
	push(&f->vq, 0, 0);
	assert_true(virtq_should_notify(&f->vq));
	*avail16(f, 0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	push(&f->vq, 0, 0);
	assert_false(virtq_should_notify(&f->vq));
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;
	f->vq.event_idx = true;
	uint16_t *avail_event = (uint16_t *)(f->ram + USED + 4 + 8 * QSIZE);
	uint16_t *used_event = avail16(f, 2 + QSIZE);
	set_desc(f, 0, DATA, 8, R, 0);

	*avail_event = 0xffff;
	assert_int_equal(virtq_pop(&f->vq, &f->c), 0);
	assert_int_equal(*avail_event, 0); /* asks to be kicked for entry 0 */

	*used_event = 0;
	for (int i = 0; i < 3; i++)
		offer(f, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 0);
	assert_int_equal(*avail_event, 3);

	push(&f->vq, 0, 0);                 /* used 0 -> 1, event 0 crossed */
	assert_true(virtq_should_notify(&f->vq));
	push(&f->vq, 0, 0);                 /* 1 -> 2, event 0 already passed */
	assert_false(virtq_should_notify(&f->vq));
	*used_event = 2;
	push(&f->vq, 0, 0);                 /* 2 -> 3 crosses 2 */
	assert_true(virtq_should_notify(&f->vq));
	/* the NO_INTERRUPT flag is ignored with event idx */
	*avail16(f, 0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*used_event = 3;
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	push(&f->vq, 0, 0);
	assert_true(virtq_should_notify(&f->vq));
}

static void test_unpop_and_batched_publish(void **state)
{
	struct fx *f = *state;
	set_desc(f, 0, DATA, 8, R, 0);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->c), 1);
	virtq_unpop(&f->vq, 1);
	assert_int_equal(virtq_pending(&f->vq), 1);
	virtq_add_used(&f->vq, 0, 1);
	virtq_add_used(&f->vq, 0, 2);
	assert_int_equal(used_idx(f), 0);
	virtq_publish_used(&f->vq);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(used_elem(f, 1).len, 2);
}

/* Garbage rings: whatever pop returns, every buffer lies inside RAM and
 * the walk ends (a hang would time the test out). */
static void test_random_rings_stay_inside_ram(void **state)
{
	struct fx *f = *state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned popped = 0, bad = 0, fatal = 0;
	for (int round = 0; round < 2000; round++) {
		for (unsigned i = 0; i < QSIZE; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			uint64_t addr = (x & 1) ? (x >> 8) % (RAM + 0x1000) : x;
			/* a table in RAM for indirect descriptors half the time */
			uint16_t flags = (uint16_t)((x >> 3) & 7);
			uint32_t len = (uint32_t)((x >> 20) % 0x3000);
			set_desc(f, (uint16_t)i, (flags & I) ? 0x8000 : addr, len, flags,
			         (uint16_t)((x >> 40) % (QSIZE + 2)));
			set_desc_at(f, 0x8000, (uint16_t)i, addr, len, (uint16_t)((x >> 50) & 7),
			            (uint16_t)((x >> 56) % (QSIZE + 2)));
		}
		offer(f, (uint16_t)(x % (QSIZE + 1)));
		int ret = virtq_pop(&f->vq, &f->c);
		if (ret == -EIO) {
			fatal++;
			virtq_reset(&f->vq);
			f->vq.size = QSIZE; f->vq.desc_gpa = DESC; f->vq.avail_gpa = AVAIL;
			f->vq.used_gpa = USED; f->vq.indirect = true;
			assert_int_equal(virtq_activate(&f->vq, &f->gm), 0);
			f->avail_idx = 0;
			*avail16(f, 1) = 0;
			continue;
		}
		assert_true(ret == 1 || ret == -EBADMSG);
		ret == 1 ? popped++ : bad++;
		for (unsigned i = 0; i < f->c.nr; i++) {
			uint8_t *p = f->c.iov[i].iov_base;
			assert_true(p >= f->ram && p + f->c.iov[i].iov_len <= f->ram + RAM);
		}
	}
	/* the generator reaches every outcome */
	assert_true(popped > 0 && bad > 0 && fatal > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

UNIT_TEST_MAIN(
	T(test_valid_chain_pop_push),
	T(test_ring_wraps),
	T(test_zero_length_descriptors_dropped),
	T(test_chain_read_spans_buffers),
	T(test_indirect_chain),
	T(test_direct_then_indirect),
	T(test_indirect_not_negotiated),
	T(test_loop_refused),
	T(test_self_loop_refused),
	T(test_next_out_of_range),
	T(test_buffer_outside_ram),
	T(test_readable_after_writable),
	T(test_readable_after_writable_indirect),
	T(test_indirect_in_indirect),
	T(test_indirect_bad_table),
	T(test_indirect_loop_and_range),
	T(test_too_many_segments),
	T(test_avail_idx_jump_is_fatal),
	T(test_head_out_of_range_is_fatal),
	T(test_activate_checks_rings),
	T(test_inactive_queue_is_inert),
	T(test_notify_without_event_idx),
	T(test_event_idx),
	T(test_unpop_and_batched_publish),
	T(test_random_rings_stay_inside_ram))
