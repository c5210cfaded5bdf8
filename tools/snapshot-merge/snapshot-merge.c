/* snapshot-merge: layer a Diff memory file onto its base.
 *
 *   snapshot-merge BASE_MEM DIFF_MEM
 *
 * Copies every data range of DIFF_MEM (found with SEEK_DATA/SEEK_HOLE: a
 * Diff snapshot writes exactly the dirtied pages, zero pages included,
 * and leaves everything else a hole) into BASE_MEM at the same offset.
 * Afterwards BASE_MEM together with the Diff's state file is a complete
 * snapshot. Both files must have the same size (the same VM). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int fail(const char *what)
{
	fprintf(stderr, "snapshot-merge: %s: %s\n", what, strerror(errno));
	return 1;
}

static int copy_range(int in, int out, off_t off, off_t end, char *buf)
{
	while (off < end) {
		size_t want = end - off > CHUNK ? CHUNK : (size_t)(end - off);
		ssize_t n = pread(in, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			done += w;
		}
		off += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: snapshot-merge BASE_MEM DIFF_MEM\n");
		return 2;
	}
	int base = open(argv[1], O_WRONLY | O_CLOEXEC);
	int diff = open(argv[2], O_RDONLY | O_CLOEXEC);
	struct stat sb, sd;
	if (base < 0 || fstat(base, &sb) < 0)
		return fail(argv[1]);
	if (diff < 0 || fstat(diff, &sd) < 0)
		return fail(argv[2]);
	if (sb.st_size != sd.st_size) {
		fprintf(stderr, "snapshot-merge: %s is %lld bytes, %s %lld: not the same VM\n", argv[1],
		        (long long)sb.st_size, argv[2], (long long)sd.st_size);
		return 1;
	}
	char *buf = malloc(CHUNK);
	if (!buf)
		return fail("malloc");
	unsigned long long copied = 0;
	off_t off = 0;
	for (;;) {
		off_t data = lseek(diff, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* no data after off */
		if (data < 0)
			return fail("SEEK_DATA");
		off_t hole = lseek(diff, data, SEEK_HOLE);
		if (hole < 0)
			return fail("SEEK_HOLE");
		if (copy_range(diff, base, data, hole, buf) < 0)
			return fail("copying");
		copied += (unsigned long long)(hole - data);
		off = hole;
	}
	if (fsync(base) < 0)
		return fail("fsync");
	printf("merged %llu bytes\n", copied);
	free(buf);
	return 0;
}
