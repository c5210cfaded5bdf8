/* The API resources: each parser with a good body, an unknown field, a
 * wrong type and an out-of-range value; the router's 400s; the
 * pre-boot/post-boot state rules of the apply step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "api_fixture.h"
#include "unit_main.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/resource.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/vsock.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"
#include "vdrv.h"

static json_t *js(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	assert_non_null(o);
	return o;
}

/* Run a parser through the router as a PUT/PATCH of path with body. */
static int route(enum http_method m, const char *path, const char *body, struct api_request *r,
                 struct api_reply *rep)
{
	struct http_request req = { .method = m };
	snprintf(req.url, sizeof(req.url), "%s", path);
	req.body = (char *)body;
	req.body_len = body ? strlen(body) : 0;
	free(rep->body);
	rep->body = NULL;
	rep->status = 0;
	return api_route_parse(&req, r, rep);
}

/* The fault_message of rep must contain want. */
static void assert_fault(const struct api_reply *rep, int status, const char *want)
{
	assert_int_equal(rep->status, status);
	assert_non_null(rep->body);
	json_t *o = json_loads(rep->body, 0, NULL);
	const char *m = json_string_value(json_object_get(o, "fault_message"));
	assert_non_null(m);
	if (!strstr(m, want))
		fail_msg("fault_message '%s' lacks '%s'", m, want);
	json_decref(o);
}

/* method path body must be refused with 400 and exactly the words want. */
static void refused_with(enum http_method m, const char *path, const char *body, const char *want)
{
	struct api_request r;
	struct api_reply rep = { 0, NULL };
	assert_int_equal(route(m, path, body, &r, &rep), 0);
	assert_int_equal(rep.status, 400);
	json_t *o = json_loads(rep.body, 0, NULL);
	const char *got = json_string_value(json_object_get(o, "fault_message"));
	if (!got || strcmp(got, want) != 0)
		fail_msg("fault_message '%s', not '%s'", got ? got : "(none)", want);
	json_decref(o);
	free(rep.body);
}

/* PUT path body must be refused with 400 naming want. */
static void refused(enum http_method m, const char *path, const char *body, const char *want)
{
	struct api_request r;
	struct api_reply rep = { 0, NULL };
	assert_int_equal(route(m, path, body, &r, &rep), 0);
	assert_fault(&rep, 400, want);
	free(rep.body);
}

static void accepted(enum http_method m, const char *path, const char *body, struct api_request *r)
{
	struct api_reply rep = { 0, NULL };
	int ret = route(m, path, body, r, &rep);
	if (ret != 1)
		fail_msg("%s refused: %s", body, rep.body ? rep.body : "");
	free(rep.body);
}

static void test_machine_config(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/machine-config",
	         "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": false, \"track_dirty_pages\": true,"
	         " \"huge_pages\": \"2M\"}", &r);
	assert_ptr_equal(r.method, api_resource_by_path("/machine-config")->put);
	assert_int_equal(r.machine.m.vcpu_count, 2);
	assert_int_equal(r.machine.m.mem_size_mib, 256);
	assert_true(r.machine.m.track_dirty_pages);
	assert_true(r.machine.m.huge_pages_2m);
	api_request_free(&r);
	accepted(HTTP_PATCH, "/machine-config", "{\"mem_size_mib\": 512}", &r);
	assert_int_equal(r.machine.set, MACHINE_MEM);
	api_request_free(&r);
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"vcpus\": 1}",
	        "unknown field `vcpus`");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 256}", "vcpu_count");
	/* Firecracker's vcpu_count is a u8: over 255 serde_json refuses it */
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 256, \"mem_size_mib\": 256}", "vcpu_count: must be an integer in 0..255");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 256}",
	             "Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 or "
	             "an even number if SMT is enabled. (vcpu_count 33)");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 256}", "vcpu_count 0");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}",
	             "Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured "
	             "page size. (mem_size_mib 0)");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": -1}", "mem_size_mib");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1}", "missing field `mem_size_mib`");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"smt\": 1}", "smt");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"huge_pages\": \"1G\"}",
	        "huge_pages");
	refused(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"cpu_template\": \"T3\"}",
	        "cpu_template");
	/* Firecracker's names parse; whether the host's vendor runs one is the apply step's */
	accepted(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"cpu_template\": \"T2CL\"}", &r);
	assert_int_equal(r.machine.m.cpu_template, CPU_TEMPLATE_T2CL);
	assert_true(r.machine.set & MACHINE_TEMPLATE);
	api_request_free(&r);
}

static void test_boot_source(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/k\", \"boot_args\": \"console=ttyS0\"}", &r);
	assert_string_equal(r.boot.kernel_image_path, "/k");
	assert_string_equal(r.boot.boot_args, "console=ttyS0");
	assert_null(r.boot.initrd_path);
	api_request_free(&r);
	refused(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/k\", \"kernel\": \"/k\"}", "unknown field `kernel`");
	refused(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": 7}", "kernel_image_path");
	refused(HTTP_PUT, "/boot-source", "{\"boot_args\": \"x\"}", "missing field `kernel_image_path`");
	refused(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"\"}", "kernel_image_path");
}

static void test_drives(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/drives/rootfs",
	         "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/img\", \"is_root_device\": true,"
	         " \"is_read_only\": true, \"cache_type\": \"Writeback\", \"io_engine\": \"Async\","
	         " \"rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100}}}", &r);
	const struct drive_config *d = r.device_config;
	assert_string_equal(d->drive_id, "rootfs");
	assert_true(d->is_root_device && d->is_read_only);
	assert_int_equal(d->cache_type, CACHE_WRITEBACK);
	assert_int_equal(d->io_engine, IO_ENGINE_ASYNC);
	assert_true(d->rate_limiter.bandwidth.set);
	assert_int_equal(d->rate_limiter.bandwidth.size, 1000);
	assert_int_equal(d->rate_limiter.bandwidth.refill_time_ms, 100);
	api_request_free(&r);
	accepted(HTTP_PATCH, "/drives/d1", "{\"drive_id\": \"d1\", \"path_on_host\": \"/new\"}", &r);
	assert_ptr_equal(r.method, api_resource_by_path("/drives")->patch);
	assert_string_equal(((const struct drive_patch *)r.device_config)->path_on_host, "/new");
	api_request_free(&r);
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/i\", \"is_root_device\": false}",
	        "The id from the path does not match the id from the body!");
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": false,"
	        " \"socket\": \"/s\"}", "unknown field `socket`");
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": \"no\"}",
	        "is_root_device");
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": false,"
	        " \"io_engine\": \"Fast\"}", "io_engine: must be one of");
	/* Firecracker: a size or refill_time of 0 is "no limit", not an error */
	struct api_request nolimit;
	accepted(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": false,"
	         " \"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 0},"
	         " \"ops\": {\"size\": 0, \"refill_time\": 10}}}", &nolimit);
	const struct rate_limiter_config *rl = &((const struct drive_config *)nolimit.device_config)->rate_limiter;
	assert_true(rl->bandwidth.set && rl->ops.set);
	assert_false(token_bucket_config_in_force(&rl->bandwidth));
	assert_false(token_bucket_config_in_force(&rl->ops));
	api_request_free(&nolimit);
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": false,"
	        " \"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": -1}}}", "rate_limiter: bandwidth: refill_time");
	refused(HTTP_PUT, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/i\", \"is_root_device\": false,"
	        " \"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1, \"x\": 1}}}", "unknown field `x`");
	refused(HTTP_PUT, "/drives/a%2F..", "{\"drive_id\": \"a%2F..\", \"path_on_host\": \"/i\", \"is_root_device\": false}",
	        "API Resource IDs can only contain alphanumeric characters and underscores. (drive_id)");
	refused(HTTP_PATCH, "/drives/a", "{\"drive_id\": \"a\", \"is_read_only\": true}", "unknown field `is_read_only`");
}

static void test_network(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/network-interfaces/eth0",
	         "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"06:00:ac:10:00:02\"}", &r);
	const struct net_config *n = r.device_config;
	assert_string_equal(n->host_dev_name, "tap0");
	assert_true(n->has_mac);
	assert_int_equal(n->guest_mac[5], 2);
	api_request_free(&r);
	refused(HTTP_PUT, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mac\": 1}",
	        "unknown field `mac`");
	refused(HTTP_PUT, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"zz\"}",
	        "guest_mac");
	refused(HTTP_PUT, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"a-very-long-tap-name\"}",
	        "host_dev_name");
	refused(HTTP_PUT, "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": [1]}", "host_dev_name");
	accepted(HTTP_PATCH, "/network-interfaces/eth0",
	         "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 1000}}}", &r);
	const struct net_patch *p = r.device_config;
	assert_true(p->has_rx && !p->has_tx);
	assert_int_equal(p->rx.ops.size, 10);
	api_request_free(&r);
}

