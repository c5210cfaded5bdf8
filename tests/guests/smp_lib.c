/* smp_lib: SMP start-up shared by the guests that run on several CPUs
 * (smp.c checks it, racer.c uses it to race a device); see smp.h. */
#include "guest.h"
#include "smp.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_X2APIC (1u << 10)
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_ADDR 0xfffff000u
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_SPURIOUS_VEC 0xff
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x500
#define ICR_STARTUP 0x600
#define ICR_BUSY 0x1000
#define ICR_ASSERT 0x4000
#define ICR_LEVEL 0x8000
#define ICR_SPINS 100000
/* the in-kernel LAPIC needs none of the 10 ms / 200 us waits of real
 * hardware; a short one keeps slow emulators happy */
#define IPI_DELAY_SPINS 1000

#define MP_FLOAT_SIZE 16
#define MP_CFG_HDR_SIZE 44
#define MP_ENTRY_CPU 0
#define MP_CPU_SIZE 20
#define MP_OTHER_SIZE 8
#define MP_CPU_ENABLED 1

extern char tramp_start[], tramp_end[], tramp_cr3[], tramp_stack_base[], tramp_entry[], tramp_next[];

static uint8_t ap_stacks[SMP_MAX_CPUS - 1][1 << AP_STACK_SHIFT]
	__attribute__((aligned(4096), section(".bss.stack")));

struct smp_cpus smp_cpus;

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return lo | (uint64_t)hi << 32;
}

uint32_t smp_cpuid_apic_id(void)
{
	uint32_t a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static uint32_t lapic_read(uint32_t reg)
{
	return rd32(smp_cpus.lapic + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	wr32(smp_cpus.lapic + reg, v);
}

uint32_t smp_lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

int smp_lapic_init(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	uint64_t addr = base & APIC_BASE_ADDR;
	smp_cpus.apic_base = base;
	if (!(base & APIC_BASE_ENABLE) || (base & APIC_BASE_X2APIC) || addr < 0xc0000000u)
		return -1;
	smp_cpus.lapic = (volatile uint8_t *)addr;
	smp_cpus.bsp = smp_lapic_id();
	return 0;
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s += *p++;
	return s;
}

static const uint8_t *mp_float_find(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a + MP_FLOAT_SIZE <= end; a += 16) {
		const uint8_t *p = (const uint8_t *)a;
		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && !checksum(p, MP_FLOAT_SIZE))
			return p;
	}
	return NULL;
}

const char *smp_mptable_read(void)
{
	/* where the VMM puts it, then the BIOS area (QEMU's firmware) */
	const uint8_t *fp = mp_float_find(G_EBDA_START, 0xa0000);
	if (!fp)
		fp = mp_float_find(0xf0000, 0x100000);
	if (!fp)
		return "no floating pointer";
	uint32_t cfg_addr = ld32(fp + 4);
	if (!cfg_addr || cfg_addr >= 0x100000)
		return "config table address out of range";
	const uint8_t *cfg = (const uint8_t *)(uint64_t)cfg_addr;
	uint16_t len = (uint16_t)(cfg[4] | cfg[5] << 8);
	uint16_t count = (uint16_t)(cfg[34] | cfg[35] << 8);
	if (memcmp(cfg, "PCMP", 4) || len < MP_CFG_HDR_SIZE || cfg_addr + len > 0x100000)
		return "bad config table header";
	if (checksum(cfg, len))
		return "bad config table checksum";
	/* walk by length like Linux (smp_read_mpc): QEMU's firmware leaves the
	 * entry count 0 */
	unsigned entries = 0;
	for (size_t off = MP_CFG_HDR_SIZE; off < len; entries++) {
		size_t size = cfg[off] == MP_ENTRY_CPU ? MP_CPU_SIZE : MP_OTHER_SIZE;
		if (cfg[off] > 4 || off + size > len)
			return "bad entry";
		if (cfg[off] == MP_ENTRY_CPU && (cfg[off + 3] & MP_CPU_ENABLED)) {
			if (smp_cpus.ncpus == SMP_MAX_CPUS)
				return "too many CPUs";
			smp_cpus.apic_ids[smp_cpus.ncpus++] = cfg[off + 1];
		}
		off += size;
	}
	if (count != entries)
		gprintf("husk-guest: mptable header says %u entries, table holds %u\n", count, entries);
	return smp_cpus.ncpus ? NULL : "no CPU entries";
}

static int icr_send(uint32_t apic_id, uint32_t lo)
{
	int i = 0;
	while ((lapic_read(LAPIC_ICR_LO) & ICR_BUSY) && i++ < ICR_SPINS)
		cpu_relax();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	return i < ICR_SPINS ? 0 : -1;
}

static void delay(void)
{
	for (volatile int i = 0; i < IPI_DELAY_SPINS; i++)
		cpu_relax();
}

int smp_start_ap(uint32_t apic_id)
{
	int err = icr_send(apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	err |= icr_send(apic_id, ICR_INIT | ICR_LEVEL); /* de-assert */
	delay();
	for (int i = 0; i < 2; i++) {
		err |= icr_send(apic_id, ICR_STARTUP | ICR_ASSERT | (TRAMP_BASE >> 12));
		delay();
	}
	return err;
}

void smp_prepare(void (*entry)(uint32_t index))
{
	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | LAPIC_SVR_ENABLE | LAPIC_SPURIOUS_VEC);
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint8_t *dst = (uint8_t *)(uint64_t)TRAMP_BASE;
	memcpy(dst, tramp_start, (size_t)(tramp_end - tramp_start));
	uint64_t v[3] = { cr3, (uint64_t)ap_stacks, (uint64_t)entry };
	memcpy(dst + (tramp_cr3 - tramp_start), &v[0], 8);
	memcpy(dst + (tramp_stack_base - tramp_start), &v[1], 8);
	memcpy(dst + (tramp_entry - tramp_start), &v[2], 8);
	memset(dst + (tramp_next - tramp_start), 0, 4);
}
