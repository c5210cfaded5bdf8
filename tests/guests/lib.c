/* lib: serial, printf, boot timer and reset for the test guests. */
#include "guest.h"

#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_SPINS 10000

static volatile uint32_t serial_lock;

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

static void serial_putc(char c)
{
	/* a real 16550 driver waits for THRE; bounded so a broken LSR shows
	 * up as slow output rather than a hang */
	for (int i = 0; i < UART_SPINS && !(inb(G_COM1 + UART_LSR) & UART_LSR_THRE); i++)
		cpu_relax();
	outb(G_COM1, (uint8_t)c);
}

static void lock_serial(void)
{
	while (__atomic_exchange_n(&serial_lock, 1, __ATOMIC_ACQUIRE))
		while (serial_lock)
			cpu_relax();
}

static void unlock_serial(void)
{
	__atomic_store_n(&serial_lock, 0, __ATOMIC_RELEASE);
}

void serial_puts(const char *s)
{
	lock_serial();
	while (*s)
		serial_putc(*s++);
	unlock_serial();
}

/* n / 10 without a division, so the 32-bit build needs no libgcc. */
static uint64_t udiv10(uint64_t n)
{
	uint64_t q = (n >> 1) + (n >> 2);
	q += q >> 4;
	q += q >> 8;
	q += q >> 16;
	q += q >> 32;
	q >>= 3;
	uint64_t r = n - ((q << 3) + (q << 1));
	while (r >= 10) {
		q++;
		r -= 10;
	}
	return q;
}

static void put_num(uint64_t v, bool hex, bool neg, int width, char pad)
{
	char buf[24];
	int n = 0;
	do {
		uint64_t q = hex ? v >> 4 : udiv10(v);
		unsigned d = (unsigned)(hex ? (v & 15) : v - ((q << 3) + (q << 1)));
		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v = q;
	} while (v);
	if (neg)
		buf[n++] = '-';
	for (int i = n; i < width && i < 64; i++)
		serial_putc(pad);
	while (n)
		serial_putc(buf[--n]);
}

/* Printable characters only: the cmdline comes from the VMM. */
static void put_str(const char *s, int prec)
{
	if (!s)
		s = "(null)";
	for (int i = 0; s[i] && (prec < 0 || i < prec); i++)
		serial_putc(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
}

static void vprint(const char *f, va_list ap)
{
	for (; *f; f++) {
		if (*f != '%') {
			serial_putc(*f);
			continue;
		}
		f++;
		char pad = ' ';
		int width = 0, prec = -1, lng = 0;
		if (*f == '0')
			pad = '0';
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		if (f[0] == '.' && f[1] == '*') {
			prec = va_arg(ap, int);
			f += 2;
		}
		for (; *f == 'l' || *f == 'z'; f++)
			lng += *f == 'z' ? 2 : 1;
		uint64_t u;
		switch (*f) {
		case 's':
			put_str(va_arg(ap, const char *), prec);
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t s = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
			put_num(s < 0 ? -(uint64_t)s : (uint64_t)s, false, s < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
			u = lng >= 2 ? va_arg(ap, unsigned long long) : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			put_num(u, *f == 'x', false, width, pad);
			break;
		case 'p':
			serial_putc('0');
			serial_putc('x');
			put_num((uintptr_t)va_arg(ap, void *), true, false, width, pad);
			break;
		case '%':
			serial_putc('%');
			break;
		case '\0':
			return;
		default:
			serial_putc('?');
		}
	}
}

void gprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lock_serial();
	vprint(fmt, ap);
	unlock_serial();
	va_end(ap);
}

bool cmdline_has(const char *cmdline, const char *word)
{
	size_t wl = strnlen(word, 64);
	const char *p = cmdline;
	for (size_t i = 0; i < G_CMDLINE_MAX && p[i];) {
		while (i < G_CMDLINE_MAX && p[i] == ' ')
			i++;
		size_t start = i;
		while (i < G_CMDLINE_MAX && p[i] && p[i] != ' ')
			i++;
		size_t len = i - start;
		if (len >= wl && !memcmp(p + start, word, wl) && (len == wl || p[start + wl] == '='))
			return true;
	}
	return false;
}

void boottimer_signal(void)
{
	*(volatile uint8_t *)G_BOOTTIMER_MMIO = G_BOOTTIMER_MAGIC;
}

void guest_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_reset(void)
{
	/* no i8042 (QEMU microvm): its status port floats to 0xff */
	if (inb(G_I8042_CMD) != 0xff) {
		outb(G_I8042_CMD, G_I8042_RESET);
		/* the VMM stops us on the outb; a short grace period for one
		 * that stops asynchronously, then the fallback */
		for (volatile int i = 0; i < 1000; i++)
			cpu_relax();
	}
	/* triple fault: an exception with an empty IDT. ud2, not int3: the
	 * PVM hypervisor of our CI fails to emulate int3 there */
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uintptr_t base;
	} no_idt = { 0, 0 };
	__asm__ volatile("lidt %0; ud2" : : "m"(no_idt));
	guest_halt();
}

void guest_finish(const char *cmdline)
{
	boottimer_signal();
	if (cmdline_has(cmdline, "hold")) {
		serial_puts("husk-guest: holding\n");
		guest_halt();
	}
	serial_puts("husk-guest: reset\n");
	guest_reset();
}
