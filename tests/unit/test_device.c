/* The device list (vmm/device.h) without KVM: slots, cmdline entries,
 * snapshot keys, finding by class and id, failure and teardown, with the
 * test-only virtio-null kind (virtio_null.c) and virtio-rng. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "unit_main.h"

#include "devices/virtio/rng.h"
#include "vdrv.h"
#include "virtio_null.h"
#include "vmm/config.h"
#include "vmm/device.h"
#include "vmm/snapshot/snapshot.h"

struct fx {
	struct vdrv d;
	struct virtio_env env;
	struct snapshot_state snap;
	struct device_list l;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	vdrv_mem_init(&f->d);
	/* no loop: the caller is the vmm thread (activation at once) */
	f->env = (struct virtio_env){ .gm = &f->d.gm, .mmio_base = 0xd0001000ull, .gsi_base = 5,
	                              .nr_slots = VMM_MAX_DEVICES };
	snapshot_state_init(&f->snap);
	vnull_destroyed = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	device_detach_all(&f->l);
	snapshot_state_destroy(&f->snap);
	free(f->d.ram);
	free(f);
	return 0;
}

static int attach(struct fx *f, const struct virtio_class *cls, const char *id)
{
	static const struct rate_limiter_config no_limit;
	return device_attach(&f->l, &f->env, &f->snap, cls, id, &no_limit);
}

static void test_attach_gives_slots_cmdline_and_keys(void **state)
{
	struct fx *f = *state;
	assert_int_equal(attach(f, &vnull_class, "a"), 0);
	assert_int_equal(attach(f, &rng_class, ""), 0);
	assert_int_equal(attach(f, &vnull_class, "b"), 0);
	assert_int_equal(f->l.nr, 3);
	assert_string_equal(f->l.cmdline, "virtio_mmio.device=4K@0xd0001000:5 "
	                                  "virtio_mmio.device=4K@0xd0002000:6 "
	                                  "virtio_mmio.device=4K@0xd0003000:7 ");
	assert_int_equal(f->snap.nr_devices, 3);
	assert_string_equal(f->snap.dev[0].name, "virtio-null:a");
	assert_string_equal(f->snap.dev[1].name, "virtio-rng");
	assert_string_equal(f->snap.dev[2].name, "virtio-null:b");
	/* found by class and id, never by position */
	assert_ptr_equal(device_find(&f->l, &vnull_class, "b"), f->l.devs[2].dev);
	assert_ptr_equal(device_find(&f->l, &rng_class, ""), f->l.devs[1].dev);
	assert_null(device_find(&f->l, &rng_class, "a"));
	assert_null(device_find(&f->l, &vnull_class, "c"));
}

/* A second device with a key already taken is refused and leaves nothing
 * behind: not in the list, its transport gone, the next slot still free. */
static void test_failed_attach_leaves_nothing(void **state)
{
	struct fx *f = *state;
	assert_int_equal(attach(f, &vnull_class, "a"), 0);
	assert_int_equal(attach(f, &vnull_class, "a"), -EEXIST);
	assert_int_equal(vnull_destroyed, 1);
	assert_int_equal(f->l.nr, 1);
	assert_int_equal(f->snap.nr_devices, 1);
	assert_string_equal(f->l.cmdline, "virtio_mmio.device=4K@0xd0001000:5 ");
	char long_id[VMM_DEVICE_ID_LEN + 1];
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(attach(f, &vnull_class, long_id), -ENAMETOOLONG);
	assert_int_equal(attach(f, &vnull_class, "b"), 0);
	assert_int_equal(f->l.devs[1].slot, 1);
}

static void test_slots_run_out(void **state)
{
	struct fx *f = *state;
	char id[8];
	for (int i = 0; i < VMM_MAX_DEVICES; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(attach(f, &vnull_class, id), 0);
	}
	assert_int_equal(attach(f, &vnull_class, "one-more"), -ENOSPC);
	assert_int_equal(f->l.nr, VMM_MAX_DEVICES);
	device_detach_all(&f->l);
	assert_int_equal(vnull_destroyed, VMM_MAX_DEVICES);
	assert_int_equal(f->l.nr, 0);
}

/* The attached device works through its transport like any other. */
static void test_null_device_answers_chains(void **state)
{
	struct fx *f = *state;
	assert_int_equal(attach(f, &vnull_class, "a"), 0);
	void *dev = device_find(&f->l, &vnull_class, "a");
	f->d.t = virtio_class_transport(&vnull_class, dev);
	assert_int_equal(vdrv_rd(&f->d, VMMIO_DEVICE_ID), VIRTIO_ID_NULL);
	assert_true(vdrv_negotiate(&f->d, 1ULL << 32) & VIRTIO_STATUS_FEATURES_OK);
	vdrv_queue(&f->d, 0, 0x10000);
	vdrv_driver_ok(&f->d);
	struct vdrv_buf out = { 0x40000, 64, false }, in = { 0x41000, 64, true };
	uint16_t h1 = vdrv_add(&f->d, 0, &out, 1), h2 = vdrv_add(&f->d, 0, &in, 1);
	virtio_mmio_handle_notify(f->d.t, 0);
	assert_int_equal(vnull_chains(dev), 2);
	uint32_t id, len;
	assert_true(vdrv_used(&f->d, 0, &id, &len));
	assert_int_equal(id, h1);
	assert_int_equal(len, 0);
	assert_true(vdrv_used(&f->d, 0, &id, &len));
	assert_int_equal(id, h2);
	assert_false(vdrv_used(&f->d, 0, &id, &len));
}

/* A kind with a list of devices makes its configuration once and adds to
 * it; with every slot of the vm_config taken there is none to make. */
static void test_config_device_make(void **state)
{
	(void)state;
	static const char owners[CONFIG_MAX_DEVICE_KINDS + 1];
	struct vm_config cfg;
	config_init(&cfg);
	int *first = config_device_make(&cfg, &owners[0], sizeof(int), free);
	assert_non_null(first);
	assert_int_equal(*first, 0);
	*first = 7;
	assert_ptr_equal(config_device_make(&cfg, &owners[0], sizeof(int), free), first);
	for (int i = 1; i < CONFIG_MAX_DEVICE_KINDS; i++)
		assert_non_null(config_device_make(&cfg, &owners[i], sizeof(int), free));
	assert_null(config_device_make(&cfg, &owners[CONFIG_MAX_DEVICE_KINDS], sizeof(int), free));
	assert_int_equal(*(int *)config_device(&cfg, &owners[0]), 7);
	config_free(&cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

UNIT_TEST_MAIN(
	T(test_attach_gives_slots_cmdline_and_keys),
	T(test_failed_attach_leaves_nothing),
	T(test_slots_run_out),
	T(test_null_device_answers_chains),
	cmocka_unit_test(test_config_device_make))
