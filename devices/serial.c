/* serial: the subset of a 16550A that Linux's 8250 driver and simple
 * guests use: THR/RBR, IER, IIR/FCR, LCR (DLAB), MCR (loopback), LSR, MSR,
 * SCR, with THR-empty and data-ready interrupts. */
#include "devices/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/errmsg.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"

enum {
	UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
	UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_BITS 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DCD 0x80
#define MSR_DSR 0x20
#define MSR_CTS 0x10
#define FCR_CLEAR_RX 0x02

/* Output never waits. A byte is written on the vCPU thread that exited on
 * THR, under s->lock, which the vmm thread takes too (console input,
 * snapshots, metrics). A write that waited for a stuck reader would hold
 * that vCPU, so pause (it waits for every vCPU to park) and the API behind
 * it, and the vmm loop at the lock. So a pipe, terminal or socket is made
 * O_NONBLOCK and a byte it cannot take now is dropped and counted, as
 * Firecracker does (stdout O_NONBLOCK, uart missed_write_count). Writing
 * outside the lock from a bounded buffer was the other way: it frees the
 * lock, but the vCPU that writes still waits, and pause with it, unless a
 * thread of its own did the writing. The kernel's pipe or tty buffer is a
 * bounded buffer already: a reader that keeps up loses nothing. A regular
 * file does not wait for a reader (O_NONBLOCK means nothing to it); it
 * gets the size cap instead. */
static void serial_out_setup(struct serial *s)
{
	struct stat st;
	if (s->out_fd < 0)
		return;
	if (fstat(s->out_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		s->out_is_file = true;
		s->out_limit = SERIAL_OUT_LIMIT_DEFAULT;
		return;
	}
	int fl = fcntl(s->out_fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return;
	if (fcntl(s->out_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("serial: output stays blocking: %s", strerror(errno));
		return;
	}
	s->out_fl = fl;
	s->out_fl_saved = true;
}

static int serial_regs_valid(const void *state, char *err, size_t errlen);

void serial_init(struct serial *s, int out_fd, int irq_efd)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->snap = (struct snapshot_plain){ .name = "serial", .version = 2, .lock = &s->lock,
	                                   .state = &s->r, .size = sizeof(s->r), .valid = serial_regs_valid };
	s->r.iir = IIR_NO_INT;
	s->r.lsr = LSR_THRE | LSR_TEMT;
	s->r.msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->r.mcr = 0x08; /* OUT2: the PC's interrupt enable */
	s->r.dll = 0x0c; /* 9600 baud, what firmware leaves */
	s->out_fd = out_fd;
	s->irq_efd = irq_efd;
	s->rx_space_efd = -1;
	serial_out_setup(s);
}

void serial_set_out_limit(struct serial *s, uint64_t bytes)
{
	pthread_mutex_lock(&s->lock);
	if (s->out_is_file)
		s->out_limit = bytes;
	pthread_mutex_unlock(&s->lock);
}

void serial_set_out_rate(struct serial *s, const struct token_bucket_config *cfg)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	bool on = token_bucket_config_in_force(cfg);
	pthread_mutex_lock(&s->lock);
	token_bucket_init(&s->out_rate, on ? cfg->size : 0, on ? cfg->one_time_burst : 0,
	                  on ? cfg->refill_time_ms : 0, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
	pthread_mutex_unlock(&s->lock);
}

/* Whether the rate limiter lets one more byte out now. */
static bool serial_rate_allows(struct serial *s)
{
	if (!token_bucket_enabled(&s->out_rate))
		return true;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (token_bucket_reduce(&s->out_rate, 1, now))
		return true;
	s->stats.tx_rate_dropped++;
	return false;
}

void serial_get_stats(struct serial *s, struct serial_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void serial_set_rx_space_efd(struct serial *s, int efd)
{
	pthread_mutex_lock(&s->lock);
	s->rx_space_efd = efd;
	pthread_mutex_unlock(&s->lock);
}

void serial_destroy(struct serial *s)
{
	/* the flag is on an open file others may share (a shell's terminal) */
	if (s->out_fl_saved && fcntl(s->out_fd, F_SETFL, s->out_fl) == 0)
		s->out_fl_saved = false;
	pthread_mutex_destroy(&s->lock);
}

static void serial_pulse_irq(struct serial *s)
{
	if (s->irq_efd < 0)
		return;
	uint64_t one = 1;
	ssize_t r = write(s->irq_efd, &one, sizeof(one));
	(void)r; /* only fails when the counter would overflow: already pending */
}

/* Recompute IIR from state; pulse when an enabled condition is pending.
 * Data-ready outranks THR-empty, as on the real part. */
static void serial_update_irq(struct serial *s, bool thr_event)
{
	uint8_t iir = IIR_NO_INT;
	if ((s->r.ier & IER_RDI) && (s->r.lsr & LSR_DR))
		iir = IIR_RDI;
	else if ((s->r.ier & IER_THRI) && (s->r.lsr & LSR_THRE) && thr_event)
		iir = IIR_THRI;
	s->r.iir = iir;
	if (iir != IIR_NO_INT)
		serial_pulse_irq(s);
}

/* One byte to the output, never waiting (see serial_out_setup). Returns
 * true for the first byte dropped by the cap, which the caller reports
 * once the lock is released. */
static bool serial_write_out(struct serial *s, uint8_t c)
{
	if (s->out_fd < 0)
		return false;
	if (s->out_limit && s->stats.tx_bytes >= s->out_limit) {
		s->stats.tx_dropped++;
		return ++s->stats.tx_over_limit == 1;
	}
	if (!serial_rate_allows(s))
		return false;
	for (;;) {
		ssize_t r = write(s->out_fd, &c, 1);
		if (r == 1) {
			s->stats.tx_bytes++;
			return false;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* EAGAIN from a stuck reader, EPIPE from a gone one, ENOSPC ... */
		s->stats.tx_dropped++;
		return false;
	}
}

static bool serial_tx(struct serial *s, uint8_t c)
{
	bool cap_hit = false;
	if (s->r.mcr & MCR_LOOP) {
		if (s->r.fifo_len < SERIAL_FIFO_SIZE) {
			s->r.fifo[(s->r.fifo_head + s->r.fifo_len) % SERIAL_FIFO_SIZE] = c;
			s->r.fifo_len++;
			s->r.lsr |= LSR_DR;
		}
	} else {
		cap_hit = serial_write_out(s, c);
	}
	/* transmission is instant: THR is empty again at once */
	serial_update_irq(s, true);
	return cap_hit;
}

/* The FIFO just emptied: if serial_receive turned bytes away, the console
 * reader waits for this to hand them over. */
static void serial_rx_space(struct serial *s)
{
	if (s->rx_refused && s->rx_space_efd >= 0) {
		uint64_t one = 1;
		s->rx_refused = false;
		ssize_t r = write(s->rx_space_efd, &one, sizeof(one));
		(void)r; /* only fails on counter overflow: a signal is pending anyway */
	}
}

static uint8_t serial_rx(struct serial *s)
{
	if (!s->r.fifo_len)
		return 0;
	uint8_t c = s->r.fifo[s->r.fifo_head];
	s->r.fifo_head = (s->r.fifo_head + 1) % SERIAL_FIFO_SIZE;
	if (--s->r.fifo_len == 0) {
		s->r.lsr &= ~LSR_DR;
		serial_rx_space(s);
	}
	return c;
}

static void serial_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = *(const uint8_t *)data;
	bool cap_hit = false;
	uint64_t limit = 0;
	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR_THR:
		if (s->r.lcr & LCR_DLAB)
			s->r.dll = v;
		else
			cap_hit = serial_tx(s, v);
		limit = s->out_limit;
		break;
	case UART_IER:
		if (s->r.lcr & LCR_DLAB) {
			s->r.dlm = v;
		} else {
			bool thri_newly = (v & IER_THRI) && !(s->r.ier & IER_THRI);
			s->r.ier = v & 0x0f;
			/* enabling THRI with THR empty raises it, as drivers expect */
			serial_update_irq(s, thri_newly);
		}
		break;
	case UART_IIR_FCR:
		if (v & FCR_CLEAR_RX) {
			/* emptied as by a drain, and said so the same way */
			s->r.fifo_len = 0;
			s->r.lsr &= ~LSR_DR;
			serial_rx_space(s);
		}
		break;
	case UART_LCR: s->r.lcr = v; break;
	case UART_MCR: s->r.mcr = v & 0x1f; break;
	case UART_SCR: s->r.scr = v; break;
	default: break; /* LSR and MSR are read-only */
	}
	pthread_mutex_unlock(&s->lock);
	/* once per VM, and not under the lock: the log may wait on its reader */
	if (cap_hit)
		log_warn("serial: the output file reached its cap of %llu bytes (--serial-out-limit); "
		         "the guest's further output is dropped, counted in the metrics as "
		         "uart.missed_write_count",
		         (unsigned long long)limit);
}

static void serial_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = 0;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR_THR:
		if (s->r.lcr & LCR_DLAB) {
			v = s->r.dll;
		} else {
			v = serial_rx(s);
			serial_update_irq(s, false);
		}
		break;
	case UART_IER: v = (s->r.lcr & LCR_DLAB) ? s->r.dlm : s->r.ier; break;
	case UART_IIR_FCR:
		v = s->r.iir | IIR_FIFO_BITS;
		/* reading IIR acknowledges a THR-empty interrupt */
		if (s->r.iir == IIR_THRI)
			s->r.iir = IIR_NO_INT;
		break;
	case UART_LCR: v = s->r.lcr; break;
	case UART_MCR: v = s->r.mcr; break;
	case UART_LSR: v = s->r.lsr; break;
	case UART_MSR:
		/* in loopback the modem lines echo MCR, which 8250 autoconfig checks */
		v = (s->r.mcr & MCR_LOOP) ? (uint8_t)(((s->r.mcr & 0x0c) << 4) | ((s->r.mcr & 0x01) << 5) |
		                                     ((s->r.mcr & 0x02) << 3))
		                        : s->r.msr;
		break;
	case UART_SCR: v = s->r.scr; break;
	default: break;
	}
	pthread_mutex_unlock(&s->lock);
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len)
{
	unsigned n = 0;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->r.fifo_len < SERIAL_FIFO_SIZE) {
		s->r.fifo[(s->r.fifo_head + s->r.fifo_len) % SERIAL_FIFO_SIZE] = buf[n++];
		s->r.fifo_len++;
	}
	if (n) {
		s->r.lsr |= LSR_DR;
		serial_update_irq(s, false);
	}
	if (n < len)
		s->rx_refused = true;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const struct bus_ops serial_ops = { .read = serial_read, .write = serial_write };

/* ---- snapshot: registers and the receive FIFO (a copy of s->r) ---- */

static int serial_regs_valid(const void *state, char *err, size_t errlen)
{
	const struct serial_regs *r = state;
	if (r->fifo_head >= SERIAL_FIFO_SIZE || r->fifo_len > SERIAL_FIFO_SIZE)
		return errmsg_set(err, errlen, -EINVAL, "serial FIFO position %u/%u out of range",
		                  r->fifo_head, r->fifo_len);
	return 0;
}
