/* The arm64 Image loader and the initrd/FDT placement against crafted
 * headers, good and hostile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <libfdt.h>

#include "vmm/arch/aarch64/loader.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define RAM (64ULL << 20)
#define MIB (1ULL << 20)

static uint8_t img[8192];
static char err[160]; /* the loader's reason for a refusal */

static void assert_err(const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
}

/* A header with text_offset and image_size, the body a pattern. */
static void make_image(uint64_t text_offset, uint64_t image_size, uint32_t magic)
{
	memset(img, 0, sizeof(img));
	for (size_t i = IMAGE_HEADER_SIZE; i < sizeof(img); i++)
		img[i] = (uint8_t)i;
	memcpy(img + 8, &text_offset, 8);
	memcpy(img + 16, &image_size, 8);
	memcpy(img + 56, &magic, 4);
}

/* a VM without KVM: its RAM, one vCPU, a GICv3 for the device tree */
static struct vm vm = { .nr_vcpus = 1, .arch = { .gic_fd = -1, .gic_version = 3 } };

static int setup(void **state)
{
	struct guest_mem *gm = &vm.gm;
	if (gm_init(gm, RAM, LAYOUT_MMIO_GAP_START) < 0 || gm_set_base(gm, LAYOUT_RAM_BASE) < 0)
		return -1;
	*state = gm;
	return 0;
}

static int teardown(void **state)
{
	gm_destroy(*state);
	return 0;
}

static void test_ram_starts_at_2g(void **state)
{
	struct guest_mem *gm = *state;
	assert_int_equal(gm->nr_regions, 1);
	assert_null(gm_ptr(gm, LAYOUT_RAM_BASE - 1, 1));
	assert_non_null(gm_ptr(gm, LAYOUT_RAM_BASE, RAM));
	assert_null(gm_ptr(gm, LAYOUT_RAM_BASE + RAM, 1));
}

static void test_text_offset_honoured(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0x80000, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), 0);
	assert_int_equal(bi.entry, LAYOUT_RAM_BASE + 0x80000);
	assert_int_equal(bi.kernel_end, LAYOUT_RAM_BASE + 0x180000);
	assert_memory_equal(gm_ptr(gm, bi.entry, sizeof(img)), img, sizeof(img));
	/* the FDT: the last 2 MiB block of RAM */
	assert_int_equal(bi.fdt_addr, LAYOUT_RAM_BASE + RAM - 2 * MIB);
	assert_int_equal(bi.fdt_addr % (2 * MIB), 0);
}

static void test_legacy_image_size_zero(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0, IMAGE_MAGIC); /* pre-3.17: text_offset is 0x80000 */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), 0);
	assert_int_equal(bi.entry, LAYOUT_RAM_BASE + 0x80000);
	assert_int_equal(bi.kernel_end, bi.entry + sizeof(img));
}

static void test_bad_headers(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0x100000, 0x7f454c46); /* an ELF's magic, not ARM\x64 */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOEXEC);
	assert_err("not an arm64 Image");
	make_image(0, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, IMAGE_HEADER_SIZE - 1, &bi, err, sizeof(err)), -ENOEXEC);
	make_image(2 * MIB, 0x100000, IMAGE_MAGIC); /* past its 2 MiB block */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOEXEC);
	make_image(0x123, 0x100000, IMAGE_MAGIC); /* not page aligned */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOEXEC);
	assert_err("text_offset 0x123");
	make_image(0, 16, IMAGE_MAGIC); /* image_size smaller than the file */
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOEXEC);
	assert_err("image_size 0x10 is smaller than the file (8192 bytes)");
}

/* flags bit 0 says big-endian: refused by name, nothing loaded; the other
 * flag bits (page size, placement) do not matter here */
