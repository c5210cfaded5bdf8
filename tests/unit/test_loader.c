/* Kernel/initrd/cmdline loaders against crafted images, good and hostile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <elf.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>

#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/layout.h"

#define RAM (64ULL << 20)

struct img {
	uint8_t buf[8192];
	size_t len;
};

/* An ELF64 with one PT_LOAD of 256 bytes at paddr and, optionally, a PVH note. */
static void make_elf(struct img *im, uint64_t paddr, int pvh)
{
	memset(im, 0, sizeof(*im));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)im->buf;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	eh->e_entry = paddr + 0x10;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = pvh ? 2 : 1;
	Elf64_Phdr *ph = (Elf64_Phdr *)(im->buf + eh->e_phoff);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr,
	                      .p_filesz = 256, .p_memsz = 4096 };
	memset(im->buf + 0x1000, 0xab, 256);
	if (pvh) {
		ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20 };
		Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
		memcpy(im->buf + 0x800, &nh, sizeof(nh));
		memcpy(im->buf + 0x800 + 12, "Xen", 4);
		uint32_t entry = (uint32_t)paddr + 0x20;
		memcpy(im->buf + 0x800 + 16, &entry, 4);
	}
	im->len = 0x1100;
}

static struct guest_mem gm;

static int setup(void **state)
{
	(void)state;
	return gm_init(&gm, RAM, LAYOUT_MMIO_GAP_START);
}

static int teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static void test_elf_pvh(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	make_elf(&im, 0x200000, 1);
	uint8_t *dst = gm_ptr(&gm, 0x200000, 4096);
	memset(dst, 0x55, 4096);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), 0);
	assert_int_equal(bi.mode, BOOT_PVH);
	assert_int_equal(bi.entry, 0x200020);
	assert_int_equal(bi.kernel_end, 0x201000);
	assert_int_equal(dst[0], 0xab);
	assert_int_equal(dst[255], 0xab);
	assert_int_equal(dst[256], 0); /* bss zeroed */
}

static void test_elf_linux64(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	make_elf(&im, 0x1000000, 0);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), 0);
	assert_int_equal(bi.mode, BOOT_LINUX64);
	assert_int_equal(bi.entry, 0x1000010);
}

static void test_elf_hostile(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	Elf64_Phdr *ph = (Elf64_Phdr *)(im.buf + sizeof(Elf64_Ehdr));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)im.buf;

	make_elf(&im, 0x200000, 1);
	assert_int_equal(loader_load_kernel(&gm, im.buf, 40, &bi), -ENOEXEC); /* truncated header */
	make_elf(&im, 0x200000, 1);
	eh->e_phnum = 0xffff; /* program headers past the end */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 1);
	eh->e_phoff = UINT64_MAX - 8; /* wraps */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 1);
	ph[0].p_offset = 0x1080; /* file bytes past the end of the image */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 1);
	ph[0].p_filesz = 8192; /* more file than memory */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 1);
	ph[0].p_paddr = RAM - 100; /* outside guest RAM */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOMEM);
	make_elf(&im, 0x200000, 1);
	ph[0].p_paddr = UINT64_MAX - 10;
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOMEM);
	make_elf(&im, 0x7000, 1); /* over the boot tables */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 1);
	uint32_t big = 0xfffffff0; /* note name size runs past its segment */
	memcpy(im.buf + 0x800, &big, 4);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 0);
	eh->e_entry = RAM + 0x1000; /* entry outside RAM */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_elf(&im, 0x200000, 0);
	eh->e_machine = EM_AARCH64;
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	assert_int_equal(loader_load_kernel(&gm, im.buf, 0, &bi), -ENOEXEC);
	assert_int_equal(bi.entry, 0); /* nothing half-filled */
}

