/* The virtio-mmio transport's registers and status state machine, driven
 * through its bus ops with a fake device and no KVM. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_main.h"

#include "devices/virtio/chain.h"
#include "devices/virtio/mmio.h"
#include "vmm/bus.h"
#include "vmm/guest_mem.h"

#define RAM (1u << 20)

struct fake {
	int activates, resets, notifies, last_q;
	int resets_at_activate; /* the order the vmm thread ran them in */
	int activate_ret;
	uint8_t config[8];
};

static uint64_t fake_features(void *dev)
{
	(void)dev;
	return 1ull << 5 | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX);
}

static void fake_config_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct fake *f = dev;
	if (off < sizeof(f->config) && len <= sizeof(f->config) - off)
		memcpy(data, f->config + off, len);
}

static int fake_activate(void *dev)
{
	struct fake *f = dev;
	f->activates++;
	f->resets_at_activate = f->resets;
	return f->activate_ret;
}

static void fake_notify(void *dev, unsigned q)
{
	struct fake *f = dev;
	f->notifies++;
	f->last_q = (int)q;
}

static void fake_reset(void *dev)
{
	((struct fake *)dev)->resets++;
}

static const struct virtio_dev_ops fake_ops = {
	.name = "fake", .device_id = 42, .nr_queues = 2,
	.features = fake_features, .config_read = fake_config_read,
	.activate = fake_activate, .queue_notify = fake_notify, .reset = fake_reset,
};

struct recorded {
	int ioeventfds, irqfds;
	uint64_t addr[4], datamatch[4];
	unsigned gsi;
};

static int rec_ioeventfd(void *ctx, int efd, uint64_t addr, uint32_t len, uint64_t dm)
{
	struct recorded *r = ctx;
	(void)efd;
	assert_int_equal(len, 4);
	r->addr[r->ioeventfds] = addr;
	r->datamatch[r->ioeventfds++] = dm;
	return 0;
}

static int rec_irqfd(void *ctx, int efd, unsigned gsi)
{
	struct recorded *r = ctx;
	(void)efd;
	r->irqfds++;
	r->gsi = gsi;
	return 0;
}

struct fx {
	uint8_t *ram;
	struct guest_mem gm;
	struct virtio_mmio t;
	struct fake dev;
	struct recorded rec;
	struct bus bus;
	struct loop loop;
	bool has_loop;
};

/* without a loop the caller is the vmm thread: lifecycle work runs at once */
static int setup_with(void **state, bool with_loop)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->ram = calloc(1, RAM);
	assert_int_equal(gm_init_from(&f->gm, f->ram, RAM, 0xd0000000ull), 0);
	bus_init(&f->bus, "mmio");
	f->has_loop = with_loop;
	if (with_loop)
		assert_int_equal(loop_init(&f->loop), 0);
	struct virtio_env env = { .gm = &f->gm, .mmio_bus = &f->bus, .ioeventfd = rec_ioeventfd,
	                          .irqfd = rec_irqfd, .ctx = &f->rec, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16,
	                          .loop = with_loop ? &f->loop : NULL };
	assert_int_equal(virtio_mmio_init(&f->t, &env, 1, &fake_ops, &f->dev), 0);
	*state = f;
	return 0;
}

static int setup(void **state) { return setup_with(state, false); }
static int setup_loop(void **state) { return setup_with(state, true); }

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_mmio_destroy(&f->t);
	if (f->has_loop)
		loop_destroy(&f->loop);
	bus_destroy(&f->bus);
	free(f->ram);
	free(f);
	return 0;
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_ops.read(&f->t, off, &v, 4);
	return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(&f->t, off, &v, 4);
}

