/* The device configuration a snapshot carries: round trip (rate limiters
 * included), overrides, and hostile sections refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit_main.h"

#include <jansson.h>

#include "devices/mmds/mmds.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "vmm/config.h"
#include "vmm/snapshot/vm_config.h"

static void fill(struct vm_config *c)
{
	config_init(c);
	struct drive_configs *drives = drive_configs_in(c);
	assert_non_null(drives);
	drives->nr = 1;
	drives->items[0] = (struct drive_config){ .drive_id = strdup("rootfs"), .path_on_host = strdup("/tmp/r.img"),
		                                  .is_root_device = true, .io_engine = IO_ENGINE_ASYNC };
	drives->items[0].rate_limiter.ops = (struct token_bucket_config){ true, 20, 5, 100 };
	struct net_configs *nets = net_configs_in(c);
	assert_non_null(nets);
	nets->nr = 1;
	nets->items[0] = (struct net_config){ .iface_id = strdup("eth0"), .host_dev_name = strdup("tap0"),
		                              .has_mac = true, .guest_mac = { 6, 0, 0xac, 0x10, 0, 2 } };
	nets->items[0].tx_rate_limiter.bandwidth = (struct token_bucket_config){ true, 1 << 20, 0, 1000 };
	struct rng_config *rng = calloc(1, sizeof(*rng));
	assert_non_null(rng);
	rng->rate_limiter.bandwidth = (struct token_bucket_config){ true, 4096, 0, 50 };
	assert_int_equal(rng_config_set(c, rng), 0);
	struct mmds_config *mmds = malloc(sizeof(*mmds));
	assert_non_null(mmds);
	*mmds = (struct mmds_config){ .version = 2, .ipv4 = 0xa9fe0102, .imds_compat = true,
	                              .nr_ifaces = 1, .ifaces = { strdup("eth0") } };
	assert_int_equal(mmds_config_set(c, mmds), 0);
}

static void test_round_trip_with_limiters(void **state)
{
	(void)state;
	struct vm_config a, b;
	char *json = NULL, err[256] = "";
	struct snapshot_load_params p = { 0 };
	fill(&a);
	assert_int_equal(snapshot_vm_config_encode(&a, &json), 0);
	config_init(&b);
	assert_int_equal(snapshot_vm_config_apply((const uint8_t *)json, strlen(json), &b, &p, err, sizeof(err)), 0);
	const struct drive_configs *drives = drive_configs_of(&b);
	assert_non_null(drives);
	assert_int_equal(drives->nr, 1);
	const struct drive_config *d = &drives->items[0];
	assert_string_equal(d->path_on_host, "/tmp/r.img");
	assert_int_equal(d->io_engine, IO_ENGINE_ASYNC);
	assert_true(d->rate_limiter.ops.set);
	assert_int_equal(d->rate_limiter.ops.size, 20);
	assert_int_equal(d->rate_limiter.ops.one_time_burst, 5);
	assert_int_equal(d->rate_limiter.ops.refill_time_ms, 100);
	assert_false(d->rate_limiter.bandwidth.set);
	const struct net_configs *nets = net_configs_of(&b);
	assert_non_null(nets);
	assert_int_equal(nets->nr, 1);
	assert_true(nets->items[0].tx_rate_limiter.bandwidth.set);
	assert_int_equal(nets->items[0].tx_rate_limiter.bandwidth.size, 1 << 20);
	assert_false(nets->items[0].rx_rate_limiter.bandwidth.set || nets->items[0].rx_rate_limiter.ops.set);
	assert_non_null(rng_config_of(&b));
	assert_int_equal(rng_config_of(&b)->rate_limiter.bandwidth.refill_time_ms, 50);
	/* MMDS's configuration travels with the devices */
	const struct mmds_config *bm = mmds_config_of(&b);
	assert_non_null(bm);
	assert_int_equal(bm->version, 2);
	assert_int_equal(bm->ipv4, 0xa9fe0102);
	assert_true(bm->imds_compat);
	assert_int_equal(bm->nr_ifaces, 1);
	assert_string_equal(bm->ifaces[0], "eth0");
	free(json);
	config_free(&a);
	config_free(&b);
}

/* Apply json with overrides (a JSON text) onto a fresh config: the result. */
static int apply_with(const char *json, const char *overrides, struct vm_config *out, char *err, size_t errlen)
{
	json_t *ov = json_loads(overrides, 0, NULL);
	assert_non_null(ov);
	struct snapshot_load_params p = { .device_overrides = ov };
	config_init(out);
	int ret = snapshot_vm_config_apply((const uint8_t *)json, strlen(json), out, &p, err, errlen);
	json_decref(ov);
	return ret;
}

/* A clone's own vsock socket and taps: "vsock_override" re-points the
 * restored device's uds_path (its resource's load_override_apply) and
 * keeps its CID, "network_overrides" an interface's tap; refused, naming
 * the key, when the snapshot has no such device or the key is no
 * device's override. */
