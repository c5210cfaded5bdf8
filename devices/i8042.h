/* i8042: just enough of the PC keyboard controller for a guest to reset
 * the machine (command 0xFE) and to receive Ctrl-Alt-Del. */
#ifndef HUSK_I8042_H
#define HUSK_I8042_H

#include <pthread.h>
#include <stdint.h>

#include "devices/plain_state.h"
#include "vmm/bus.h"

#define I8042_BUF_SIZE 16

/* What the guest sees: a snapshot is a copy of it. */
struct i8042_regs {
	uint8_t status;
	uint8_t control;
	uint8_t cmd;         /* command waiting for its data byte, or 0 */
	uint8_t pad;
	uint32_t head, len;
	uint8_t buf[I8042_BUF_SIZE];
};

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_regs r;
	struct snapshot_plain snap; /* r, for snapshot_plain_ops */
	int irq_efd;         /* IRQ 1, -1 for none */
	void (*on_reset)(void *opaque);
	void *reset_opaque;
};

extern const struct bus_ops i8042_ops;

void i8042_init(struct i8042 *k, int irq_efd, void (*on_reset)(void *), void *opaque);
void i8042_destroy(struct i8042 *k);
/* Queue the Ctrl-Alt-Del scancodes; -ENOSPC if the buffer is full. */
int i8042_send_ctrl_alt_del(struct i8042 *k);

#endif
