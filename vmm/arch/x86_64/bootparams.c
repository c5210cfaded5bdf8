/* bootparams: what the guest kernel reads at entry — the Linux zero page
 * (struct boot_params) for the 64-bit entry, or the PVH hvm_start_info with
 * its module list and memory map. Both carry the same RAM map, made from the
 * guest_mem regions: low RAM below the EBDA, RAM from 1 MiB to the MMIO gap,
 * RAM above 4 GiB. */
#include <errno.h>
#include <string.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

#define E820_RAM 1
#define E820_MAX 128

/* struct boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_HEADER 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_CMDLINE_SIZE 0x238
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 0x1000

/* hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) */
#define PVH_MAGIC 0x336ec578u
#define PVH_VERSION 1

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_module {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define PVH_MODLIST (LAYOUT_PVH_START_INFO + 0x40)
#define PVH_MEMMAP (LAYOUT_PVH_START_INFO + 0x80)

/* Fill map with the RAM ranges of gm; returns the number of entries. */
static int ram_map(const struct guest_mem *gm, struct e820_entry *map, int max)
{
	int n = 0;
	for (int i = 0; i < gm->nr_regions && n + 2 <= max; i++) {
		const struct gm_region *r = &gm->region[i];
		if (r->gpa == 0) {
			/* the first region spans the EBDA/VGA/BIOS hole below 1 MiB */
			map[n++] = (struct e820_entry){ 0, LAYOUT_EBDA_START, E820_RAM };
			if (r->size > LAYOUT_HIMEM_START)
				map[n++] = (struct e820_entry){ LAYOUT_HIMEM_START, r->size - LAYOUT_HIMEM_START,
				                                E820_RAM };
		} else {
			map[n++] = (struct e820_entry){ r->gpa, r->size, E820_RAM };
		}
	}
	return n;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof(v)); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof(v)); }

static int zero_page_write(const struct guest_mem *gm, const struct boot_info *bi, size_t cmdline_len)
{
	uint8_t *bp = gm_ptr(gm, LAYOUT_ZERO_PAGE, BP_SIZE);
	struct e820_entry map[E820_MAX];
	if (!bp)
		return -ENOMEM;
	memset(bp, 0, BP_SIZE);
	if (bi->has_setup_header) {
		memcpy(bp + BP_SETUP_HEADER, bi->setup_header, sizeof(bi->setup_header));
	} else {
		put16(bp + BP_BOOT_FLAG, 0xaa55);
		put32(bp + BP_HEADER, 0x53726448u); /* "HdrS" */
		put16(bp + BP_VERSION, 0x020f);
		put32(bp + BP_KERNEL_ALIGNMENT, 0x1000000);
	}
	bp[BP_TYPE_OF_LOADER] = 0xff; /* undefined loader, as Firecracker */
	bp[BP_LOADFLAGS] |= 0x01;     /* LOADED_HIGH */
	put32(bp + BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
	put32(bp + BP_CMDLINE_SIZE, (uint32_t)cmdline_len);
	put32(bp + BP_RAMDISK_IMAGE, (uint32_t)bi->initrd_addr);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(bi->initrd_addr >> 32));
	put32(bp + BP_RAMDISK_SIZE, (uint32_t)bi->initrd_size);
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(bi->initrd_size >> 32));
	/* boot protocol 2.14: the kernel need not scan for the RSDP */
	memcpy(bp + BP_ACPI_RSDP_ADDR, &bi->rsdp_addr, sizeof(bi->rsdp_addr));

	int n = ram_map(gm, map, E820_MAX);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, map, (size_t)n * sizeof(map[0]));
	return 0;
}

static int pvh_write(const struct guest_mem *gm, const struct boot_info *bi)
{
	struct e820_entry map[E820_MAX];
	int n = ram_map(gm, map, E820_MAX);
	struct pvh_start_info si = {
		.magic = PVH_MAGIC,
		.version = PVH_VERSION,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.memmap_paddr = PVH_MEMMAP,
		.memmap_entries = (uint32_t)n,
		.rsdp_paddr = bi->rsdp_addr,
	};
	if (bi->initrd_size) {
		struct pvh_module mod = { .paddr = bi->initrd_addr, .size = bi->initrd_size };
		int ret = gm_write(gm, PVH_MODLIST, &mod, sizeof(mod));
		if (ret < 0)
			return ret;
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST;
	}
	for (int i = 0; i < n; i++) {
		struct pvh_memmap_entry e = { map[i].addr, map[i].size, map[i].type, 0 };
		int ret = gm_write(gm, PVH_MEMMAP + (uint64_t)i * sizeof(e), &e, sizeof(e));
		if (ret < 0)
			return ret;
	}
	return gm_write(gm, LAYOUT_PVH_START_INFO, &si, sizeof(si));
}

int bootparams_write(const struct guest_mem *gm, const struct boot_info *bi, size_t cmdline_len)
{
	if (!gm || !bi || cmdline_len >= LAYOUT_CMDLINE_MAX)
		return -EINVAL;
	return bi->mode == BOOT_PVH ? pvh_write(gm, bi) : zero_page_write(gm, bi, cmdline_len);
}
