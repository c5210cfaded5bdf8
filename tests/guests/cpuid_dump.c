/* cpuid_dump: prints the CPUID leaves a CPU template changes, as the
 * guest sees them, and IA32_ARCH_CAPABILITIES (the MSR templates
 * change) when CPUID says it exists, for the test to compare with the
 * template. */
#include "guest.h"

static const struct {
	uint32_t leaf, subleaf;
} leaves[] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 }, { 0x80000008, 0 },
};

#define MSR_IA32_ARCH_CAPABILITIES 0x10a
#define LEAF7_EDX_ARCH_CAPABILITIES (1u << 29)

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)boot_params, (void)start_info;
	uint32_t leaf7_edx = 0;
	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		uint32_t a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaves[i].leaf), "c"(leaves[i].subleaf));
		gprintf("husk-guest: cpuid %x %x: %x %x %x %x\n", leaves[i].leaf, leaves[i].subleaf, a, b, c, d);
		if (leaves[i].leaf == 0x7 && leaves[i].subleaf == 0)
			leaf7_edx = d;
	}
	if (leaf7_edx & LEAF7_EDX_ARCH_CAPABILITIES) {
		uint32_t lo, hi;
		__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_IA32_ARCH_CAPABILITIES));
		gprintf("husk-guest: msr %x: %x%08x\n", MSR_IA32_ARCH_CAPABILITIES, hi, lo);
	}
	serial_puts("husk-guest: cpuid done\n");
}
