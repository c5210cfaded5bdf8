/* snapshot-merge: layer a Diff memory file onto its base.
 *
 *   snapshot-merge BASE_MEM DIFF_MEM
 *
 * BASE_MEM is a Full memory file (or an earlier merge), DIFF_MEM a Diff of
 * the same VM. The Diff records which pages it holds in a bitmap after its
 * trailer (vmm/snapshot/mem_file.h); exactly those pages are copied into
 * BASE_MEM at the same offset, so holes, a non-sparse copy of the Diff or
 * a filesystem's block size change nothing. Then BASE_MEM's trailer takes
 * the Diff's id: BASE_MEM together with the Diff's state file is a
 * complete snapshot, and the base's own state file no longer matches it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/snapshot/mem_file.h"

static int fail(const char *what)
{
	fprintf(stderr, "snapshot-merge: %s: %s\n", what, strerror(errno));
	return 1;
}

static int bad(const char *path, const char *why)
{
	fprintf(stderr, "snapshot-merge: %s: %s\n", path, why);
	return 1;
}

static int read_all(int fd, void *buf, size_t len, off_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the file ends early */
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int read_trailer(int fd, uint64_t map_size, struct mem_file_trailer *t)
{
	if (read_all(fd, t, sizeof(*t), (off_t)map_size) < 0)
		return -1;
	return memcmp(t->magic, MEM_FILE_MAGIC, sizeof(t->magic)) ? 1 : 0;
}

/* Copy every page set in bm from diff to base, one run at a time. */
static int copy_pages(int diff, int base, const uint64_t *bm, uint64_t pages, uint64_t *copied)
{
	static char buf[1u << 20];
	const uint64_t run_max = sizeof(buf) / MEM_FILE_PAGE;
	for (uint64_t pg = 0; pg < pages;) {
		if (!(bm[pg / 64] >> (pg % 64) & 1)) {
			pg++;
			continue;
		}
		uint64_t n = 1;
		while (pg + n < pages && n < run_max && (bm[(pg + n) / 64] >> ((pg + n) % 64) & 1))
			n++;
		off_t off = (off_t)(pg * MEM_FILE_PAGE);
		size_t len = (size_t)(n * MEM_FILE_PAGE);
		if (read_all(diff, buf, len, off) < 0 || write_all(base, buf, len, off) < 0)
			return -1;
		*copied += len;
		pg += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: snapshot-merge BASE_MEM DIFF_MEM\n");
		return 2;
	}
	const char *base_path = argv[1], *diff_path = argv[2];
	int base = open(base_path, O_RDWR | O_CLOEXEC);
	int diff = open(diff_path, O_RDONLY | O_CLOEXEC);
	struct stat sb, sd;
	if (base < 0 || fstat(base, &sb) < 0)
		return fail(base_path);
	if (diff < 0 || fstat(diff, &sd) < 0)
		return fail(diff_path);
	/* a base is the guest's pages and one trailer page */
	if (sb.st_size < (off_t)MEM_FILE_TRAILER_SIZE)
		return bad(base_path, "too short for a memory file");
	uint64_t map_size = (uint64_t)sb.st_size - MEM_FILE_TRAILER_SIZE;
	struct mem_file_trailer tb, td;
	int r = read_trailer(base, map_size, &tb);
	if (r < 0)
		return fail(base_path);
	if (r > 0 || tb.kind != MEM_FILE_FULL || map_size % MEM_FILE_PAGE)
		return bad(base_path, "not a Full memory file");
	r = read_trailer(diff, map_size, &td);
	if (r < 0 && errno != EIO)
		return fail(diff_path);
	if (r != 0 || td.map_size != map_size) {
		fprintf(stderr, "snapshot-merge: %s has no trailer where %s's guest memory ends: not the same VM\n",
		        diff_path, base_path);
		return 1;
	}
	if (td.kind != MEM_FILE_DIFF || td.page_size != MEM_FILE_PAGE ||
	    td.bitmap_bytes != mem_file_bitmap_bytes(map_size) ||
	    (uint64_t)sd.st_size < map_size + MEM_FILE_TRAILER_SIZE + td.bitmap_bytes)
		return bad(diff_path, "not a Diff memory file");
	uint64_t *bm = malloc(td.bitmap_bytes ? td.bitmap_bytes : 1);
	if (!bm)
		return fail("malloc");
	if (read_all(diff, bm, (size_t)td.bitmap_bytes, (off_t)(map_size + MEM_FILE_TRAILER_SIZE)) < 0)
		return fail(diff_path);
	uint64_t copied = 0;
	if (copy_pages(diff, base, bm, map_size / MEM_FILE_PAGE, &copied) < 0)
		return fail("copying pages");
	/* the base now holds the Diff's memory: it takes the Diff's id */
	uint8_t page[MEM_FILE_TRAILER_SIZE] = { 0 };
	td.kind = MEM_FILE_FULL;
	td.bitmap_bytes = 0;
	memcpy(page, &td, sizeof(td));
	if (write_all(base, page, sizeof(page), (off_t)map_size) < 0 || fsync(base) < 0)
		return fail(base_path);
	printf("merged %llu bytes\n", (unsigned long long)copied);
	free(bm);
	return 0;
}
