/* serial: a 16550A UART (COM1). Output goes to an fd; input comes from an
 * fd polled on the vmm loop. Interrupts pulse an irqfd eventfd. */
#ifndef HUSK_SERIAL_H
#define HUSK_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define SERIAL_FIFO_SIZE 64

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t fifo[SERIAL_FIFO_SIZE];
	unsigned fifo_head, fifo_len;
	int out_fd;
	int irq_efd; /* -1: no interrupts (unit tests) */
	int rx_space_efd; /* -1: nobody waits for receive space */
	bool rx_refused;  /* serial_receive turned bytes away since the FIFO last emptied */
	unsigned long long tx_bytes, tx_dropped;
};

extern const struct bus_ops serial_ops;

void serial_init(struct serial *s, int out_fd, int irq_efd);
void serial_destroy(struct serial *s);
/* Queue received bytes (host -> guest); returns how many fit. */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len);
/* After serial_receive turned bytes away, the guest's read that empties
 * the FIFO adds 1 to this eventfd: the console reader waits for it
 * instead of dropping input. -1: no signal. Call after serial_init. */
void serial_set_rx_space_efd(struct serial *s, int efd);

/* Snapshot ops (vmm/snapshot/snapshot.h), opaque = struct serial *. */
struct snapshot_dev_ops;
extern const struct snapshot_dev_ops serial_snapshot_ops;

#endif