static void test_small_resources(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}", &r);
	assert_int_equal(((struct vsock_config *)r.device_config)->guest_cid, 3);
	api_request_free(&r);
	refused(HTTP_PUT, "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/tmp/v.sock\"}", "guest_cid: must be an integer in 3..");
	refused(HTTP_PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\", \"port\": 1}", "unknown field `port`");
	refused(HTTP_PUT, "/vsock", "{\"guest_cid\": 5000000000, \"uds_path\": \"/v\"}", "guest_cid");

	accepted(HTTP_PUT, "/entropy", "{}", &r);
	api_request_free(&r);
	refused(HTTP_PUT, "/entropy", "{\"rate\": 1}", "unknown field `rate`");

	accepted(HTTP_PUT, "/logger", "{\"log_path\": \"/tmp/l\", \"level\": \"Debug\", \"show_level\": true}", &r);
	assert_true(r.logger.has_level);
	assert_int_equal(r.logger.level, LOG_DEBUG);
	api_request_free(&r);
	refused(HTTP_PUT, "/logger", "{\"level\": \"Loud\"}", "level");
	refused(HTTP_PUT, "/logger", "{\"show_level\": \"yes\"}", "show_level");
	refused(HTTP_PUT, "/logger", "{\"colour\": true}", "unknown field `colour`");

	refused(HTTP_PUT, "/metrics", "{}", "missing field `metrics_path`");
	refused(HTTP_PUT, "/metrics", "{\"metrics_path\": \"/m\", \"period\": 1}", "unknown field `period`");

	accepted(HTTP_PUT, "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", &r);
	assert_int_equal(r.action, ACTION_SEND_CTRL_ALT_DEL);
	api_request_free(&r);
	refused(HTTP_PUT, "/actions", "{\"action_type\": \"Reboot\"}", "action_type: must be one of");
	refused(HTTP_PUT, "/actions", "{\"action_type\": 1}", "action_type");
	refused(HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\", \"now\": true}", "unknown field `now`");

	accepted(HTTP_PATCH, "/vm", "{\"state\": \"Resumed\"}", &r);
	assert_false(r.pause);
	api_request_free(&r);
	refused(HTTP_PATCH, "/vm", "{\"state\": \"Stopped\"}", "state");

	accepted(HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"/s\","
	                                       " \"mem_file_path\": \"/m\"}", &r);
	assert_int_equal(r.snap_create.type, SNAPSHOT_DIFF);
	api_request_free(&r);
	refused(HTTP_PUT, "/snapshot/create", "{\"snapshot_path\": \"/s\"}", "missing field `mem_file_path`");
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\","
	                                     " \"backend_path\": \"/u\"}, \"resume_vm\": true}", &r);
	assert_int_equal(r.snap_load.backend, SNAPSHOT_MEM_UFFD);
	assert_true(r.snap_load.resume_vm);
	api_request_free(&r);
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Disk\","
	                                    " \"backend_path\": \"/u\"}}", "mem_backend: backend_type");
	/* a device's override is its resource's key, checked by it */
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	                                     " \"vsock_override\": {\"uds_path\": \"/c.sock\"}}", &r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.snap_load.device_overrides,
	                                                                      "vsock_override"), "uds_path")),
	                    "/c.sock");
	api_request_free(&r);
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"vsock_override\": {\"uds\": \"/c\"}}", "vsock_override: unknown field `uds`");
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"vsock_override\": {}}", "vsock_override: missing field `uds_path`");
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"pmem_override\": {}}", "unknown field `pmem_override`");
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"network_overrides\": {}}", "network_overrides: must be an array");
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"network_overrides\": [{\"iface_id\": \"eth0\"}]}", "network_overrides[0]: missing field `host_dev_name`");
	accepted(HTTP_PUT, "/serial", "{\"serial_out_path\": \"/tmp/s\"}", &r);
	assert_string_equal(r.serial.out_path, "/tmp/s");
	assert_false(r.serial.rate_limiter.set);
	api_request_free(&r);
	/* both optional, as in Firecracker: no path keeps stdout */
	accepted(HTTP_PUT, "/serial", "{\"rate_limiter\": {\"size\": 1024, \"refill_time\": 100}}", &r);
	assert_null(r.serial.out_path);
	assert_true(r.serial.rate_limiter.set);
	assert_int_equal(r.serial.rate_limiter.size, 1024);
	assert_int_equal(r.serial.rate_limiter.refill_time_ms, 100);
	api_request_free(&r);
	refused(HTTP_PUT, "/serial", "{\"rate_limiter\": {\"size\": 1024}}", "refill_time");
	refused(HTTP_PUT, "/serial", "{\"rate_limiter\": {\"size\": 1, \"refill_time\": 1, \"ops\": 1}}",
	        "unknown field `ops`");
	refused(HTTP_PUT, "/serial", "{\"serial_out_path\": \"/s\", \"rate\": 1}", "unknown field `rate`");
	/* track_dirty_pages: the newer name of enable_diff_snapshots */
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	                                     " \"track_dirty_pages\": true}", &r);
	assert_true(r.snap_load.enable_diff_snapshots);
	api_request_free(&r);
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}", &r);
	assert_false(r.snap_load.enable_diff_snapshots);
	api_request_free(&r);
	/* either name true turns tracking on, as in Firecracker */
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	                                     " \"track_dirty_pages\": true, \"enable_diff_snapshots\": false}", &r);
	assert_true(r.snap_load.enable_diff_snapshots);
	api_request_free(&r);
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	                                     " \"track_dirty_pages\": false, \"enable_diff_snapshots\": true}", &r);
	assert_true(r.snap_load.enable_diff_snapshots);
	api_request_free(&r);
	/* clock_realtime: Firecracker's flag to move the guest clock on */
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	                                     " \"clock_realtime\": true}", &r);
	assert_true(r.snap_load.clock_realtime);
	api_request_free(&r);
	refused(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\","
	        " \"clock_realtime\": \"yes\"}", "clock_realtime");
}

#define SERDE "An error occurred when deserializing the json body of a request: "

/* Firecracker's words for what it refuses before the VMM sees a request,
 * with serde_json's line and column. */
