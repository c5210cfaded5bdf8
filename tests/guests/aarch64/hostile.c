/* hostile: a guest that does what it should not, each step announced on
 * the serial port first; husk must stay up through the harmless ones and
 * end only this VM, with a clear error, on the last.
 *   - reads and writes MMIO no device owns (between the GIC and the
 *     devices, and above RAM): unclaimed, counted, reads return all-ones;
 *   - writes garbage into the boot timer's and the UART's registers;
 *   - calls PSCI CPU_ON on itself (already on) and an unknown function;
 *   - ends with a load-pair from MMIO, an access KVM cannot decode
 *     (no syndrome): husk ends the VM saying so. */
#include "guest.h"

void guest_main(const void *fdt);
void secondary_main(uint64_t index);

extern char secondary_entry[];

/* one plain byte store: a compiler's post-indexed store (writeback) is
 * itself undecodable for KVM, and that comes last, on purpose */
static void mmio_write8(uintptr_t addr, uint8_t v)
{
	__asm__ volatile("strb %w0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

void guest_main(const void *fdt)
{
	(void)fdt;
	volatile uint32_t *hole = (volatile uint32_t *)0x20000000UL;
	volatile uint32_t *above_ram = (volatile uint32_t *)0x7f0000000UL;
	puts_uart("unclaimed mmio\n");
	hole[0] = 0xdeadbeef;
	above_ram[0] = 0xdeadbeef;
	puts_uart(hole[1] == 0xffffffff && above_ram[1] == 0xffffffff ? "reads all-ones\n" : "reads other\n");
	puts_uart("garbage to devices\n");
	for (uintptr_t i = 0; i < 64; i++)
		mmio_write8(0x40000000UL + i, 0xff); /* the boot timer */
	mmio_write8(UART_BASE + 1, 0xff); /* every interrupt on */
	mmio_write8(UART_BASE + 3, 0x80); /* DLAB */
	mmio_write8(UART_BASE + 0, 0);
	mmio_write8(UART_BASE + 3, 0x03);
	mmio_write8(UART_BASE + 1, 0);
	puts_uart("bad psci\n");
	puts_uart(psci(PSCI_CPU_ON, 0, (uint64_t)secondary_entry, 0) != 0 ? "cpu_on self refused\n"
	                                                                   : "cpu_on self accepted\n");
	puts_uart(psci(0x8400ffffUL, 0, 0, 0) == (uint64_t)-1 ? "unknown fn refused\n" : "unknown fn accepted\n");
	puts_uart("undecodable mmio\n");
	uint64_t a, b;
	__asm__ volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(hole) : "memory");
	puts_uart("survived undecodable mmio\n");
	system_off();
}

void secondary_main(uint64_t index)
{
	(void)index;
}
