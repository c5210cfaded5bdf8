/* --config-file: the same resources as the API from one JSON document;
 * errors name the key; nothing is applied from a file that does not parse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>

#include "api_fixture.h"
#include "unit_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/resource.h"
#include "devices/mmds/mmds.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "vmm/config_file.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

/* The document with every %s replaced by the fixture's file. */
static int load(struct api_fixture *f, const char *fmt)
{
	char doc[2048];
	snprintf(doc, sizeof(doc), fmt, f->file, f->file, f->file);
	f->err[0] = 0;
	return config_file_apply_text(doc, strlen(doc), &f->t, f->err, sizeof(f->err));
}

static void assert_err(struct api_fixture *f, const char *want)
{
	if (!strstr(f->err, want))
		fail_msg("error '%s' lacks '%s'", f->err, want);
}

/* MSR modifiers are x86's: an aarch64 build refuses them (vmm/arch/aarch64/cpu_template.c) */
#if defined(__x86_64__)
#define CPU_CONFIG_MEMBER ", \"cpu-config\": {\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b0x\"}]}"
#else
#define CPU_CONFIG_MEMBER ""
#endif

/* smt is x86's: an aarch64 build refuses it (below) */
#if defined(__aarch64__)
#define SMT_MEMBER ""
#else
#define SMT_MEMBER ", \"smt\": true"
#endif

static void test_full_document(void **state)
{
	struct api_fixture *f = *state;
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"console=ttyS0\"},"
	                         " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 96},"
	                         " \"drives\": [{\"drive_id\": \"root\", \"path_on_host\": \"%s\", \"is_root_device\": true,"
	                         "   \"is_read_only\": true},"
	                         "  {\"drive_id\": \"data\", \"path_on_host\": \"%s\", \"is_root_device\": false}],"
	                         " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}],"
	                         " \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"},"
	                         " \"entropy\": {}, \"balloon\": null, \"mmds-config\": null" CPU_CONFIG_MEMBER "}"),
	                 0);
	assert_string_equal(f->cfg.boot.kernel_image_path, f->file);
#if defined(__x86_64__)
	assert_true(f->cfg.cpu_config.set);
	assert_int_equal(f->cfg.cpu_config.nr_msr, 1);
	assert_int_equal(f->cfg.cpu_config.msr[0].filter, 0x2);
#endif
	assert_string_equal(f->cfg.boot.boot_args, "console=ttyS0");
	assert_int_equal(f->cfg.machine.vcpu_count, 2);
	assert_int_equal(f->cfg.machine.mem_size_mib, 96);
	const struct drive_configs *drives = drive_configs_of(&f->cfg);
	assert_int_equal(drives->nr, 2);
	assert_string_equal(drives->items[1].drive_id, "data");
	assert_true(drives->items[0].is_root_device && drives->items[0].is_read_only);
	assert_int_equal(net_configs_of(&f->cfg)->nr, 1);
	assert_non_null(vsock_config_of(&f->cfg));
	assert_int_equal(vsock_config_of(&f->cfg)->guest_cid, 3);
	assert_non_null(rng_config_of(&f->cfg));
	assert_null(mmds_config_of(&f->cfg));
}

/* mmds-config does what PUT /mmds/config does, after the interfaces it names. */
static void test_mmds_config(void **state)
{
	struct api_fixture *f = *state;
	assert_int_equal(load(f, "{\"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"version\": \"V2\","
	                         " \"imds_compat\": true},"
	                         " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}]}"), 0);
	const struct mmds_config *m = mmds_config_of(&f->cfg);
	assert_non_null(m);
	assert_int_equal(m->version, 2);
	assert_true(m->imds_compat);
	assert_int_equal(m->ipv4, 0xa9fea9fe);
	assert_string_equal(m->ifaces[0], "eth0");
}

static void test_errors_name_the_key(void **state)
{
	struct api_fixture *f = *state;
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"machine-config\":"
	                         " {\"vcpu_count\": 64, \"mem_size_mib\": 96}}"), -EINVAL);
	assert_err(f, "machine-config: Machine config error: The number of vCPUs must be greater than 0, less than 32 "
	              "and must be 1 or an even number if SMT is enabled. (vcpu_count 64)");
	/* nothing was applied: the file is parsed whole before any of it is used */
	assert_null(f->cfg.boot.kernel_image_path);

	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"machine_config\": {}}"), -EINVAL);
	assert_err(f, "machine_config: unknown key");
	/* Firecracker's keys husk does not have yet are named as such */
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"pmem\": []}"), -EINVAL);
	assert_err(f, "pmem: not supported yet");
	assert_int_equal(load(f, "{\"cpu-config\": {\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\","
	                         " \"modifiers\": [{\"register\": \"r8\", \"bitmap\": \"1\"}]}]}}"), -EINVAL);
	assert_err(f, "cpu-config: cpuid_modifiers[0]: modifiers[0]: register");
	assert_int_equal(load(f, "{\"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"%s\", \"is_root_device\": true,"
	                         " \"readonly\": true}]}"), -EINVAL);
	assert_err(f, "drives[0]: unknown field `readonly`");
	assert_int_equal(load(f, "{\"drives\": {\"drive_id\": \"r\"}}"), -EINVAL);
	assert_err(f, "drives: must be an array");
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": 5}}"), -EINVAL);
	assert_err(f, "boot-source: kernel_image_path");
	assert_int_equal(load(f, "{\"balloon\": {\"amount_mib\": 10}}"), -EINVAL);
	assert_err(f, "balloon: missing field `deflate_on_oom`");
	assert_int_equal(load(f, "{\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"t0\"}],"
	                         " \"mmds-config\": {\"network_interfaces\": [\"eth1\"]}}"), -EINVAL);
	assert_err(f, "mmds-config: MMMDS config error: The list of network interface IDs provided contains at least one ID "
	              "that does not correspond to any existing network interface. (network_interfaces: no network interface eth1)");
	assert_int_equal(load(f, "{\"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"version\": 2}}"), -EINVAL);
	assert_err(f, "mmds-config: version");
	assert_int_equal(load(f, "{\"boot-source\": "), -EINVAL);
	assert_err(f, "invalid JSON");
	/* a file that parses but names a missing kernel: the apply step says so */
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"}}"), -EINVAL);
	assert_err(f, "boot-source: Boot source error: The kernel file cannot be opened: No such file or directory (os "
	              "error 2) (kernel_image_path /nonexistent/vmlinux)");
}