static void test_firecracker_words(void **state)
{
	(void)state;
	refused_with(HTTP_PUT, "/machine-config", "{\"mem_size_mib\": 128}",
	             SERDE "missing field `vcpu_count` at line 1 column 21.");
	refused_with(HTTP_PUT, "/machine-config", "{\n  \"vcpu_count\": 1,\n  \"mem_size_mib\": 128\n,\"foo\" : 1}",
	             SERDE "unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, `cpu_template`, "
	                   "`track_dirty_pages`, `huge_pages`, `ht_enabled` at line 4 column 7.");
	refused_with(HTTP_PUT, "/vm", "{}", "Invalid request method and/or path: PUT vm.");
	refused_with(HTTP_PATCH, "/boot-source", "{}", "Invalid request method and/or path: PATCH boot-source.");
	refused_with(HTTP_PUT, "/snapshot/nothing", "{}", "Invalid request method and/or path: PUT /snapshot/nothing.");
	refused_with(HTTP_PUT, "/snapshot", "{}", "Missing snapshot operation type.");
	refused_with(HTTP_GET, "/balloon/stats", NULL, "Unrecognized GET request path `stats`.");
	refused_with(HTTP_PATCH, "/balloon/stats", "{}", "Unrecognized PATCH request path `stats`.");
	refused_with(HTTP_PUT, "/mmds/configs", "{}", "Unrecognized PUT request path `configs`.");
	refused_with(HTTP_DELETE, "/drives", NULL, "Invalid request method and/or path: DELETE drives.");
	refused_with(HTTP_PATCH, "/drives/", "{}", "The ID cannot be empty.");
	refused_with(HTTP_GET, "/machine-config", "{}", "GET request cannot have a body.");
	refused_with(HTTP_PATCH, "/machine-config", NULL, "Empty PATCH request.");
	refused_with(HTTP_PATCH, "/machine-config", "{}", "Empty PATCH request.");
	refused_with(HTTP_PUT, "/nowhere", NULL, "Empty PUT request.");
	refused_with(HTTP_PUT, "/actions", "{\"action_type\": \"Reboot\"}",
	             SERDE "unknown variant `Reboot`, expected one of `InstanceStart`, `SendCtrlAltDel`, "
	                   "`FlushMetrics` at line 1 column 24. (action_type: must be one of \"InstanceStart\", "
	                   "\"SendCtrlAltDel\", \"FlushMetrics\")");
	/* a value of the wrong type: serde names Firecracker's Rust type */
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 64}",
	             SERDE "invalid type: string \"2\", expected u8 at line 1 column 18. (vcpu_count: must be an "
	                   "integer in 0..255)");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 300, \"mem_size_mib\": 64}",
	             SERDE "invalid value: integer `300`, expected u8 at line 1 column 18. (vcpu_count: must be an "
	                   "integer in 0..255)");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1.5, \"mem_size_mib\": 64}",
	             SERDE "invalid type: floating point `1.5`, expected u8 at line 1 column 18. (vcpu_count: must be "
	                   "an integer in 0..255)");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": \"yes\"}",
	             SERDE "invalid type: string \"yes\", expected a boolean at line 1 column 50. (smt: must be true or "
	                   "false)");
	refused_with(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": 7}",
	             SERDE "invalid type: integer `7`, expected a string at line 1 column 23. (kernel_image_path: must be "
	                   "a non-empty string)");
	refused_with(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": 1}",
	             SERDE "invalid type: integer `1`, expected a boolean at line 1 column 46. (smt: must be true or "
	                   "false)");
	refused_with(HTTP_PUT, "/boot-source", "{\"kernel_image_path\": [1]}",
	             SERDE "invalid type: sequence, expected a string at line 1 column 22. (kernel_image_path: must be a "
	                   "non-empty string)");
	/* nested: the position is in the inner object, husk names the path */
	refused_with(HTTP_PUT, "/entropy", "{\"rate_limiter\": {\"ops\": {\"size\": 1}}}",
	             SERDE "missing field `refill_time` at line 1 column 36. (rate_limiter: ops: missing field "
	                   "`refill_time`)");
	refused_with(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"network_overrides\": [{\"iface_id\": "
	             "\"a\", \"host_dev_name\": \"t\"}, {\"iface_id\": \"b\", \"x\": 1}], \"mem_file_path\": \"/m\"}",
	             SERDE "unknown field `x`, expected `iface_id` or `host_dev_name` at line 1 column 108. "
	                   "(network_overrides[1]: unknown field `x`)");
	refused_with(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	             "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"/m\"}}",
	             SERDE "too many fields: either `mem_backend` or `mem_file_path` exclusively is required.");
	refused_with(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\"}",
	             SERDE "missing field: either `mem_backend` or `mem_file_path` is required.");
	refused_with(HTTP_PUT, "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/d\", \"is_root_device\": false}",
	             "The id from the path does not match the id from the body! (drive_id: b in the body, a in the "
	             "path)");
	refused_with(HTTP_PUT, "/network-interfaces/a", "{\"iface_id\": \"b\", \"host_dev_name\": \"t\"}",
	             "The id from the path [a] does not match the id from the body [b]!");
	refused_with(HTTP_PUT, "/drives/a-b", "{\"drive_id\": \"a-b\", \"path_on_host\": \"/d\", "
	             "\"is_root_device\": false}",
	             "API Resource IDs can only contain alphanumeric characters and underscores. (drive_id)");
}

/* Values Firecracker's own types refuse (MacAddr, LevelFilter, Ipv4Addr):
 * their words, where serde_json places them, then husk's. */
static void test_firecracker_words_of_types(void **state)
{
	(void)state;
	/* placed where the object ends: after the '}' that follows... */
	refused_with(HTTP_PUT, "/network-interfaces/eth0",
	             "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"zz\"}",
	             SERDE "The provided MAC address is invalid. at line 1 column 64. (guest_mac: must look like "
	                   "06:00:ac:10:00:02, the first byte even)");
	/* ...or before the ',' of a next member */
	refused_with(HTTP_PUT, "/network-interfaces/eth0",
	             "{\"iface_id\": \"eth0\", \"guest_mac\": \"06:00:ac:10:00:2\" , \"host_dev_name\": \"tap0\"}",
	             SERDE "The provided MAC address is invalid. at line 1 column 53. (guest_mac: must look like "
	                   "06:00:ac:10:00:02, the first byte even)");
	refused_with(HTTP_PUT, "/network-interfaces/eth0",
	             "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"\"}",
	             SERDE "The provided MAC address is invalid. at line 1 column 62. (guest_mac: must look like "
	                   "06:00:ac:10:00:02, the first byte even)");
	refused_with(HTTP_PUT, "/logger", "{\"level\": \"Loud\"}",
	             SERDE "Invalid LevelFilter at line 1 column 17. (level: must be one of \"Error\", \"Warning\", "
	                   "\"Info\", \"Debug\", \"Trace\", \"Off\")");
	refused_with(HTTP_PUT, "/logger", "{\"level\": 3}",
	             SERDE "invalid type: integer `3`, expected a string at line 1 column 11. (level: must be a string)");
	/* Ipv4Addr's error comes while the string is read: right after it */
	refused_with(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"eth0\"], \"ipv4_address\": \"169.254.1\"}",
	             SERDE "invalid IPv4 address syntax at line 1 column 60. (ipv4_address: must be a dotted IPv4 "
	                   "address)");
	refused_with(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"eth0\"], \"ipv4_address\": 5}",
	             SERDE "invalid type: integer `5`, expected IPv4 address at line 1 column 50. (ipv4_address: must "
	                   "be a string)");
	/* Rust's Ipv4Addr takes no leading zeros, nor does inet_pton */
	refused_with(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"eth0\"], \"ipv4_address\": \"169.254.01.1\"}",
	             SERDE "invalid IPv4 address syntax at line 1 column 63. (ipv4_address: must be a dotted IPv4 "
	                   "address)");
	struct api_request r;
	accepted(HTTP_PUT, "/logger", "{\"level\": \"wArN\"}", &r);
	assert_int_equal(r.logger.level, LOG_WARN);
	api_request_free(&r);
}

/* Firecracker's Deprecation: the parser names the deprecated use. */
static void test_deprecations(void **state)
{
	(void)state;
	struct api_request r;
	accepted(HTTP_PUT, "/vsock", "{\"vsock_id\": \"v\", \"guest_cid\": 3, \"uds_path\": \"/v\"}", &r);
	assert_string_equal(r.deprecation, "PUT /vsock: vsock_id field is deprecated.");
	api_request_free(&r);
	accepted(HTTP_PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}", &r);
	assert_null(r.deprecation);
	api_request_free(&r);
	accepted(HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"cpu_template\": \"None\"}", &r);
	assert_string_equal(r.deprecation, "PUT /machine-config: cpu_template field is deprecated.");
	api_request_free(&r);
	accepted(HTTP_PATCH, "/machine-config", "{\"cpu_template\": \"None\"}", &r);
	assert_string_equal(r.deprecation, "PATCH /machine-config: cpu_template field is deprecated.");
	api_request_free(&r);
	accepted(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}", &r);
	assert_string_equal(r.deprecation, "PUT /mmds/config: V1 is deprecated. Use V2 instead.");
	api_request_free(&r);
	accepted(HTTP_PUT, "/mmds/config", "{\"version\": \"V2\", \"network_interfaces\": [\"eth0\"]}", &r);
	assert_null(r.deprecation);
	api_request_free(&r);
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}", &r);
	assert_string_equal(r.deprecation,
	                    "PUT /snapshot/load: mem_file_path and enable_diff_snapshots fields are deprecated.");
	api_request_free(&r);
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"enable_diff_snapshots\": true, "
	         "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"/m\"}}", &r);
	assert_non_null(r.deprecation);
	api_request_free(&r);
	accepted(HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"/s\", \"track_dirty_pages\": true, "
	         "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"/m\"}}", &r);
	assert_null(r.deprecation);
	api_request_free(&r);
}

