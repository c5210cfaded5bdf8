/* pvh_hello: proves the PVH boot path. Entered in 32-bit protected mode,
 * paging off, %ebx = hvm_start_info; stays there. Prints the cmdline and
 * the memory map the VMM passed, signals the boot timer, resets. With
 * "console_in" on the cmdline it first reads COM1 up to a newline and
 * prints how many bytes came and their sum (the console input test). */
#include "guest.h"

#define PVH_MAGIC 0x336ec578u
/* hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) */
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_CMDLINE_PADDR 24
#define SI_MEMMAP_PADDR 40
#define SI_MEMMAP_ENTRIES 48
/* hvm_memmap_table_entry: addr, size, type, reserved */
#define MM_ENTRY_SIZE 24
#define MM_MAX_PRINT 128
#define E820_RAM 1
#define ADDR32_LIMIT 0x100000000ULL

void pvh_main(uint32_t start_info);

/* Can paging-off 32-bit code read len bytes at paddr? */
static bool reachable(uint64_t paddr, uint64_t len)
{
	return paddr && paddr < ADDR32_LIMIT && len <= ADDR32_LIMIT - paddr;
}

static void print_memmap(const uint8_t *si)
{
	if (ld32(si + SI_VERSION) < 1) {
		serial_puts("husk-guest: memmap none (start_info version 0)\n");
		return;
	}
	uint64_t paddr = ld64(si + SI_MEMMAP_PADDR);
	uint32_t n = ld32(si + SI_MEMMAP_ENTRIES);
	gprintf("husk-guest: memmap %u entries\n", n);
	if (n > MM_MAX_PRINT || !reachable(paddr, (uint64_t)n * MM_ENTRY_SIZE)) {
		gprintf("husk-guest: memmap BAD table at 0x%llx\n", (unsigned long long)paddr);
		return;
	}
	const uint8_t *e = (const uint8_t *)(uintptr_t)paddr;
	uint64_t ram = 0;
	for (uint32_t i = 0; i < n; i++, e += MM_ENTRY_SIZE) {
		uint64_t a = ld64(e), sz = ld64(e + 8);
		uint32_t type = ld32(e + 16);
		gprintf("husk-guest: memmap %u: 0x%llx-0x%llx type %u\n", i, (unsigned long long)a,
		        (unsigned long long)(a + sz), type);
		if (type == E820_RAM)
			ram += sz;
	}
	gprintf("husk-guest: ram %llu KiB\n", (unsigned long long)(ram >> 10));
}

#define UART_LSR 5
#define UART_LSR_DR 0x01
#define CONSOLE_IN_MAX 65536

/* Polls the UART: no interrupts in this guest. */
static void read_console_line(void)
{
	uint32_t n = 0, sum = 0;
	serial_puts("husk-guest: console ready\n");
	while (n < CONSOLE_IN_MAX) {
		while (!(inb(G_COM1 + UART_LSR) & UART_LSR_DR))
			__asm__ volatile("pause");
		uint8_t c = inb(G_COM1);
		if (c == '\n')
			break;
		n++;
		sum += c;
	}
	gprintf("husk-guest: console got %u bytes sum %u\n", n, sum);
}

void pvh_main(uint32_t start_info)
{
	const uint8_t *si = (const uint8_t *)(uintptr_t)start_info;
	uint32_t magic = reachable(start_info, 64) ? ld32(si + SI_MAGIC) : 0;
	if (magic != PVH_MAGIC) {
		gprintf("husk-guest: pvh BAD magic 0x%x at 0x%x\n", magic, start_info);
		guest_finish("");
	}
	serial_puts("husk-guest: pvh ok\n");
	uint64_t cl = ld64(si + SI_CMDLINE_PADDR);
	const char *cmdline = reachable(cl, G_CMDLINE_MAX) ? (const char *)(uintptr_t)cl : "";
	gprintf("husk-guest: cmdline %.*s\n", G_CMDLINE_MAX, cmdline);
	print_memmap(si);
	if (cmdline_has(cmdline, "console_in"))
		read_console_line();
	guest_finish(cmdline);
}