/* machine-config's smt goes through the same check as the API's: on
 * aarch64 the file is refused in Firecracker's words and the machine
 * keeps its defaults; on x86 it is taken. */
static void test_smt(void **state)
{
	struct api_fixture *f = *state;
	const char *doc = "{\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 96, \"smt\": true}}";
#if defined(__aarch64__)
	assert_int_equal(load(f, doc), -EINVAL);
	assert_err(f, "machine-config: Machine config error: Enabling simultaneous multithreading is not supported on "
	              "aarch64.");
	assert_false(f->cfg.machine.smt);
	assert_int_equal(f->cfg.machine.vcpu_count, 1);
#else
	assert_int_equal(load(f, doc), 0);
	assert_true(f->cfg.machine.smt);
	assert_int_equal(f->cfg.machine.vcpu_count, 2);
#endif
}

static void test_load_from_path(void **state)
{
	struct api_fixture *f = *state;
	char path[80];
	snprintf(path, sizeof(path), "%s.json", f->file);
	FILE *j = fopen(path, "w");
	fprintf(j, "{\"boot-source\": {\"kernel_image_path\": \"%s\"}}", f->file);
	fclose(j);
	assert_int_equal(config_file_load(path, &f->t, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.boot.kernel_image_path, f->file);
	unlink(path);
	assert_true(config_file_load(path, &f->t, f->err, sizeof(f->err)) < 0);
	assert_err(f, "cannot read");
}

static char *vm_config_of(struct api_target *t)
{
	struct api_request r = { .method = api_resource_by_path("/vm/config")->get };
	struct api_reply rep = { 500, NULL };
	api_apply(t, &r, &rep);
	assert_int_equal(rep.status, 200);
	return rep.body;
}

/* GET /vm/config is a config file: each resource writes its key with the
 * same definition that reads it back, so a second husk configured from
 * the first one's answer answers the same. */
static void test_vm_config_is_a_config_file(void **state)
{
	struct api_fixture *f = *state;
	assert_int_equal(load(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\"},"
	                         " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 96" SMT_MEMBER "},"
	                         " \"drives\": [{\"drive_id\": \"root\", \"path_on_host\": \"%s\", \"is_root_device\": true,"
	                         "   \"cache_type\": \"Writeback\", \"rate_limiter\": {\"ops\": {\"size\": 5, \"refill_time\": 9}}}],"
	                         " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
	                         "   \"guest_mac\": \"06:00:ac:10:00:02\"}],"
	                         " \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"},"
	                         " \"entropy\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 100, \"refill_time\": 10}}},"
	                         " \"balloon\": {\"amount_mib\": 8, \"deflate_on_oom\": true},"
	                         " \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"version\": \"V2\"}}"),
	                 0);
	char *first = vm_config_of(&f->t);
	struct vm_config cfg2;
	struct api_target t2 = { .vmm = &f->vmm, .cfg = &cfg2, .metrics = &f->metrics };
	config_init(&cfg2);
	assert_int_equal(config_file_apply_text(first, strlen(first), &t2, f->err, sizeof(f->err)), 0);
	char *second = vm_config_of(&t2);
	assert_string_equal(first, second);
	/* and it has every device in it */
	assert_non_null(strstr(first, "\"uds_path\":\"/tmp/v.sock\""));
	assert_non_null(strstr(first, "\"refill_time\":9"));
	assert_non_null(strstr(first, "\"amount_mib\":8"));
	assert_non_null(strstr(first, "\"version\":\"V2\""));
	free(first);
	free(second);
	config_free(&cfg2);
}

/* Where the init args start: the first " -- " outside double quotes. */
static void test_boot_args_init_at(void **state)
{
	(void)state;
	assert_int_equal(boot_args_init_at("console=ttyS0"), strlen("console=ttyS0"));
	assert_int_equal(boot_args_init_at("console=ttyS0 -- init1 -- init2"), strlen("console=ttyS0"));
	assert_int_equal(boot_args_init_at("a=\"x -- y\" b -- c"), strlen("a=\"x -- y\" b"));
	assert_int_equal(boot_args_init_at("a=\"x -- y"), strlen("a=\"x -- y"));
	assert_int_equal(boot_args_init_at("a --b"), strlen("a --b"));
	assert_int_equal(boot_args_init_at(""), 0);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_boot_args_init_at),
	cmocka_unit_test_setup_teardown(test_full_document, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_errors_name_the_key, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_mmds_config, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_smt, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_load_from_path, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_vm_config_is_a_config_file, fx_setup, fx_teardown))
