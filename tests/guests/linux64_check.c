/* linux64_check: proves the Linux 64-bit boot path. Entered in long mode
 * with %rsi = boot_params; checks the e820 map in the zero page the way a
 * kernel relies on it and prints it with the cmdline. */
#include "guest.h"

/* zero page offsets (Documentation/arch/x86/zero-page.rst) */
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_MAGIC 0x202
#define BP_E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20
#define E820_MAX_ENTRIES 128
#define E820_RAM 1

struct e820 {
	uint64_t addr, size;
	uint32_t type;
};

static struct e820 e820_get(const uint8_t *bp, unsigned i)
{
	const uint8_t *e = bp + BP_E820_TABLE + i * E820_ENTRY_SIZE;
	return (struct e820){ ld64(e), ld64(e + 8), ld32(e + 16) };
}

static bool overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end)
{
	return a < b_end && b < a_end;
}

/* NULL if the map is sane, else why not. */
static const char *e820_check(const uint8_t *bp, unsigned n)
{
	if (n == 0 || n > E820_MAX_ENTRIES)
		return "entry count out of range";
	bool ram_at_1m = false;
	uint64_t prev_end = 0;
	for (unsigned i = 0; i < n; i++) {
		struct e820 e = e820_get(bp, i);
		if (e.size == 0)
			return "empty entry";
		if (e.addr + e.size < e.addr)
			return "entry wraps around";
		if (i > 0 && e.addr < prev_end)
			return "entries unsorted or overlapping";
		prev_end = e.addr + e.size;
		if (e.type != E820_RAM)
			continue;
		if (e.addr == G_HIMEM_START)
			ram_at_1m = true;
		if (overlaps(e.addr, prev_end, G_EBDA_START, G_HIMEM_START))
			return "RAM covers the MP table / legacy hole";
		if (overlaps(e.addr, prev_end, G_MMIO_GAP_START, G_MMIO_GAP_END))
			return "RAM in the MMIO gap";
	}
	struct e820 first = e820_get(bp, 0);
	if (first.addr != 0 || first.type != E820_RAM)
		return "first entry is not RAM at 0";
	if (!ram_at_1m)
		return "no RAM entry at 1 MiB";
	return NULL;
}

void guest_main(uint64_t boot_params, uint64_t start_info)
{
	(void)start_info;
	const uint8_t *bp = (const uint8_t *)boot_params;
	gprintf("husk-guest: linux64 boot_params at 0x%llx hdr 0x%x\n", (unsigned long long)boot_params,
	        ld32(bp + BP_HDR_MAGIC));
	const char *cmdline = boot_cmdline();
	gprintf("husk-guest: cmdline %.*s\n", G_CMDLINE_MAX, cmdline);

	unsigned n = bp[BP_E820_ENTRIES];
	gprintf("husk-guest: e820 %u entries\n", n);
	uint64_t ram = 0;
	for (unsigned i = 0; i < n && i < E820_MAX_ENTRIES; i++) {
		struct e820 e = e820_get(bp, i);
		gprintf("husk-guest: e820 %u: 0x%llx-0x%llx type %u\n", i, (unsigned long long)e.addr,
		        (unsigned long long)(e.addr + e.size), e.type);
		if (e.type == E820_RAM)
			ram += e.size;
	}
	gprintf("husk-guest: ram %llu KiB\n", (unsigned long long)(ram >> 10));
	const char *why = e820_check(bp, n);
	if (why)
		gprintf("husk-guest: e820 BAD %s\n", why);
	else
		serial_puts("husk-guest: e820 ok\n");
}
