/* api: the socket, the api thread and the vmm-thread end of the queue. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/loop.h"

static void api_on_http(void *opaque, const struct http_request *req, struct http_response *resp)
{
	api_route(opaque, req, resp);
}

/* api thread: hand r to the vmm thread and wait for its reply */
void api_submit(struct api *a, struct api_request *r, struct api_reply *rep)
{
	struct api_queue *q = &a->queue;
	uint64_t one = 1;
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		api_reply_fault(rep, 400, "the microVM is shutting down");
		return;
	}
	q->req = r;
	q->rep = rep;
	q->finished = false;
	if (write(q->efd, &one, sizeof(one)) != sizeof(one)) {
		q->req = NULL;
		pthread_mutex_unlock(&q->lock);
		api_reply_fault(rep, 500, "cannot reach the vmm thread");
		return;
	}
	while (!q->finished && !q->closed)
		pthread_cond_wait(&q->done, &q->lock);
	if (!q->finished)
		api_reply_fault(rep, 400, "the microVM is shutting down");
	q->req = NULL;
	pthread_mutex_unlock(&q->lock);
}

/* vmm thread: run the request the api thread is waiting on */
static void api_on_queue(void *opaque, uint32_t events)
{
	struct api *a = opaque;
	struct api_queue *q = &a->queue;
	uint64_t v;
	(void)events;
	if (read(q->efd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&q->lock);
	struct api_request *r = q->req;
	struct api_reply *rep = q->rep;
	pthread_mutex_unlock(&q->lock);
	if (!r)
		return;
	/* the api thread sleeps until finished: r and rep are ours meanwhile */
	api_apply(a->target, r, rep);
	pthread_mutex_lock(&q->lock);
	q->finished = true;
	pthread_cond_signal(&q->done);
	pthread_mutex_unlock(&q->lock);
}

int api_start(struct api *a, const char *sock_path, struct loop *loop, struct api_target *t)
{
	int ret;
	memset(a, 0, sizeof(*a));
	a->target = t;
	a->queue.efd = -1;
	pthread_mutex_init(&a->queue.lock, NULL);
	pthread_cond_init(&a->queue.done, NULL);
	/* first: it sets every fd of the server, so api_stop can clean up */
	ret = http_server_open(&a->server, sock_path, api_on_http, a);
	if (ret < 0)
		goto fail;
	a->queue.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->queue.efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = loop_add(loop, a->queue.efd, EPOLLIN, api_on_queue, a);
	if (ret < 0)
		goto fail;
	a->loop = loop;
	ret = http_server_start(&a->server);
	if (ret < 0)
		goto fail;
	log_info("phase: API ready at %llu us (%s)", log_uptime_us(), sock_path);
	return 0;
fail:
	api_stop(a);
	return ret;
}

void api_stop(struct api *a)
{
	pthread_mutex_lock(&a->queue.lock);
	a->queue.closed = true;
	pthread_cond_broadcast(&a->queue.done);
	pthread_mutex_unlock(&a->queue.lock);
	http_server_close(&a->server);
	if (a->loop)
		loop_del(a->loop, a->queue.efd);
	a->loop = NULL;
	if (a->queue.efd >= 0)
		close(a->queue.efd);
	a->queue.efd = -1;
	pthread_cond_destroy(&a->queue.done);
	pthread_mutex_destroy(&a->queue.lock);
}
