/* loop: epoll with one handler record per fd. */
#include "vmm/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct loop_handler {
	int fd;
	loop_fn fn;
	void *opaque;
	bool dead; /* deleted while its batch was being dispatched */
	struct loop_handler *next;
};

int loop_init(struct loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

static void loop_reap(struct loop *loop)
{
	struct loop_handler **pp = &loop->handlers;
	while (*pp) {
		if ((*pp)->dead) {
			struct loop_handler *h = *pp;
			*pp = h->next;
			free(h);
		} else {
			pp = &(*pp)->next;
		}
	}
}

void loop_destroy(struct loop *loop)
{
	for (struct loop_handler *h = loop->handlers; h; h = h->next)
		h->dead = true;
	loop_reap(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

static struct loop_handler *loop_find(struct loop *loop, int fd)
{
	for (struct loop_handler *h = loop->handlers; h; h = h->next)
		if (h->fd == fd && !h->dead)
			return h;
	return NULL;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *opaque)
{
	if (fd < 0 || !fn)
		return -EINVAL;
	if (loop_find(loop, fd))
		return -EEXIST;
	struct loop_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct loop_handler){ .fd = fd, .fn = fn, .opaque = opaque, .next = loop->handlers };
	struct epoll_event ev = { .events = events, .data.ptr = h };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;
		free(h);
		return ret;
	}
	loop->handlers = h;
	return 0;
}

int loop_mod(struct loop *loop, int fd, uint32_t events)
{
	struct loop_handler *h = loop_find(loop, fd);
	if (!h)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = h };
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int loop_del(struct loop *loop, int fd)
{
	struct loop_handler *h = loop_find(loop, fd);
	if (!h)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* freed after the current batch: a later event in it may point here */
	h->dead = true;
	return 0;
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_handler *h = evs[i].data.ptr;
		if (!h->dead)
			h->fn(h->opaque, evs[i].events);
	}
	loop_reap(loop);
	return n;
}

int loop_run(struct loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int ret = loop_run_once(loop, -1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}
