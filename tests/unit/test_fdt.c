/* The aarch64 device tree: built, parsed back with libfdt, and read by
 * Debian's dtc (device-tree-compiler) as a second, independent reader. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_main.h"
#include <libfdt.h>

#include "vmm/arch/aarch64/fdt.h"
#include "vmm/arch/aarch64/gic.h"

#define RAM (256ULL << 20)
#define CMDLINE "console=ttyS0 reboot=k panic=1"

static uint8_t blob[64 << 10];

static const struct arch_devices devs = {
	.nr_virtio = 2,
	.virtio = { { LAYOUT_VIRTIO_MMIO_BASE, LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_GSI_BASE },
	            { LAYOUT_VIRTIO_MMIO_BASE + LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_MMIO_SIZE,
	              LAYOUT_VIRTIO_GSI_BASE + 1 } },
	.vmgenid = { 0x40011000, 16, 21 },
};

static struct fdt_machine machine(unsigned nr_vcpus, int gic_version)
{
	return (struct fdt_machine){ .nr_vcpus = nr_vcpus, .gic_version = gic_version, .ram_size = RAM,
	                             .cmdline = CMDLINE, .initrd_addr = 0x8f000000, .initrd_size = 0x12345,
	                             .devs = &devs };
}

static uint64_t prop_u64(const void *fdt, const char *path, const char *name, int idx)
{
	int node = fdt_path_offset(fdt, path);
	int len = 0;
	assert_true(node >= 0);
	const fdt64_t *p = fdt_getprop(fdt, node, name, &len);
	assert_non_null(p);
	assert_true(len >= (int)sizeof(*p) * (idx + 1));
	return fdt64_to_cpu(p[idx]);
}

static uint32_t prop_u32(const void *fdt, const char *path, const char *name, int idx)
{
	int node = fdt_path_offset(fdt, path);
	int len = 0;
	assert_true(node >= 0);
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);
	assert_non_null(p);
	assert_true(len >= (int)sizeof(*p) * (idx + 1));
	return fdt32_to_cpu(p[idx]);
}

static const char *prop_str(const void *fdt, const char *path, const char *name)
{
	int node = fdt_path_offset(fdt, path);
	assert_true(node >= 0);
	const char *s = fdt_getprop(fdt, node, name, NULL);
	assert_non_null(s);
	return s;
}

static void test_chosen_and_memory(void **state)
{
	(void)state;
	struct fdt_machine m = machine(2, 3);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	assert_int_equal(fdt_check_header(blob), 0);
	assert_string_equal(prop_str(blob, "/chosen", "bootargs"), CMDLINE);
	assert_int_equal(prop_u64(blob, "/chosen", "linux,initrd-start", 0), 0x8f000000);
	assert_int_equal(prop_u64(blob, "/chosen", "linux,initrd-end", 0), 0x8f000000 + 0x12345);
	/* stdout-path names a node that exists: the 16550 */
	const char *out = prop_str(blob, "/chosen", "stdout-path");
	assert_string_equal(prop_str(blob, out, "compatible"), "ns16550a");
	assert_int_equal(prop_u64(blob, out, "reg", 0), LAYOUT_SERIAL_MMIO);
	assert_int_equal(prop_u32(blob, out, "interrupts", 1), LAYOUT_COM1_IRQ);
	assert_int_equal(prop_u64(blob, "/memory@80000000", "reg", 0), LAYOUT_RAM_BASE);
	assert_int_equal(prop_u64(blob, "/memory@80000000", "reg", 1), RAM);
}

static void test_no_initrd_no_initrd_props(void **state)
{
	(void)state;
	struct fdt_machine m = machine(1, 3);
	m.initrd_size = 0;
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	int chosen = fdt_path_offset(blob, "/chosen");
	assert_null(fdt_getprop(blob, chosen, "linux,initrd-start", NULL));
}

static void test_cpus_psci(void **state)
{
	(void)state;
	struct fdt_machine m = machine(20, 3);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	int cpus = fdt_path_offset(blob, "/cpus"), n = 0, node;
	assert_true(cpus >= 0);
	fdt_for_each_subnode(node, blob, cpus) {
		assert_string_equal(fdt_getprop(blob, node, "enable-method", NULL), "psci");
		const fdt32_t *reg = fdt_getprop(blob, node, "reg", NULL);
		assert_int_equal(fdt32_to_cpu(*reg), fdt_vcpu_mpidr((unsigned)n));
		n++;
	}
	assert_int_equal(n, 20);
	/* vCPU 17: Aff1 1, Aff0 1 */
	assert_int_equal(fdt_vcpu_mpidr(17), 0x101);
	assert_string_equal(prop_str(blob, "/psci", "method"), "hvc");
	assert_string_equal(prop_str(blob, "/psci", "compatible"), "arm,psci-0.2");
}

