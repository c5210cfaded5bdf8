/* smp: proves SMP bring-up the way Linux does it. The BSP reads the CPU
 * list from the MP table, starts every AP with INIT + SIPI + SIPI through
 * its xAPIC (smp_lib.c); each AP runs smp_tramp.S (real -> protected ->
 * long mode), checks in with its APIC id, and the BSP waits (bounded) for
 * all. */
#include "guest.h"
#include "smp.h"

/* give up when no AP has checked in for this long (~2 s emulated) */
#define STALL_SPINS 4000000

static struct {
	volatile uint32_t up; /* APs checked in */
	volatile uint32_t ap_apic[SMP_MAX_CPUS - 1]; /* by trampoline index */
} smp;

static void ap_main(uint32_t index)
{
	uint32_t id = smp_lapic_id();
	smp.ap_apic[index] = id;
	if (smp_cpuid_apic_id() != id)
		gprintf("husk-guest: cpu %u BAD cpuid apic id %u\n", id, smp_cpuid_apic_id());
	gprintf("husk-guest: cpu %u up\n", id);
	__atomic_fetch_add(&smp.up, 1, __ATOMIC_RELEASE);
	guest_halt();
}

/* Every AP reported an id from the MP table, and no id twice. */
static bool ap_ids_match(unsigned n, uint32_t bsp)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t id = smp.ap_apic[i];
		bool listed = false;
		for (unsigned j = 0; j < smp_cpus.ncpus; j++)
			listed |= smp_cpus.apic_ids[j] == id;
		if (!listed || id == bsp)
			return false;
		for (unsigned j = 0; j < i; j++)
			if (smp.ap_apic[j] == id)
				return false;
	}
	return true;
}

static uint32_t wait_for_aps(uint32_t want)
{
	uint32_t seen = 0;
	for (int stall = 0; stall < STALL_SPINS; stall++) {
		uint32_t now = __atomic_load_n(&smp.up, __ATOMIC_ACQUIRE);
		if (now == want)
			return now;
		if (now != seen) {
			seen = now;
			stall = 0;
		}
		cpu_relax();
	}
	return seen;
}

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params;
	(void)start_info;
	if (smp_lapic_init() < 0) {
		gprintf("husk-guest: smp BAD apic base msr 0x%llx\n", (unsigned long long)smp_cpus.apic_base);
		return;
	}
	uint32_t bsp = smp_cpus.bsp;
	gprintf("husk-guest: cpu %u up (bsp%s)\n", bsp,
	        smp_cpus.apic_base & SMP_APIC_BASE_BSP ? "" : ", BAD bsp flag clear");
	if (smp_cpuid_apic_id() != bsp)
		gprintf("husk-guest: cpu %u BAD cpuid apic id %u\n", bsp, smp_cpuid_apic_id());
	const char *why = smp_mptable_read();
	if (why) {
		gprintf("husk-guest: mptable BAD %s\n", why);
		return;
	}
	gprintf("husk-guest: mptable %u cpus\n", smp_cpus.ncpus);

	smp_prepare(ap_main);
	uint32_t started = 0;
	for (unsigned i = 0; i < smp_cpus.ncpus; i++) {
		if (smp_cpus.apic_ids[i] == bsp)
			continue;
		if (smp_start_ap(smp_cpus.apic_ids[i]) < 0)
			gprintf("husk-guest: smp BAD ICR stuck busy for apic %u\n", smp_cpus.apic_ids[i]);
		started++;
	}
	uint32_t up = wait_for_aps(started);
	if (up != started)
		gprintf("husk-guest: smp BAD only %u of %u APs checked in\n", up, started);
	else if (!ap_ids_match(up, bsp))
		serial_puts("husk-guest: smp BAD APs report apic ids not in the MP table\n");
	gprintf("husk-guest: smp %u of %u cpus up\n", up + 1, smp_cpus.ncpus);
}