static void test_device_overrides(void **state)
{
	(void)state;
	struct vm_config a, b;
	char *json = NULL, err[256] = "";
	fill(&a);
	struct vsock_config *v = calloc(1, sizeof(*v));
	*v = (struct vsock_config){ .guest_cid = 7, .uds_path = strdup("/tmp/orig.sock") };
	assert_int_equal(vsock_config_set(&a, v), 0);
	assert_int_equal(snapshot_vm_config_encode(&a, &json), 0);
	assert_int_equal(apply_with(json, "{\"vsock_override\": {\"uds_path\": \"/tmp/clone.sock\"}}", &b, err,
	                            sizeof(err)), 0);
	assert_non_null(vsock_config_of(&b));
	assert_int_equal(vsock_config_of(&b)->guest_cid, 7);
	assert_string_equal(vsock_config_of(&b)->uds_path, "/tmp/clone.sock");
	config_free(&b);
	/* a clone's own tap, by interface id */
	assert_int_equal(apply_with(json, "{\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap9\"}]}",
	                            &b, err, sizeof(err)), 0);
	assert_string_equal(net_configs_of(&b)->items[0].host_dev_name, "tap9");
	assert_string_equal(net_configs_of(&b)->items[0].iface_id, "eth0");
	config_free(&b);
	assert_int_equal(apply_with(json, "{\"network_overrides\": [{\"iface_id\": \"eth1\", \"host_dev_name\": \"t\"}]}",
	                            &b, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "network_overrides: the snapshot has no interface 'eth1'");
	config_free(&b);
	assert_int_equal(apply_with(json, "{\"pmem_override\": {}}", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pmem_override"));
	config_free(&b);
	free(json);
	config_free(&a);
	/* a snapshot without a vsock */
	fill(&a);
	assert_int_equal(snapshot_vm_config_encode(&a, &json), 0);
	assert_int_equal(apply_with(json, "{\"vsock_override\": {\"uds_path\": \"/v\"}}", &b, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "vsock_override: the snapshot has no vsock device");
	config_free(&b);
	free(json);
	config_free(&a);
}

static void test_hostile_sections_refused(void **state)
{
	(void)state;
	/* each with the field the refusal must name */
	static const char *const bad[][2] = {
		{ "", "not JSON" },
		{ "[]", "drives" },
		{ "{\"drives\": 1, \"network-interfaces\": []}", "drives" },
		{ "{\"drives\": [], \"network_interfaces\": []}", "network_interfaces" }, /* unknown key */
		{ "{\"drives\": [{\"drive_id\": \"a\"}], \"network-interfaces\": []}", "path_on_host" },
		{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_root_device\": true,"
		  " \"cache_type\": \"Unsafe\", \"io_engine\": \"Sync\","
		  " \"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 100}}}],"
		  " \"network-interfaces\": []}", "rate_limiter" },
		{ "{\"drives\": [], \"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"t\","
		  " \"guest_mac\": \"zz\"}]}", "guest_mac" },
		{ "{\"drives\": [], \"network-interfaces\": [], \"vsock\": {\"guest_cid\": 1, \"uds_path\": \"/v\"}}",
		  "guest_cid" },
		{ "{\"drives\": [], \"network-interfaces\": [],"
		  " \"entropy\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}}", "refill_time" },
		{ "{\"drives\": [], \"network-interfaces\": [],"
		  " \"mmds-config\": {\"network_interfaces\": [\"eth0\"]}}", "mmds-config" },
		{ "{\"drives\": [], \"network-interfaces\": [],"
		  " \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"ipv4_address\": \"8.8.8.8\"}}", "ipv4_address" },
		/* the PUT's store step checks the devices against each other here too */
		{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_root_device\": true},"
		  " {\"drive_id\": \"b\", \"path_on_host\": \"/y\", \"is_root_device\": true}],"
		  " \"network-interfaces\": []}", "drives[1]: Drive config error: A root block device already exists!" },
		{ "{\"drives\": [], \"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"t\"},"
		  " {\"iface_id\": \"f\", \"host_dev_name\": \"t\"}]}", "network-interfaces[1]: Network config error: Could not create the network device" },
		{ "{\"drives\": [], \"network-interfaces\": [], \"machine-config\": {}}", "machine-config: not a device" },
		{ "{\"network-interfaces\": []}", "drives: missing" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_config c;
		char err[256] = "";
		struct snapshot_load_params p = { 0 };
		config_init(&c);
		assert_int_equal(snapshot_vm_config_apply((const uint8_t *)bad[i][0], strlen(bad[i][0]), &c, &p,
		                                          err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i][1]))
			fail_msg("case %zu: '%s' does not name %s", i, err, bad[i][1]);
		config_free(&c);
	}
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_round_trip_with_limiters),
	cmocka_unit_test(test_device_overrides),
	cmocka_unit_test(test_hostile_sections_refused))
