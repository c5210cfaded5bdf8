/* cli_create: `husk snapshot create`: a client of a running husk's API
 * socket that pauses the VM, writes the snapshot and resumes it (the three
 * requests a control plane would send). */
#include "vmm/snapshot/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLI_REPLY_MAX 65536

static int cli_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int cli_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one response; returns its status code, the body in body (NUL-ended). */
static int cli_read_reply(int fd, char *buf, size_t cap, const char **body)
{
	size_t got = 0;
	for (;;) {
		char *end = memmem(buf, got, "\r\n\r\n", 4);
		if (end) {
			size_t want = 0;
			char *cl = memmem(buf, (size_t)(end - buf), "Content-Length:", 15);
			if (cl)
				want = strtoul(cl + 15, NULL, 10);
			size_t have = got - (size_t)(end + 4 - buf);
			if (have >= want || got >= cap - 1) {
				buf[got] = '\0';
				*body = end + 4;
				int status = 0;
				return sscanf(buf, "HTTP/1.%*c %d", &status) == 1 ? status : -EPROTO;
			}
		}
		if (got >= cap - 1)
			return -EPROTO;
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPROTO;
		got += (size_t)n;
	}
}

/* One request on fd; 0 on a 2xx, else prints the fault and returns -1. */
static int cli_request(int fd, const char *method, const char *url, json_t *body)
{
	char *json = json_dumps(body, JSON_COMPACT);
	char *req = NULL, *reply = malloc(CLI_REPLY_MAX);
	int ret = -1;
	if (!json || !reply ||
	    asprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
	                   "Content-Length: %zu\r\n\r\n%s", method, url, strlen(json), json) < 0) {
		req = NULL;
		fprintf(stderr, "husk snapshot create: out of memory\n");
		goto out;
	}
	const char *rbody = "";
	int status = cli_write_all(fd, req, strlen(req));
	if (status == 0)
		status = cli_read_reply(fd, reply, CLI_REPLY_MAX, &rbody);
	if (status < 0) {
		fprintf(stderr, "husk snapshot create: %s %s: no answer from the API\n", method, url);
	} else if (status / 100 != 2) {
		fprintf(stderr, "husk snapshot create: %s %s: HTTP %d %s\n", method, url, status, rbody);
	} else {
		ret = 0;
	}
out:
	free(json);
	free(req);
	free(reply);
	json_decref(body);
	return ret;
}

static void cli_create_usage(FILE *f)
{
	fprintf(f, "usage: husk snapshot create --api-sock PATH --snapshot PATH --mem-file PATH\n"
	           "                            [--type Full|Diff] [--keep-paused]\n"
	           "  Pauses the VM of the husk serving PATH, writes its snapshot, resumes it\n"
	           "  (unless --keep-paused).\n");
}

int snapshot_cli_create(int argc, char **argv)
{
	enum { OPT_SOCK = 1, OPT_SNAP, OPT_MEM, OPT_TYPE, OPT_KEEP };
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, OPT_SOCK },
		{ "snapshot", required_argument, NULL, OPT_SNAP },
		{ "mem-file", required_argument, NULL, OPT_MEM },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "keep-paused", no_argument, NULL, OPT_KEEP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *snap = NULL, *mem = NULL, *type = "Full";
	bool keep_paused = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCK: sock = optarg; break;
		case OPT_SNAP: snap = optarg; break;
		case OPT_MEM: mem = optarg; break;
		case OPT_TYPE: type = optarg; break;
		case OPT_KEEP: keep_paused = true; break;
		case 'h': cli_create_usage(stdout); return 0;
		default: cli_create_usage(stderr); return 2;
		}
	}
	if (!sock || !snap || !mem || optind != argc || (strcmp(type, "Full") && strcmp(type, "Diff"))) {
		cli_create_usage(stderr);
		return 2;
	}
	int fd = cli_connect(sock);
	if (fd < 0) {
		fprintf(stderr, "husk snapshot create: cannot connect to %s: %s\n", sock, strerror(-fd));
		return 1;
	}
	int ret = cli_request(fd, "PATCH", "/vm", json_pack("{s:s}", "state", "Paused"));
	if (ret == 0)
		ret = cli_request(fd, "PUT", "/snapshot/create",
		                  json_pack("{s:s, s:s, s:s}", "snapshot_type", type, "snapshot_path", snap,
		                            "mem_file_path", mem));
	/* resume even after a failed create: the VM was running before us */
	if (!keep_paused && cli_request(fd, "PATCH", "/vm", json_pack("{s:s}", "state", "Resumed")) < 0)
		ret = -1;
	close(fd);
	return ret == 0 ? 0 : 1;
}
