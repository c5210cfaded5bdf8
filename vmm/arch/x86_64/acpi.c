/* acpi: the guest's ACPI tables (see acpi.h). Each table is built in
 * place in guest RAM, one after the other, 16-byte aligned; the pointers
 * between them (RSDP -> XSDT -> FADT, MADT; FADT -> DSDT) are filled in
 * once the next table's address is known, and every checksum last. */
#include "vmm/arch/x86_64/acpi.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vmm/arch/x86_64/aml.h"
#include "vmm/guest_mem.h"

#define ACPI_OEM_ID "HUSK  "
#define ACPI_OEM_TABLE "HUSKVM  "
#define ACPI_CREATOR "HUSK"
#define ACPI_ALIGN 16

/* FADT (5.2.9): revision 6.5, and the offsets husk fills */
#define FADT_LEN 276
#define FADT_REV 6
#define FADT_MINOR 5
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_HYPERVISOR_ID 268
#define IAPC_8042 (1u << 1)
#define IAPC_NO_VGA (1u << 2)
#define IAPC_NO_MSI (1u << 3)
#define IAPC_NO_CMOS_RTC (1u << 5)
#define FADT_PWR_BUTTON (1u << 4) /* set: no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_HW_REDUCED_ACPI (1u << 20)

/* MADT (5.2.12) */
#define MADT_REV 6
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_ENABLED 1
#define MPS_EDGE_HIGH 0x0005 /* polarity 01 active high, trigger 01 edge */

#define DSDT_REV 2 /* 64-bit integers */
#define VMGENID_NOTIFY 0x80

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* of the first 20 bytes */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* of all 36 */
	uint8_t reserved[3];
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_header) == 36, "SDT header");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");

/* Where the next table goes, in guest RAM. */
struct acpi_out {
	uint8_t *base; /* host address of LAYOUT_ACPI_START */
	size_t len;
};

static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Room for a table of len bytes; its guest address in *gpa. */
static uint8_t *acpi_alloc(struct acpi_out *o, size_t len, uint64_t *gpa)
{
	size_t at = (o->len + ACPI_ALIGN - 1) & ~(size_t)(ACPI_ALIGN - 1);
	if (len > LAYOUT_ACPI_END - LAYOUT_ACPI_START - at)
		return NULL;
	o->len = at + len;
	*gpa = LAYOUT_ACPI_START + at;
	memset(o->base + at, 0, len);
	return o->base + at;
}

/* Fill a table's header once its length is final; the checksum last. */
static void acpi_header_finish(uint8_t *table, const char sig[4], uint8_t rev, size_t len)
{
	struct acpi_header h = { .length = (uint32_t)len, .revision = rev, .oem_revision = 1,
	                         .creator_revision = 1 };
	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, ACPI_OEM_ID, 6);
	memcpy(h.oem_table_id, ACPI_OEM_TABLE, 8);
	memcpy(h.creator_id, ACPI_CREATOR, 4);
	memcpy(table, &h, sizeof(h));
	table[offsetof(struct acpi_header, checksum)] = acpi_checksum(table, len);
}

/* ---- DSDT ---- */

/* Name(_CRS, ResourceTemplate() { ... }) from a finished template */
static void dsdt_crs(struct aml *a, struct aml_res *r)
{
	aml_res_end(r);
	if (r->err && !a->err)
		a->err = r->err;
	aml_name(a, "_CRS");
	aml_buffer(a, r->buf, r->len);
}

