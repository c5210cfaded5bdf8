/* getrandom-probe: the level-2 side of the clone-safety test. Prints 32
 * bytes of getrandom(2) in hex, what a TLS library or a UUID generator
 * would get. With --reseed it first forces the kernel's CRNG to reseed now
 * (RNDRESEEDCRNG, root): the test snapshots right after, so Linux's own
 * next reseed (every min(60 s, uptime / 2)) is a minute away and cannot
 * make two clones differ by luck. Static, so it runs in the busybox
 * initramfs. */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

static int reseed(void)
{
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) {
		perror("getrandom-probe: RNDRESEEDCRNG");
		return -1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char buf[32];
	/* getrandom blocks until the CRNG is ready, and RNDRESEEDCRNG fails
	 * with ENODATA before that: a guest without entropy sources may not be
	 * ready even after minutes */
	if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		perror("getrandom-probe: getrandom");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--reseed") == 0) {
		if (reseed() < 0)
			return 1;
		if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			return 1;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		printf("%02x", buf[i]);
	printf("\n");
	return 0;
}
