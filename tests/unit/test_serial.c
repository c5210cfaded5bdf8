#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cmocka.h>

#include "devices/serial.h"

static void out8(struct serial *s, uint64_t off, uint8_t v) { serial_ops.write(s, off, &v, 1); }
static uint8_t in8(struct serial *s, uint64_t off)
{
	uint8_t v = 0;
	serial_ops.read(s, off, &v, 1);
	return v;
}

static uint64_t irqs(int efd)
{
	uint64_t n = 0;
	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void test_tx_goes_to_fd(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], -1);
	const char *msg = "hi\n";
	for (const char *c = msg; *c; c++)
		out8(&s, 0, (uint8_t)*c);
	char buf[8] = { 0 };
	assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
	assert_string_equal(buf, msg);
	assert_true(in8(&s, 5) & 0x20); /* THR empty */
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

static void test_dlab_and_scratch(void **state)
{
	(void)state;
	struct serial s;
	serial_init(&s, -1, -1);
	out8(&s, 3, 0x80);      /* DLAB */
	out8(&s, 0, 0x01);
	out8(&s, 1, 0x02);
	assert_int_equal(in8(&s, 0), 0x01);
	assert_int_equal(in8(&s, 1), 0x02);
	out8(&s, 3, 0x03);      /* 8N1, DLAB off */
	assert_int_equal(in8(&s, 1), 0); /* IER untouched by the divisor write */
	out8(&s, 7, 0xa5);
	assert_int_equal(in8(&s, 7), 0xa5);
	serial_destroy(&s);
}

static void test_rx_and_interrupts(void **state)
{
	(void)state;
	int efd = eventfd(0, EFD_NONBLOCK);
	struct serial s;
	serial_init(&s, -1, efd);
	assert_int_equal(in8(&s, 2) & 0x0f, 0x01); /* no interrupt pending */
	out8(&s, 1, 0x01);                          /* IER: data ready */
	assert_int_equal(irqs(efd), 0);
	uint8_t in[3] = { 'a', 'b', 'c' };
	assert_int_equal(serial_receive(&s, in, 3), 3);
	assert_true(irqs(efd) >= 1);
	assert_int_equal(in8(&s, 2) & 0x0f, 0x04);
	assert_true(in8(&s, 5) & 0x01);
	assert_int_equal(in8(&s, 0), 'a');
	assert_int_equal(in8(&s, 0), 'b');
	assert_int_equal(in8(&s, 0), 'c');
	assert_false(in8(&s, 5) & 0x01);
	assert_int_equal(in8(&s, 2) & 0x0f, 0x01);
	/* enabling THR-empty raises it once; reading IIR acknowledges it */
	out8(&s, 1, 0x03);
	assert_true(irqs(efd) >= 1);
	assert_int_equal(in8(&s, 2) & 0x0f, 0x02);
	assert_int_equal(in8(&s, 2) & 0x0f, 0x01);
	serial_destroy(&s);
	close(efd);
}

static void test_rx_fifo_bounded(void **state)
{
	(void)state;
	struct serial s;
	serial_init(&s, -1, -1);
	uint8_t big[SERIAL_FIFO_SIZE * 2];
	memset(big, 'x', sizeof(big));
	assert_int_equal(serial_receive(&s, big, sizeof(big)), SERIAL_FIFO_SIZE);
	assert_int_equal(serial_receive(&s, big, 1), 0);
	serial_destroy(&s);
}

static uint64_t efd_count(int efd)
{
	uint64_t n = 0;
	return read(efd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* The console reader's back-pressure: a signal once the guest has drained
 * a FIFO that turned bytes away, never otherwise. */
static void test_rx_space_signal_after_refusal(void **state)
{
	(void)state;
	int efd = eventfd(0, EFD_NONBLOCK);
	assert_true(efd >= 0);
	struct serial s;
	serial_init(&s, -1, -1);
	serial_set_rx_space_efd(&s, efd);
	uint8_t buf[SERIAL_FIFO_SIZE + 10];
	memset(buf, 'a', sizeof(buf));
	/* everything fit: draining signals nothing */
	assert_int_equal(serial_receive(&s, buf, 3), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(in8(&s, 0), 'a');
	assert_int_equal(efd_count(efd), 0);
	/* 10 bytes turned away: no signal until the FIFO is empty */
	assert_int_equal(serial_receive(&s, buf, sizeof(buf)), SERIAL_FIFO_SIZE);
	for (int i = 0; i < SERIAL_FIFO_SIZE - 1; i++)
		in8(&s, 0);
	assert_int_equal(efd_count(efd), 0);
	assert_true(in8(&s, 5) & 0x01); /* one byte left: data ready */
	in8(&s, 0);
	assert_int_equal(efd_count(efd), 1);
	/* reading an empty FIFO does not signal again */
	in8(&s, 0);
	assert_int_equal(efd_count(efd), 0);
	serial_destroy(&s);
	close(efd);
}

static void test_loopback(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], -1);
	out8(&s, 4, 0x10 | 0x0a); /* loop + RTS + OUT2 */
	assert_int_equal(in8(&s, 6) & 0xf0, 0x90); /* CTS + DCD */
	out8(&s, 0, 'z');
	assert_int_equal(in8(&s, 0), 'z'); /* came back, not out */
	out8(&s, 4, 0x00);
	out8(&s, 0, 'y');
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_goes_to_fd),
		cmocka_unit_test(test_dlab_and_scratch),
		cmocka_unit_test(test_rx_and_interrupts),
		cmocka_unit_test(test_rx_fifo_bounded),
		cmocka_unit_test(test_rx_space_signal_after_refusal),
		cmocka_unit_test(test_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
