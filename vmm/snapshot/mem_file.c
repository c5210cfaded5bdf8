/* mem_file: write guest RAM sparsely, map it back lazily, dirty logging. */
#include "vmm/snapshot/mem_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define MF_PAGE 4096u

void mem_file_layout(const struct guest_mem *gm, struct snap_memory *m)
{
	memset(m, 0, sizeof(*m));
	m->file_size = gm->map_size;
	m->page_size = MF_PAGE;
	m->nr_regions = (uint32_t)gm->nr_regions;
	for (int i = 0; i < gm->nr_regions && i < (int)SNAP_MAX_REGIONS; i++) {
		m->region[i].gpa = gm->region[i].gpa;
		m->region[i].size = gm->region[i].size;
		/* integers: base is NULL when load derives a layout (gm_layout) */
		m->region[i].file_offset = (uint64_t)((uintptr_t)gm->region[i].hva - (uintptr_t)gm->base);
	}
}

bool mem_file_layout_matches(const struct guest_mem *gm, const struct snap_memory *m)
{
	struct snap_memory want;
	if (gm->nr_regions > (int)SNAP_MAX_REGIONS)
		return false;
	mem_file_layout(gm, &want);
	return memcmp(&want, m, sizeof(want)) == 0;
}

static bool mf_page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (unsigned i = 0; i < MF_PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

static int mf_pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int mem_file_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Write runs of pages for which want(page) is true, one pwrite per run. */
static int mf_write_runs(const struct guest_mem *gm, int fd, uint64_t off, uint64_t size,
                         const uint64_t *bitmap)
{
	const uint8_t *base = gm->base + off;
	uint64_t pages = size / MF_PAGE, run_start = 0;
	bool in_run = false;
	for (uint64_t pg = 0; pg <= pages; pg++) {
		bool want = false;
		if (pg < pages)
			want = bitmap ? (bitmap[pg / 64] >> (pg % 64)) & 1
			              : !mf_page_is_zero(base + pg * MF_PAGE);
		if (want && !in_run) {
			run_start = pg;
			in_run = true;
		} else if (!want && in_run) {
			int ret = mf_pwrite_all(fd, base + run_start * MF_PAGE,
			                        (size_t)((pg - run_start) * MF_PAGE),
			                        (off_t)(off + run_start * MF_PAGE));
			if (ret < 0)
				return ret;
			in_run = false;
		}
	}
	return 0;
}

int mem_file_write_full(const struct guest_mem *gm, int fd)
{
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)gm->map_size) < 0)
		return -errno;
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->region[i];
		int ret = mf_write_runs(gm, fd, (uint64_t)(r->hva - gm->base), r->size, NULL);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static uint64_t *mf_dirty_bitmap(const struct vm *vm, int slot, uint64_t size, int *ret)
{
	uint64_t words = (size / MF_PAGE + 63) / 64;
	uint64_t *bm = calloc(words ? words : 1, sizeof(uint64_t));
	if (!bm) {
		*ret = -ENOMEM;
		return NULL;
	}
	struct kvm_dirty_log log = { .slot = (uint32_t)slot, .dirty_bitmap = bm };
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		*ret = -errno;
		log_err("KVM_GET_DIRTY_LOG slot %d: %s", slot, strerror(errno));
		free(bm);
		return NULL;
	}
	*ret = 0;
	return bm;
}

/* The pages of r that are in memory: touched since boot, or (a private
 * mapping of a memory file) read or written since the restore. A page
 * not resident is untouched anonymous memory (zero) or still the file's. */
static uint64_t *mf_resident_bitmap(const struct gm_region *r, int *ret)
{
	uint64_t pages = r->size / MF_PAGE;
	unsigned char *vec = malloc(pages ? pages : 1);
	uint64_t *bm = calloc((pages + 63) / 64 ? (pages + 63) / 64 : 1, sizeof(uint64_t));
	*ret = -ENOMEM;
	if (!vec || !bm)
		goto fail;
	if (mincore(r->hva, r->size, vec) < 0) {
		*ret = -errno;
		log_err("mincore of guest RAM at 0x%llx: %s", (unsigned long long)r->gpa, strerror(errno));
		goto fail;
	}
	for (uint64_t pg = 0; pg < pages; pg++)
		if (vec[pg] & 1)
			bm[pg / 64] |= 1ull << (pg % 64);
	free(vec);
	*ret = 0;
	return bm;
fail:
	free(vec);
	free(bm);
	return NULL;
}

/* OR the pages the VMM wrote (gm->vmm_dirty, indexed by mapping offset)
 * into a region's KVM bitmap, and clear them: they are in this Diff. */
static void mf_merge_vmm_dirty(const struct guest_mem *gm, uint64_t off, uint64_t size, uint64_t *bm)
{
	if (!gm->vmm_dirty)
		return;
	uint64_t first = off / MF_PAGE, pages = size / MF_PAGE;
	for (uint64_t pg = 0; pg < pages; pg++) {
		uint64_t v = first + pg;
		uint64_t *w = &gm->vmm_dirty[v / 64];
		if (!(*w >> (v % 64) & 1))
			continue;
		bm[pg / 64] |= 1ull << (pg % 64);
		__atomic_fetch_and(w, ~(1ull << (v % 64)), __ATOMIC_RELAXED);
	}
}

/* Mark in taken (indexed by mapping offset) the pages of bm, a region's
 * bitmap starting at mapping page first. */
static void mf_mark_taken(uint64_t *taken, uint64_t first, uint64_t pages, const uint64_t *bm)
{
	for (uint64_t pg = 0; pg < pages; pg++)
		if (bm[pg / 64] >> (pg % 64) & 1)
			taken[(first + pg) / 64] |= 1ull << ((first + pg) % 64);
}

