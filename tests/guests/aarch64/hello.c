/* hello: the boot path on aarch64. Prints on the serial port, checks that
 * x0 points at a device tree, asks KVM's PSCI for its version, then
 * SYSTEM_OFF (husk exits 0). */
#include "guest.h"

void guest_main(const void *fdt);
void secondary_main(uint64_t index);

void guest_main(const void *fdt)
{
	puts_uart("hello from aarch64\n");
	puts_uart("fdt at ");
	puthex((uint64_t)fdt);
	puts_uart(fdt_magic(fdt) == 0xd00dfeed ? " magic ok\n" : " bad magic\n");
	puts_uart("psci version ");
	puthex(psci(PSCI_VERSION, 0, 0, 0));
	puts_uart("\n");
	system_off();
}

void secondary_main(uint64_t index)
{
	(void)index;
}