static void test_gic_v3_and_v2(void **state)
{
	(void)state;
	struct fdt_machine m = machine(4, 3);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	assert_string_equal(prop_str(blob, "/intc@3fff0000", "compatible"), "arm,gic-v3");
	assert_int_equal(prop_u64(blob, "/intc@3fff0000", "reg", 2), gic_redist_base(4));
	assert_int_equal(prop_u64(blob, "/intc@3fff0000", "reg", 3), 4 * LAYOUT_GIC_REDIST_SIZE);
	assert_int_equal(gic_redist_base(4) + 4 * LAYOUT_GIC_REDIST_SIZE, LAYOUT_GIC_DIST);
	assert_int_equal(prop_u32(blob, "/", "interrupt-parent", 0), FDT_GIC_PHANDLE);
	assert_int_equal(prop_u32(blob, "/intc@3fff0000", "phandle", 0), FDT_GIC_PHANDLE);
	/* the timer's PPIs: GICv3 has no CPU mask */
	assert_int_equal(prop_u32(blob, "/timer", "interrupts", 1), 13);
	assert_int_equal(prop_u32(blob, "/timer", "interrupts", 2), 4);

	m = machine(4, 2);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	assert_string_equal(prop_str(blob, "/intc@3fff0000", "compatible"), "arm,cortex-a15-gic");
	assert_int_equal(prop_u64(blob, "/intc@3fff0000", "reg", 2), LAYOUT_GIC_V2_CPU);
	assert_int_equal(prop_u32(blob, "/timer", "interrupts", 2), 0xf04);
}

/* GICv2's eight-CPU limit is refused by name before KVM would refuse
 * the ninth vCPU; a GICv3 has none such. */
static void test_gic_v2_takes_at_most_8_vcpus(void **state)
{
	(void)state;
	char err[160] = "";
	assert_int_equal(gic_vcpus_check(2, 8, err, sizeof(err)), 0);
	assert_int_equal(gic_vcpus_check(3, 32, err, sizeof(err)), 0);
	assert_int_equal(gic_vcpus_check(2, 9, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "9 vCPUs: this host's KVM has only a GICv2, which takes at most 8 (no GICv3 emulation)");
}

static void test_virtio_and_vmgenid(void **state)
{
	(void)state;
	struct fdt_machine m = machine(1, 3);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	assert_string_equal(prop_str(blob, "/virtio_mmio@40001000", "compatible"), "virtio,mmio");
	assert_int_equal(prop_u32(blob, "/virtio_mmio@40001000", "interrupts", 1), LAYOUT_VIRTIO_GSI_BASE);
	assert_int_equal(prop_u64(blob, "/virtio_mmio@40002000", "reg", 0), 0x40002000);
	assert_int_equal(prop_u32(blob, "/virtio_mmio@40002000", "interrupts", 1), LAYOUT_VIRTIO_GSI_BASE + 1);
	assert_true(fdt_path_offset(blob, "/virtio_mmio@40003000") < 0);
	assert_string_equal(prop_str(blob, "/vmgenid@40011000", "compatible"), "microsoft,vmgenid");
	assert_int_equal(prop_u32(blob, "/vmgenid@40011000", "interrupts", 1), 21);
}

static void test_too_small_buffer(void **state)
{
	(void)state;
	struct fdt_machine m = machine(2, 3);
	assert_int_equal(fdt_build(blob, 256, &m), -ENOSPC);
	m.nr_vcpus = 0;
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), -EINVAL);
}

/* Write len bytes of data to a new temporary file; its path in path. */
static void temp_write(char *path, const void *data, size_t len)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* dtc's text of the blob, or NULL. */
static char *dtc_text(const void *fdt)
{
	char path[] = "/tmp/husk-test-fdt-XXXXXX", cmd[128];
	static char text[32 << 10];
	temp_write(path, fdt, fdt_totalsize(fdt));
	snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts %s", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(text, 1, sizeof(text) - 1, p);
	text[n] = '\0';
	int status = pclose(p);
	unlink(path);
	if (status != 0) {
		print_error("'%s' failed (status %d): is device-tree-compiler installed (tools/deps)?\n", cmd,
		            status);
		return NULL;
	}
	return text;
}

/* The whole of a small text file, NUL-terminated (the caller frees it). */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s", path);
	static const size_t max = 32 << 10;
	char *text = calloc(1, max + 1);
	assert_non_null(text);
	size_t n = fread(text, 1, max, f);
	fclose(f);
	assert_true(n < max);
	return text;
}

/* The expected text and dtc's differ: print diff -u of the two and keep
 * dtc's, to copy over the expected file when the change is meant. */
static void show_dts_diff(const char *got)
{
	char path[] = "/tmp/husk-test-fdt-got-XXXXXX", cmd[512], line[256];
	temp_write(path, got, strlen(got));
	snprintf(cmd, sizeof(cmd), "diff -u %s %s", FDT_EXPECTED_DTS, path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		print_error("%s", line);
	pclose(p);
	print_error("dtc's text is in %s: if the change is meant, copy it to %s\n", path, FDT_EXPECTED_DTS);
}

/* dtc, an independent reader, turns a fixed machine's tree (3 vCPUs,
 * GICv3, an initrd, two virtio-mmio devices and VMGenID) into exactly the
 * checked-in text: any change to the tree, a node, a property, their
 * order, shows up as a diff to review. */
static void test_dtc_reads_the_expected_tree(void **state)
{
	(void)state;
	struct fdt_machine m = machine(3, 3);
	assert_int_equal(fdt_build(blob, sizeof(blob), &m), 0);
	char *dts = dtc_text(blob);
	assert_non_null(dts);
	char *want = read_text(FDT_EXPECTED_DTS);
	bool same = strcmp(want, dts) == 0;
	if (!same)
		show_dts_diff(dts);
	free(want);
	assert_true(same);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_chosen_and_memory),
	cmocka_unit_test(test_no_initrd_no_initrd_props),
	cmocka_unit_test(test_cpus_psci),
	cmocka_unit_test(test_gic_v3_and_v2),
	cmocka_unit_test(test_gic_v2_takes_at_most_8_vcpus),
	cmocka_unit_test(test_virtio_and_vmgenid),
	cmocka_unit_test(test_too_small_buffer),
	cmocka_unit_test(test_dtc_reads_the_expected_tree))
