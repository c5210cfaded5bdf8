/* console: terminal input to the guest's UART with back-pressure. */
#include "vmm/console.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

void console_init(struct console *c)
{
	*c = (struct console){ .in_fd = -1, .space_efd = -1 };
}

/* Hand the UART what waits; stop reading the terminal while some of it
 * does not fit, go on once it all has. */
static void console_feed(struct console *c)
{
	c->off += serial_receive(c->serial, c->buf + c->off, c->len - c->off);
	bool waiting = c->off < c->len;
	if (waiting != c->paused && c->in_fd >= 0 &&
	    loop_mod(c->loop, c->in_fd, waiting ? 0 : EPOLLIN) == 0)
		c->paused = waiting;
}

static void console_on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	ssize_t n = (events & EPOLLIN) ? read(c->in_fd, c->buf, sizeof(c->buf)) : 0;
	if (n <= 0) {
		/* EOF or error: the guest simply gets no more input */
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			loop_del(c->loop, c->in_fd);
			c->in_fd = -1;
		}
		return;
	}
	c->off = 0;
	c->len = (unsigned)n;
	console_feed(c);
}

static void console_on_space(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t count;
	(void)events;
	if (read(c->space_efd, &count, sizeof(count)) == sizeof(count) && c->off < c->len)
		console_feed(c);
}

/* No local echo (the guest echoes), no line buffering, Ctrl+C to the
 * guest's shell rather than to husk. */
static void console_make_raw(struct console *c)
{
	struct termios t;
	if (tcgetattr(STDIN_FILENO, &c->saved) < 0)
		return;
	t = c->saved;
	t.c_lflag &= (tcflag_t)~(ICANON | ECHO | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	c->raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

int console_open(struct console *c, struct loop *loop, struct serial *serial)
{
	int ret;
	if (!isatty(STDIN_FILENO))
		return 0;
	c->loop = loop;
	c->serial = serial;
	c->space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->space_efd < 0)
		return -errno;
	ret = loop_add(loop, c->space_efd, EPOLLIN, console_on_space, c);
	if (ret < 0)
		goto out_efd;
	serial_set_rx_space_efd(serial, c->space_efd);
	ret = loop_add(loop, STDIN_FILENO, EPOLLIN, console_on_input, c);
	if (ret < 0)
		goto out_loop;
	c->in_fd = STDIN_FILENO;
	console_make_raw(c);
	return 0;
out_loop:
	/* the loop must not keep a handler for an fd number about to be reused */
	serial_set_rx_space_efd(serial, -1);
	loop_del(loop, c->space_efd);
out_efd:
	close(c->space_efd);
	c->space_efd = -1;
	return ret;
}

void console_close(struct console *c)
{
	if (c->space_efd >= 0) {
		close(c->space_efd);
		c->space_efd = -1;
	}
	c->in_fd = -1;
	if (c->raw && tcsetattr(STDIN_FILENO, TCSANOW, &c->saved) == 0)
		c->raw = false;
}
