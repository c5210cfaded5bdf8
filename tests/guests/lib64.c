/* lib64: what only the long-mode guests need. */
#include "guest.h"

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PWT 0x8ULL
#define PTE_PCD 0x10ULL
#define PTE_PS 0x80ULL
#define PTE_ADDR 0x000ffffffffff000ULL
#define GIB (1ULL << 30)
#define HUGE (2ULL << 20)

/* zero page (Linux boot protocol) */
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_CMD_LINE_PTR 0x228
/* hvm_start_info (Xen PVH) */
#define SI_CMDLINE_PADDR 24

static uint64_t high_pd[512] __attribute__((aligned(4096)));

int paging_map_high(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(cr3 & PTE_ADDR);
	if (!(pml4[0] & PTE_P) || (pml4[0] & PTE_ADDR) >= GIB)
		return -1;
	uint64_t *pdpt = (uint64_t *)(pml4[0] & PTE_ADDR);
	if (pdpt[3] & PTE_P)
		return 0; /* the VMM mapped it already */
	for (uint64_t i = 0; i < 512; i++)
		high_pd[i] = (3 * GIB + i * HUGE) | PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT;
	pdpt[3] = (uint64_t)high_pd | PTE_P | PTE_RW;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	return 0;
}

static char cmdline_copy[G_CMDLINE_MAX];

/* Only what the VMM's identity map reaches (first 1 GiB) is readable. */
static const char *cmdline_find(uint64_t boot_params, uint64_t start_info)
{
	uint64_t p = 0;
	if (boot_params)
		p = ld32((void *)(boot_params + BP_CMD_LINE_PTR)) |
		    (uint64_t)ld32((void *)(boot_params + BP_EXT_CMD_LINE_PTR)) << 32;
	else if (start_info)
		p = ld64((void *)(start_info + SI_CMDLINE_PADDR));
	if (!p || p >= GIB - G_CMDLINE_MAX)
		return "";
	return (const char *)p;
}

const char *boot_cmdline(void)
{
	return cmdline_copy;
}

void guest_start64(uint64_t boot_params, uint64_t start_info);
void guest_start64(uint64_t boot_params, uint64_t start_info)
{
	const char *cl = cmdline_find(boot_params, start_info);
	memcpy(cmdline_copy, cl, strnlen(cl, G_CMDLINE_MAX - 1));
	if (paging_map_high() < 0)
		serial_puts("husk-guest: BAD page tables: PML4[0] missing or above 1 GiB\n");
	guest_main(boot_params, start_info);
	guest_finish(cmdline_copy);
}
