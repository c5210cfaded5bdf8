/* guest: what the freestanding aarch64 test guests share (lib.c). */
#ifndef HUSK_A64_GUEST_H
#define HUSK_A64_GUEST_H

#include <stdint.h>

/* husk's 16550 on aarch64 (vmm/arch/aarch64/layout.h LAYOUT_SERIAL_MMIO) */
#define UART_BASE 0x40020000UL

/* PSCI function ids (Arm DEN 0022) */
#define PSCI_VERSION 0x84000000UL
#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_SYSTEM_OFF 0x84000008UL
#define PSCI_SYSTEM_RESET 0x84000009UL

void putc_uart(char c);
void puts_uart(const char *s);
void puthex(uint64_t v);
/* PSCI through HVC (the device tree's method); returns x0. */
uint64_t psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
/* The FDT header's magic, read big-endian: 0xd00dfeed for a valid tree. */
uint32_t fdt_magic(const void *fdt);
_Noreturn void system_off(void);

#endif
