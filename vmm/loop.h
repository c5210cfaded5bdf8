/* loop: the vmm thread's epoll loop. Every fd the VMM waits on (eventfds,
 * ioeventfds, taps, io_uring, timerfds, the API queue) is one handler. */
#ifndef HUSK_LOOP_H
#define HUSK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*loop_fn)(void *opaque, uint32_t events);

struct loop_handler;

struct loop {
	int epfd;
	bool stop;
	struct loop_handler *handlers; /* list, for lookup by fd and cleanup */
};

int loop_init(struct loop *loop);
void loop_destroy(struct loop *loop);
/* events: EPOLLIN/EPOLLOUT/... */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *opaque);
int loop_mod(struct loop *loop, int fd, uint32_t events);
int loop_del(struct loop *loop, int fd);
/* Run until loop_stop(); returns 0 or -errno on an epoll failure. */
int loop_run(struct loop *loop);
/* Run one round, waiting at most timeout_ms (-1 forever). */
int loop_run_once(struct loop *loop, int timeout_ms);
void loop_stop(struct loop *loop);

#endif