static void test_big_endian_refused(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	uint64_t flags = 1;
	make_image(0, 0x100000, IMAGE_MAGIC);
	memcpy(img + 24, &flags, 8);
	memset(gm_ptr(gm, LAYOUT_RAM_BASE, sizeof(img)), 0, sizeof(img));
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOEXEC);
	assert_err("big-endian");
	assert_int_equal(bi.entry, 0);
	assert_int_equal(*(uint8_t *)gm_ptr(gm, LAYOUT_RAM_BASE + sizeof(img) - 1, 1), 0);
	flags = 0xe; /* 4K pages, placed anywhere: little-endian, loaded */
	memcpy(img + 24, &flags, 8);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), 0);
	assert_int_equal(bi.entry, LAYOUT_RAM_BASE);
}

static void test_too_big(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	/* image_size (with its bss) reaching into the FDT's block */
	make_image(0, RAM - 2 * MIB + 1, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOMEM);
	make_image(0, UINT64_MAX, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), -ENOMEM);
	assert_err("does not fit in guest memory");
}

static void test_initrd_below_fdt(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	make_image(0, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), 0);
	assert_int_equal(a64_load_initrd(gm, img, 5000, &bi), 0);
	assert_int_equal(bi.initrd_addr % 4096, 0);
	assert_true(bi.initrd_addr + bi.initrd_size <= bi.fdt_addr);
	assert_true(bi.initrd_addr >= bi.kernel_end);
	assert_memory_equal(gm_ptr(gm, bi.initrd_addr, 5000), img, 5000);
	/* no room between the kernel and the FDT */
	assert_int_equal(a64_load_initrd(gm, img, sizeof(img), &(struct boot_info){
		.kernel_end = bi.fdt_addr - 4096, .fdt_addr = bi.fdt_addr }), -ENOMEM);
}

static bool file_has(const char *path, const char *needle)
{
	char buf[512];
	bool found = false;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, needle) != NULL;
	fclose(f);
	return found;
}

/* The kernel's 2048-byte COMMAND_LINE_SIZE, NUL included: one byte more
 * is refused with the length in the log and no device tree written; the
 * longest that fits reaches /chosen whole. */
static void test_cmdline_limit(void **state)
{
	struct guest_mem *gm = *state;
	struct boot_info bi = { 0 };
	const struct arch_devices devs = { 0 };
	char logpath[] = "/tmp/husk-test-a64-log-XXXXXX";
	int fd = mkstemp(logpath);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_set_path(logpath), 0);
	make_image(0, 0x100000, IMAGE_MAGIC);
	assert_int_equal(a64_load_image(gm, img, sizeof(img), &bi, err, sizeof(err)), 0);
	void *fdt = gm_ptr(gm, bi.fdt_addr, LAYOUT_FDT_MAX_SIZE);
	assert_non_null(fdt);
	memset(fdt, 0, LAYOUT_FDT_MAX_SIZE);

	char *line = malloc(LAYOUT_CMDLINE_MAX + 1);
	assert_non_null(line);
	memset(line, 'a', LAYOUT_CMDLINE_MAX);
	line[LAYOUT_CMDLINE_MAX] = 0;
	assert_int_equal(arch_write_boot_tables(&vm, &bi, line, &devs), -E2BIG);
	assert_true(file_has(logpath, "kernel command line is 2048 bytes; an arm64 kernel takes at most 2047"));
	assert_int_not_equal(fdt_check_header(fdt), 0);

	line[LAYOUT_CMDLINE_MAX - 1] = 0;
	assert_int_equal(arch_write_boot_tables(&vm, &bi, line, &devs), 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	const char *bootargs = fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", NULL);
	assert_non_null(bootargs);
	assert_string_equal(bootargs, line);
	free(line);
	unlink(logpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_starts_at_2g),
		cmocka_unit_test(test_text_offset_honoured),
		cmocka_unit_test(test_legacy_image_size_zero),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_big_endian_refused),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_initrd_below_fdt),
		cmocka_unit_test(test_cmdline_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