static void dsdt_legacy(struct aml *a)
{
	struct aml_res r;
	size_t dev = aml_device(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_res_init(&r);
	aml_res_io(&r, (uint16_t)LAYOUT_COM1, 8);
	aml_res_interrupt(&r, LAYOUT_COM1_IRQ);
	dsdt_crs(a, &r);
	aml_close(a, dev);

	dev = aml_device(a, "PS2_");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0303");
	aml_res_init(&r);
	aml_res_io(&r, (uint16_t)LAYOUT_I8042, 1);
	aml_res_io(&r, (uint16_t)LAYOUT_I8042 + 4, 1);
	aml_res_interrupt(&r, LAYOUT_I8042_IRQ);
	dsdt_crs(a, &r);
	aml_close(a, dev);
}

static void dsdt_virtio(struct aml *a, unsigned index, const struct arch_mmio_dev *d)
{
	char name[8];
	struct aml_res r;
	snprintf(name, sizeof(name), "V%03u", index % 1000);
	size_t dev = aml_device(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, index);
	aml_res_init(&r);
	aml_res_memory32_fixed(&r, (uint32_t)d->base, (uint32_t)d->size);
	aml_res_interrupt(&r, d->gsi);
	dsdt_crs(a, &r);
	aml_close(a, dev);
}

/* VMGenID as Linux's vmgenid driver binds it (by _HID or _CID), and the
 * GED whose interrupt makes the guest re-read it: ACPICA calls _EVT with
 * the GSI that fired. */
static void dsdt_vmgenid(struct aml *a, const struct arch_mmio_dev *g)
{
	size_t dev = aml_device(a, "VGEN");
	aml_name(a, "_HID");
	aml_string(a, "VMGENCTR");
	aml_name(a, "_CID");
	aml_string(a, "VM_GEN_COUNTER");
	aml_name(a, "_DDN");
	aml_string(a, "VM_GEN_COUNTER");
	aml_name(a, "ADDR");
	size_t pkg = aml_package(a, 2);
	aml_integer(a, g->base & 0xffffffffu);
	aml_integer(a, g->base >> 32);
	aml_close(a, pkg);
	aml_close(a, dev);

	struct aml_res r;
	dev = aml_device(a, "GED_");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_res_init(&r);
	aml_res_interrupt(&r, g->gsi);
	dsdt_crs(a, &r);
	size_t m = aml_method(a, "_EVT", 1);
	size_t cond = aml_if_arg_equal(a, 0, g->gsi);
	aml_notify(a, "\\_SB.VGEN", VMGENID_NOTIFY);
	aml_close(a, cond);
	aml_close(a, m);
	aml_close(a, dev);
}

static int dsdt_write(struct acpi_out *o, const struct arch_devices *devs, uint64_t *gpa)
{
	size_t room = LAYOUT_ACPI_END - LAYOUT_ACPI_START - o->len - ACPI_ALIGN;
	uint8_t *t = acpi_alloc(o, room, gpa);
	struct aml a;
	if (!t)
		return -ENOSPC;
	aml_init(&a, t + sizeof(struct acpi_header), room - sizeof(struct acpi_header));
	size_t sb = aml_scope(&a, "\\_SB");
	dsdt_legacy(&a);
	for (unsigned i = 0; i < devs->nr_virtio; i++)
		dsdt_virtio(&a, i, &devs->virtio[i]);
	if (devs->vmgenid.size)
		dsdt_vmgenid(&a, &devs->vmgenid);
	aml_close(&a, sb);
	if (a.err)
		return a.err;
	size_t len = sizeof(struct acpi_header) + a.len;
	o->len -= room - len; /* give back what the AML did not use */
	acpi_header_finish(t, "DSDT", DSDT_REV, len);
	return 0;
}

/* ---- FADT, MADT, XSDT, RSDP ---- */

static int fadt_write(struct acpi_out *o, uint64_t dsdt, uint64_t *gpa)
{
	uint8_t *t = acpi_alloc(o, FADT_LEN, gpa);
	if (!t)
		return -ENOSPC;
	put_le(t + FADT_IAPC_BOOT_ARCH, IAPC_8042 | IAPC_NO_VGA | IAPC_NO_MSI | IAPC_NO_CMOS_RTC, 2);
	put_le(t + FADT_FLAGS, FADT_HW_REDUCED_ACPI | FADT_PWR_BUTTON | FADT_SLP_BUTTON, 4);
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	put_le(t + FADT_X_DSDT, dsdt, 8); /* the 32-bit DSDT field stays 0, as the spec wants */
	memcpy(t + FADT_HYPERVISOR_ID, "HUSK", 4);
	acpi_header_finish(t, "FACP", FADT_REV, FADT_LEN);
	return 0;
}

static uint8_t *madt_entry(uint8_t *p, uint8_t type, uint8_t len)
{
	p[0] = type;
	p[1] = len;
	return p + 2;
}

static int madt_write(struct acpi_out *o, unsigned nr_cpus, uint64_t *gpa)
{
	static const uint8_t isa_irqs[] = { LAYOUT_I8042_IRQ, LAYOUT_COM1_IRQ };
	size_t len = sizeof(struct acpi_header) + 8 + nr_cpus * 8 + 12 + sizeof(isa_irqs) * 10 + 6;
	uint8_t *t = acpi_alloc(o, len, gpa);
	if (!t)
		return -ENOSPC;
	uint8_t *p = t + sizeof(struct acpi_header);
	put_le(p, LAYOUT_LAPIC, 4); /* flags 0: no 8259 for the guest to mask */
	p += 8;
	for (unsigned i = 0; i < nr_cpus; i++) {
		uint8_t *e = madt_entry(p, MADT_LAPIC, 8);
		e[0] = (uint8_t)i; /* ACPI processor UID */
		e[1] = (uint8_t)i; /* APIC id, as cpuid_normalize gives it */
		put_le(e + 2, MADT_ENABLED, 4);
		p += 8;
	}
	uint8_t *e = madt_entry(p, MADT_IOAPIC, 12);
	e[0] = (uint8_t)nr_cpus; /* the first id after the CPUs, as in the MP table */
	put_le(e + 2, LAYOUT_IOAPIC, 4);
	p += 12; /* GSI base 0 */
	/* ISA IRQs are IOAPIC pins of the same number (KVM's default routing);
	 * the overrides say so for the two ISA devices, and that they are edge,
	 * active-high */
	for (size_t i = 0; i < sizeof(isa_irqs); i++) {
		e = madt_entry(p, MADT_OVERRIDE, 10);
		e[1] = isa_irqs[i];
		put_le(e + 2, isa_irqs[i], 4);
		put_le(e + 6, MPS_EDGE_HIGH, 2);
		p += 10;
	}
	e = madt_entry(p, MADT_LAPIC_NMI, 6);
	e[0] = 0xff; /* every processor */
	e[3] = 1;    /* LINT1, as in the MP table */
	acpi_header_finish(t, "APIC", MADT_REV, len);
	return 0;
}

static int xsdt_write(struct acpi_out *o, const uint64_t *tables, unsigned n, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_header) + n * 8;
	uint8_t *t = acpi_alloc(o, len, gpa);
	if (!t)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		put_le(t + sizeof(struct acpi_header) + i * 8, tables[i], 8);
	acpi_header_finish(t, "XSDT", 1, len);
	return 0;
}

