/* loader: put a kernel (ELF vmlinux or bzImage), an initrd and the command
 * line into guest RAM. The image is untrusted input: every offset and size
 * read from it is checked against the image length and guest RAM before use,
 * with overflow-safe arithmetic. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

/* Xen's PVH entry note: name "Xen", type 18, a 32-bit physical entry. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* bzImage setup header offsets (Documentation/arch/x86/boot.rst) */
#define BZ_SETUP_SECTS 0x1f1
#define BZ_BOOT_FLAG 0x1fe
#define BZ_JUMP 0x200
#define BZ_HEADER 0x202
#define BZ_VERSION 0x206
#define BZ_LOADFLAGS 0x211
#define BZ_INITRD_ADDR_MAX 0x22c
#define BZ_XLOADFLAGS 0x236
#define BZ_INIT_SIZE 0x260
#define BZ_HDRS_MAGIC 0x53726448u /* "HdrS" */
#define BZ_LOADED_HIGH 0x01
#define BZ_XLF_KERNEL_64 0x01
#define BZ_MIN_VERSION 0x020a

static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* True when [off, off+size) lies inside an image of len bytes. */
static int in_image(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

static int elf_check_header(const uint8_t *img, size_t len, Elf64_Ehdr *eh)
{
	if (len < sizeof(*eh))
		return -ENOEXEC;
	memcpy(eh, img, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return -ENOEXEC;
	if (eh->e_phnum == 0 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_image(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return -ENOEXEC;
	return 0;
}

/* Look for the PVH entry note inside one PT_NOTE segment. */
static int elf_find_pvh_entry(const uint8_t *img, size_t len, const Elf64_Phdr *ph, uint64_t *entry)
{
	if (!in_image(len, ph->p_offset, ph->p_filesz))
		return -ENOEXEC;
	const uint8_t *p = img + ph->p_offset;
	uint64_t left = ph->p_filesz;

	while (left >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p, sizeof(nh));
		uint64_t name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		uint64_t desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		uint64_t total = sizeof(nh) + name_sz + desc_sz;
		if (total > left)
			return -ENOEXEC;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + sizeof(nh), "Xen", 4) == 0) {
			if (nh.n_descsz < 4)
				return -ENOEXEC;
			*entry = ld32(p + sizeof(nh) + name_sz);
			return 1;
		}
		p += total;
		left -= total;
	}
	return 0;
}

static int elf_load_segment(const struct guest_mem *gm, const uint8_t *img, size_t len,
                            const Elf64_Phdr *ph, struct boot_info *bi)
{
	if (ph->p_memsz == 0)
		return 0;
	if (ph->p_filesz > ph->p_memsz || !in_image(len, ph->p_offset, ph->p_filesz))
		return -ENOEXEC;
	if (ph->p_paddr < LAYOUT_HIMEM_START)
		return -ENOEXEC; /* would overwrite the boot tables */
	uint8_t *dst = gm_ptr(gm, ph->p_paddr, ph->p_memsz);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, img + ph->p_offset, ph->p_filesz);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	if (ph->p_paddr + ph->p_memsz > bi->kernel_end)
		bi->kernel_end = ph->p_paddr + ph->p_memsz;
	return 0;
}

static int load_elf(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	Elf64_Ehdr eh;
	uint64_t pvh_entry = 0;
	int have_pvh = 0, nr_loaded = 0;
	int ret = elf_check_header(img, len, &eh);
	if (ret < 0)
		return ret;

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = elf_load_segment(gm, img, len, &ph, bi);
			nr_loaded++;
		} else if (ph.p_type == PT_NOTE && !have_pvh) {
			ret = elf_find_pvh_entry(img, len, &ph, &pvh_entry);
			if (ret > 0)
				have_pvh = 1;
		}
		if (ret < 0)
			return ret;
	}
	if (nr_loaded == 0)
		return -ENOEXEC;
	bi->mode = have_pvh ? BOOT_PVH : BOOT_LINUX64;
	bi->entry = have_pvh ? pvh_entry : eh.e_entry;
	/* The 64-bit entry of a vmlinux is a virtual address in the kernel's
	 * direct map; the guest starts with an identity map of low memory, so
	 * only physical addresses inside RAM are accepted. */
	if (!gm_ptr(gm, bi->entry, 1))
		return -ENOEXEC;
	return 0;
}