static void test_router_errors(void **state)
{
	(void)state;
	struct api_request r;
	struct api_reply rep = { 0, NULL };
	/* Firecracker's words for an unknown path or method */
	assert_int_equal(route(HTTP_GET, "/nothing", NULL, &r, &rep), 0);
	assert_fault(&rep, 400, "Invalid request method and/or path: GET nothing.");
	assert_int_equal(route(HTTP_DELETE, "/machine-config", NULL, &r, &rep), 0);
	assert_fault(&rep, 400, "Invalid request method and/or path: DELETE machine-config.");
	assert_int_equal(route(HTTP_PUT, "/vm", "{}", &r, &rep), 0);
	assert_fault(&rep, 400, "Invalid request method and/or path: PUT vm.");
	assert_int_equal(route(HTTP_PUT, "/drives", "{}", &r, &rep), 0);
	assert_fault(&rep, 400, "The ID cannot be empty.");
	assert_int_equal(route(HTTP_PUT, "/balloon", "{\"amount_mib\": 1}", &r, &rep), 0);
	assert_fault(&rep, 400, "deflate_on_oom");
	assert_int_equal(route(HTTP_GET, "/mmds/config", NULL, &r, &rep), 0);
	assert_fault(&rep, 400, "Invalid request method and/or path: GET mmds.");
	assert_int_equal(route(HTTP_PUT, "/actions", "{\"action_type\": ", &r, &rep), 0);
	assert_fault(&rep, 400, "An error occurred when deserializing the json body of a request: ");
	assert_int_equal(route(HTTP_PUT, "/actions", "[1]", &r, &rep), 0);
	assert_fault(&rep, 400, "JSON object");
	assert_int_equal(route(HTTP_PUT, "/actions", NULL, &r, &rep), 0);
	assert_fault(&rep, 400, "Empty PUT request.");
	assert_int_equal(route(HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\", \"action_type\": \"x\"}",
	                       &r, &rep), 0);
	assert_int_equal(rep.status, 400);
	assert_int_equal(route(HTTP_GET, "/version", NULL, &r, &rep), 0);
	assert_int_equal(rep.status, 200);
	assert_non_null(strstr(rep.body, "firecracker_version"));
	assert_int_equal(route(HTTP_GET, "/?x=1", NULL, &r, &rep), 1);
	assert_ptr_equal(r.method, api_resource_by_path("/")->get);
	free(rep.body);
}

/* ---- apply: state rules on a VM that is not built (no KVM needed) ---- */

/* Route + apply; returns the status, leaves the body in rep. */
static int call(struct api_fixture *f, enum http_method m, const char *path, const char *body, struct api_reply *rep)
{
	struct api_request r;
	if (route(m, path, body, &r, rep) == 1) {
		api_apply(&f->t, &r, rep);
		api_request_free(&r);
	}
	return rep->status;
}

