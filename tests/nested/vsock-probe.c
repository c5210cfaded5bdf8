/* vsock-probe: both ends of one vsock exchange for the nested tests (busybox
 * nc speaks neither AF_VSOCK nor AF_UNIX).  Built static, so the same file
 * runs in level 1 (the host side of husk's vsock, a Unix socket speaking
 * Firecracker's "CONNECT <port>\n" / "OK <port>\n" handshake) and in the
 * level-2 guest (AF_VSOCK).
 *
 *   vsock-probe listen-vsock PORT          guest: serve one connection
 *   vsock-probe connect-vsock PORT MSG     guest: to the host (CID 2)
 *   vsock-probe listen-unix PATH           level 1: serve one connection
 *   vsock-probe connect-unix PATH PORT MSG level 1: CONNECT, then talk
 *
 * Serving = read one line, answer "pong:<line>", close.  Talking = send
 * MSG and a newline, print what comes back until EOF.  Prints
 * "vsock-probe: listening ..." once a listener is ready (callers wait
 * for that line instead of sleeping). */
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char *what)
{
	perror(what);
	return 1;
}

static ssize_t read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)n;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

static int serve(int lfd, const char *where)
{
	char line[256], reply[300];
	if (listen(lfd, 1) < 0)
		return fail("listen");
	printf("vsock-probe: listening on %s\n", where);
	fflush(stdout);
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return fail("accept");
	if (read_line(fd, line, sizeof(line)) <= 0)
		return fail("read");
	line[strcspn(line, "\n")] = 0;
	int n = snprintf(reply, sizeof(reply), "pong:%s\n", line);
	if (write(fd, reply, (size_t)n) != n)
		return fail("write");
	printf("vsock-probe: served '%s'\n", line);
	close(fd);
	return 0;
}

static int talk(int fd, const char *msg)
{
	char buf[256];
	ssize_t n;
	if (dprintf(fd, "%s\n", msg) < 0)
		return fail("send");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return n < 0 ? fail("recv") : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int vsock = !strncmp(mode, "listen-vsock", 12) || !strncmp(mode, "connect-vsock", 13);
	int fd = socket(vsock ? AF_VSOCK : AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char line[64];

	/* a peer that closes early is reported, not a silent SIGPIPE death */
	signal(SIGPIPE, SIG_IGN);
	if (fd < 0)
		return fail("socket");
	if (vsock && argc >= 3)
		vm.svm_port = (unsigned)strtoul(argv[2], NULL, 10);
	if (!vsock && argc >= 3)
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", argv[2]);

	if (!strcmp(mode, "listen-vsock") && argc == 3) {
		vm.svm_cid = VMADDR_CID_ANY;
		if (bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
			return fail("bind");
		return serve(fd, argv[2]);
	}
	if (!strcmp(mode, "connect-vsock") && argc == 4) {
		vm.svm_cid = VMADDR_CID_HOST;
		if (connect(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
			return fail("connect");
		return talk(fd, argv[3]);
	}
	if (!strcmp(mode, "listen-unix") && argc == 3) {
		unlink(argv[2]);
		if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			return fail("bind");
		return serve(fd, argv[2]);
	}
	if (!strcmp(mode, "connect-unix") && argc == 5) {
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			return fail("connect");
		if (dprintf(fd, "CONNECT %s\n", argv[3]) < 0)
			return fail("send");
		if (read_line(fd, line, sizeof(line)) <= 0)
			return fail("handshake");
		printf("vsock-probe: handshake %s", line);
		return talk(fd, argv[4]);
	}
	fprintf(stderr, "usage: see the top of tests/nested/vsock-probe.c\n");
	return 2;
}
