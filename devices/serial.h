/* serial: a 16550A UART (COM1). Output goes to an fd; input comes from an
 * fd polled on the vmm loop. Interrupts pulse an irqfd eventfd.
 *
 * The guest never waits for the output: a byte the fd cannot take at once
 * (a pipe or terminal nobody reads, a reader gone) is dropped and counted,
 * and so is every byte past the cap on an output that is a regular file
 * (--serial-out FILE), so a guest can neither stall its vCPUs on a stuck
 * reader nor fill the host's disk. */
#ifndef HUSK_SERIAL_H
#define HUSK_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/plain_state.h"
#include "vmm/bus.h"
#include "vmm/limits.h"

#define SERIAL_FIFO_SIZE 64
/* The default cap on a regular-file output, in bytes, sized as a log cap:
 * a Linux boot writes a few tens of KiB to the console, so 64 MiB holds
 * hundreds of verbose boots or a long session, while a host running a
 * thousand VMs spends at most 64 GiB on them (for scale: kubelet rotates
 * a container's log at 10 MiB, Docker's "local" log driver keeps 100 MB). */
#define SERIAL_OUT_LIMIT_DEFAULT (64ULL << 20)

struct serial_stats {
	unsigned long long tx_bytes;      /* reached the output */
	unsigned long long tx_dropped;    /* did not: output full or failing, or over the cap */
	unsigned long long tx_over_limit; /* of tx_dropped: past the cap */
	unsigned long long tx_rate_dropped; /* not in tx_dropped: over the rate limiter */
};

/* What the guest sees: a snapshot is a copy of it. */
struct serial_regs {
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm, pad[3];
	uint32_t fifo_head, fifo_len;
	uint8_t fifo[SERIAL_FIFO_SIZE];
};

struct serial {
	pthread_mutex_t lock;
	struct serial_regs r;
	struct snapshot_plain snap; /* r, for snapshot_plain_ops */
	int out_fd;
	bool out_is_file;   /* a regular file: out_limit applies */
	bool out_fl_saved;  /* serial_init made out_fd non-blocking; out_fl puts it back */
	int out_fl;
	uint64_t out_limit; /* bytes this VM may write to out_fd; 0: no cap */
	struct token_bucket out_rate; /* bytes; not enabled: no limit */
	int irq_efd; /* -1: no interrupts (unit tests) */
	int rx_space_efd; /* -1: nobody waits for receive space */
	bool rx_refused;  /* serial_receive turned bytes away since the FIFO last emptied */
	struct serial_stats stats;
};

extern const struct bus_ops serial_ops;

/* out_fd: -1 for none. A regular file gets SERIAL_OUT_LIMIT_DEFAULT; any
 * other fd is made non-blocking (O_NONBLOCK is on the open file, shared
 * with every process holding it, e.g. a shell's terminal) until
 * serial_destroy puts its flags back. */
void serial_init(struct serial *s, int out_fd, int irq_efd);
void serial_destroy(struct serial *s);
/* Cap what the guest may write to a regular-file output at bytes (0: no
 * cap), counting what it wrote before; no effect on other outputs. */
void serial_set_out_limit(struct serial *s, uint64_t bytes);
/* Rate-limit the output to cfg's bucket of bytes (not set, or size or
 * refill_time 0: no limit); a byte the bucket cannot pay is dropped and
 * counted in tx_rate_dropped, as Firecracker does (the guest never waits
 * for its console). */
void serial_set_out_rate(struct serial *s, const struct token_bucket_config *cfg);
void serial_get_stats(struct serial *s, struct serial_stats *out);
/* Queue received bytes (host -> guest); returns how many fit. */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len);
/* After serial_receive turned bytes away, the guest's read that empties
 * the FIFO adds 1 to this eventfd: the console reader waits for it
 * instead of dropping input. -1: no signal. Call after serial_init. */
void serial_set_rx_space_efd(struct serial *s, int efd);


#endif