void mem_dirty_put_back(const struct guest_mem *gm, const uint64_t *taken)
{
	if (!gm->vmm_dirty || !taken)
		return;
	size_t words = mem_vmm_dirty_bytes(gm) / sizeof(uint64_t);
	for (size_t w = 0; w < words; w++)
		if (taken[w])
			__atomic_fetch_or(&gm->vmm_dirty[w], taken[w], __ATOMIC_RELAXED);
}

int mem_file_write_dirty(const struct vm *vm, int fd, bool dirty_log, uint64_t **taken)
{
	const struct guest_mem *gm = &vm->gm;
	int ret = 0;
	*taken = calloc(1, mem_vmm_dirty_bytes(gm) ?: sizeof(uint64_t));
	if (!*taken)
		return -ENOMEM;
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)gm->map_size) < 0)
		return -errno;
	for (int i = 0; i < gm->nr_regions && ret == 0; i++) {
		const struct gm_region *r = &gm->region[i];
		uint64_t *bm = dirty_log ? mf_dirty_bitmap(vm, i, r->size, &ret) : mf_resident_bitmap(r, &ret);
		if (!bm)
			break;
		uint64_t off = (uint64_t)(r->hva - gm->base);
		mf_merge_vmm_dirty(gm, off, r->size, bm);
		/* KVM's log is cleared now: keep what this Diff took, so a
		 * failure puts it back for the next one */
		mf_mark_taken(*taken, off / MF_PAGE, r->size / MF_PAGE, bm);
		ret = mf_write_runs(gm, fd, off, r->size, bm);
		free(bm);
	}
	return ret;
}

int mem_dirty_log_reset(const struct vm *vm)
{
	for (int i = 0; i < vm->gm.nr_regions; i++) {
		int ret;
		uint64_t *bm = mf_dirty_bitmap(vm, i, vm->gm.region[i].size, &ret);
		if (!bm)
			return ret;
		free(bm);
	}
	if (vm->gm.vmm_dirty)
		memset(vm->gm.vmm_dirty, 0, mem_vmm_dirty_bytes(&vm->gm));
	return 0;
}

int mem_file_read_into(const struct guest_mem *gm, int fd, uint64_t *bytes)
{
	/* the guest's pages end at map_size, the trailer follows */
	off_t end = (off_t)gm->map_size, data = 0;
	*bytes = 0;
	while (data < end) {
		data = lseek(fd, data, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: only holes left */
		if (data >= end)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > end)
			hole = end;
		int ret = mem_file_pread_all(fd, gm->base + data, (size_t)(hole - data), (uint64_t)data);
		if (ret < 0)
			return ret;
		*bytes += (uint64_t)(hole - data);
		data = hole;
	}
	return 0;
}

size_t mem_vmm_dirty_bytes(const struct guest_mem *gm)
{
	return (size_t)mem_file_bitmap_bytes(gm->map_size);
}

int mem_dirty_log_set(const struct vm *vm, bool on)
{
	for (int i = 0; i < vm->gm.nr_regions; i++) {
		const struct gm_region *r = &vm->gm.region[i];
		struct kvm_userspace_memory_region mr = {
			.slot = (uint32_t)i,
			.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
			int ret = -errno;
			log_err("dirty logging on slot %d: %s", i, strerror(errno));
			return ret;
		}
	}
	return 0;
}

_Static_assert(sizeof(struct mem_file_trailer) <= MEM_FILE_TRAILER_SIZE, "trailer fits its page");
_Static_assert(MF_PAGE == MEM_FILE_PAGE, "one page size");

int mem_file_write_trailer(int fd, uint64_t map_size, const uint8_t id[MEM_FILE_ID_LEN],
                           const uint64_t *bitmap)
{
	uint8_t page[MEM_FILE_TRAILER_SIZE] = { 0 };
	struct mem_file_trailer t = {
		.kind = bitmap ? MEM_FILE_DIFF : MEM_FILE_FULL,
		.page_size = MEM_FILE_PAGE,
		.map_size = map_size,
		.bitmap_bytes = bitmap ? mem_file_bitmap_bytes(map_size) : 0,
	};
	memcpy(t.magic, MEM_FILE_MAGIC, sizeof(t.magic));
	memcpy(t.id, id, MEM_FILE_ID_LEN);
	memcpy(page, &t, sizeof(t));
	int ret = mf_pwrite_all(fd, page, sizeof(page), (off_t)map_size);
	if (ret == 0 && bitmap)
		ret = mf_pwrite_all(fd, (const uint8_t *)bitmap, (size_t)t.bitmap_bytes,
		                    (off_t)(map_size + MEM_FILE_TRAILER_SIZE));
	return ret;
}

int mem_file_check_trailer(int fd, uint64_t map_size, const uint8_t id[MEM_FILE_ID_LEN])
{
	struct mem_file_trailer t;
	ssize_t n = pread(fd, &t, sizeof(t), (off_t)map_size);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(t) || memcmp(t.magic, MEM_FILE_MAGIC, sizeof(t.magic)) ||
	    memcmp(t.id, id, MEM_FILE_ID_LEN))
		return -ESTALE;
	return 0;
}

int mem_file_map(struct guest_mem *gm, int fd)
{
	/* MAP_FIXED over the anonymous RAM mapping: same address, so the KVM
	 * slots need no change; MMU notifiers drop anything KVM had mapped */
	void *p = mmap(gm->base, gm->map_size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	gm->file_private = true;
	return 0;
}