static void test_apply_preboot_then_postboot(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	char body[256];

	assert_int_equal(call(f, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64}", &rep), 204);
	assert_int_equal(f->cfg.machine.vcpu_count, 2);
	assert_int_equal(call(f, HTTP_PATCH, "/machine-config", "{\"vcpu_count\": 3}", &rep), 204);
	assert_int_equal(f->cfg.machine.vcpu_count, 3);
	assert_int_equal(f->cfg.machine.mem_size_mib, 64);
	/* smt needs an even count: refused, nothing changes */
	assert_int_equal(call(f, HTTP_PATCH, "/machine-config", "{\"smt\": true}", &rep), 400);
	assert_false(f->cfg.machine.smt);
	assert_int_equal(call(f, HTTP_GET, "/machine-config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"vcpu_count\":3"));

	/* a kernel that does not exist is refused at PUT time */
	assert_int_equal(call(f, HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/nonexistent/k\"}", &rep), 400);
	assert_fault(&rep, 400, "kernel_image_path");
	assert_null(f->cfg.boot.kernel_image_path);
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\"}", f->file);
	assert_int_equal(call(f, HTTP_PUT, "/boot-source", body, &rep), 204);
	assert_string_equal(f->cfg.boot.kernel_image_path, f->file);

	/* drives: one root only; the same id replaces */
	snprintf(body, sizeof(body), "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", \"is_root_device\": true}", f->file);
	assert_int_equal(call(f, HTTP_PUT, "/drives/a", body, &rep), 204);
	snprintf(body, sizeof(body), "{\"drive_id\": \"b\", \"path_on_host\": \"%s\", \"is_root_device\": true}", f->file);
	assert_int_equal(call(f, HTTP_PUT, "/drives/b", body, &rep), 400);
	assert_fault(&rep, 400, "is_root_device");
	snprintf(body, sizeof(body), "{\"drive_id\": \"a\", \"path_on_host\": \"%s\", \"is_root_device\": false}", f->file);
	assert_int_equal(call(f, HTTP_PUT, "/drives/a", body, &rep), 204);
	assert_int_equal(drive_configs_of(&f->cfg)->nr, 1);
	assert_false(drive_configs_of(&f->cfg)->items[0].is_root_device);
	/* PATCH before boot is refused */
	assert_int_equal(call(f, HTTP_PATCH, "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\"}", &rep), 400);
	assert_fault(&rep, 400, "before starting");

	assert_int_equal(call(f, HTTP_PUT, "/network-interfaces/e0", "{\"iface_id\": \"e0\", \"host_dev_name\": \"tap9\"}", &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/network-interfaces/e1", "{\"iface_id\": \"e1\", \"host_dev_name\": \"tap9\"}", &rep), 400);
	assert_fault(&rep, 400, "host_dev_name");
	assert_int_equal(net_configs_of(&f->cfg)->nr, 1);

	/* actions that need a running VM */
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", &rep), 400);
	assert_int_equal(call(f, HTTP_PATCH, "/vm", "{\"state\": \"Paused\"}", &rep), 400);
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", &rep), 400);
	assert_fault(&rep, 400, "not initialized");
	assert_int_equal(call(f, HTTP_GET, "/", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"state\":\"Not started\""));
	assert_non_null(strstr(rep.body, "\"app_name\":\"husk\""));

	/* after start (simulated: the state is what the rules read) */
	f->vmm.state = VMM_RUNNING;
	assert_int_equal(call(f, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}", &rep), 400);
	assert_fault(&rep, 400, "after starting");
	assert_int_equal(f->cfg.machine.vcpu_count, 3);
	assert_int_equal(call(f, HTTP_PUT, "/boot-source", body, &rep), 400);
	assert_int_equal(call(f, HTTP_PUT, "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}", &rep), 400);
	assert_null(vsock_config_of(&f->cfg));
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", &rep), 400);
	assert_fault(&rep, 400, "The requested operation is not supported after starting the microVM.");
	assert_int_equal(call(f, HTTP_PATCH, "/drives/zz", "{\"drive_id\": \"zz\"}", &rep), 400);
	assert_fault(&rep, 400, "no drive zz");
	assert_int_equal(call(f, HTTP_GET, "/", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"state\":\"Running\""));
	assert_int_equal(call(f, HTTP_GET, "/vm/config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"drive_id\":\"a\""));
	assert_non_null(strstr(rep.body, "\"host_dev_name\":\"tap9\""));
	free(rep.body);
}

/* Firecracker's boot_path: after a request that configures what a boot
 * builds reached the VMM (accepted or not), a snapshot load is refused;
 * the logger, metrics, serial, MMDS data and a CPU template do not count. */
static void test_load_refused_after_boot_configuration(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	const char *load = "{\"snapshot_path\": \"/nonexistent/s\", \"mem_file_path\": \"/nonexistent/m\"}";
	const char *refusal = "Load snapshot error: Loading a microVM snapshot not allowed after configuring "
	                      "boot-specific resources.";
	static const char *const boot_path[][2] = {
		{ "/boot-source", "{\"kernel_image_path\": \"/nonexistent/k\"}" },
		{ "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}" },
		{ "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/nonexistent/d\", \"is_root_device\": false}" },
		{ "/network-interfaces/e0", "{\"iface_id\": \"e0\", \"host_dev_name\": \"tap9\"}" },
		{ "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/nonexistent/v\"}" },
		{ "/entropy", "{}" },
		{ "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false}" },
		{ "/mmds/config", "{\"network_interfaces\": [\"none\"]}" },
	};

	/* not boot configuration: the load gets as far as the missing file */
	assert_int_equal(call(f, HTTP_PUT, "/mmds", "{\"a\": 1}", &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/snapshot/load", load, &rep), 400);
	assert_fault(&rep, 400, "/nonexistent/s");
	for (size_t i = 0; i < sizeof(boot_path) / sizeof(boot_path[0]); i++) {
		f->t.boot_configured = false;
		call(f, HTTP_PUT, boot_path[i][0], boot_path[i][1], &rep);
		assert_int_equal(call(f, HTTP_PUT, "/snapshot/load", load, &rep), 400);
		assert_fault(&rep, 400, refusal);
	}
	f->t.boot_configured = false;
	assert_int_equal(call(f, HTTP_PATCH, "/machine-config", "{\"vcpu_count\": 2}", &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/snapshot/load", load, &rep), 400);
	assert_fault(&rep, 400, refusal);
	mmds_destroy(&f->vmm.mmds);
	free(rep.body);
}

/* A private netns where a tap can be made (not under qemu-user, whose
 * ioctl emulation lacks TUNSETIFF). */
static bool private_tap_possible(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		return false;
	int fd = open("/dev/net/tun", O_RDWR);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	strcpy(ifr.ifr_name, "probe0");
	bool ok = fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* PATCH /network-interfaces on a live interface: a bucket the PATCH
 * leaves out keeps its tokens and what is left of its one-time burst
 * (handing it to the device again would make it full); /vm/config shows
 * the merge. The device is a real one on a tap in a private netns. */
static void test_network_patch_keeps_the_buckets_it_leaves_out(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	if (!private_tap_possible())
		skip();
	struct loop loop;
	assert_int_equal(loop_init(&loop), 0);
	struct vdrv d;
	vdrv_mem_init(&d);
	struct virtio_env env = { .gm = &d.gm, .loop = &loop, .mmio_base = 0xd0001000ull, .gsi_base = 5,
		                  .nr_slots = 16 };
	const char *put = "{\"iface_id\": \"e0\", \"host_dev_name\": \"hp0\", "
	                  "\"rx_rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 1000}}, "
	                  "\"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"one_time_burst\": 5000, "
	                  "\"refill_time\": 1000}, \"ops\": {\"size\": 10, \"refill_time\": 1000}}}";
	assert_int_equal(call(f, HTTP_PUT, "/network-interfaces/e0", put, &rep), 204);
	const struct net_configs *nets = net_configs_of(&f->cfg);
	assert_int_equal(device_attach(&f->vmm.devices, &env, &f->vmm.snap, &net_class, "e0", &nets->items[0]), 0);
	struct net *n = vmm_device_find(&f->vmm, &net_class, "e0");
	assert_non_null(n);
	f->vmm.state = VMM_RUNNING;
	/* the guest spent some of tx's tokens and burst */
	n->tx_rl.bw.budget = 100;
	n->tx_rl.bw.one_time_burst = 7;
	n->tx_rl.ops.budget = 3;

	assert_int_equal(call(f, HTTP_PATCH, "/network-interfaces/e0", "{\"iface_id\": \"e0\", \"rx_rate_limiter\": "
	                      "{\"ops\": {\"size\": 50, \"refill_time\": 100}}}", &rep), 204);
	assert_int_equal(n->tx_rl.bw.budget, 100);
	assert_int_equal(n->tx_rl.bw.one_time_burst, 7);
	assert_int_equal(n->tx_rl.ops.budget, 3);
	assert_int_equal(n->rx_rl.ops.size, 50);
	assert_int_equal(n->rx_rl.bw.size, 1000);
	/* a PATCH naming tx's ops only: its bandwidth bucket stays as spent */
	assert_int_equal(call(f, HTTP_PATCH, "/network-interfaces/e0", "{\"iface_id\": \"e0\", \"tx_rate_limiter\": "
	                      "{\"ops\": {\"size\": 20, \"refill_time\": 1000}}}", &rep), 204);
	assert_int_equal(n->tx_rl.bw.budget, 100);
	assert_int_equal(n->tx_rl.bw.one_time_burst, 7);
	assert_int_equal(n->tx_rl.ops.size, 20);
	assert_int_equal(call(f, HTTP_GET, "/vm/config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"tx_rate_limiter\":{\"bandwidth\":{\"size\":1000,\"one_time_burst\":5000,"
	                                 "\"refill_time\":1000},\"ops\":{\"size\":20,"));
	free(rep.body);
	device_detach_all(&f->vmm.devices);
	loop_destroy(&loop);
	free(d.ram);
}

/* smt (and its old name ht_enabled): two threads a core on x86; refused
 * on aarch64 in Firecracker's words, the configuration left as it was. */
static void test_apply_smt(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	const char *put = "{\"vcpu_count\": 2, \"mem_size_mib\": 64, \"smt\": true}";
#if defined(__aarch64__)
	const char *no_smt = "Machine config error: Enabling simultaneous multithreading is not supported on aarch64.";
	assert_int_equal(call(f, HTTP_PUT, "/machine-config", put, &rep), 400);
	assert_fault(&rep, 400, no_smt);
	assert_int_equal(call(f, HTTP_PATCH, "/machine-config", "{\"ht_enabled\": true}", &rep), 400);
	assert_fault(&rep, 400, no_smt);
	assert_false(f->cfg.machine.smt);
	assert_int_equal(f->cfg.machine.vcpu_count, 1);
	/* smt false is the only value, and taken */
	assert_int_equal(call(f, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64, \"smt\": false}",
	                      &rep), 204);
	assert_int_equal(f->cfg.machine.vcpu_count, 2);
#else
	assert_int_equal(call(f, HTTP_PUT, "/machine-config", put, &rep), 204);
	assert_true(f->cfg.machine.smt);
	assert_int_equal(call(f, HTTP_GET, "/machine-config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"smt\":true"));
#endif
	free(rep.body);
}

/* PUT /cpu-config: stored whole, shown by /vm/config, replaced by the
 * next one, refused after start; a bad one changes nothing. */
static void test_apply_cpu_config(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	const char *tmpl = "{\"cpuid_modifiers\": [{\"leaf\": \"0x80000001\", \"subleaf\": \"0x0\", \"flags\": 0,"
	                   " \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxx0xxxxxx\"}]}],"
	                   " \"msr_modifiers\": []}";
#if !defined(__x86_64__)
	/* CPUID modifiers are x86's: refused by name, nothing stored */
	assert_int_equal(call(f, HTTP_PUT, "/cpu-config", tmpl, &rep), 400);
	assert_non_null(strstr(rep.body, "cpuid_modifiers"));
	assert_false(f->cfg.cpu_config.set);
	free(rep.body);
	return;
#endif
	assert_int_equal(call(f, HTTP_PUT, "/cpu-config", tmpl, &rep), 204);
	assert_true(f->cfg.cpu_config.set);
	assert_int_equal(f->cfg.cpu_config.nr_cpuid, 1);
	assert_int_equal(f->cfg.cpu_config.cpuid[0].filter, 0x40);
	assert_int_equal(call(f, HTTP_GET, "/vm/config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"cpu-config\":{\"cpuid_modifiers\":[{\"leaf\":\"0x80000001\",\"subleaf\":\"0x0\","
	                                 "\"flags\":0,\"modifiers\":[{\"register\":\"ecx\",\"bitmap\":"
	                                 "\"0bxxxxxxxxxxxxxxxxxxxxxxxxx0xxxxxx\"}]}],\"msr_modifiers\":[]}"));
	free(rep.body);
	rep.body = NULL;
	/* a machine-config without a static template keeps the custom one */
	assert_int_equal(call(f, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}", &rep), 204);
	assert_true(f->cfg.cpu_config.set);
	/* a bad template: 400 naming the field, the stored one stays */
	assert_int_equal(call(f, HTTP_PUT, "/cpu-config", "{\"msr_modifiers\": [{\"addr\": \"10a\", \"bitmap\": \"1\"}]}",
	                      &rep), 400);
	assert_fault(&rep, 400, "msr_modifiers[0]: addr: must be");
	assert_int_equal(f->cfg.cpu_config.nr_cpuid, 1);
	assert_int_equal(call(f, HTTP_PUT, "/cpu-config", "{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"1\"}]}",
	                      &rep), 204);
	assert_int_equal(f->cfg.cpu_config.nr_cpuid, 0);
	assert_int_equal(f->cfg.cpu_config.nr_msr, 1);
	f->vmm.state = VMM_RUNNING;
	assert_int_equal(call(f, HTTP_PUT, "/cpu-config", tmpl, &rep), 400);
	assert_fault(&rep, 400, "after starting");
	assert_int_equal(f->cfg.cpu_config.nr_msr, 1);
	free(rep.body);
}

static void test_apply_balloon(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	assert_int_equal(call(f, HTTP_GET, "/balloon", NULL, &rep), 400);
	assert_fault(&rep, 400, "No balloon");
	/* no bigger than the machine (128 MiB by default) */
	assert_int_equal(call(f, HTTP_PUT, "/balloon", "{\"amount_mib\": 129, \"deflate_on_oom\": false}", &rep), 400);
	assert_fault(&rep, 400, "amount_mib");
	assert_null(balloon_config_of(&f->cfg));
	assert_int_equal(call(f, HTTP_PUT, "/balloon", "{\"amount_mib\": 16, \"deflate_on_oom\": true,"
	                      " \"stats_polling_interval_s\": 1}", &rep), 204);
	assert_non_null(balloon_config_of(&f->cfg));
	assert_true(balloon_config_of(&f->cfg)->deflate_on_oom);
	assert_int_equal(call(f, HTTP_GET, "/balloon", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"amount_mib\":16"));
	assert_non_null(strstr(rep.body, "\"stats_polling_interval_s\":1"));
	assert_int_equal(call(f, HTTP_GET, "/vm/config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"balloon\":{\"amount_mib\":16"));
	/* the device's resources wait for the device */
	assert_int_equal(call(f, HTTP_PATCH, "/balloon", "{\"amount_mib\": 8}", &rep), 400);
	assert_fault(&rep, 400, "before starting");
	assert_int_equal(call(f, HTTP_GET, "/balloon/statistics", NULL, &rep), 400);
	assert_fault(&rep, 400, "before starting");
	assert_int_equal(call(f, HTTP_PUT, "/balloon/statistics", "{}", &rep), 400);
	assert_fault(&rep, 400, "Invalid request method");
	/* hinting: a body is optional, the device must be up */
	assert_int_equal(call(f, HTTP_PATCH, "/balloon/hinting/start", NULL, &rep), 400);
	assert_fault(&rep, 400, "before starting");
	assert_int_equal(call(f, HTTP_PATCH, "/balloon/hinting/stop", "", &rep), 400);
	assert_fault(&rep, 400, "before starting");
	assert_int_equal(call(f, HTTP_PATCH, "/balloon/hinting/start", "{\"acknowledge_on_stop\": 2}", &rep), 400);
	assert_fault(&rep, 400, "acknowledge_on_stop");
	assert_int_equal(call(f, HTTP_PATCH, "/balloon", NULL, &rep), 400); /* others still need one */
	assert_fault(&rep, 400, "Empty PATCH request."); /* Firecracker's words */
	assert_int_equal(call(f, HTTP_GET, "/balloon/hinting/status", NULL, &rep), 400);
	assert_fault(&rep, 400, "before starting");
	f->vmm.state = VMM_RUNNING;
	assert_int_equal(call(f, HTTP_PUT, "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": false}", &rep), 400);
	assert_fault(&rep, 400, "after starting");
	assert_int_equal(balloon_config_of(&f->cfg)->amount_mib, 16);
	free(rep.body);
}

/* /mmds/config: fields checked, interfaces must exist, pre-boot only. */
static void test_mmds_config(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	refused(HTTP_PUT, "/mmds/config", "{}", "network_interfaces");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": []}",
	        "MMMDS config error: The list of network interface IDs that allow forwarding MMDS requests is empty.");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [1]}", "network_interfaces[0]");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"a\", \"b\", \"a\"]}", "network_interfaces[2]: a is listed twice");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"], \"version\": \"V3\"}", "version");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"], \"ipv4_address\": \"10.0.0.1\"}",
	        "ipv4_address");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"], \"ipv4_address\": \"1.2.3\"}",
	        "ipv4_address");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"], \"imds_compat\": 1}", "imds_compat");
	refused(HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"], \"other\": 1}", "other");
	const char *good = "{\"network_interfaces\": [\"e0\"], \"version\": \"V2\", \"ipv4_address\": \"169.254.170.1\"}";
	assert_int_equal(call(f, HTTP_PUT, "/mmds/config", good, &rep), 400); /* no e0 yet */
	assert_fault(&rep, 400, "network_interfaces: no network interface e0");
	assert_int_equal(call(f, HTTP_PUT, "/network-interfaces/e0", "{\"iface_id\": \"e0\", \"host_dev_name\": \"t0\"}", &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/mmds/config", good, &rep), 204);
	assert_non_null(mmds_config_of(&f->cfg));
	assert_int_equal(mmds_config_of(&f->cfg)->version, 2);
	assert_int_equal(mmds_config_of(&f->cfg)->ipv4, 0xa9feaa01);
	assert_int_equal(call(f, HTTP_GET, "/vm/config", NULL, &rep), 200);
	assert_non_null(strstr(rep.body, "\"mmds-config\":{"));
	assert_non_null(strstr(rep.body, "\"ipv4_address\":\"169.254.170.1\""));
	assert_non_null(strstr(rep.body, "\"version\":\"V2\""));
	f->vmm.state = VMM_RUNNING;
	assert_int_equal(call(f, HTTP_PUT, "/mmds/config", "{\"network_interfaces\": [\"e0\"]}", &rep), 400);
	assert_fault(&rep, 400, "after starting");
	assert_int_equal(mmds_config_of(&f->cfg)->version, 2);
	free(rep.body);
}

/* /mmds: PUT replaces, PATCH merges, GET returns; over the limit a 400
 * and the store as it was; any time, before and after boot. */
static void test_mmds_data(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	mmds_init(&f->vmm.mmds, 64);
	assert_int_equal(call(f, HTTP_GET, "/mmds", NULL, &rep), 200);
	assert_string_equal(rep.body, "{}");
	assert_int_equal(call(f, HTTP_PATCH, "/mmds", "{\"a\": 1}", &rep), 400);
	assert_fault(&rep, 400, "The MMDS data store is not initialized.");
	assert_int_equal(call(f, HTTP_PUT, "/mmds", "{\"a\": {\"b\": \"c\"}, \"d\": 1}", &rep), 204);
	assert_int_equal(call(f, HTTP_PATCH, "/mmds", "{\"a\": {\"e\": \"f\"}, \"d\": null}", &rep), 204);
	assert_int_equal(call(f, HTTP_GET, "/mmds", NULL, &rep), 200);
	assert_string_equal(rep.body, "{\"a\":{\"b\":\"c\",\"e\":\"f\"}}");
	f->vmm.state = VMM_RUNNING;
	assert_int_equal(call(f, HTTP_PUT, "/mmds", "{\"big\": \"0123456789012345678901234567890123456789012345678901234567890\"}",
	                      &rep), 400);
	assert_fault(&rep, 400, "MMDS limit exceeded error: The MMDS patch request doesn't fit. (husk: the data store "
	                        "would exceed its limit of 64 bytes");
	assert_int_equal(call(f, HTTP_PATCH, "/mmds", "{\"big\": \"0123456789012345678901234567890123456789012345678901234567890\"}",
	                      &rep), 400);
	assert_int_equal(call(f, HTTP_GET, "/mmds", NULL, &rep), 200);
	assert_string_equal(rep.body, "{\"a\":{\"b\":\"c\",\"e\":\"f\"}}");
	mmds_destroy(&f->vmm.mmds);
	free(rep.body);
}

static void test_apply_instance_start_needs_kernel(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	/* nothing configured: refused before anything is built */
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", &rep), 400);
	assert_fault(&rep, 400, "kernel_image_path");
	assert_false(f->vmm.vm_created);
	assert_false(f->t.failed);
	free(rep.body);
}

/* PUT /boot-source with boot_args; the kernel is the fixture's file. */
static int put_boot_args(struct api_fixture *f, const char *args, struct api_reply *rep)
{
	json_t *o = json_pack("{s:s, s:s}", "kernel_image_path", f->file, "boot_args", args);
	char *body = json_dumps(o, 0);
	int status = call(f, HTTP_PUT, "/boot-source", body, rep);
	free(body);
	json_decref(o);
	return status;
}

/* Firecracker's capacity: 2048 bytes with the NUL, measured as
 * linux-loader's Cmdline::try_from does, after the kernel and initrd
 * opened. */
static void test_boot_args_capacity(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	char args[4096];
	memset(args, 'a', sizeof(args));
	args[2047] = 0;
	assert_int_equal(put_boot_args(f, args, &rep), 204);
	assert_int_equal(strlen(f->cfg.boot.boot_args), 2047);
	args[2047] = 'a';
	args[2048] = 0;
	assert_int_equal(put_boot_args(f, args, &rep), 400);
	assert_string_equal(rep.body, "{\"fault_message\":\"Boot source error: The kernel command line is invalid: "
	                              "Invalid cmdline capacity provided. (boot_args: 2049 bytes with the NUL, at "
	                              "most 2048)\"}");
	assert_int_equal(strlen(f->cfg.boot.boot_args), 2047);
	/* the blanks at either end are not counted */
	args[0] = args[2047] = ' ';
	assert_int_equal(put_boot_args(f, args, &rep), 204);
	/* nor those around " -- ", which counts as itself */
	memcpy(args + 1000, "  --  ", 6);
	assert_int_equal(put_boot_args(f, args, &rep), 204);
	memcpy(args + 1000, " -- aa", 6);
	args[0] = args[2047] = 'a';
	assert_int_equal(put_boot_args(f, args, &rep), 400);
	/* a " -- " inside double quotes separates nothing: its blanks count */
	memcpy(args + 1000, "\"  --  \"", 8);
	assert_int_equal(put_boot_args(f, args, &rep), 400);
	/* a bad kernel path is named first, as Firecracker opens it first */
	json_t *o = json_pack("{s:s, s:s}", "kernel_image_path", "/nonexistent/k", "boot_args", args);
	char *body = json_dumps(o, 0);
	assert_int_equal(call(f, HTTP_PUT, "/boot-source", body, &rep), 400);
	assert_fault(&rep, 400, "Boot source error: The kernel file cannot be opened: No such file or directory "
	                        "(os error 2)");
	free(body);
	json_decref(o);
	/* Firecracker takes an empty command line */
	assert_int_equal(put_boot_args(f, "", &rep), 204);
	assert_string_equal(f->cfg.boot.boot_args, "");
	free(rep.body);
}

/* FlushMetrics when the metrics file takes nothing: Firecracker's
 * Internal VMM error with the io::Error its writer got. */
static void test_metrics_write_fails(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	char path[64], body[128];
	snprintf(path, sizeof(path), "/tmp/husk-test-metrics-fifo-%d", (int)getpid());
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* a reader, so the non-blocking open for writing succeeds */
	int rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", path);
	assert_int_equal(call(f, HTTP_PUT, "/metrics", body, &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", &rep), 204);
	/* the reader goes: every write is EPIPE (SIGPIPE ignored, as husk does) */
	close(rd);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", &rep), 400);
	signal(SIGPIPE, old);
	assert_string_equal(rep.body, "{\"fault_message\":\"Internal VMM error: Metrics error: Broken pipe (os error "
	                              "32)\"}");
	unlink(path);
	free(rep.body);
}

static long long leaf(json_t *line, const char *group, const char *key)
{
	json_t *v = json_object_get(json_object_get(line, group), key);
	if (!json_is_integer(v))
		fail_msg("metrics %s.%s missing", group, key);
	return json_integer_value(v);
}

static void test_metrics_flush(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	char path[64], body[128], line[16384];
	snprintf(path, sizeof(path), "/tmp/husk-test-metrics-%d", (int)getpid());
	unlink(path);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", path);
	assert_int_equal(call(f, HTTP_PUT, "/metrics", body, &rep), 204);
	assert_int_equal(call(f, HTTP_PUT, "/metrics", body, &rep), 400);
	assert_fault(&rep, 400, "Metrics error: Cannot initialize the metrics system due to bad user input: "
	                        "Reinitialization of metrics not allowed.");
	metrics_count_api(&f->metrics, api_resource_by_path("/drives"), MM_PUT, 204);
	metrics_count_api(&f->metrics, api_resource_by_path("/drives"), MM_PUT, 400);
	metrics_count_api(&f->metrics, api_resource_by_path("/drives"), MM_PUT, 400);
	metrics_count_api(&f->metrics, api_resource_by_path("/drives"), MM_PATCH, 204);
	metrics_count_api(&f->metrics, api_resource_by_path("/"), MM_GET, 200);
	/* /mmds and /mmds/config are both Firecracker's "mmds"; a path of no
	 * resource is husk's "other" */
	metrics_count_api(&f->metrics, api_resource_by_path("/mmds"), MM_PUT, 204);
	metrics_count_api(&f->metrics, api_resource_by_path("/mmds/config"), MM_PUT, 400);
	metrics_count_api(&f->metrics, NULL, MM_GET, 400);
	metrics_latency(&f->metrics, MLAT_PAUSE_VM, 1234);
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", &rep), 204);
	metrics_count_api(&f->metrics, api_resource_by_path("/drives"), MM_PUT, 204);
	assert_int_equal(call(f, HTTP_PUT, "/actions", "{\"action_type\": \"FlushMetrics\"}", &rep), 204);
	FILE *m = fopen(path, "r");
	assert_non_null(m);
	json_t *l1 = (assert_non_null(fgets(line, sizeof(line), m)), js(line));
	json_t *l2 = (assert_non_null(fgets(line, sizeof(line), m)), js(line));
	fclose(m);
	unlink(path);
	/* Firecracker's groups: each line counts what happened since the last */
	assert_int_equal(leaf(l1, "put_api_requests", "drive_count"), 3);
	assert_int_equal(leaf(l1, "put_api_requests", "drive_fails"), 2);
	assert_int_equal(leaf(l1, "patch_api_requests", "drive_count"), 1);
	assert_int_equal(leaf(l1, "patch_api_requests", "drive_fails"), 0);
	assert_int_equal(leaf(l1, "get_api_requests", "instance_info_count"), 1);
	assert_int_equal(leaf(l2, "put_api_requests", "drive_count"), 1);
	assert_int_equal(leaf(l2, "put_api_requests", "drive_fails"), 0);
	assert_int_equal(leaf(l2, "get_api_requests", "instance_info_count"), 0);
	/* values, not counters, stay */
	assert_int_equal(leaf(l1, "latencies_us", "pause_vm"), 1234);
	assert_int_equal(leaf(l2, "latencies_us", "pause_vm"), 1234);
	assert_true(json_integer_value(json_object_get(l2, "utc_timestamp_ms")) > 1700000000000ll);
	/* husk's own: answers by resource and status class, cumulative */
	json_t *d = json_object_get(json_object_get(json_object_get(l2, "husk"), "api_responses"), "drives");
	assert_int_equal(json_integer_value(json_object_get(d, "2xx")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "4xx")), 2);
	json_t *api = json_object_get(json_object_get(l2, "husk"), "api_responses");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(api, "mmds"), "2xx")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(api, "mmds"), "4xx")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(api, "other"), "4xx")), 1);
	assert_int_equal(leaf(l1, "put_api_requests", "mmds_count"), 2);
	assert_int_equal(leaf(l1, "put_api_requests", "mmds_fails"), 1);
	json_decref(l1);
	json_decref(l2);
	free(rep.body);
}

