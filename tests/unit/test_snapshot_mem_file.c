/* mem_file: a memory file read into guest RAM up front (a File restore
 * into huge pages) takes the file's data extents and nothing else: the
 * holes stay untouched zero pages, the trailer after the guest's pages is
 * not read into RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit_main.h"

#include "vmm/snapshot/mem_file.h"

#define GAP 0xd0000000ULL
#define RAM (4u << 20)
#define PG MEM_FILE_PAGE

static void put_page(int fd, uint64_t pg, uint8_t v)
{
	uint8_t buf[PG];
	memset(buf, v, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)(pg * PG)), (ssize_t)PG);
}

static bool page_is(const struct guest_mem *gm, uint64_t pg, uint8_t v)
{
	for (unsigned i = 0; i < PG; i++)
		if (gm->base[pg * PG + i] != v)
			return false;
	return true;
}

static bool resident(const struct guest_mem *gm, uint64_t pg)
{
	unsigned char v = 0;
	assert_int_equal(mincore(gm->base + pg * PG, PG, &v), 0);
	return v & 1;
}

static void test_read_into_takes_the_data_only(void **state)
{
	(void)state;
	struct guest_mem gm;
	/* a sparse file (memfd: tmpfs reports its holes page by page), its
	 * trailer page after the guest's RAM */
	int fd = memfd_create("mem-file", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RAM + PG), 0);
	put_page(fd, 3, 0x11);
	put_page(fd, 100, 0x22);
	put_page(fd, 101, 0x33);
	put_page(fd, RAM / PG, 0x44);
	assert_int_equal(gm_init(&gm, RAM, GAP), 0);
	uint64_t bytes = 0;
	assert_int_equal(mem_file_read_into(&gm, fd, &bytes), 0);
	assert_int_equal(bytes, 3 * PG);
	assert_true(page_is(&gm, 3, 0x11) && page_is(&gm, 100, 0x22) && page_is(&gm, 101, 0x33));
	/* the holes were not read: never touched, so not even resident */
	assert_false(resident(&gm, 2) || resident(&gm, 4) || resident(&gm, 99) || resident(&gm, RAM / PG - 1));
	assert_true(page_is(&gm, RAM / PG - 1, 0));
	gm_destroy(&gm);
	close(fd);
}

static void test_read_into_all_holes(void **state)
{
	(void)state;
	struct guest_mem gm;
	int fd = memfd_create("mem-file", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RAM), 0);
	assert_int_equal(gm_init(&gm, RAM, GAP), 0);
	uint64_t bytes = 1;
	assert_int_equal(mem_file_read_into(&gm, fd, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_false(resident(&gm, 0));
	gm_destroy(&gm);
	close(fd);
}

UNIT_TEST_MAIN(cmocka_unit_test(test_read_into_takes_the_data_only),
               cmocka_unit_test(test_read_into_all_holes))
