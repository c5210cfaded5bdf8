/* acpi: every table's signature, length and checksum, the pointers between
 * them as Linux follows them, what the FADT and MADT say, and the DSDT's
 * device list as iasl (acpica-tools, tools/deps) disassembles it. */
#include <stdarg.h>
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

#include "vmm/arch/x86_64/acpi.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/guest_mem.h"

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s += *p++;
	return s;
}

static uint64_t le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A table at gpa with signature sig: its length checked against the
 * tables' area and its checksum; returns it. */
static const uint8_t *table_at(const struct guest_mem *gm, uint64_t gpa, const char *sig)
{
	const uint8_t *t = gm_ptr(gm, gpa, 36);
	assert_non_null(t);
	assert_memory_equal(t, sig, 4);
	uint32_t len = (uint32_t)le(t + 4, 4);
	assert_true(len >= 36);
	assert_true(gpa >= LAYOUT_ACPI_START && gpa + len <= LAYOUT_ACPI_END);
	assert_int_equal(sum(t, len), 0);
	return t;
}

static struct arch_devices some_devices(unsigned nr_virtio)
{
	struct arch_devices d = { .acpi = true, .nr_virtio = nr_virtio,
	                          .vmgenid = { 0xd0011000, 0x1000, 21 } };
	for (unsigned i = 0; i < nr_virtio; i++)
		d.virtio[i] = (struct arch_mmio_dev){ LAYOUT_VIRTIO_MMIO_BASE + i * 0x1000, 0x1000, 5 + i };
	return d;
}

static void check_madt(const uint8_t *madt, unsigned nr_cpus)
{
	uint32_t len = (uint32_t)le(madt + 4, 4);
	assert_int_equal(le(madt + 36, 4), LAYOUT_LAPIC);
	unsigned cpus = 0, ioapics = 0, overrides = 0;
	for (const uint8_t *p = madt + 44; p < madt + len; p += p[1]) {
		assert_true(p[1] >= 2 && p + p[1] <= madt + len);
		if (p[0] == 0) {
			assert_int_equal(p[3], cpus); /* APIC id */
			assert_int_equal(le(p + 4, 4) & 1, 1);
			cpus++;
		} else if (p[0] == 1) {
			assert_int_equal(p[2], nr_cpus);
			assert_int_equal(le(p + 4, 4), LAYOUT_IOAPIC);
			ioapics++;
		} else if (p[0] == 2) {
			assert_int_equal(le(p + 4, 4), p[3]); /* ISA IRQ n is GSI n */
			overrides++;
		}
	}
	assert_int_equal(cpus, nr_cpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 2);
}

/* Follow RSDP -> XSDT -> FADT -> DSDT and XSDT -> MADT; returns the DSDT. */
static const uint8_t *check_tables(const struct guest_mem *gm, uint64_t rsdp_gpa, unsigned nr_cpus)
{
	assert_int_equal(rsdp_gpa, LAYOUT_ACPI_START); /* where Linux scans */
	const uint8_t *rsdp = gm_ptr(gm, rsdp_gpa, 36);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(le(rsdp + 20, 4), 36);
	const uint8_t *xsdt = table_at(gm, le(rsdp + 24, 8), "XSDT");
	assert_int_equal(le(xsdt + 4, 4), 36 + 2 * 8);
	const uint8_t *fadt = table_at(gm, le(xsdt + 36, 8), "FACP");
	assert_int_equal(le(fadt + 4, 4), 276);
	assert_int_equal(fadt[8], 6);
	assert_true(le(fadt + 112, 4) & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(le(fadt + 109, 2) & (1u << 1));  /* the i8042 is there */
	assert_true(le(fadt + 109, 2) & (1u << 5));  /* no CMOS RTC */
	check_madt(table_at(gm, le(xsdt + 44, 8), "APIC"), nr_cpus);
	return table_at(gm, le(fadt + 140, 8), "DSDT");
}

static void test_tables_checksums_and_links(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 32ULL << 20, LAYOUT_MMIO_GAP_START), 0);
	unsigned cpus[] = { 1, 2, 32, 254 }, virtio[] = { 0, 1, 4, LAYOUT_VIRTIO_MAX_DEVICES };
	for (unsigned i = 0; i < 4; i++) {
		struct arch_devices d = some_devices(virtio[i]);
		uint64_t rsdp = 0;
		assert_int_equal(acpi_write(&gm, cpus[i], &d, &rsdp), 0);
		check_tables(&gm, rsdp, cpus[i]);
	}
	gm_destroy(&gm);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct guest_mem gm, tiny;
	uint64_t rsdp;
	assert_int_equal(gm_init(&gm, 32ULL << 20, LAYOUT_MMIO_GAP_START), 0);
	struct arch_devices d = some_devices(2);
	assert_int_equal(acpi_write(&gm, 0, &d, &rsdp), -EINVAL);
	assert_int_equal(acpi_write(&gm, 255, &d, &rsdp), -EINVAL);
	d.nr_virtio = LAYOUT_VIRTIO_MAX_DEVICES + 1;
	assert_int_equal(acpi_write(&gm, 1, &d, &rsdp), -EINVAL);
	d = some_devices(2);
	d.virtio[1].base = 0x100000000ull; /* not a 32-bit range */
	assert_int_equal(acpi_write(&gm, 1, &d, &rsdp), -EINVAL);
	/* guest RAM that ends before the BIOS area */
	assert_int_equal(gm_init(&tiny, 512 << 10, LAYOUT_MMIO_GAP_START), 0);
	d = some_devices(2);
	assert_int_equal(acpi_write(&tiny, 1, &d, &rsdp), -ENOMEM);
	gm_destroy(&tiny);
	gm_destroy(&gm);
}

