/* api-probe: one HTTP request to husk's API socket, for the aarch64 level-1
 * machine, where neither curl nor Python runs (only busybox and static
 * arm64 programs; busybox nc speaks no AF_UNIX).  Built static.
 *
 *   api-probe SOCKET METHOD PATH [JSON]
 *
 * Prints "<status> <body>" on one line (the body's line breaks as spaces)
 * and exits 0 when it got a response, 1 when it could not talk to the
 * socket or the response has no status line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RESPONSE_MAX 65536

static int fail(const char *what)
{
	perror(what);
	return 1;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connection: close, so the response ends at EOF */
static int send_request(int fd, const char *method, const char *path, const char *body)
{
	if (!body)
		return dprintf(fd, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
			       method, path) < 0 ? -1 : 0;
	return dprintf(fd, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       method, path, strlen(body), body) < 0 ? -1 : 0;
}

static ssize_t read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	return r < 0 ? -1 : (ssize_t)n;
}

static int print_response(char *resp)
{
	char *body = strstr(resp, "\r\n\r\n");
	int status;

	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "api-probe: no status line in '%.80s'\n", resp);
		return 1;
	}
	body = body ? body + 4 : "";
	for (char *p = body; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	printf("%d %s\n", status, body);
	return 0;
}

int main(int argc, char **argv)
{
	static char resp[RESPONSE_MAX];
	int fd;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: api-probe SOCKET METHOD PATH [JSON]\n");
		return 2;
	}
	fd = connect_unix(argv[1]);
	if (fd < 0)
		return fail(argv[1]);
	if (send_request(fd, argv[2], argv[3], argc == 5 ? argv[4] : NULL) < 0)
		return fail("send");
	if (read_all(fd, resp, sizeof(resp)) < 0)
		return fail("recv");
	close(fd);
	return print_response(resp);
}
