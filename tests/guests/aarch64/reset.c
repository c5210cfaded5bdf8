/* reset: PSCI SYSTEM_RESET, which ends husk with status 0 like an i8042
 * reset on x86. */
#include "guest.h"

void guest_main(const void *fdt);
void secondary_main(uint64_t index);

void guest_main(const void *fdt)
{
	(void)fdt;
	puts_uart("resetting\n");
	psci(PSCI_SYSTEM_RESET, 0, 0, 0);
	puts_uart("SYSTEM_RESET returned\n");
	for (;;)
		__asm__ volatile("wfi");
}

void secondary_main(uint64_t index)
{
	(void)index;
}
