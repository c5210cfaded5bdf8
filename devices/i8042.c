/* i8042: data port 0x60 and status/command port 0x64 (the bus range is
 * 0x60..0x64, offsets 0 and 4). */
#include "devices/i8042.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/errmsg.h"
#include "vmm/snapshot/snapshot.h"

#define PORT_DATA 0
#define PORT_CMD 4

#define STATUS_OBF 0x01   /* output buffer full: data for the guest */
#define STATUS_SYS 0x04   /* self test passed */
#define STATUS_CMD 0x08   /* last write was a command */

#define CMD_READ_CTL 0x20
#define CMD_WRITE_CTL 0x60
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_READ_OUTP 0xd0
#define CMD_WRITE_OUTP 0xd1
#define CMD_RESET 0xfe

#define CTL_KBD_INT 0x01

static int i8042_regs_valid(const void *state, char *err, size_t errlen);

void i8042_init(struct i8042 *k, int irq_efd, void (*on_reset)(void *), void *opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->snap = (struct snapshot_plain){ .name = "i8042", .version = 2, .lock = &k->lock,
	                                   .state = &k->r, .size = sizeof(k->r), .valid = i8042_regs_valid };
	k->r.status = STATUS_SYS;
	k->r.control = CTL_KBD_INT | 0x04 | 0x40; /* IRQ on, system flag, translate */
	k->irq_efd = irq_efd;
	k->on_reset = on_reset;
	k->reset_opaque = opaque;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void i8042_push(struct i8042 *k, uint8_t v)
{
	if (k->r.len == I8042_BUF_SIZE)
		return;
	k->r.buf[(k->r.head + k->r.len) % I8042_BUF_SIZE] = v;
	k->r.len++;
	k->r.status |= STATUS_OBF;
}

static void i8042_raise(struct i8042 *k)
{
	if (k->irq_efd < 0 || !(k->r.control & CTL_KBD_INT) || !k->r.len)
		return;
	uint64_t one = 1;
	ssize_t r = write(k->irq_efd, &one, sizeof(one));
	(void)r; /* overflow only: an interrupt is pending anyway */
}

static uint8_t i8042_pop(struct i8042 *k)
{
	if (!k->r.len)
		return 0;
	uint8_t v = k->r.buf[k->r.head];
	k->r.head = (k->r.head + 1) % I8042_BUF_SIZE;
	if (--k->r.len == 0)
		k->r.status &= (uint8_t)~STATUS_OBF;
	return v;
}

/* Returns true if the guest asked for a reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->r.status |= STATUS_CMD;
	switch (cmd) {
	case CMD_READ_CTL: i8042_push(k, k->r.control); break;
	case CMD_WRITE_CTL:
	case CMD_WRITE_OUTP: k->r.cmd = cmd; break;
	case CMD_SELF_TEST: i8042_push(k, 0x55); break;
	case CMD_KBD_TEST: i8042_push(k, 0x00); break;
	case CMD_READ_OUTP: i8042_push(k, 0x01); break; /* A20 etc. */
	case CMD_RESET: return true;
	default: break; /* enable/disable port and the like: nothing to do */
	}
	return false;
}

static void i8042_data(struct i8042 *k, uint8_t v)
{
	k->r.status &= (uint8_t)~STATUS_CMD;
	switch (k->r.cmd) {
	case CMD_WRITE_CTL: k->r.control = v; break;
	case CMD_WRITE_OUTP: break;
	default: i8042_push(k, 0xfa); break; /* keyboard ACKs whatever it is sent */
	}
	k->r.cmd = 0;
}

static void i8042_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	bool reset = false;
	if (len != 1)
		return;
	uint8_t v = *(const uint8_t *)data;
	pthread_mutex_lock(&k->lock);
	if (off == PORT_CMD)
		reset = i8042_command(k, v);
	else if (off == PORT_DATA)
		i8042_data(k, v);
	i8042_raise(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->on_reset)
		k->on_reset(k->reset_opaque);
}

static void i8042_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = 0;
	pthread_mutex_lock(&k->lock);
	if (off == PORT_CMD) {
		v = k->r.status;
	} else if (off == PORT_DATA) {
		v = i8042_pop(k);
		/* one interrupt per byte: Linux's handler reads a single byte per
		 * IRQ, so the rest of a queued sequence (Ctrl+Alt+Del is 8 bytes)
		 * needs an edge of its own */
		i8042_raise(k);
	}
	pthread_mutex_unlock(&k->lock);
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* set-1 make/break codes: Ctrl, Alt, Del (E0 53) and their releases */
	static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	int ret = 0;
	pthread_mutex_lock(&k->lock);
	if (I8042_BUF_SIZE - k->r.len < sizeof(seq)) {
		ret = -ENOSPC;
	} else {
		for (size_t i = 0; i < sizeof(seq); i++)
			i8042_push(k, seq[i]);
		i8042_raise(k);
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

const struct bus_ops i8042_ops = { .read = i8042_read, .write = i8042_write };

/* ---- snapshot: status, control, pending command, output buffer (a
 * copy of k->r) ---- */

static int i8042_regs_valid(const void *state, char *err, size_t errlen)
{
	const struct i8042_regs *r = state;
	if (r->head >= I8042_BUF_SIZE || r->len > I8042_BUF_SIZE)
		return errmsg_set(err, errlen, -EINVAL, "i8042 buffer position %u/%u out of range",
		                  r->head, r->len);
	return 0;
}
