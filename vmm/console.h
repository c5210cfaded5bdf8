/* console: the guest's COM1 input from a terminal on stdin. Keys go to the
 * guest as typed (the terminal runs without echo, line editing and signal
 * keys, as with Firecracker, and is put back by console_close), and input
 * the UART's FIFO has no room for waits: the terminal is not read again
 * until the guest has drained the FIFO, so a paste arrives whole. */
#ifndef HUSK_CONSOLE_H
#define HUSK_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <termios.h>

#include "devices/serial.h"
#include "vmm/loop.h"

struct console {
	int in_fd;     /* -1: no console input */
	int space_efd; /* serial says here that its FIFO has room again */
	uint8_t buf[4 * SERIAL_FIFO_SIZE];
	unsigned off, len; /* buf[off..len) waits for FIFO room */
	bool paused;       /* in_fd out of the loop while bytes wait */
	struct termios saved;
	bool raw;
	struct serial *serial;
	struct loop *loop;
};

void console_init(struct console *c);
/* Take stdin as console input if it is a terminal (a pipe or file is not
 * the user typing, and would steal what a wrapper feeds us); 0 without
 * one. Call after serial_init: it hooks the serial's space signal. */
int console_open(struct console *c, struct loop *loop, struct serial *serial);
/* Close the fds and put the terminal's mode back. Safe to call twice. */
void console_close(struct console *c);

#endif