static void rsdp_write(uint8_t *p, uint64_t xsdt)
{
	struct acpi_rsdp r = { .revision = 2, .length = sizeof(r), .xsdt_address = xsdt };
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.checksum = acpi_checksum((const uint8_t *)&r, 20);
	r.extended_checksum = acpi_checksum((const uint8_t *)&r, sizeof(r));
	memcpy(p, &r, sizeof(r));
}

static int acpi_devices_check(unsigned nr_cpus, const struct arch_devices *d)
{
	if (nr_cpus == 0 || nr_cpus > 254 || d->nr_virtio > LAYOUT_VIRTIO_MAX_DEVICES)
		return -EINVAL;
	for (unsigned i = 0; i < d->nr_virtio; i++)
		if (d->virtio[i].base + d->virtio[i].size > LAYOUT_MMIO_GAP_END || d->virtio[i].size == 0)
			return -EINVAL; /* Memory32Fixed holds 32-bit ranges */
	return 0;
}

int acpi_write(const struct guest_mem *gm, unsigned nr_cpus, const struct arch_devices *devs,
               uint64_t *rsdp)
{
	int ret = acpi_devices_check(nr_cpus, devs);
	if (ret < 0)
		return ret;
	struct acpi_out o = { .base = gm_ptr(gm, LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START) };
	if (!o.base)
		return -ENOMEM;
	uint64_t rsdp_gpa, dsdt = 0, tables[2] = { 0 }, xsdt = 0;
	uint8_t *r = acpi_alloc(&o, sizeof(struct acpi_rsdp), &rsdp_gpa);
	ret = dsdt_write(&o, devs, &dsdt);
	if (ret == 0)
		ret = fadt_write(&o, dsdt, &tables[0]);
	if (ret == 0)
		ret = madt_write(&o, nr_cpus, &tables[1]);
	if (ret == 0)
		ret = xsdt_write(&o, tables, 2, &xsdt);
	if (ret < 0)
		return ret;
	rsdp_write(r, xsdt);
	*rsdp = rsdp_gpa;
	return 0;
}
