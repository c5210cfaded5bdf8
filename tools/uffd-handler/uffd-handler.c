/* uffd-handler: an example page-fault handler for `mem_backend: Uffd`.
 *
 *   uffd-handler SOCKET MEMFILE
 *
 * Listens on SOCKET (prints "listening" on stdout once it does), accepts
 * one husk, receives the userfaultfd (SCM_RIGHTS) and the region layout
 * (JSON, vmm/snapshot/uffd.h), then answers every missing-page fault with
 * UFFDIO_COPY of that page (4 KiB, or 2 MiB for huge_pages "2M") from MEMFILE (mapped privately, read-only: the
 * snapshot file is never changed). A page husk dropped (UFFD_EVENT_REMOVE:
 * the balloon inflated it) is filled with zeros on its next fault, not
 * with its old contents from the file. Ends when husk exits (pidfd of the
 * peer from SO_PEERCRED) and prints "served N pages, zeroed M" so a test
 * can check that only touched pages were loaded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>
#include <linux/userfaultfd.h>

#define MAX_REGIONS 8

struct region {
	uint64_t base, size, offset, page_size;
	uint8_t *removed; /* a byte per page: husk dropped it */
};

struct handler {
	int uffd;
	int pidfd;
	uint8_t *file;
	uint64_t file_size;
	struct region region[MAX_REGIONS];
	int nr_regions;
	unsigned long served, zeroed;
};

static int die(const char *what)
{
	fprintf(stderr, "uffd-handler: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		die("socket path");
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	return s;
}

/* Every field is checked: the layout comes from another process. */
static void parse_layout(struct handler *h, const char *json)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	if (!root || !json_is_array(root) || json_array_size(root) == 0 ||
	    json_array_size(root) > MAX_REGIONS) {
		fprintf(stderr, "uffd-handler: bad layout message\n");
		exit(1);
	}
	size_t i;
	json_t *r;
	json_array_foreach(root, i, r) {
		struct region *g = &h->region[i];
		json_t *b = json_object_get(r, "base_host_virt_addr"), *s = json_object_get(r, "size"),
		       *o = json_object_get(r, "offset"), *p = json_object_get(r, "page_size");
		if (!json_is_integer(b) || !json_is_integer(s) || !json_is_integer(o) || !json_is_integer(p)) {
			fprintf(stderr, "uffd-handler: region %zu lacks a field\n", i);
			exit(1);
		}
		g->base = (uint64_t)json_integer_value(b);
		g->size = (uint64_t)json_integer_value(s);
		g->offset = (uint64_t)json_integer_value(o);
		g->page_size = (uint64_t)json_integer_value(p);
		/* 4 KiB pages, or 2 MiB huge pages (huge_pages "2M") */
		if ((g->page_size != 4096 && g->page_size != (2u << 20)) || g->size % g->page_size ||
		    g->offset % g->page_size || g->base % g->page_size || g->offset > h->file_size ||
		    g->size > h->file_size - g->offset) {
			fprintf(stderr, "uffd-handler: region %zu does not fit the memory file\n", i);
			exit(1);
		}
		g->removed = calloc(g->size / g->page_size, 1);
		if (!g->removed)
			die("calloc");
	}
	h->nr_regions = (int)json_array_size(root);
	json_decref(root);
}

static void receive(struct handler *h, int listener)
{
	int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		die("accept");
	char json[4096];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = json, .iov_len = sizeof(json) - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	                      .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		die("recvmsg");
	json[n] = '\0';
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int))) {
		fprintf(stderr, "uffd-handler: no userfaultfd in the message\n");
		exit(1);
	}
	memcpy(&h->uffd, CMSG_DATA(cm), sizeof(int));
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		die("SO_PEERCRED");
	h->pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
	if (h->pidfd < 0)
		die("pidfd_open");
	close(c);
	parse_layout(h, json);
}

static void serve_fault(struct handler *h, uint64_t addr)
{
	for (int i = 0; i < h->nr_regions; i++) {
		const struct region *r = &h->region[i];
		if (addr < r->base || addr - r->base >= r->size)
			continue;
		/* the whole page of the region's size (a huge page is filled at once) */
		addr = r->base + ((addr - r->base) & ~(r->page_size - 1));
		struct uffdio_copy cp = {
			.dst = addr,
			.src = (uint64_t)(uintptr_t)(h->file + r->offset + (addr - r->base)),
			.len = r->page_size,
		};
		uint64_t page = (addr - r->base) / r->page_size;
		/* dropped by husk: the guest gave it away, its old contents are gone */
		if (r->removed[page] && r->page_size == 4096) {
			struct uffdio_zeropage z = { .range = { .start = addr, .len = r->page_size } };
			if (ioctl(h->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST)
				die("UFFDIO_ZEROPAGE");
			h->zeroed++;
			return;
		}
		/* EEXIST: another thread's fault on the same page won */
		if (ioctl(h->uffd, UFFDIO_COPY, &cp) < 0 && errno != EEXIST)
			die("UFFDIO_COPY");
		h->served++;
		return;
	}
	fprintf(stderr, "uffd-handler: fault at 0x%llx outside guest memory\n", (unsigned long long)addr);
	exit(1);
}

/* husk dropped [start, end) (MADV_DONTNEED of ballooned pages) */
static void note_removed(struct handler *h, uint64_t start, uint64_t end)
{
	for (int i = 0; i < h->nr_regions; i++) {
		const struct region *r = &h->region[i];
		uint64_t s = start > r->base ? start : r->base;
		uint64_t e = end < r->base + r->size ? end : r->base + r->size;
		for (uint64_t a = s; a < e; a += r->page_size)
			r->removed[(a - r->base) / r->page_size] = 1;
	}
}

int main(int argc, char **argv)
{
	struct handler h = { .uffd = -1, .pidfd = -1 };
	if (argc != 3) {
		fprintf(stderr, "usage: uffd-handler SOCKET MEMFILE\n");
		return 2;
	}
	int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		die(argv[2]);
	h.file_size = (uint64_t)st.st_size;
	h.file = mmap(NULL, h.file_size, PROT_READ, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (h.file == MAP_FAILED)
		die("mmap memory file");
	close(fd);
	int listener = listen_on(argv[1]);
	receive(&h, listener);
	close(listener);
	unlink(argv[1]);
	for (;;) {
		struct pollfd p[2] = { { .fd = h.uffd, .events = POLLIN }, { .fd = h.pidfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[1].revents)
			break; /* husk is gone */
		if (!(p[0].revents & POLLIN))
			continue;
		struct uffd_msg m;
		ssize_t n = read(h.uffd, &m, sizeof(m));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != sizeof(m))
			die("read uffd");
		if (m.event == UFFD_EVENT_PAGEFAULT)
			serve_fault(&h, m.arg.pagefault.address);
		else if (m.event == UFFD_EVENT_REMOVE)
			note_removed(&h, m.arg.remove.start, m.arg.remove.end);
	}
	printf("served %lu pages, zeroed %lu\n", h.served, h.zeroed);
	for (int i = 0; i < h.nr_regions; i++)
		free(h.region[i].removed);
	return 0;
}