/* Every group and leaf of Firecracker's metrics (its tests'
 * validate_fc_metrics), as a dashboard reads them; "x_agg" leaves are
 * objects of min_us, max_us and sum_us. */
static const char *const fc_schema[] = {
	"api_server: process_startup_time_us process_startup_time_cpu_us",
	"balloon: activate_fails inflate_count stats_updates_count stats_update_fails deflate_count "
	"event_fails free_page_report_count free_page_report_freed free_page_report_fails "
	"free_page_hint_count free_page_hint_freed free_page_hint_fails",
	"block: activate_fails cfg_fails no_avail_buffer event_fails execute_fails invalid_reqs_count "
	"flush_count queue_event_count rate_limiter_event_count update_count update_fails read_bytes "
	"write_bytes read_count write_count rate_limiter_throttled_events io_engine_throttled_events "
	"remaining_reqs_count read_agg write_agg",
	"deprecated_api: deprecated_http_api_calls",
	"get_api_requests: instance_info_count machine_cfg_count mmds_count vmm_version_count "
	"hotplug_memory_count",
	"i8042: error_count missed_read_count missed_write_count read_count reset_count write_count",
	"latencies_us: full_create_snapshot diff_create_snapshot load_snapshot pause_vm resume_vm "
	"vmm_full_create_snapshot vmm_diff_create_snapshot vmm_load_snapshot vmm_pause_vm vmm_resume_vm",
	"logger: missed_metrics_count metrics_fails missed_log_count rate_limited_log_count",
	"mmds: rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_invalid_token rx_no_token "
	"rx_count tx_bytes tx_count tx_errors tx_frames connections_created connections_destroyed",
	"net: activate_fails cfg_fails mac_address_updates no_rx_avail_buffer no_tx_avail_buffer event_fails "
	"rx_queue_event_count rx_event_rate_limiter_count rx_rate_limiter_throttled rx_tap_event_count "
	"rx_bytes_count rx_packets_count rx_fails rx_count tap_read_fails tap_write_fails tx_bytes_count "
	"tx_malformed_frames tx_fails tx_count tx_packets_count tx_queue_event_count "
	"tx_rate_limiter_event_count tx_rate_limiter_throttled tx_spoofed_mac_count "
	"tx_remaining_reqs_count tap_write_agg",
	"patch_api_requests: drive_count drive_fails network_count network_fails machine_cfg_count "
	"machine_cfg_fails mmds_count mmds_fails hotplug_memory_count hotplug_memory_fails pmem_count "
	"pmem_fails",
	"put_api_requests: actions_count actions_fails boot_source_count boot_source_fails drive_count "
	"drive_fails logger_count logger_fails machine_cfg_count machine_cfg_fails cpu_cfg_count "
	"cpu_cfg_fails metrics_count metrics_fails network_count network_fails mmds_count mmds_fails "
	"vsock_count vsock_fails pmem_count pmem_fails serial_count serial_fails hotplug_memory_count "
	"hotplug_memory_fails",
	"seccomp: num_faults",
	"vcpu: exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures kvmclock_ctrl_fails "
	"exit_io_in_agg exit_io_out_agg exit_mmio_read_agg exit_mmio_write_agg",
	"vmm: panic_count",
	"uart: error_count flush_count missed_read_count missed_write_count read_count write_count "
	"rate_limiter_dropped_bytes",
	"signals: sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill",
	"vsock: activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails ev_queue_event_fails "
	"muxer_event_fails conn_event_fails rx_queue_event_count tx_queue_event_count rx_bytes_count "
	"tx_bytes_count rx_packets_count tx_packets_count conns_added conns_killed conns_removed "
	"killq_resync tx_flush_fails tx_write_fails rx_read_fails",
	"entropy: activate_fails entropy_event_fails entropy_event_count entropy_bytes host_rng_fails "
	"entropy_rate_limiter_throttled rate_limiter_event_count",
	"interrupts: triggers config_updates",
	"pmem: activate_fails cfg_fails event_fails queue_event_count rate_limiter_throttled_events "
	"rate_limiter_event_count",
	"memory_hotplug: activate_fails queue_event_fails queue_event_count plug_count plug_bytes "
	"plug_fails plug_agg unplug_count unplug_bytes unplug_fails unplug_discard_fails unplug_agg "
	"state_count state_fails state_agg unplug_all_count unplug_all_fails unplug_all_agg",
};

