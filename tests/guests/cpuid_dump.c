/* cpuid_dump: prints the CPUID leaves a CPU template changes, as the
 * guest sees them, for the test to compare with the template. */
#include "guest.h"

static const struct {
	uint32_t leaf, subleaf;
} leaves[] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 }, { 0x80000008, 0 },
};

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params, (void)start_info;
	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		uint32_t a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaves[i].leaf), "c"(leaves[i].subleaf));
		gprintf("husk-guest: cpuid %x %x: %x %x %x %x\n", leaves[i].leaf, leaves[i].subleaf, a, b, c, d);
	}
	serial_puts("husk-guest: cpuid done\n");
}
