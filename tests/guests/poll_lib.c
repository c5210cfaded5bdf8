/* poll_lib: see poll_lib.h. */
#include "poll_lib.h"

const char *cmdline = "";

void putc_(char c) { outb(0x3f8, (uint8_t)c); }

void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

void putu(uint64_t v)
{
	char b[24];
	int n = 0;
	do {
		b[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc_(b[--n]);
}

void *memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;
	while (n--)
		*d++ = (uint8_t)c;
	return dst;
}

bool memeq(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

const char *cmd_find(const char *key)
{
	size_t kl = 0;
	while (key[kl])
		kl++;
	for (int i = 0; i < 2048 && cmdline[i]; i++) {
		if ((i == 0 || cmdline[i - 1] == ' ') && memeq(cmdline + i, key, kl))
			return cmdline + i + kl;
	}
	return NULL;
}

uint32_t cmd_u32(const char *key, uint32_t dflt)
{
	const char *p = cmd_find(key);
	if (!p || *p < '0' || *p > '9')
		return dflt;
	uint32_t v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint32_t)(*p++ - '0');
	return v;
}