static void test_metrics_have_firecrackers_schema(void **state)
{
	struct api_fixture *f = *state;
	char *text = metrics_line(&f->metrics);
	json_t *o = js(text);
	free(text);
	assert_true(json_is_integer(json_object_get(o, "utc_timestamp_ms")));
	for (size_t i = 0; i < sizeof(fc_schema) / sizeof(fc_schema[0]); i++) {
		char buf[1024], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", fc_schema[i]);
		char *group = strtok_r(buf, ":", &save);
		json_t *g = json_object_get(o, group);
		if (!json_is_object(g))
			fail_msg("metrics group %s missing", group);
		for (char *k = strtok_r(NULL, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
			json_t *v = json_object_get(g, k);
			size_t kl = strlen(k);
			bool agg = kl > 4 && strcmp(k + kl - 4, "_agg") == 0;
			if (agg ? !json_is_integer(json_object_get(v, "sum_us")) : !json_is_integer(v))
				fail_msg("metrics leaf %s.%s missing", group, k);
		}
	}
	json_decref(o);
}

/* Firecracker's rate limiter object, read by the one parser every
 * resource uses; a refusal names the field. */
static int parse_limiter(const char *text, struct rate_limiter_config *c, char *msg, size_t len)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
	assert_non_null(v);
	json_t *o = json_pack("{s:o}", "rate_limiter", v);
	struct api_err e = { .msg = "" };
	int ret = api_field_rate_limiter(o, "rate_limiter", c, NULL, &e);
	snprintf(msg, len, "%.200s", e.msg);
	json_decref(o);
	return ret;
}

