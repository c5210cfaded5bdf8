/* mptable: an Intel MultiProcessor Specification 1.4 table, so a guest
 * without ACPI finds every CPU, the IOAPIC and how ISA/virtio interrupts are
 * routed. Placed in the last KiB of base memory, where Linux scans for the
 * floating pointer. */
#include <errno.h>
#include <string.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

#define MP_SPEC_REV 4
#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IRQ_TYPE_INT 0
#define MP_IRQ_TYPE_NMI 1
#define MP_IRQ_TYPE_EXTINT 3
#define MP_NR_IOAPIC_PINS 24
#define MP_TABLE_END 0xa0000ULL /* the VGA hole starts here */

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length;
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };

_Static_assert(sizeof(struct mpf_intel) == 16, "mpf size");
_Static_assert(sizeof(struct mpc_table) == 44, "mpc size");
_Static_assert(sizeof(struct mpc_cpu) == 20, "cpu entry size");

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Bytes the table needs for nr_cpus CPUs. */
static size_t mptable_size(unsigned nr_cpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) + nr_cpus * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       MP_NR_IOAPIC_PINS * sizeof(struct mpc_intsrc) + 2 * sizeof(struct mpc_intsrc);
}

static uint8_t *put(uint8_t *p, const void *entry, size_t len)
{
	memcpy(p, entry, len);
	return p + len;
}

static uint8_t *put_entries(uint8_t *p, unsigned nr_cpus, uint16_t *count)
{
	uint8_t ioapic_id = (uint8_t)nr_cpus; /* the first id after the CPUs */

	for (unsigned i = 0; i < nr_cpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR, .apicid = (uint8_t)i, .apicver = MP_APIC_VERSION,
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.cpufeature = 0x600, /* family 6 */
			.featureflag = (1u << 0) | (1u << 9), /* FPU, APIC */
		};
		p = put(p, &cpu, sizeof(cpu));
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0 };
	memcpy(bus.bustype, "ISA   ", 6);
	p = put(p, &bus, sizeof(bus));
	struct mpc_ioapic ioapic = { .type = MP_IOAPIC, .apicid = ioapic_id, .apicver = MP_IOAPIC_VERSION,
	                             .flags = 1, .apicaddr = (uint32_t)LAYOUT_IOAPIC };
	p = put(p, &ioapic, sizeof(ioapic));
	/* ISA IRQ n on IOAPIC pin n. No ExtINT entry on pin 0: the PIC reaches
	 * the BSP through LINT0 below (an ExtINT pin 0 makes Linux warn
	 * "ExtINT not setup in hardware but reported by MP table") */
	struct mpc_intsrc src;
	for (unsigned pin = 0; pin < MP_NR_IOAPIC_PINS; pin++) {
		src = (struct mpc_intsrc){ .type = MP_INTSRC, .irqtype = MP_IRQ_TYPE_INT, .srcbusirq = (uint8_t)pin,
		                           .dstapic = ioapic_id, .dstirq = (uint8_t)pin };
		p = put(p, &src, sizeof(src));
	}
	/* LINT0 ExtINT on the BSP (the 8259 path), LINT1 NMI on every LAPIC */
	src = (struct mpc_intsrc){ .type = MP_LINTSRC, .irqtype = MP_IRQ_TYPE_EXTINT, .dstapic = 0, .dstirq = 0 };
	p = put(p, &src, sizeof(src));
	src = (struct mpc_intsrc){ .type = MP_LINTSRC, .irqtype = MP_IRQ_TYPE_NMI, .dstapic = 0xff, .dstirq = 1 };
	p = put(p, &src, sizeof(src));
	*count = (uint16_t)(nr_cpus + 2 + MP_NR_IOAPIC_PINS + 2);
	return p;
}

int mptable_write(const struct guest_mem *gm, unsigned nr_cpus)
{
	if (!gm || nr_cpus == 0 || nr_cpus > 254)
		return -EINVAL;
	size_t size = mptable_size(nr_cpus);
	if (LAYOUT_MPTABLE + size > MP_TABLE_END)
		return -E2BIG;
	uint8_t *base = gm_ptr(gm, LAYOUT_MPTABLE, size);
	if (!base)
		return -ENOMEM;
	memset(base, 0, size);

	struct mpc_table *mpc = (struct mpc_table *)(base + sizeof(struct mpf_intel));
	uint16_t count = 0;
	uint8_t *end = put_entries((uint8_t *)(mpc + 1), nr_cpus, &count);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(end - (uint8_t *)mpc);
	mpc->spec = MP_SPEC_REV;
	memcpy(mpc->oem, "HUSK    ", 8);
	memcpy(mpc->productid, "MICROVM     ", 12);
	mpc->oemcount = count;
	mpc->lapic = (uint32_t)LAYOUT_LAPIC;
	mpc->checksum = checksum(mpc, mpc->length);

	struct mpf_intel *mpf = (struct mpf_intel *)base;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(LAYOUT_MPTABLE + sizeof(*mpf));
	mpf->length = 1; /* in 16-byte paragraphs */
	mpf->specification = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
