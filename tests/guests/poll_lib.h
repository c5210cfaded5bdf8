/* poll_lib: what the freestanding polling virtio guests (virtio_blk/,
 * virtio_net/) share: port output, COM1 lines, the memory functions the
 * compiler may call, and reading their kernel command line. */
#ifndef HUSK_GUEST_POLL_LIB_H
#define HUSK_GUEST_POLL_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

/* COM1, polled by nobody: the VMM takes every byte */
void putc_(char c);
void puts_(const char *s);
void putu(uint64_t v);

/* the compiler may call these for struct copies even when freestanding */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
bool memeq(const void *a, const void *b, size_t n);

/* The kernel command line; the entry code points it at the boot one. */
extern const char *cmdline;
/* What follows key where key starts a word (key includes its '='), or NULL. */
const char *cmd_find(const char *key);
/* The decimal number after key, or dflt when key is absent or no number. */
uint32_t cmd_u32(const char *key, uint32_t dflt);

#endif
