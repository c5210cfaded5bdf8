#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "unit_main.h"
#include <jansson.h>

#include "devices/serial.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/vmm.h"

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

/* A serial whose console reader is told of room in the receive FIFO
 * through efd, and input larger than the FIFO. */
struct rx_fixture {
	struct serial s;
	int efd;
	uint8_t buf[SERIAL_FIFO_SIZE + 10];
};

static int rx_fixture_up(void **state)
{
	struct rx_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->efd = eventfd(0, EFD_NONBLOCK);
	assert_true(f->efd >= 0);
	serial_init(&f->s, -1, -1);
	serial_set_rx_space_efd(&f->s, f->efd);
	memset(f->buf, 'a', sizeof(f->buf));
	*state = f;
	return 0;
}

static int rx_fixture_down(void **state)
{
	struct rx_fixture *f = *state;
	serial_destroy(&f->s);
	close(f->efd);
	free(f);
	return 0;
}

/* The console reader's back-pressure: a signal once the guest has drained
 * a FIFO that turned bytes away, never otherwise. */
static void test_rx_space_signal_after_refusal(void **state)
{
	struct rx_fixture *f = *state;
	struct serial *s = &f->s;
	int efd = f->efd;
	uint8_t *buf = f->buf;
	/* everything fit: draining signals nothing */
	assert_int_equal(serial_receive(s, buf, 3), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(in8(s, 0), 'a');
	assert_int_equal(efd_count(efd), 0);
	/* 10 bytes turned away: no signal until the FIFO is empty */
	assert_int_equal(serial_receive(s, buf, sizeof(f->buf)), SERIAL_FIFO_SIZE);
	for (int i = 0; i < SERIAL_FIFO_SIZE - 1; i++)
		in8(s, 0);
	assert_int_equal(efd_count(efd), 0);
	assert_true(in8(s, 5) & 0x01); /* one byte left: data ready */
	in8(s, 0);
	assert_int_equal(efd_count(efd), 1);
	/* reading an empty FIFO does not signal again */
	in8(s, 0);
	assert_int_equal(efd_count(efd), 0);
}

/* Clearing the receive FIFO through FCR empties it as a drain does, so it
 * must wake a console reader that holds input back just the same: else
 * typed input stops for good. */
static void test_fcr_rx_clear_signals_space(void **state)
{
	struct rx_fixture *f = *state;
	struct serial *s = &f->s;
	int efd = f->efd;
	uint8_t *buf = f->buf;
	/* nothing turned away: a clear signals nothing */
	assert_int_equal(serial_receive(s, buf, 3), 3);
	out8(s, 2, 0x02);
	assert_false(in8(s, 5) & 0x01);
	assert_int_equal(efd_count(efd), 0);
	/* 10 bytes turned away, then the driver clears the FIFO */
	assert_int_equal(serial_receive(s, buf, sizeof(f->buf)), SERIAL_FIFO_SIZE);
	out8(s, 2, 0x07); /* enable + clear RX + clear TX, as 8250 does */
	assert_false(in8(s, 5) & 0x01);
	assert_int_equal(efd_count(efd), 1);
	/* the reader hands over the rest; it fits and is read normally */
	assert_int_equal(serial_receive(s, buf + SERIAL_FIFO_SIZE, 10), 10);
	assert_true(in8(s, 5) & 0x01);
	for (int i = 0; i < 10; i++)
		assert_int_equal(in8(s, 0), 'a');
	assert_int_equal(efd_count(efd), 0); /* nothing was refused this time */
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pipe nobody reads: once it is full every further byte is dropped and
 * counted at once instead of holding the vCPU (and the serial lock) until
 * a reader shows up. Without that the writes below never return and the
 * alarm ends the test. */
static void test_tx_to_stuck_reader_drops(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	int cap = fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest: fills fast */
	assert_true(cap >= 4096);
	int fl = fcntl(p[1], F_GETFL);
	struct serial s;
	serial_init(&s, p[1], -1);
	unsigned total = (unsigned)cap * 2 + 100;
	alarm(20);
	double t0 = now_s();
	for (unsigned i = 0; i < total; i++)
		out8(&s, 0, 'x');
	double took = now_s() - t0;
	alarm(0);
	assert_true(took < 5.0);
	struct serial_stats st;
	serial_get_stats(&s, &st);
	assert_true(st.tx_bytes <= (unsigned)cap);
	assert_true(st.tx_dropped >= total - (unsigned)cap);
	assert_int_equal(st.tx_bytes + st.tx_dropped, total);
	assert_int_equal(st.tx_over_limit, 0); /* no cap on a pipe */
	assert_true(in8(&s, 5) & 0x20);        /* THR empty: the guest goes on */
	/* what got in is all there; once read, output flows again */
	static char buf[1 << 16];
	assert_int_equal(read(p[0], buf, sizeof(buf)), (ssize_t)st.tx_bytes);
	out8(&s, 0, 'y');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'y');
	/* the fd's own flags come back (another process may share the file) */
	serial_destroy(&s);
	assert_int_equal(fcntl(p[1], F_GETFL), fl);
	close(p[0]);
	close(p[1]);
}

static int temp_file(char *path, size_t len, const char *what)
{
	snprintf(path, len, "/tmp/husk-test-serial-%s-%d", what, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

static off_t file_size(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static unsigned count_lines_with(const char *path, const char *needle)
{
	char buf[8192] = { 0 };
	unsigned n = 0;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f))
		n += strstr(buf, needle) != NULL;
	fclose(f);
	return n;
}

/* A regular file stops growing at its cap: the rest is dropped, counted,
 * and reported once in the log. */
static void test_out_file_cap(void **state)
{
	(void)state;
	char path[96], logpath[96];
	int fd = temp_file(path, sizeof(path), "out");
	int logfd = temp_file(logpath, sizeof(logpath), "log");
	close(logfd);
	assert_int_equal(log_set_path(logpath), 0);
	int fl = fcntl(fd, F_GETFL);
	struct serial s;
	serial_init(&s, fd, -1);
	assert_int_equal(s.out_limit, SERIAL_OUT_LIMIT_DEFAULT); /* a file gets the default */
	assert_int_equal(fcntl(fd, F_GETFL), fl);                 /* and keeps its flags */
	serial_set_out_limit(&s, 100);
	for (int i = 0; i < 250; i++)
		out8(&s, 0, (uint8_t)('a' + i % 26));
	assert_int_equal(file_size(fd), 100);
	struct serial_stats st;
	serial_get_stats(&s, &st);
	assert_int_equal(st.tx_bytes, 100);
	assert_int_equal(st.tx_dropped, 150);
	assert_int_equal(st.tx_over_limit, 150);
	assert_true(in8(&s, 5) & 0x20); /* THR empty: the guest goes on */
	/* log lines are written unbuffered: the file has them already */
	assert_int_equal(count_lines_with(logpath, "reached its cap of 100 bytes"), 1);
	/* a larger cap lets output through again; 0 takes it away */
	serial_set_out_limit(&s, 101);
	out8(&s, 0, '!');
	out8(&s, 0, '!');
	assert_int_equal(file_size(fd), 101);
	serial_set_out_limit(&s, 0);
	out8(&s, 0, '!');
	assert_int_equal(file_size(fd), 102);
	serial_get_stats(&s, &st);
	assert_int_equal(st.tx_bytes, 102);
	assert_int_equal(st.tx_dropped, 151);
	serial_destroy(&s);
	close(fd);
	unlink(path);
	unlink(logpath);
}

/* The cap is for what fills a disk: a pipe or terminal is not capped. */
static void test_out_limit_only_for_files(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], -1);
	assert_int_equal(s.out_limit, 0);
	serial_set_out_limit(&s, 1);
	out8(&s, 0, 'a');
	out8(&s, 0, 'b');
	char buf[4];
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

/* The counts reach the metrics line as Firecracker's "uart" group. */
static void test_uart_metrics(void **state)
{
	(void)state;
	char path[96];
	int fd = temp_file(path, sizeof(path), "metrics");
	struct vmm *vmm = calloc(1, sizeof(*vmm));
	assert_non_null(vmm);
	struct metrics m;
	metrics_init(&m, vmm, NULL);
	/* before the VM exists: the group is there, all zero */
	char *line = metrics_line(&m);
	json_t *o = json_loads(line, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "uart"), "write_count")), 0);
	json_decref(o);
	free(line);
	vmm->vm_created = true;
	serial_init(&vmm->serial, fd, -1);
	serial_set_out_limit(&vmm->serial, 10);
	for (int i = 0; i < 15; i++)
		out8(&vmm->serial, 0, 'z');
	line = metrics_line(&m);
	o = json_loads(line, 0, NULL);
	assert_non_null(o);
	json_t *uart = json_object_get(o, "uart");
	assert_non_null(uart);
	assert_int_equal(json_integer_value(json_object_get(uart, "write_count")), 10);
	assert_int_equal(json_integer_value(json_object_get(uart, "missed_write_count")), 5);
	/* the cap's share is husk's own figure */
	json_t *husk = json_object_get(o, "husk");
	assert_int_equal(json_integer_value(json_object_get(husk, "uart_missed_write_limit_count")), 5);
	json_decref(o);
	free(line);
	/* the next line counts what happened since: nothing */
	line = metrics_line(&m);
	o = json_loads(line, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "uart"), "write_count")), 0);
	json_decref(o);
	free(line);
	/* bytes over the rate limiter: Firecracker's rate_limiter_dropped_bytes,
	 * not missed writes */
	serial_set_out_limit(&vmm->serial, 0);
	serial_set_out_rate(&vmm->serial, &(struct token_bucket_config){ .set = true, .size = 3,
	                                                                 .refill_time_ms = 3600000 });
	for (int i = 0; i < 5; i++)
		out8(&vmm->serial, 0, 'r');
	line = metrics_line(&m);
	o = json_loads(line, 0, NULL);
	uart = json_object_get(o, "uart");
	assert_int_equal(json_integer_value(json_object_get(uart, "write_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(uart, "rate_limiter_dropped_bytes")), 2);
	assert_int_equal(json_integer_value(json_object_get(uart, "missed_write_count")), 0);
	json_decref(o);
	free(line);
	metrics_close(&m);
	serial_destroy(&vmm->serial);
	free(vmm);
	close(fd);
	unlink(path);
}

/* PUT /serial's rate_limiter: a bucket of bytes (plus its one-time
 * burst) goes out, the rest is dropped at once and counted apart from
 * missed writes; a bucket of size 0 or none lifts the limit. */
static void test_out_rate_limiter(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], -1);
	/* refilled once an hour: nothing comes back while the test runs */
	serial_set_out_rate(&s, &(struct token_bucket_config){ .set = true, .size = 8, .one_time_burst = 2,
	                                                       .refill_time_ms = 3600000 });
	for (int i = 0; i < 20; i++)
		out8(&s, 0, 'x');
	char buf[64];
	assert_int_equal(read(p[0], buf, sizeof(buf)), 10);
	struct serial_stats st;
	serial_get_stats(&s, &st);
	assert_int_equal(st.tx_bytes, 10);
	assert_int_equal(st.tx_rate_dropped, 10);
	assert_int_equal(st.tx_dropped, 0);
	/* size 0 is "no limit", as in Firecracker */
	serial_set_out_rate(&s, &(struct token_bucket_config){ .set = true, .size = 0, .refill_time_ms = 100 });
	for (int i = 0; i < 5; i++)
		out8(&s, 0, 'y');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
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

UNIT_TEST_MAIN(
	cmocka_unit_test(test_tx_goes_to_fd),
	cmocka_unit_test(test_dlab_and_scratch),
	cmocka_unit_test(test_rx_and_interrupts),
	cmocka_unit_test(test_rx_fifo_bounded),
	cmocka_unit_test_setup_teardown(test_rx_space_signal_after_refusal, rx_fixture_up, rx_fixture_down),
	cmocka_unit_test_setup_teardown(test_fcr_rx_clear_signals_space, rx_fixture_up, rx_fixture_down),
	cmocka_unit_test(test_tx_to_stuck_reader_drops),
	cmocka_unit_test(test_out_file_cap),
	cmocka_unit_test(test_out_limit_only_for_files),
	cmocka_unit_test(test_uart_metrics),
	cmocka_unit_test(test_out_rate_limiter),
	cmocka_unit_test(test_loopback))
