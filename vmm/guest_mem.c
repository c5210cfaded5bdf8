/* guest_mem: guest RAM layout and checked guest-address translation. */
#include "vmm/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define GM_4G 0x100000000ULL

static int gm_layout(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start)
{
	if (ram_size == 0 || gap_start == 0 || gap_start > GM_4G || (gap_start & 0xfff))
		return -EINVAL;
	gm->ram_size = ram_size;
	gm->nr_regions = 0;
	uint64_t low = ram_size < gap_start ? ram_size : gap_start;
	gm->region[gm->nr_regions++] = (struct gm_region){ .gpa = 0, .size = low, .hva = gm->base };
	if (ram_size > gap_start)
		gm->region[gm->nr_regions++] = (struct gm_region){
			/* in integers: snapshot load derives the layout of a VM it
			 * has not mapped (gm_init_from with base NULL), and NULL
			 * plus an offset is undefined behaviour */
			.gpa = GM_4G, .size = ram_size - gap_start,
			.hva = (uint8_t *)((uintptr_t)gm->base + gap_start),
		};
	return 0;
}

static int gm_map(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start, uint64_t align, int flags)
{
	memset(gm, 0, sizeof(*gm));
	if (ram_size == 0 || (ram_size & (align - 1)))
		return -EINVAL;
	void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	gm->base = p;
	gm->map_size = ram_size;
	gm->page_size = align;
	int ret = gm_layout(gm, ram_size, gap_start);
	if (ret < 0)
		gm_destroy(gm);
	return ret;
}

int gm_init(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start)
{
	/* MAP_NORESERVE: a VM only costs the pages its guest touches */
	return gm_map(gm, ram_size, gap_start, 4096, MAP_NORESERVE);
}

int gm_init_huge(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start)
{
	/* reserved up front (no MAP_NORESERVE): too few free huge pages fail
	 * here, at start, not as a SIGBUS when the guest first touches one */
	return gm_map(gm, ram_size, gap_start, GM_HUGE_PAGE, MAP_HUGETLB | MAP_HUGE_2MB);
}

int gm_init_from(struct guest_mem *gm, uint8_t *base, uint64_t ram_size, uint64_t gap_start)
{
	memset(gm, 0, sizeof(*gm));
	gm->base = base;
	gm->page_size = 4096;
	return gm_layout(gm, ram_size, gap_start);
}

int gm_set_base(struct guest_mem *gm, uint64_t ram_base)
{
	for (int i = 0; i < gm->nr_regions; i++)
		if (gm->region[i].gpa + gm->region[i].size > UINT64_MAX - ram_base)
			return -EINVAL;
	for (int i = 0; i < gm->nr_regions; i++)
		gm->region[i].gpa += ram_base;
	return 0;
}

void gm_destroy(struct guest_mem *gm)
{
	if (gm->map_size)
		munmap(gm->base, gm->map_size);
	memset(gm, 0, sizeof(*gm));
}

void gm_mark_dirty(const struct guest_mem *gm, const void *hva, uint64_t len)
{
	const uint8_t *p = hva;
	if (!gm->vmm_dirty || !len || p < gm->base || (uint64_t)(p - gm->base) >= gm->map_size)
		return;
	uint64_t first = (uint64_t)(p - gm->base) >> 12;
	uint64_t end = (uint64_t)(p - gm->base) + len;
	if (end > gm->map_size)
		end = gm->map_size;
	uint64_t last = (end - 1) >> 12;
	for (uint64_t pg = first; pg <= last; pg++)
		__atomic_fetch_or(&gm->vmm_dirty[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
}

int gm_discard(const struct guest_mem *gm, void *hva, uint64_t len)
{
	if (gm->file_private) {
		/* MADV_DONTNEED drops only the private copy, and the next touch
		 * reads the snapshot's page from the file again: put fresh
		 * anonymous memory in its place instead (KVM follows the change
		 * through its MMU notifiers, the slot keeps its address) */
		void *p = mmap(hva, len, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
	} else if (madvise(hva, len, MADV_DONTNEED) < 0) {
		return -errno;
	}
	/* the page is zero now: a Diff snapshot must write it */
	gm_mark_dirty(gm, hva, len);
	return 0;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->region[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		/* written so that neither side can overflow */
		if (off >= r->size || len > r->size - off)
			continue;
		return r->hva + off;
	}
	return NULL;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gm_low_end(const struct guest_mem *gm)
{
	return gm->nr_regions ? gm->region[0].size : 0;
}
