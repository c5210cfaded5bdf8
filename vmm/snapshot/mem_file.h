/* mem_file: guest RAM to and from the snapshot memory file, and KVM's
 * dirty-page log. Internal to vmm/snapshot. */
#ifndef HUSK_SNAPSHOT_MEM_FILE_H
#define HUSK_SNAPSHOT_MEM_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"
#include "vmm/snapshot/format.h"

struct vm;

/* The memory section describing gm: region i at file offset hva - base. */
void mem_file_layout(const struct guest_mem *gm, struct snap_memory *m);
/* Does a saved layout match this VM's guest memory exactly? */
bool mem_file_layout_matches(const struct guest_mem *gm, const struct snap_memory *m);

/* Full: every page that is not all zeros, at its offset; the file is
 * truncated to the whole RAM size so zero pages stay holes. */
int mem_file_write_full(const struct guest_mem *gm, int fd);
/* Diff: only the pages KVM logged as dirty since the last fetch (which
 * this resets), zero pages included: in a diff a hole means "unchanged".
 * *taken gets the pages it took (a bitmap over the mapping; free() it):
 * if the snapshot fails, here or later, mem_dirty_put_back hands them to
 * the next Diff, which would otherwise miss them.
 * Without dirty_log (no track_dirty_pages), as newer Firecracker: every
 * page resident in the mapping (mincore(2)), a superset of what the guest
 * wrote since boot or restore as long as no page was swapped out. */
int mem_file_write_dirty(const struct vm *vm, int fd, bool dirty_log, uint64_t **taken);
void mem_dirty_put_back(const struct guest_mem *gm, const uint64_t *taken);
/* Drop what the dirty log holds (after a Full snapshot). */
int mem_dirty_log_reset(const struct vm *vm);
/* Re-register every slot with or without KVM_MEM_LOG_DIRTY_PAGES. Slot i
 * is gm.region[i], as vm.c registers them. */
int mem_dirty_log_set(const struct vm *vm, bool on);

/* The memory file ends, after the guest's pages, with a trailer page that
 * holds the random id the state file written with it records
 * (SNAP_SEC_MEM_ID): a state file never restores another snapshot's
 * memory, e.g. after a crash between the two renames of a create. A copy
 * of the files keeps it.
 *
 * A Diff's trailer page is followed by the bitmap of the pages the Diff
 * holds (bit p = the page at file offset p * 4096; bitmap_bytes long).
 * tools/snapshot-merge copies exactly those pages, so
 * the Diff need not stay sparse (a plain copy, or a filesystem with blocks
 * larger than a page, would otherwise smear holes over its base), and
 * writes the Diff's id into its base's trailer as a Full one: the merged
 * file belongs to the Diff's state file. */
#define MEM_FILE_ID_LEN 16
#define MEM_FILE_TRAILER_SIZE 4096u
#define MEM_FILE_PAGE 4096u
#define MEM_FILE_MAGIC "HUSKMEM1"

enum mem_file_kind { MEM_FILE_FULL = 0, MEM_FILE_DIFF = 1 };

struct mem_file_trailer {
	char magic[8];
	uint8_t id[MEM_FILE_ID_LEN];
	uint32_t kind;          /* enum mem_file_kind */
	uint32_t page_size;     /* MEM_FILE_PAGE */
	uint64_t map_size;      /* the guest's pages end here; the trailer starts here */
	uint64_t bitmap_bytes;  /* Diff: the page bitmap after the trailer page; Full: 0 */
};

/* Bytes of a page bitmap covering map_size (whole 64-bit words). */
static inline uint64_t mem_file_bitmap_bytes(uint64_t map_size)
{
	return (map_size / MEM_FILE_PAGE + 63) / 64 * 8;
}

/* bitmap: NULL for a Full file; a Diff's taken pages (mem_file_write_dirty) */
int mem_file_write_trailer(int fd, uint64_t map_size, const uint8_t id[MEM_FILE_ID_LEN],
                           const uint64_t *bitmap);
/* 0 when the trailer at map_size carries id; -ESTALE when it does not. */
int mem_file_check_trailer(int fd, uint64_t map_size, const uint8_t id[MEM_FILE_ID_LEN]);

/* Replace guest RAM by a private copy-on-write mapping of the file at the
 * same address (KVM's slots keep pointing at it): pages come from the page
 * cache on first touch, nothing is read up front. gm->file_private says
 * so (gm_discard). */
int mem_file_map(struct guest_mem *gm, int fd);

/* pread all of [off, off+len) or fail: -errno, -EIO at the file's end */
int mem_file_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* Read the file's guest pages into gm's own mapping (huge pages, which a
 * file mapping cannot give), all of them now: only the file's data
 * extents (SEEK_DATA/SEEK_HOLE), a hole being a page gm already has as
 * zeros. *bytes gets what was read. */
int mem_file_read_into(const struct guest_mem *gm, int fd, uint64_t *bytes);

/* Size of the VMM's own dirty bitmap for gm (guest_mem.h vmm_dirty). */
size_t mem_vmm_dirty_bytes(const struct guest_mem *gm);

#endif