static bool efd_ready(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

static void negotiate(struct fx *f, uint64_t features)
{
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VMMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VMMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                    VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct fx *f, unsigned q, uint64_t desc)
{
	wr(f, VMMIO_QUEUE_SEL, q);
	wr(f, VMMIO_QUEUE_NUM, 16);
	wr(f, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(f, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(f, VMMIO_QUEUE_AVAIL_LOW, 0x2000);
	wr(f, VMMIO_QUEUE_AVAIL_HIGH, 0);
	wr(f, VMMIO_QUEUE_USED_LOW, 0x3000);
	wr(f, VMMIO_QUEUE_USED_HIGH, 0);
	wr(f, VMMIO_QUEUE_READY, 1);
}

#define OK_STATUS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define V1 VIRTIO_FEATURE(VIRTIO_F_VERSION_1)

static void go_live(struct fx *f)
{
	negotiate(f, V1 | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX));
	setup_queue(f, 0, 0x1000);
	wr(f, VMMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
}

static void test_identity_and_wiring(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, VMMIO_MAGIC), 0x74726976);
	assert_int_equal(rd(f, VMMIO_VERSION), 2);
	assert_int_equal(rd(f, VMMIO_DEVICE_ID), 42);
	assert_int_equal(rd(f, VMMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	/* no shared memory regions: length reads as all ones */
	assert_int_equal(rd(f, VMMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(f, VMMIO_SHM_LEN_HIGH), 0xffffffff);
	/* slot 1: second 4 KiB page, GSI base + 1, one ioeventfd per queue */
	assert_int_equal(f->rec.irqfds, 1);
	assert_int_equal(f->rec.gsi, 6);
	assert_int_equal(f->rec.ioeventfds, 2);
	assert_int_equal(f->rec.addr[0], 0xd0002050ull);
	assert_int_equal(f->rec.datamatch[0], 0);
	assert_int_equal(f->rec.datamatch[1], 1);
	const struct bus_range *r = bus_find(&f->bus, 0xd0002000ull);
	assert_non_null(r);
	assert_ptr_equal(r->opaque, &f->t);
	assert_int_equal(r->len, 0x1000);
}

static void test_cmdline_fragment(void **state)
{
	char buf[64];
	struct fx *f = *state;
	assert_true(virtio_mmio_cmdline(&f->t, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "virtio_mmio.device=4K@0xd0002000:6"); /* slot 1 */
	assert_true(virtio_mmio_cmdline_at(0xd0003000ull, 7, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "virtio_mmio.device=4K@0xd0003000:7");
	assert_int_equal(virtio_mmio_cmdline_at(0xd0001000ull, 5, buf, 10), -ENOSPC);
}

static void test_feature_words(void **state)
{
	struct fx *f = *state;
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(f, VMMIO_DEVICE_FEATURES), (1u << 5) | (1u << 29));
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VMMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	wr(f, VMMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(f, VMMIO_DEVICE_FEATURES), 0);
}

static void test_features_ok_needs_version_1(void **state)
{
	struct fx *f = *state;
	negotiate(f, 1u << 5); /* legacy driver: no VERSION_1 */
	assert_int_equal(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* DRIVER_OK without FEATURES_OK does not activate */
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->dev.activates, 0);
}

static void test_features_ok_refuses_unoffered_bits(void **state)
{
	struct fx *f = *state;
	negotiate(f, V1 | (1u << 7));
	assert_int_equal(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	wr(f, VMMIO_STATUS, 0);
	negotiate(f, V1 | (1u << 5));
	assert_int_equal(rd(f, VMMIO_STATUS), OK_STATUS);
	assert_int_equal(f->t.driver_features, V1 | (1u << 5));
	/* frozen after FEATURES_OK */
	wr(f, VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VMMIO_DRIVER_FEATURES, 0);
	assert_int_equal(f->t.driver_features, V1 | (1u << 5));
}

static void test_queue_registers(void **state)
{
	struct fx *f = *state;
	/* before FEATURES_OK queue writes are ignored */
	setup_queue(f, 0, 0x1000);
	assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
	negotiate(f, V1 | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX));
	wr(f, VMMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(f, VMMIO_QUEUE_SEL, 2); /* the device has two queues */
	assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 0);
	setup_queue(f, 0, 0x1000);
	assert_int_equal(rd(f, VMMIO_QUEUE_READY), 1);
	assert_int_equal(f->t.vq[0].desc_gpa, 0x1000);
	assert_true(f->t.vq[0].event_idx);
	assert_false(f->t.vq[0].indirect);
	/* no changes while ready */
	wr(f, VMMIO_QUEUE_DESC_LOW, 0x5000);
	assert_int_equal(f->t.vq[0].desc_gpa, 0x1000);
	/* a ring outside RAM is refused: ready stays 0 */
	setup_queue(f, 1, 0x100000000ull);
	assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
	/* a ring size over the maximum is refused too */
	wr(f, VMMIO_QUEUE_NUM, 1024);
	wr(f, VMMIO_QUEUE_DESC_LOW, 0x4000);
	wr(f, VMMIO_QUEUE_DESC_HIGH, 0);
	wr(f, VMMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
}

static void test_driver_ok_activates_and_notify_goes_to_vmm_thread(void **state)
{
	struct fx *f = *state;
	go_live(f);
	assert_int_equal(rd(f, VMMIO_STATUS), OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->dev.activates, 1);
	assert_true(virtio_mmio_live(&f->t));
	/* a notify that reaches the bus only signals the queue's eventfd */
	assert_false(efd_ready(f->t.notify_efd[0]));
	wr(f, VMMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->dev.notifies, 0);
	assert_true(efd_ready(f->t.notify_efd[0]));
	wr(f, VMMIO_QUEUE_NOTIFY, 7); /* no such queue: ignored */
	virtio_mmio_handle_notify(&f->t, 0);
	assert_int_equal(f->dev.notifies, 1);
	assert_int_equal(f->dev.last_q, 0);
	/* queue 1 was never made ready: no work for it */
	virtio_mmio_handle_notify(&f->t, 1);
	assert_int_equal(f->dev.notifies, 1);
}

static void test_driver_ok_without_queue_needs_reset(void **state)
{
	struct fx *f = *state;
	negotiate(f, V1);
	wr(f, VMMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_true(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	assert_true(efd_ready(f->t.irq_efd));
	assert_false(virtio_mmio_live(&f->t));
}

static void test_activate_failure_needs_reset(void **state)
{
	struct fx *f = *state;
	f->dev.activate_ret = -EINVAL;
	go_live(f);
	assert_true(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	virtio_mmio_handle_notify(&f->t, 0);
	assert_int_equal(f->dev.notifies, 0);
}

static void test_status_bits_only_cleared_by_reset(void **state)
{
	struct fx *f = *state;
	go_live(f);
	wr(f, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(rd(f, VMMIO_STATUS), OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->dev.resets, 0);
}

static void test_failed_stops_work(void **state)
{
	struct fx *f = *state;
	go_live(f);
	wr(f, VMMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED);
	assert_true(rd(f, VMMIO_STATUS) & VIRTIO_STATUS_FAILED);
	virtio_mmio_handle_notify(&f->t, 0);
	assert_int_equal(f->dev.notifies, 0);
}

static void test_reset_drops_queues_and_features(void **state)
{
	struct fx *f = *state;
	go_live(f);
	virtio_mmio_lock(&f->t);
	virtio_mmio_notify_used(&f->t, 0, true);
	virtio_mmio_unlock(&f->t);
	wr(f, VMMIO_STATUS, 0);
	assert_int_equal(f->dev.resets, 1);
	assert_int_equal(rd(f, VMMIO_STATUS), 0);
	assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), 0);
	wr(f, VMMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
	assert_false(f->t.vq[0].active);
	assert_int_equal(f->t.driver_features, 0);
	virtio_mmio_handle_notify(&f->t, 0);
	assert_int_equal(f->dev.notifies, 0);
	/* and the device can be brought up again */
	go_live(f);
	assert_int_equal(f->dev.activates, 2);
	assert_true(virtio_mmio_live(&f->t));
}

/* With a vmm thread, a vCPU's status write only asks: activation and
 * reset (which may wait for host I/O) run when the loop does, a pending
 * reset before a pending activation, and a request completing in between
 * is not pushed into rings the driver has taken back. */
static void test_lifecycle_runs_on_the_vmm_thread(void **state)
{
	struct fx *f = *state;
	go_live(f);
	assert_int_equal(rd(f, VMMIO_STATUS), OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->dev.activates, 0);
	assert_false(virtio_mmio_live(&f->t));
	assert_int_equal(loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(f->dev.activates, 1);
	assert_true(virtio_mmio_live(&f->t));

	struct vchain_vq a;
	struct vchain_queue q = vchain_vq_init(&a, &f->t, 0);
	wr(f, VMMIO_STATUS, 0);
	assert_int_equal(rd(f, VMMIO_STATUS), 0); /* the registers at once */
	assert_int_equal(f->dev.resets, 0);       /* the device later */
	virtio_mmio_lock(&f->t);
	q.ops->push(q.q, 3, 512); /* a late completion */
	q.ops->publish(q.q);
	virtio_mmio_unlock(&f->t);
	uint16_t used_idx;
	memcpy(&used_idx, f->ram + 0x3000 + 2, 2);
	assert_int_equal(used_idx, 0);
	assert_false(efd_ready(f->t.irq_efd));

	/* the driver starts over before the vmm thread got to the reset */
	go_live(f);
	assert_int_equal(loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(f->dev.resets, 1);
	assert_int_equal(f->dev.activates, 2);
	assert_int_equal(f->dev.resets_at_activate, 1);
	assert_true(virtio_mmio_live(&f->t));
}

static void test_interrupt_status_and_ack(void **state)
{
	struct fx *f = *state;
	go_live(f);
	drain(f->t.irq_efd);
	virtio_mmio_lock(&f->t);
	virtio_mmio_notify_used(&f->t, 0, true);
	virtio_mmio_unlock(&f->t);
	assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), VIRTIO_INT_USED);
	assert_true(efd_ready(f->t.irq_efd));
	wr(f, VMMIO_INTERRUPT_ACK, VIRTIO_INT_USED);
	assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), 0);
	/* not forced and nothing used: no interrupt */
	drain(f->t.irq_efd);
	virtio_mmio_lock(&f->t);
	virtio_mmio_notify_used(&f->t, 0, false);
	virtio_mmio_unlock(&f->t);
	assert_false(efd_ready(f->t.irq_efd));
}

static void test_config_space_and_odd_widths(void **state)
{
	struct fx *f = *state;
	memcpy(f->dev.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	uint8_t b = 0;
	virtio_mmio_ops.read(&f->t, VMMIO_CONFIG + 2, &b, 1);
	assert_int_equal(b, 0x33);
	uint64_t q = 0;
	virtio_mmio_ops.read(&f->t, VMMIO_CONFIG, &q, 8);
	assert_int_equal(q, 0x8877665544332211ull);
	uint32_t w = 0xffffffff;
	virtio_mmio_ops.read(&f->t, VMMIO_CONFIG + 0x200, &w, 4); /* past the device's config */
	assert_int_equal(w, 0);
	assert_int_equal(rd(f, VMMIO_CONFIG_GENERATION), 0);
	/* registers are 32-bit only: a byte read gives 0, a byte write nothing */
	b = 0xff;
	virtio_mmio_ops.read(&f->t, VMMIO_MAGIC, &b, 1);
	assert_int_equal(b, 0);
	b = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_ops.write(&f->t, VMMIO_STATUS, &b, 1);
	assert_int_equal(rd(f, VMMIO_STATUS), 0);
	/* unaligned word: ignored */
	assert_int_equal(rd(f, VMMIO_MAGIC + 2), 0);
}

static void test_init_refuses_bad_slot(void **state)
{
	struct fx *f = *state;
	struct virtio_mmio t;
	struct virtio_env env = { .gm = &f->gm, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	assert_int_equal(virtio_mmio_init(&t, &env, 16, &fake_ops, &f->dev), -EINVAL);
	/* the slot of another device on the same bus */
	env.mmio_bus = &f->bus;
	assert_int_equal(virtio_mmio_init(&t, &env, 1, &fake_ops, &f->dev), -EEXIST);
}

static void test_save_restore(void **state)
{
	struct fx *f = *state;
	go_live(f);
	f->t.vq[0].last_avail = 7;
	f->t.vq[0].used_idx = 5;
	virtio_mmio_lock(&f->t);
	virtio_mmio_notify_used(&f->t, 0, true);
	virtio_mmio_unlock(&f->t);
	struct virtio_mmio_state s;
	virtio_mmio_save(&f->t, &s);

	/* a fresh transport of the same kind takes it */
	struct virtio_mmio t2;
	struct fake dev2 = { 0 };
	struct virtio_env env = { .gm = &f->gm, .mmio_base = 0xd0001000ull, .gsi_base = 5, .nr_slots = 16 };
	assert_int_equal(virtio_mmio_init(&t2, &env, 2, &fake_ops, &dev2), 0);
	assert_int_equal(virtio_mmio_restore(&t2, &s), 0);
	assert_int_equal(t2.status, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(t2.isr, VIRTIO_INT_USED);
	assert_true(t2.vq[0].active);
	assert_int_equal(t2.vq[0].last_avail, 7);
	assert_int_equal(t2.vq[0].used_idx, 5);
	assert_true(t2.vq[0].event_idx);
	assert_false(t2.vq[1].active);
	assert_true(virtio_mmio_live(&t2));
	virtio_mmio_handle_notify(&t2, 0);
	assert_int_equal(dev2.notifies, 1);

	/* bad states are refused and change nothing */
	struct virtio_mmio_state bad = s;
	bad.q[0].used = 0x100000000ull; /* ring outside RAM */
	assert_int_equal(virtio_mmio_restore(&t2, &bad), -EINVAL);
	assert_int_equal(t2.vq[0].used_gpa, 0x3000);
	bad = s;
	bad.driver_features |= 1ull << 40; /* never offered */
	assert_int_equal(virtio_mmio_restore(&t2, &bad), -EINVAL);
	bad = s;
	bad.device_id = 1;
	assert_int_equal(virtio_mmio_restore(&t2, &bad), -EINVAL);
	bad = s;
	bad.q[0].size = 3;
	assert_int_equal(virtio_mmio_restore(&t2, &bad), -EINVAL);
	bad = s;
	bad.q[0].indirect = 1; /* not negotiated */
	assert_int_equal(virtio_mmio_restore(&t2, &bad), -EINVAL);
	assert_int_equal(t2.vq[0].last_avail, 7);
	virtio_mmio_destroy(&t2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

UNIT_TEST_MAIN(
	T(test_identity_and_wiring),
	T(test_cmdline_fragment),
	T(test_feature_words),
	T(test_features_ok_needs_version_1),
	T(test_features_ok_refuses_unoffered_bits),
	T(test_queue_registers),
	T(test_driver_ok_activates_and_notify_goes_to_vmm_thread),
	T(test_driver_ok_without_queue_needs_reset),
	T(test_activate_failure_needs_reset),
	T(test_status_bits_only_cleared_by_reset),
	T(test_failed_stops_work),
	T(test_reset_drops_queues_and_features),
	cmocka_unit_test_setup_teardown(test_lifecycle_runs_on_the_vmm_thread, setup_loop, teardown),
	T(test_interrupt_status_and_ack),
	T(test_config_space_and_odd_widths),
	T(test_init_refuses_bad_slot),
	T(test_save_restore))
