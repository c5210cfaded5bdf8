/* guest: the small library every test guest links (serial, printf, boot
 * timer, reset, cmdline helpers). Built twice: -m64 for the long-mode
 * guests and -m32 for pvh_hello, whose C runs in 32-bit protected mode
 * inside an ELF64 image (see meson.build). */
#ifndef HUSK_GUEST_H
#define HUSK_GUEST_H

#ifdef __i386__
/* gcc -m32 -S output is assembled by the 64-bit assembler so the object is
 * ELF64; this makes the instructions 32-bit. Must be the first thing the
 * compiler emits (-fno-toplevel-reorder), so include this header first. */
__asm__(".code32");
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest physical layout the VMM provides (vmm/arch/x86_64/layout.h). */
#define G_COM1 0x3f8
#define G_I8042_CMD 0x64
#define G_I8042_RESET 0xfe
#define G_BOOTTIMER_MMIO 0xd0000000UL
#define G_BOOTTIMER_MAGIC 123
#define G_EBDA_START 0x9fc00UL
#define G_HIMEM_START 0x100000UL
#define G_MMIO_GAP_START 0xd0000000ULL
#define G_MMIO_GAP_END 0x100000000ULL
#define G_LAPIC 0xfee00000UL
#define G_CMDLINE_MAX 2048

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %b0, %w1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %w1, %b0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline uint32_t rd32(const volatile void *p)
{
	return *(const volatile uint32_t *)p;
}

static inline void wr32(volatile void *p, uint32_t v)
{
	*(volatile uint32_t *)p = v;
}

/* Copy an unaligned little-endian field out of a boot structure. */
static inline uint64_t ld64(const void *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return v;
}

static inline uint32_t ld32(const void *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strnlen(const char *s, size_t max);

/* Serial output on COM1; gprintf holds a spinlock for the whole line so
 * lines of several CPUs never interleave. Supports %s %.*s %c %d %u %x %p
 * with l/ll/z and a width with '0' padding. */
void serial_puts(const char *s);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Is `word` a whole space-separated token (or key of key=value) of cmdline? */
bool cmdline_has(const char *cmdline, const char *word);

void boottimer_signal(void);
__attribute__((noreturn)) void guest_halt(void);
/* i8042 reset; if the VMM ignores it, a triple fault. */
__attribute__((noreturn)) void guest_reset(void);
/* Signal the boot timer, then reset, or park when the cmdline says "hold"
 * (the benchmarks measure a running VM that way). */
__attribute__((noreturn)) void guest_finish(const char *cmdline);

#ifdef __x86_64__
/* Map the 3-4 GiB range (boot timer, IOAPIC, LAPIC) with 2 MiB uncached
 * pages into the page tables the VMM built (it maps the first 1 GiB only). */
int paging_map_high(void);
/* Each 64-bit guest defines guest_main. Exactly one argument is non-zero:
 * entry64.S (Linux 64-bit boot) passes boot_params, pvh64_entry.S (PVH,
 * switches to long mode itself) passes hvm_start_info. */
void guest_main(uint64_t boot_params, uint64_t start_info);
/* The kernel cmdline of either boot protocol, or "": a copy taken at
 * entry, so the guest may reuse low memory. */
const char *boot_cmdline(void);
#endif

#endif
