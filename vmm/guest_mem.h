/* guest_mem: guest RAM and the one checked accessor every guest address
 * passes through (gm_ptr). Nothing else turns a guest address into a host
 * pointer, so this is the single place to audit. */
#ifndef HUSK_GUEST_MEM_H
#define HUSK_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 4

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct gm_region region[GM_MAX_REGIONS];
	int nr_regions;
	uint64_t ram_size;   /* bytes of RAM, all regions together */
	uint8_t *base;       /* the one host mapping all regions live in */
	uint64_t map_size;
	uint64_t page_size;  /* of the host mapping: 4 KiB, or GM_HUGE_PAGE */
	/* a private mapping of a snapshot memory file (File restore): a page
	 * dropped with MADV_DONTNEED would read the file's page again */
	bool file_private;
	/* NULL, or one bit per 4 KiB page of the mapping: pages the VMM wrote
	 * (KVM's dirty log sees only guest writes); owned by the snapshot code */
	uint64_t *vmm_dirty;
};

/* Map ram_size bytes (anonymous, MAP_NORESERVE) and lay them out below and
 * above the 32-bit MMIO gap [gap_start, 4 GiB). */
int gm_init(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start);
/* Describe caller-owned memory (tests, snapshot files). */
/* The same with 2 MiB huge pages (hugetlbfs' pool, vm.nr_hugepages);
 * ram_size a multiple of 2 MiB. -ENOMEM when the pool has too few free. */
#define GM_HUGE_PAGE (2ull << 20)
int gm_init_huge(struct guest_mem *gm, uint64_t ram_size, uint64_t gap_start);
int gm_init_from(struct guest_mem *gm, uint8_t *base, uint64_t ram_size,
                 uint64_t gap_start);
/* Move the whole layout up by ram_base (the gap too): where the
 * architecture's RAM starts (aarch64: 2 GiB, with gap_start 4 GiB, so one
 * unbroken range). After an init, before KVM sees the regions. */
int gm_set_base(struct guest_mem *gm, uint64_t ram_base);
void gm_destroy(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len) if the whole range is RAM in one region,
 * else NULL. len 0 is treated as 1. Overflow-safe. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);
/* Note that the VMM wrote [hva, hva+len) (a pointer gm_ptr returned):
 * a no-op unless a Diff snapshot is being tracked. Thread-safe. */
void gm_mark_dirty(const struct guest_mem *gm, const void *hva, uint64_t len);
/* Give [hva, hva+len) (whole pages of the mapping) back to the host:
 * the next touch reads zeros. Counted as written for a Diff snapshot.
 * 0 or -errno. */
int gm_discard(const struct guest_mem *gm, void *hva, uint64_t len);
/* The highest RAM address + 1 below 4 GiB. */
uint64_t gm_low_end(const struct guest_mem *gm);

#endif