static void test_rate_limiter_json(void **state)
{
	(void)state;
	struct rate_limiter_config c;
	char msg[256];
	assert_int_equal(parse_limiter("{\"bandwidth\": {\"size\": 1048576, \"one_time_burst\": 5, \"refill_time\": 100},"
	                               " \"ops\": {\"size\": 7, \"refill_time\": 1000}}", &c, msg, sizeof(msg)), 0);
	assert_true(c.bandwidth.set);
	assert_int_equal(c.bandwidth.size, 1048576);
	assert_int_equal(c.bandwidth.one_time_burst, 5);
	assert_int_equal(c.bandwidth.refill_time_ms, 100);
	assert_true(c.ops.set);
	assert_int_equal(c.ops.size, 7);
	assert_int_equal(parse_limiter("{}", &c, msg, sizeof(msg)), 0);
	assert_false(c.bandwidth.set || c.ops.set);
	assert_int_equal(parse_limiter("null", &c, msg, sizeof(msg)), 0);
	assert_int_equal(parse_limiter("{\"ops\": null}", &c, msg, sizeof(msg)), 0);
	assert_false(c.ops.set);

	static const struct { const char *json, *field; } bads[] = {
		{ "{\"bandwidth\": {\"size\": -1, \"refill_time\": 1}}", "size" },
		{ "{\"bandwidth\": {\"size\": 1}}", "refill_time" },
		{ "{\"ops\": {\"refill_time\": 1}}", "size" },
		{ "{\"ops\": {\"size\": 1, \"refill_time\": \"1\"}}", "refill_time" },
		{ "{\"ops\": {\"size\": 1, \"refill_time\": 1, \"one_time_burst\": 1.5}}", "one_time_burst" },
		{ "{\"ops\": {\"size\": 1, \"refill_time\": 1, \"extra\": 1}}", "extra" },
		{ "{\"bandwith\": {}}", "bandwith" },
		{ "[1]", "rate_limiter" },
		{ "{\"ops\": 3}", "ops" },
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		assert_int_equal(parse_limiter(bads[i].json, &c, msg, sizeof(msg)), -EINVAL);
		if (!strstr(msg, bads[i].field))
			fail_msg("%s: '%s' does not name %s", bads[i].json, msg, bads[i].field);
	}
}

/* A resource of many items takes up to its limit; at the limit an id it
 * has still replaces its item, a new one is refused by name. */
static void test_items_up_to_the_limit(void **state)
{
	struct api_fixture *f = *state;
	struct api_reply rep = { 0, NULL };
	char path[64], body[160];
	for (int i = 0; i <= NET_MAX_IFACES; i++) {
		snprintf(path, sizeof(path), "/network-interfaces/e%d", i);
		snprintf(body, sizeof(body), "{\"iface_id\": \"e%d\", \"host_dev_name\": \"tap%d\"}", i, i);
		assert_int_equal(call(f, HTTP_PUT, path, body, &rep), i < NET_MAX_IFACES ? 204 : 400);
	}
	assert_fault(&rep, 400, "iface_id: e8 would be one more than the 8");
	assert_int_equal(net_configs_of(&f->cfg)->nr, NET_MAX_IFACES);
	assert_int_equal(call(f, HTTP_PUT, "/network-interfaces/e3", "{\"iface_id\": \"e3\", \"host_dev_name\": \"tapx\"}",
	                      &rep), 204);
	assert_string_equal(net_configs_of(&f->cfg)->items[3].host_dev_name, "tapx");
	assert_int_equal(net_configs_of(&f->cfg)->nr, NET_MAX_IFACES);
	free(rep.body);
}

/* Every method of every resource has an applier and a free, a parser
 * for all but the GETs (which have no body); a resource in the config
 * file takes a PUT and shows in /vm/config; a device (a store step) has
 * a key for the snapshot's device configuration; every path routes to
 * its resource. A resource left half-defined fails here instead of
 * leaking or answering 500. */
static void method_complete(const struct api_method *m, bool get)
{
	if (!m)
		return;
	assert_non_null(m->apply);
	assert_non_null(m->free);
	if (get)
		assert_null(m->parse);
	else if (!m->api_thread)
		assert_non_null(m->parse);
}

static void test_every_method_is_complete(void **state)
{
	(void)state;
	int n = 0;
	for (int i = 0; api_resources[i]; i++, n++) {
		const struct api_resource *res = api_resources[i];
		assert_non_null(res->path);
		assert_ptr_equal(api_resource_by_path(res->path), res);
		assert_true(res->get || res->put || res->patch);
		method_complete(res->get, true);
		method_complete(res->put, false);
		method_complete(res->patch, false);
		if (res->key) {
			assert_non_null(res->put);
			assert_non_null(res->to_json);
			assert_ptr_equal(api_resource_by_key(res->key), res);
		}
		if (res->store)
			assert_non_null(res->key);
		if (res->has_id)
			assert_true(res->max_items > 0);
		assert_non_null(res->metrics);
	}
	assert_true(n >= 20);
	/* each has its slot in the API's metrics counters */
	assert_true(n < METRICS_RESOURCES);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_every_method_is_complete),
	cmocka_unit_test(test_rate_limiter_json),
	cmocka_unit_test(test_machine_config),
	cmocka_unit_test(test_boot_source),
	cmocka_unit_test(test_drives),
	cmocka_unit_test(test_network),
	cmocka_unit_test(test_small_resources),
	cmocka_unit_test(test_router_errors),
	cmocka_unit_test(test_firecracker_words),
	cmocka_unit_test(test_firecracker_words_of_types),
	cmocka_unit_test(test_deprecations),
	cmocka_unit_test_setup_teardown(test_apply_preboot_then_postboot, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_load_refused_after_boot_configuration, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_apply_smt, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_apply_cpu_config, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_network_patch_keeps_the_buckets_it_leaves_out, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_apply_balloon, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_items_up_to_the_limit, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_apply_instance_start_needs_kernel, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_mmds_config, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_mmds_data, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_boot_args_capacity, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_metrics_flush, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_metrics_write_fails, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_metrics_have_firecrackers_schema, fx_setup, fx_teardown))