static void make_bzimage(struct img *im)
{
	memset(im, 0, sizeof(*im));
	im->buf[0x1f1] = 4; /* setup sectors -> 5 * 512 bytes of setup */
	uint16_t flag = 0xaa55, ver = 0x020f, xlf = 1;
	uint32_t hdrs = 0x53726448, init_size = 0x4000, max = 0x37ffffff;
	memcpy(im->buf + 0x1fe, &flag, 2);
	im->buf[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(im->buf + 0x202, &hdrs, 4);
	memcpy(im->buf + 0x206, &ver, 2);
	im->buf[0x211] = 1;
	memcpy(im->buf + 0x22c, &max, 4);
	memcpy(im->buf + 0x236, &xlf, 2);
	memcpy(im->buf + 0x260, &init_size, 4);
	memset(im->buf + 0xa00, 0xcd, 0x200);
	im->len = 0xc00;
}

static void test_bzimage(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	make_bzimage(&im);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), 0);
	assert_int_equal(bi.mode, BOOT_LINUX64);
	assert_int_equal(bi.entry, 0x100200);
	assert_int_equal(bi.kernel_end, 0x104000); /* init_size reserved */
	assert_true(bi.has_setup_header);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 0x100000, 1), 0xcd);

	make_bzimage(&im);
	uint16_t old = 0x0209;
	memcpy(im.buf + 0x206, &old, 2);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_bzimage(&im);
	im.buf[0x236] = 0; /* no 64-bit entry */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_bzimage(&im);
	im.buf[0x1f1] = 0xff; /* setup larger than the file */
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOEXEC);
	make_bzimage(&im);
	uint32_t huge = 0xf0000000; /* init_size beyond RAM */
	memcpy(im.buf + 0x260, &huge, 4);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), -ENOMEM);
	uint8_t garbage[600];
	memset(garbage, 0x41, sizeof(garbage));
	assert_int_equal(loader_load_kernel(&gm, garbage, sizeof(garbage), &bi), -ENOEXEC);
}

static void test_initrd(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	make_elf(&im, 0x200000, 1);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), 0);
	uint8_t data[5000];
	memset(data, 0x77, sizeof(data));
	assert_int_equal(loader_load_initrd(&gm, data, sizeof(data), &bi), 0);
	assert_int_equal(bi.initrd_size, sizeof(data));
	assert_int_equal(bi.initrd_addr & 0xfff, 0);
	assert_true(bi.initrd_addr >= bi.kernel_end);
	assert_true(bi.initrd_addr + sizeof(data) <= RAM);
	assert_true(bi.initrd_addr + sizeof(data) > RAM - 0x2000); /* high */
	assert_memory_equal(gm_ptr(&gm, bi.initrd_addr, sizeof(data)), data, sizeof(data));

	/* an initrd that would overlap the kernel */
	bi.kernel_end = RAM - 0x1000;
	assert_int_equal(loader_load_initrd(&gm, data, sizeof(data), &bi), -ENOMEM);
	assert_int_equal(loader_load_initrd(&gm, data, 0, &bi), -ENOMEM);
}

static void test_initrd_addr_max(void **state)
{
	(void)state;
	struct img im;
	struct boot_info bi;
	make_bzimage(&im);
	uint32_t max = 0x1ffffff; /* 32 MiB - 1 */
	memcpy(im.buf + 0x22c, &max, 4);
	assert_int_equal(loader_load_kernel(&gm, im.buf, im.len, &bi), 0);
	uint8_t data[100] = { 1 };
	assert_int_equal(loader_load_initrd(&gm, data, sizeof(data), &bi), 0);
	assert_true(bi.initrd_addr + sizeof(data) <= 0x2000000);
}

static void test_cmdline(void **state)
{
	(void)state;
	assert_int_equal(loader_load_cmdline(&gm, "console=ttyS0 reboot=k"), 0);
	assert_string_equal((char *)gm_ptr(&gm, LAYOUT_CMDLINE, 1), "console=ttyS0 reboot=k");
	char *longer = malloc(LAYOUT_CMDLINE_MAX + 1);
	memset(longer, 'a', LAYOUT_CMDLINE_MAX);
	longer[LAYOUT_CMDLINE_MAX] = 0;
	assert_int_equal(loader_load_cmdline(&gm, longer), -E2BIG);
	longer[LAYOUT_CMDLINE_MAX - 1] = 0; /* exactly fits with its NUL */
	assert_int_equal(loader_load_cmdline(&gm, longer), 0);
	free(longer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_pvh),         cmocka_unit_test(test_elf_linux64),
		cmocka_unit_test(test_elf_hostile),     cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_initrd),          cmocka_unit_test(test_initrd_addr_max),
		cmocka_unit_test(test_cmdline),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