/* ---- iasl ---- */

static void save(const char *dir, const char *name, const uint8_t *p, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

static char *slurp(const char *dir, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[1 << 16];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_iasl_disassembles_device_list(void **state)
{
	(void)state;
	if (system("command -v iasl >/dev/null") != 0)
		fail_msg("iasl not found: install acpica-tools (tools/deps)");
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 32ULL << 20, LAYOUT_MMIO_GAP_START), 0);
	struct arch_devices d = some_devices(3);
	uint64_t rsdp;
	assert_int_equal(acpi_write(&gm, 2, &d, &rsdp), 0);
	const uint8_t *dsdt = check_tables(&gm, rsdp, 2);
	char dir[] = "/tmp/husk-acpi-XXXXXX", cmd[512];
	assert_non_null(mkdtemp(dir));
	save(dir, "dsdt", dsdt, le(dsdt + 4, 4));
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1", dir);
	assert_int_equal(system(cmd), 0);
	const char *dsl = slurp(dir, "dsdt");
	assert_int_equal(count(dsl, "Device ("), 3 + 2 + 2); /* virtio, COM1 + PS2, VGEN + GED */
	assert_int_equal(count(dsl, "\"LNRO0005\""), 3);
	assert_non_null(strstr(dsl, "0xD0003000,         // Address Base"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0501\")"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0303\")"));
	assert_non_null(strstr(dsl, "Name (_CID, \"VM_GEN_COUNTER\")"));
	assert_non_null(strstr(dsl, "0xD0011000"));
	assert_non_null(strstr(dsl, "\"ACPI0013\""));
	assert_non_null(strstr(dsl, "Notify (\\_SB.VGEN, 0x80)"));
	assert_null(strstr(dsl, "Invalid"));

	/* the FADT and MADT as iasl reads them */
	const uint8_t *xsdt = gm_ptr(&gm, le(gm_ptr(&gm, rsdp, 36) + 24, 8), 52);
	const uint8_t *fadt = gm_ptr(&gm, le(xsdt + 36, 8), 276), *madt = gm_ptr(&gm, le(xsdt + 44, 8), 36);
	save(dir, "facp", fadt, 276);
	save(dir, "apic", madt, le(madt + 4, 4));
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d facp.dat apic.dat >>iasl.log 2>&1", dir);
	assert_int_equal(system(cmd), 0);
	assert_non_null(strstr(slurp(dir, "facp"), "Hardware Reduced (V5) : 1"));
	const char *apic = slurp(dir, "apic");
	assert_int_equal(count(apic, "[Processor Local APIC]"), 2);
	assert_int_equal(count(apic, "[I/O APIC]"), 1);
	assert_int_equal(count(apic, "[Interrupt Source Override]"), 2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	gm_destroy(&gm);
}

UNIT_TEST_MAIN(
	cmocka_unit_test(test_tables_checksums_and_links),
	cmocka_unit_test(test_bad_input),
	cmocka_unit_test(test_iasl_disassembles_device_list))
