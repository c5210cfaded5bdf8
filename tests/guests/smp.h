/* smp: what smp.c, smp_lib.c, racer.c and smp_tramp.S share. */
#ifndef HUSK_GUEST_SMP_H
#define HUSK_GUEST_SMP_H

#define SMP_MAX_CPUS 64
/* below 1 MiB, clear of 0x500..0xbfff (VMM tables), 0x20000 (cmdline) and
 * 0x9fc00 (MP table); SIPI vector = TRAMP_BASE >> 12 */
#define TRAMP_BASE 0x10000
#define AP_STACK_SHIFT 12 /* 4 KiB per AP */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* smp_lib.c: SMP start-up the way Linux does it, for every guest that
 * wants more than one CPU. The CPUs come from the MP table; each AP is
 * started with INIT + SIPI + SIPI through the xAPIC and runs smp_tramp.S
 * (real -> protected -> long mode on the BSP's page tables), which calls
 * the entry given to smp_prepare with its trampoline index. */
struct smp_cpus {
	uint64_t apic_base; /* the APIC base MSR as read */
	volatile uint8_t *lapic;
	uint32_t bsp;       /* LAPIC id of the CPU that called smp_lapic_init */
	unsigned ncpus;     /* from the MP table, BSP included */
	uint32_t apic_ids[SMP_MAX_CPUS];
};
extern struct smp_cpus smp_cpus;

#define SMP_APIC_BASE_BSP (1u << 8)

/* Check the APIC base MSR (xAPIC, enabled, mapped high) and note the
 * BSP's LAPIC id; false when the MSR is not usable. */
int smp_lapic_init(void);
/* Fill ncpus / apic_ids from the MP table; NULL or why not. */
const char *smp_mptable_read(void);
/* Enable the LAPIC and copy the trampoline to TRAMP_BASE with entry as
 * the C function every AP calls (it must not return). */
void smp_prepare(void (*entry)(uint32_t index));
/* INIT, INIT de-assert, SIPI, SIPI to one AP; <0 when the ICR stays busy. */
int smp_start_ap(uint32_t apic_id);
uint32_t smp_lapic_id(void);
uint32_t smp_cpuid_apic_id(void);
#endif

#endif
