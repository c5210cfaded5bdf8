/* smp: every secondary vCPU starts powered off; the boot vCPU wakes each
 * with PSCI CPU_ON (MPIDR = index below 16), each says so and marks
 * itself up, then the boot vCPU powers the VM off. A CPU_ON for an MPIDR
 * with no vCPU must fail. argv-less: the vCPU count is fixed at 4 by the
 * test (husk run --vcpus 4). */
#include "guest.h"

#define NR_CPUS 4
#define PSCI_INVALID_PARAMETERS ((uint64_t)-2)

extern char secondary_entry[];
static volatile uint32_t up[NR_CPUS];

void guest_main(const void *fdt);
void secondary_main(uint64_t index);

void secondary_main(uint64_t index)
{
	puts_uart("cpu ");
	putc_uart((char)('0' + index));
	puts_uart(" up\n");
	__atomic_store_n(&up[index], 1, __ATOMIC_RELEASE);
}

void guest_main(const void *fdt)
{
	(void)fdt;
	for (uint64_t i = 1; i < NR_CPUS; i++) {
		uint64_t r = psci(PSCI_CPU_ON, i, (uint64_t)secondary_entry, i);
		if (r != 0) {
			puts_uart("CPU_ON failed: ");
			puthex(r);
			puts_uart("\n");
			system_off();
		}
		while (!__atomic_load_n(&up[i], __ATOMIC_ACQUIRE))
			;
	}
	uint64_t r = psci(PSCI_CPU_ON, 0x100, (uint64_t)secondary_entry, 1);
	puts_uart(r == PSCI_INVALID_PARAMETERS ? "absent cpu refused\n" : "absent cpu not refused\n");
	puts_uart("all cpus up\n");
	system_off();
}
