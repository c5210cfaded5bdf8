/* counter: a guest to snapshot mid-run. vCPU 1 (started with PSCI
 * CPU_ON) counts in memory forever; vCPU 0 prints "tick N cpu1=C" every
 * fifth of a second of the virtual counter, and says so if vCPU 1 did not
 * move since the last tick or the counter went backwards. A restored copy
 * must go on from the N it was saved at, both vCPUs running. */
#include "guest.h"

extern char secondary_entry[];
static volatile uint64_t cpu1_count;

void guest_main(const void *fdt);
void secondary_main(uint64_t index);

static uint64_t cntvct(void)
{
	uint64_t v;
	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
	return v;
}

static uint64_t cntfrq(void)
{
	uint64_t v;
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
	return v;
}

static void putdec(uint64_t v)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc_uart(buf[--n]);
}

void secondary_main(uint64_t index)
{
	(void)index;
	for (;;)
		cpu1_count = cpu1_count + 1;
}

void guest_main(const void *fdt)
{
	(void)fdt;
	if (psci(PSCI_CPU_ON, 1, (uint64_t)secondary_entry, 1) != 0) {
		puts_uart("CPU_ON failed\n");
		system_off();
	}
	uint64_t period = cntfrq() / 5, last = cntvct(), seen = 0;
	for (uint64_t n = 0;; n++) {
		uint64_t now;
		while ((now = cntvct()) >= last && now - last < period)
			;
		if (now < last)
			puts_uart("counter went backwards\n");
		last = now;
		uint64_t c = cpu1_count;
		puts_uart("tick ");
		putdec(n);
		puts_uart(" cpu1=");
		putdec(c);
		puts_uart(c == seen ? " cpu1 stuck\n" : "\n");
		seen = c;
	}
}
