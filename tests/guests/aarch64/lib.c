/* lib: serial output and PSCI for the freestanding aarch64 guests. The
 * MMU is off: every access to the UART is a Device access. */
#include "guest.h"

#define UART_LSR 5
#define UART_LSR_THRE 0x20

static volatile uint8_t *const uart = (volatile uint8_t *)UART_BASE;

void putc_uart(char c)
{
	while (!(uart[UART_LSR] & UART_LSR_THRE))
		;
	uart[0] = (uint8_t)c;
}

void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

void puthex(uint64_t v)
{
	puts_uart("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		putc_uart("0123456789abcdef"[(v >> shift) & 0xf]);
}

uint64_t psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a1;
	register uint64_t x2 __asm__("x2") = a2;
	register uint64_t x3 __asm__("x3") = a3;
	__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
	return x0;
}

uint32_t fdt_magic(const void *fdt)
{
	const volatile uint8_t *b = fdt;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

_Noreturn void system_off(void)
{
	psci(PSCI_SYSTEM_OFF, 0, 0, 0);
	for (;;)
		__asm__ volatile("wfi");
}