static int load_bzimage(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	if (len < 0x290 || ld16(img + BZ_BOOT_FLAG) != 0xaa55 || ld32(img + BZ_HEADER) != BZ_HDRS_MAGIC)
		return -ENOEXEC;
	if (ld16(img + BZ_VERSION) < BZ_MIN_VERSION || !(img[BZ_LOADFLAGS] & BZ_LOADED_HIGH) ||
	    !(ld16(img + BZ_XLOADFLAGS) & BZ_XLF_KERNEL_64))
		return -ENOEXEC;
	uint64_t setup_sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
	uint64_t setup_size = (setup_sects + 1) * 512;
	if (setup_size >= len)
		return -ENOEXEC;
	uint64_t payload = len - setup_size;
	uint64_t need = ld32(img + BZ_INIT_SIZE);
	if (need < payload)
		need = payload;
	/* init_size is the memory the kernel decompresses into: it must be RAM */
	uint8_t *dst = gm_ptr(gm, LAYOUT_HIMEM_START, need);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, img + setup_size, payload);

	/* The setup header runs from 0x1f1 to 0x202 + the jump offset at 0x201. */
	uint64_t hdr_end = BZ_HEADER + img[BZ_JUMP + 1];
	if (hdr_end > 0x290)
		hdr_end = 0x290;
	memcpy(bi->setup_header, img + BZ_SETUP_SECTS, hdr_end - BZ_SETUP_SECTS);
	bi->has_setup_header = 1;
	bi->mode = BOOT_LINUX64;
	bi->entry = LAYOUT_HIMEM_START + 0x200; /* the 64-bit entry, protocol 2.10+ */
	bi->kernel_end = LAYOUT_HIMEM_START + need;
	return 0;
}

int loader_load_kernel(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	if (!gm || !img || !bi)
		return -EINVAL;
	memset(bi, 0, sizeof(*bi));
	int ret = len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0 ? load_elf(gm, img, len, bi)
	                                                               : load_bzimage(gm, img, len, bi);
	if (ret < 0)
		memset(bi, 0, sizeof(*bi));
	return ret;
}

/* The highest address an initrd may end at: the end of low RAM, lowered by
 * a bzImage's initrd_addr_max. */
static uint64_t initrd_limit(const struct guest_mem *gm, const struct boot_info *bi)
{
	uint64_t limit = gm_low_end(gm);
	if (bi->has_setup_header) {
		uint64_t max = (uint64_t)ld32(bi->setup_header + (BZ_INITRD_ADDR_MAX - BZ_SETUP_SECTS)) + 1;
		if (max > 1 && max < limit)
			limit = max;
	}
	return limit;
}

int loader_load_initrd(const struct guest_mem *gm, const uint8_t *img, size_t len, struct boot_info *bi)
{
	if (!gm || !img || !bi)
		return -EINVAL;
	uint64_t limit = initrd_limit(gm, bi);
	uint64_t floor = (bi->kernel_end + 0xfff) & ~0xfffULL;
	if (len == 0 || len > limit || limit - len < floor)
		return -ENOMEM;
	uint64_t addr = (limit - len) & ~0xfffULL;
	uint8_t *dst = gm_ptr(gm, addr, len);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, img, len);
	bi->initrd_addr = addr;
	bi->initrd_size = len;
	return 0;
}

int loader_load_cmdline(const struct guest_mem *gm, const char *cmdline)
{
	if (!gm || !cmdline)
		return -EINVAL;
	size_t len = strnlen(cmdline, LAYOUT_CMDLINE_MAX) + 1;
	if (len > LAYOUT_CMDLINE_MAX)
		return -E2BIG;
	return gm_write(gm, LAYOUT_CMDLINE, cmdline, len);
}
